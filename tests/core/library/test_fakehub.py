"""The loopback hub (tests/fakehub.py) checked against what huggingface_hub expects, so the
library tests stand on something checked."""
from __future__ import annotations

import hashlib
import urllib.request


def test_fake_hub_serves_ranges_and_redirects(fake_hub, small_gguf):
    spec = fake_hub.add_file("test/tiny-GGUF", "Tiny-Test-Q4_K_M.gguf", small_gguf)
    url = f"{fake_hub.url}/test/tiny-GGUF/resolve/main/Tiny-Test-Q4_K_M.gguf"
    req = urllib.request.Request(url, headers={"Range": "bytes=100-"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 206
        body = r.read()
    assert body == small_gguf.read_bytes()[100:]
    assert len(body) == spec.size - 100
    assert fake_hub.range_requests() == ["bytes=100-", "bytes=100-"]  # resolve, then the CDN


def test_fake_hub_is_what_huggingface_hub_expects(fake_hub, small_gguf):
    from huggingface_hub import HfApi

    fake_hub.add_file("test/tiny-GGUF", "Tiny-Test-Q4_K_M.gguf", small_gguf)
    api = HfApi(endpoint=fake_hub.url, token=False)
    [found] = list(api.list_models(search="tiny", filter="gguf", limit=5))
    assert found.id == "test/tiny-GGUF"
    info = api.model_info("test/tiny-GGUF", revision="main", files_metadata=True)
    gguf_files = [s for s in info.siblings if s.rfilename.endswith(".gguf")]
    assert gguf_files[0].lfs.sha256 == hashlib.sha256(small_gguf.read_bytes()).hexdigest()
    [p] = api.get_paths_info("test/tiny-GGUF", ["Tiny-Test-Q4_K_M.gguf"])
    assert p.lfs["sha256"] == gguf_files[0].lfs.sha256


