"""Hub search and file listing through huggingface_hub against the loopback hub,
quant names read from file names, and the gated-repository message."""
from __future__ import annotations

import time

import pytest

from desktop.core.library.hub import Hub, HubAccessError, HubError, endpoint, quant_from_name
from fakehub import make_gguf


@pytest.mark.parametrize("name,quant", [
    ("Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", "Q4_K_M"),
    ("qwen2.5-1.5b-instruct-q8_0.gguf", "Q8_0"),
    ("Mistral-7B-Instruct-v0.3-IQ3_XS.gguf", "IQ3_XS"),
    ("gemma-3-4b-it-f16.gguf", "F16"),
    ("Qwen3-8B-BF16.gguf", "BF16"),
    ("tinyllama-1.1b-chat-v1.0.Q5_K_M.gguf", "Q5_K_M"),
    ("Qwen3-30B-A3B-UD-Q4_K_XL.gguf", "Q4_K_XL"),
    ("Q4_K_M/Llama-3.3-70B-Instruct-Q4_K_M-00001-of-00002.gguf", "Q4_K_M"),
    ("Phi-3-mini-4k-instruct-fp16.gguf", "F16"),
    ("model-IQ4_NL.gguf", "IQ4_NL"),
    ("mmproj-model.gguf", None),
    ("granite-3.3-2b-instruct.gguf", None),
])
def test_quant_from_name(name, quant):
    assert quant_from_name(name) == quant


def test_endpoint_follows_hf_endpoint_at_call_time(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9/")
    assert endpoint() == "http://127.0.0.1:9"
    monkeypatch.delenv("HF_ENDPOINT")
    assert endpoint() == "https://huggingface.co"


def test_search_and_list_files(fake_hub, tmp_path):
    a = make_gguf(tmp_path / "a.gguf", n_floats=64 * 1024)
    b = make_gguf(tmp_path / "b.gguf", n_floats=128 * 1024, seed=1)
    fake_hub.add_file("bartowski/Tiny-Chat-GGUF", "Tiny-Chat-Q4_K_M.gguf", a)
    fake_hub.add_file("bartowski/Tiny-Chat-GGUF", "Tiny-Chat-Q8_0.gguf", b)
    fake_hub.add_file("bartowski/Tiny-Chat-GGUF", "mmproj-Tiny-Chat-f16.gguf", a)
    fake_hub.add_file("other/Unrelated-GGUF", "Unrelated-Q4_0.gguf", a)
    fake_hub.repos["bartowski/Tiny-Chat-GGUF"].downloads = 5000

    results = Hub().search("tiny")
    assert [r.repo_id for r in results] == ["bartowski/Tiny-Chat-GGUF"]
    assert results[0].downloads == 5000 and results[0].gated is False
    [_, _, search_headers] = [r for r in fake_hub.requests if r[1].startswith("/api/models?")][0]
    assert "authorization" not in search_headers  # no token stored: none sent (not even one saved by other tools)
    query = [p for _, p, _ in fake_hub.requests if p.startswith("/api/models?")][0]
    assert "filter=gguf" in query and "search=tiny" in query

    repo, files = Hub().list_files("bartowski/Tiny-Chat-GGUF")
    models = [f for f in files if f.kind == "model"]
    assert [(f.filename, f.quant) for f in models] == [("Tiny-Chat-Q4_K_M.gguf", "Q4_K_M"), ("Tiny-Chat-Q8_0.gguf", "Q8_0")]
    assert models[0].size == a.stat().st_size and models[1].size == b.stat().st_size
    spec = fake_hub.repos["bartowski/Tiny-Chat-GGUF"].files["Tiny-Chat-Q8_0.gguf"]
    assert models[1].sha256 == spec.sha256
    assert [f.kind for f in files if f.filename.startswith("mmproj")] == ["mmproj"]
    assert all(not f.filename.endswith(".md") for f in files)

    meta = Hub().file_metadata("bartowski/Tiny-Chat-GGUF", "Tiny-Chat-Q8_0.gguf")
    assert meta.sha256 == spec.sha256 and meta.size == spec.size
    assert Hub().file_metadata("bartowski/Tiny-Chat-GGUF", "absent.gguf") is None


def test_token_is_sent_when_stored(fake_hub, small_gguf):
    fake_hub.add_file("test/tiny-GGUF", "Tiny-Test-Q4_K_M.gguf", small_gguf)
    Hub(token=lambda: "hf_abc").list_files("test/tiny-GGUF")
    assert fake_hub.requests[-1][2].get("authorization") == "Bearer hf_abc"


def test_gated_repository_message(fake_hub, small_gguf, monkeypatch):
    """A 401 from the API for a gated repository becomes a message that says what to do."""
    fake_hub.add_file("google/gated-GGUF", "gated-Q4_K_M.gguf", small_gguf, gated=True)

    def gated_api(h, method, rest):
        fake_hub._gate(h, fake_hub.repos["google/gated-GGUF"], {k.lower(): v for k, v in h.headers.items()})

    monkeypatch.setattr(fake_hub, "_api_repo", gated_api)
    with pytest.raises(HubAccessError) as err:
        Hub().list_files("google/gated-GGUF")
    e = err.value
    assert e.gated and e.status == 401 and e.repo_id == "google/gated-GGUF"
    text = str(e)
    assert f"{fake_hub.url}/google/gated-GGUF" in text
    assert "accept the licence" in text and f"{fake_hub.url}/settings/tokens" in text
    assert "Settings → Accounts → Hugging Face token" in text and "keychain" in text

    with pytest.raises(HubAccessError) as err:
        Hub(token="hf_wrong").list_files("google/gated-GGUF")
    assert err.value.status == 403 and "does not have access" in str(err.value)


def test_unknown_repository_and_unreachable_hub(fake_hub, monkeypatch):
    with pytest.raises(HubError, match="does not exist"):
        Hub().list_files("nobody/nothing-GGUF")
    with pytest.raises(HubAccessError, match="not found, or it is private or gated"):
        Hub().list_files("nobody/private-GGUF")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(HubError, match="Could not reach"):
        Hub(timeout=2).list_files("a/b")
    t0 = time.monotonic()
    with pytest.raises(HubError, match="Could not reach .* keep working offline"):
        Hub().search("llama")  # at once, not after huggingface_hub's ~20 s of retries
    assert time.monotonic() - t0 < 5
