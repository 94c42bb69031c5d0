"""The installed list (embedded first, downloads, imports), import (in place or
copied, validated first), delete, set default, and the header cache."""
from __future__ import annotations

import os
import shutil

import pytest

from desktop.core.engines.registry import ModelChoice
from desktop.core.library import installed
from desktop.core.library.embedded import NAME, SHA256
from desktop.core.library.gguf_info import GGUFError
from desktop.core.library.hashing import sha256_file
from fakehub import make_gguf
def test_embedded_model_comes_first(services):
    models = installed.list_installed(services)
    first = models[0]
    assert first.embedded and first.choice == ModelChoice("local", "default")
    assert first.path == services.folders.models / NAME
    assert first.architecture == "gemma3" and first.quant == "Q4_K_M" and first.sha256 == SHA256
    assert first.is_default and first.managed and first.available
    assert first.name == ModelChoice("local", "default").label
    assert len(models) == 1


def test_files_under_models_and_imports_are_listed(services, tmp_path):
    downloaded = make_gguf(services.folders.models / "bartowski" / "Tiny-GGUF" / "Tiny-Q4_K_M.gguf")
    make_gguf(services.folders.models / "Big-00002-of-00002.gguf")  # a second shard is not a model of its own
    (services.folders.models / ".hidden.gguf").write_bytes(b"x")
    outside = make_gguf(tmp_path / "elsewhere" / "Mine-Q8_0.gguf", file_type=7, seed=3)
    imp = installed.import_file(services, outside)
    assert imp.path == outside.resolve() and not imp.managed and imp.source == "imported"
    assert imp.sha256 == sha256_file(outside) and imp.quant == "Q8_0"
    assert imp.choice == ModelChoice("local", os.fspath(outside.resolve()))

    models = installed.list_installed(services)
    names = [m.path.name for m in models]
    assert names[0] == NAME
    assert set(names[1:]) == {"Tiny-Q4_K_M.gguf", "Mine-Q8_0.gguf"}
    tiny = next(m for m in models if m.path == downloaded)
    assert tiny.managed and tiny.architecture == "llama" and tiny.context_length == 2048 and tiny.chat_template
    assert tiny.choice == ModelChoice("local", os.fspath(downloaded))
    assert tiny.size == downloaded.stat().st_size
    # The choice string is what the engines take: it names the same file.
    assert services.local_model_path(tiny.choice.model) == downloaded


def test_import_validates_the_header_first(services, tmp_path):
    bad = tmp_path / "broken.gguf"
    good = make_gguf(tmp_path / "good.gguf")
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(GGUFError, match="broken.gguf is truncated"):
        installed.import_file(services, bad)
    with pytest.raises(GGUFError, match="does not exist"):
        installed.import_file(services, tmp_path / "nothing.gguf")
    assert [m.path.name for m in installed.list_installed(services)] == [NAME]


def test_import_with_copy_and_delete(services, tmp_path):
    src = make_gguf(tmp_path / "src" / "Copied-Q4_K_M.gguf")
    copied = installed.import_file(services, src, copy=True)
    assert copied.managed and copied.path.parent == services.folders.models / "imported"
    assert copied.path.read_bytes() == src.read_bytes() and src.exists()
    again = installed.import_file(services, src, copy=True)  # no overwrite: a second name
    assert again.path.name == "Copied-Q4_K_M-1.gguf"

    msg = installed.delete(services, copied)
    assert "Deleted" in msg and not copied.path.exists()
    installed.delete(services, again)
    assert not (services.folders.models / "imported").exists()  # the emptied folder went too
    assert src.exists()
    assert [m.path.name for m in installed.list_installed(services)] == [NAME]


def test_delete_an_in_place_import_keeps_the_users_file(services, tmp_path):
    src = make_gguf(tmp_path / "keep" / "Keep-Q4_K_M.gguf")
    model = installed.import_file(services, src, compute_sha256=False)
    msg = installed.delete(services, model)
    assert "left where it is" in msg and src.exists()
    assert all(m.path != src.resolve() for m in installed.list_installed(services))


def test_set_default_and_delete_the_default(services):
    path = make_gguf(services.folders.models / "org" / "Repo-GGUF" / "Model-Q4_K_M.gguf")
    model = next(m for m in installed.list_installed(services) if m.path == path)
    installed.set_default(services, model)
    assert services.settings.default_local_model == os.fspath(path)
    reloaded = services.folders.settings_file.read_text()
    assert os.fspath(path) in reloaded
    listed = installed.list_installed(services)
    assert [m.is_default for m in listed] == [False, True]
    msg = installed.delete(services, listed[1])
    assert "built-in model is the default again" in msg
    assert services.settings.default_local_model == "default"
    assert not (services.folders.models / "org").exists()
    with pytest.raises(ValueError, match="built-in model cannot be deleted"):
        installed.delete(services, installed.list_installed(services)[0])


def test_missing_and_unreadable_files_are_shown_not_hidden(services, tmp_path):
    src = make_gguf(tmp_path / "gone" / "Gone-Q4_K_M.gguf")
    installed.import_file(services, src, compute_sha256=False)
    shutil.rmtree(src.parent)
    (services.folders.models / "junk.gguf").write_bytes(b"GGUF" + b"\x00" * 40)
    models = {m.path.name: m for m in installed.list_installed(services)}
    assert "missing" in models["Gone-Q4_K_M.gguf"].error
    assert "junk.gguf" in models["junk.gguf"].error and not models["junk.gguf"].available
    with pytest.raises(ValueError):
        installed.set_default(services, models["junk.gguf"])


def test_header_is_cached_until_the_file_changes(services, monkeypatch):
    path = make_gguf(services.folders.models / "Cached-Q4_K_M.gguf")
    installed.list_installed(services)
    calls = []
    real = installed.read_info
    monkeypatch.setattr(installed, "read_info", lambda p: calls.append(p) or real(p))
    installed.list_installed(services)
    assert calls == []  # nothing re-read, the embedded model included
    make_gguf(path, context_length=8192)  # rewritten: new size or mtime
    os.utime(path, (1, 1))
    m = next(m for m in installed.list_installed(services) if m.path == path)
    assert calls == [path] and m.context_length == 8192


def test_record_download_keeps_checksum_and_source(services):
    path = make_gguf(services.folders.models / "bartowski" / "X-GGUF" / "X-Q4_K_M.gguf")
    sha = sha256_file(path)
    m = installed.record_download(services, path, sha256=sha, source="bartowski/X-GGUF")
    assert m.sha256 == sha and m.source == "bartowski/X-GGUF"
    again = next(x for x in installed.list_installed(services) if x.path == path)
    assert again.sha256 == sha and again.source == "bartowski/X-GGUF"
    used, free = installed.disk_usage(services)
    assert used >= path.stat().st_size + (services.folders.models / NAME).stat().st_size and free > 0


def test_embedded_model_not_yet_written_out_is_still_offered(arenadesk_home):
    """On a first run the built-in model is assembled on first use; the list offers it all the same."""
    from desktop.core.services import Services

    s = Services.open()
    try:
        assert not (s.folders.models / NAME).exists()
        [m] = installed.list_installed(s)
        assert m.embedded and m.available and m.choice == ModelChoice("local", "default") and m.is_default
        assert m.architecture == "gemma3" and m.quant == "Q4_K_M"
        assert not (s.folders.models / NAME).exists()  # listing did not write 253 MB
    finally:
        s.close()
