"""Finding the models other tools keep (discover.py): each tool's layout built in a temporary
home with the real small models linked in, not copied."""
from __future__ import annotations

import json
import os
import plistlib
from pathlib import Path

import pytest

from chat_model import SHA256 as CHAT_SHA
from desktop.core.library import discover
from desktop.core.library.discover import default_places, scan
from desktop.core.library.embedded import SHA256 as BASE_SHA
from desktop.core.library.installed import delete, list_installed
from found_layouts import hf_cache, link, ollama, tiny_gguf


@pytest.fixture
def home(tmp_path) -> Path:
    h = tmp_path / "user-home"  # conftest points HOME here
    h.mkdir(exist_ok=True)
    return h


def places(home, env=None, system="Linux"):
    return default_places(home, env or {}, system, root=home.parent / "root")


def by_label(result):
    return {f.label: f for f in result.found}


# -- where each tool keeps them, on each system -------------------------------------------------

def test_default_folders_on_linux_macos_and_windows(home):
    def roots(system, env=None):
        return {(p.tool, p.root) for p in places(home, env, system)}

    linux = roots("Linux")
    assert {("Ollama", home / ".ollama/models"), ("LM Studio", home / ".lmstudio/models"),
            ("LM Studio", home / ".cache/lm-studio/models"),
            ("Hugging Face cache", home / ".cache/huggingface/hub"), ("llama.cpp", home / ".cache/llama.cpp"),
            ("GPT4All", home / ".local/share/nomic.ai/GPT4All"), ("Jan", home / ".config/Jan/data/llamacpp/models"),
            ("Jan", home / ".config/Jan/data/models"), ("Jan", home / "jan/models"),
            ("Ollama", home.parent / "root/usr/share/ollama/.ollama/models")} <= linux
    mac = roots("Darwin")
    assert {("llama.cpp", home / "Library/Caches/llama.cpp"),
            ("GPT4All", home / "Library/Application Support/nomic.ai/GPT4All"),
            ("Jan", home / "Library/Application Support/Jan/data/models"),
            ("Ollama", home / ".ollama/models"), ("LM Studio", home / ".lmstudio/models")} <= mac
    win_env = {"LOCALAPPDATA": str(home / "AppData/Local"), "APPDATA": str(home / "AppData/Roaming")}
    win = roots("Windows", win_env)
    assert {("llama.cpp", home / "AppData/Local/llama.cpp"), ("GPT4All", home / "AppData/Local/nomic.ai/GPT4All"),
            ("Jan", home / "AppData/Roaming/Jan/data/models"), ("Ollama", home / ".ollama/models")} <= win
    assert not any("usr/share" in str(r) for _, r in mac | win)


def test_environment_variables_and_settings_files_move_the_folders(home, tmp_path):
    (home / ".lmstudio").mkdir()
    (home / ".lmstudio" / "settings.json").write_text(json.dumps({"downloadsFolder": str(tmp_path / "lms")}))
    (home / ".lmstudio-home-pointer").write_text(str(tmp_path / "lmhome"))
    (home / ".config" / "Jan").mkdir(parents=True)
    (home / ".config" / "Jan" / "settings.json").write_text(json.dumps({"data_folder": str(tmp_path / "jandata")}))
    (home / ".config" / "nomic.ai").mkdir(parents=True)
    (home / ".config" / "nomic.ai" / "GPT4All.ini").write_text(f"[General]\nmodelPath={tmp_path / 'g4a'}\n")
    env = {"OLLAMA_MODELS": str(tmp_path / "om"), "HF_HOME": str(tmp_path / "hf"), "LLAMA_CACHE": str(tmp_path / "lc")}
    got = {(p.tool, p.root): p.why for p in places(home, env)}
    assert got[("Ollama", tmp_path / "om")] == "OLLAMA_MODELS"
    assert got[("Hugging Face cache", tmp_path / "hf" / "hub")] == "HF_HOME"
    assert got[("llama.cpp", tmp_path / "lc")] == "LLAMA_CACHE"
    assert got[("LM Studio", tmp_path / "lms")].startswith("from ")
    assert ("LM Studio", tmp_path / "lmhome" / "models") in got
    assert ("Jan", tmp_path / "jandata" / "models") in got
    assert got[("GPT4All", tmp_path / "g4a")].startswith("from ")
    env = {"HF_HUB_CACHE": str(tmp_path / "hubcache"), "HF_HOME": str(tmp_path / "hf")}
    assert ("Hugging Face cache", tmp_path / "hubcache") in {(p.tool, p.root) for p in places(home, env)}
    # macOS keeps GPT4All's settings in a property list
    prefs = home / "Library" / "Preferences"
    prefs.mkdir(parents=True)
    with (prefs / "com.nomic.GPT4All.plist").open("wb") as fh:
        plistlib.dump({"modelPath": str(tmp_path / "g4a-mac")}, fh, fmt=plistlib.FMT_BINARY)
    assert ("GPT4All", tmp_path / "g4a-mac") in {(p.tool, p.root) for p in places(home, system="Darwin")}


def test_hostile_settings_files_are_ignored(home):
    (home / ".lmstudio").mkdir()
    (home / ".lmstudio" / "settings.json").write_text('{"downloadsFolder": 42}')
    (home / ".lmstudio-home-pointer").write_bytes(b"\xff\xfe\x00bad")
    (home / ".config" / "Jan").mkdir(parents=True)
    (home / ".config" / "Jan" / "settings.json").write_text("[not json")
    (home / ".config" / "nomic.ai").mkdir(parents=True)
    (home / ".config" / "nomic.ai" / "GPT4All.ini").write_bytes(b"\x00\x01 no ini at all")
    prefs = home / "Library" / "Preferences"
    prefs.mkdir(parents=True)
    (prefs / "com.nomic.GPT4All.plist").write_bytes(b"bplist00 broken")
    assert places(home) and places(home, system="Darwin")  # defaults still there, nothing raised
    (home / ".lmstudio" / "settings.json").unlink()
    os.mkfifo(home / ".lmstudio" / "settings.json")  # reading a pipe would wait for ever
    assert ("LM Studio", home / ".lmstudio" / "models") in {(p.tool, p.root) for p in places(home)}


# -- each tool's layout ---------------------------------------------------------------------------

def test_ollama_manifest_names_the_blob(home, chat_model, embedded_model, tmp_path):
    models = home / ".ollama" / "models"
    projector = tiny_gguf(tmp_path / "proj.gguf", arch="clip", general_type="mmproj")
    blob = ollama(models, "smollm2", "135m", chat_model, CHAT_SHA, projector=(projector, "2" * 64))
    ollama(models, "gemma3", "270m", embedded_model, BASE_SHA, namespace="someone")
    # a pull in progress: the manifest is there, the blob is still a -partial file
    (models / "blobs" / f"sha256-{'3' * 64}-partial").write_bytes(b"GGUF")
    manifest = models / "manifests" / "registry.ollama.ai" / "library" / "qwen3" / "4b"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"layers": [{"mediaType": "application/vnd.ollama.image.model",
                                                "digest": "sha256:" + "3" * 64}]}))
    found = by_label(scan(places(home)))
    chat = found["smollm2:135m"]
    assert (chat.tool, chat.kind, chat.path, chat.sha256) == ("Ollama", "model", blob, CHAT_SHA)
    assert chat.origin == "from Ollama: smollm2:135m"
    assert found["someone/gemma3:270m"].kind == "model"
    assert found["smollm2:135m (vision projector)"].kind == "projector"
    assert found["qwen3:4b"].kind == "partial" and "ollama pull" in found["qwen3:4b"].note


def test_hostile_ollama_manifests_are_skipped(home, chat_model):
    models = home / ".ollama" / "models"
    ollama(models, "good", "latest", chat_model, CHAT_SHA)
    bad = models / "manifests" / "registry.ollama.ai" / "library"
    for name, text in [("traversal", {"layers": [{"mediaType": "application/vnd.ollama.image.model",
                                                 "digest": "sha256:../../../../etc/passwd"}]}),
                       ("notlist", {"layers": "nope"}), ("notdict", [1, 2]),
                       ("layerjunk", {"layers": [None, 3, {"mediaType": 5}]})]:
        (bad / name).mkdir(parents=True)
        (bad / name / "latest").write_text(json.dumps(text))
    (bad / "broken").mkdir()
    (bad / "broken" / "latest").write_bytes(b"\xff{{{")
    result = scan(places(home))
    assert [f.label for f in result.found] == ["good:latest"]


def test_hub_cache_snapshot_link_leads_to_the_blob(home, chat_model):
    hub = home / ".cache" / "huggingface" / "hub"
    snap = hf_cache(hub, "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", "smollm2-135m-instruct-q4_1.gguf",
                    chat_model, CHAT_SHA)
    # a download in progress: blobs/<sha>.incomplete starting with GGUF, no snapshot link yet
    repo = hub / "models--bartowski--Qwen3-4B-GGUF"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / ("4" * 64 + ".incomplete")).write_bytes(b"GGUF" + b"\0" * 100)
    found = scan(places(home, {"XDG_CACHE_HOME": str(home / ".cache")})).found
    model = next(f for f in found if f.kind == "model")
    assert model.tool == "Hugging Face cache" and model.path == snap and snap.is_symlink()
    assert model.label == "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/smollm2-135m-instruct-q4_1"
    assert model.sha256 == CHAT_SHA  # the blob's name, which the hub verified
    partial = next(f for f in found if f.kind == "partial")
    assert partial.label == "bartowski/Qwen3-4B-GGUF (downloading)"


def test_lm_studio_gpt4all_jan_and_llama_cpp_trees(home, chat_model, embedded_model, tmp_path):
    lms = home / ".lmstudio" / "models" / "lmstudio-community" / "SmolLM2-GGUF"
    link(chat_model, lms / "SmolLM2-135M-Instruct-Q4_1.gguf")
    tiny_gguf(lms / "mmproj-SmolLM2-f16.gguf", arch="clip", general_type=None)
    (lms / "Other-Q8_0.gguf.part").write_bytes(b"GGUF")
    gpt = home / ".local" / "share" / "nomic.ai" / "GPT4All"
    link(embedded_model, gpt / "gemma-3-270m.gguf")
    (gpt / "incomplete-Llama-3.2-3B.gguf").write_bytes(b"GGUF")
    tiny_gguf(tmp_path / "jan" / "lora.gguf", arch="llama", general_type="adapter")
    link(tmp_path / "jan" / "lora.gguf", home / ".config" / "Jan" / "data" / "llamacpp" / "models" / "my-lora" / "model.gguf")
    tiny_gguf(tmp_path / "llc" / "ggml-vocab-llama.gguf", general_type="vocab", tensors=0)
    found = by_label(scan(places(home, {"LLAMA_CACHE": str(tmp_path / "llc")})))
    assert found["lmstudio-community/SmolLM2-GGUF/SmolLM2-135M-Instruct-Q4_1"].kind == "model"
    assert found["lmstudio-community/SmolLM2-GGUF/mmproj-SmolLM2-f16"].kind == "projector"
    assert found["lmstudio-community/SmolLM2-GGUF/Other-Q8_0.gguf.part"].kind == "partial"
    assert found["gemma-3-270m"].tool == "GPT4All" and found["gemma-3-270m"].kind == "model"
    assert found["Llama-3.2-3B"].kind == "partial"
    assert found["my-lora"].kind == "adapter" and found["my-lora"].tool == "Jan"
    assert found["ggml-vocab-llama"].kind == "unreadable" and "vocabulary" in found["ggml-vocab-llama"].note
    assert found["ggml-vocab-llama"].tool == "llama.cpp"


def test_split_models_are_one_model_and_missing_parts_are_said(home, tmp_path):
    llc = tmp_path / "llc"
    for n in (1, 2):
        tiny_gguf(llc / f"big-00{n}-of-002.gguf")  # not the split pattern: two plain files
        tiny_gguf(llc / "q" / f"Qwen3-30B-Q4_K_M-0000{n}-of-00002.gguf", split=(n, 2))
    for n in (1, 3):
        tiny_gguf(llc / "r" / f"Big-Q8_0-0000{n}-of-00003.gguf", split=(n, 3))
    found = by_label(scan(places(home, {"LLAMA_CACHE": str(llc)})))
    whole = found["q/Qwen3-30B-Q4_K_M"]
    assert whole.kind == "model" and whole.path.name.endswith("-00001-of-00002.gguf")
    assert len(whole.parts) == 2 and whole.size == sum(p.stat().st_size for p in whole.parts)
    broken = found["r/Big-Q8_0"]
    assert broken.kind == "incomplete split" and "part 2" in broken.note
    assert {"big-001-of-002", "big-002-of-002"} <= set(found)


def test_same_file_through_two_tools_is_one_model(home, chat_model):
    ollama(home / ".ollama" / "models", "smollm2", "135m", chat_model, CHAT_SHA)
    link(chat_model, home / ".lmstudio" / "models" / "HF" / "SmolLM2-GGUF" / "smollm2.gguf")
    hf_cache(home / ".cache" / "huggingface" / "hub", "HF/SmolLM2-GGUF", "smollm2.gguf", chat_model, CHAT_SHA)
    result = scan(places(home))
    assert [f.label for f in result.found] == ["smollm2:135m"]  # Ollama names it: first in TOOL_ORDER
    assert sorted(result.found[0].also) == ["Hugging Face cache: HF/SmolLM2-GGUF/smollm2",
                                            "LM Studio: HF/SmolLM2-GGUF/smollm2"]


def test_unreadable_folder_is_skipped_and_said(home, chat_model, embedded_model, monkeypatch):
    """Root ignores file permissions (chmod 000 stops nothing here), so the one folder that cannot be
    read raises PermissionError through a wrapped os.scandir, as it would for a normal user."""
    lms = home / ".lmstudio" / "models"
    link(chat_model, lms / "open" / "smollm2.gguf")
    link(embedded_model, lms / "locked" / "gemma.gguf")
    real = os.scandir

    def scandir(path="."):
        if Path(path) == lms / "locked":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = scan(places(home))
    assert [f.label for f in result.found] == ["open/smollm2"]
    assert len(result.problems) == 1 and str(lms / "locked") in result.problems[0]
    assert "permission denied" in result.problems[0]


def test_a_pipe_named_like_a_model_does_not_hang_the_scan(home, chat_model):
    lms = home / ".lmstudio" / "models"
    link(chat_model, lms / "a" / "smollm2.gguf")
    os.mkfifo(lms / "a" / "trap.gguf")  # opening a pipe for reading waits for a writer
    (lms / "a" / "dir.gguf").mkdir()
    assert [f.label for f in scan(places(home)).found] == ["a/smollm2"]


def test_linked_folder_loops_end(home, chat_model):
    lms = home / ".lmstudio" / "models"
    link(chat_model, lms / "a" / "smollm2.gguf")
    os.symlink(lms, lms / "a" / "loop")
    assert [f.label for f in scan(places(home)).found] == ["a/smollm2"]


def test_offer_text():
    assert discover.offer_text(["Ollama"]) == "Found 1 model from Ollama — use it?"
    assert discover.offer_text(["Ollama", "Ollama", "LM Studio", "LM Studio"]) == \
        "Found 4 models from Ollama and LM Studio — use them?"
    assert discover.offer_text(["Ollama", "LM Studio", "Jan"]) == \
        "Found 3 models from Ollama, LM Studio and Jan — use them?"


# -- kept, identified, listed, used ---------------------------------------------------------------

def _tree_state(root: Path) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[os.fspath(p)] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return out


def test_found_models_join_the_library_identified_once_never_touched(services, home, chat_model, embedded_model,
                                                                     tmp_path):
    ollama(home / ".ollama" / "models", "smollm2", "135m", chat_model, CHAT_SHA)
    lms = home / ".lmstudio" / "models" / "me" / "tiny"
    tiny_gguf(lms / "tiny-a.gguf")
    tiny_gguf(lms / "tiny-b.gguf")  # the same bytes in another file: one contestant once hashed
    tiny_gguf(lms / "mmproj-tiny.gguf", arch="clip", general_type="mmproj")
    link(embedded_model, home / ".lmstudio" / "models" / "gemma.gguf")  # the built-in model's own file
    before = _tree_state(home)

    assert services.settings.use_found_models == "ask"
    result = services.discovery.scan()
    assert {f.label for f in result.found} == {"smollm2:135m", "me/tiny/tiny-a", "me/tiny/tiny-b",
                                               "me/tiny/mmproj-tiny", "gemma"}
    assert [m.found_in for m in list_installed(services)] == [None]  # not used until the user says so
    found = [m for m in list_installed(services, include_found=True) if m.found_in]
    # the built-in model's file (a hard link in both places) is listed once, as the built-in model
    assert "gemma" not in {m.name for m in found}
    assert {m.name for m in found} == {"smollm2:135m", "me/tiny/tiny-a", "me/tiny/tiny-b", "me/tiny/mmproj-tiny"}
    proj = next(m for m in found if m.kind == "projector")
    assert not proj.available and "vision projector" in proj.error

    progress = []
    done = discover.identify(services, on_progress=progress.append, chunk=64)
    assert done.finished and done.files_done == 4 and progress[-1].finished  # headers: 4; hashes: 2
    assert [p.bytes_done for p in progress] == sorted(p.bytes_done for p in progress)
    assert done.bytes_total == 2 * (lms / "tiny-a.gguf").stat().st_size  # Ollama's blob is not read again
    rows = dict(services.store.query("SELECT label, sha256 FROM found_models"))
    assert rows["smollm2:135m"] == CHAT_SHA
    assert rows["me/tiny/tiny-a"] == rows["me/tiny/tiny-b"] is not None
    again = discover.identify(services)
    assert again.files_total == 0  # kept: nothing is read twice
    services.discovery.scan()
    assert dict(services.store.query("SELECT label, sha256 FROM found_models")) == rows

    services.settings.use_found_models = "yes"
    listed = [m for m in list_installed(services) if m.found_in]
    assert [m.name for m in listed if m.available] == ["smollm2:135m", "me/tiny/tiny-a"]  # tiny-b: same hash
    chat = listed[0]
    assert chat.display_name == "from Ollama: smollm2:135m" and chat.chat_template and chat.quant == "Q4_1"
    assert services.local_model_ref(chat.path) == f"sha256:{CHAT_SHA}"
    assert services.local_model_name(chat.choice) == "smollm2:135m"
    with pytest.raises(ValueError, match="never deletes another app's files"):
        delete(services, chat)
    assert _tree_state(home) == before  # nothing written, moved or deleted in the tools' folders


def test_truncated_download_is_found_out_and_not_offered(services, home, chat_model):
    part = home / ".lmstudio" / "models" / "cut" / "smollm2.gguf"
    part.parent.mkdir(parents=True)
    with chat_model.open("rb") as src:
        part.write_bytes(src.read(8 << 20))  # the header is whole, the weights are not
    services.settings.use_found_models = "yes"
    services.discovery.scan()
    discover.identify(services)
    (m,) = [m for m in list_installed(services) if m.found_in]
    assert m.kind == "partial" and not m.available and "truncated" in m.error
    services.discovery.scan()  # a new scan keeps what the full header said
    (m,) = [m for m in list_installed(services) if m.found_in]
    assert m.kind == "partial"


def test_file_that_disappears_after_the_scan(services, home, chat_model):
    from desktop.core.engines.base import Error

    path = link(chat_model, home / ".lmstudio" / "models" / "x" / "smollm2.gguf")
    services.settings.use_found_models = "yes"
    services.discovery.scan()
    path.unlink()
    (m,) = [m for m in list_installed(services) if m.found_in]
    assert not m.available and "is gone from LM Studio's folder" in m.error and "Scan again" in m.error
    engine = services.engines.get(m.choice)
    events = list(engine.stream([{"role": "user", "content": "hi"}], services.settings.sampling))
    errors = [e for e in events if isinstance(e, Error)]
    assert errors and "Model file not found" in errors[0].message and "Pick another model" in errors[0].message


def test_split_model_identity_is_all_its_parts(services, tmp_path, monkeypatch):
    import hashlib

    llc = tmp_path / "llc"
    monkeypatch.setenv("LLAMA_CACHE", str(llc))
    parts = [tiny_gguf(llc / f"Big-Q4_K_M-0000{n}-of-00002.gguf", split=(n, 2), tensors=n) for n in (1, 2)]
    services.settings.use_found_models = "yes"
    services.discovery.scan()
    whole = hashlib.sha256(b"".join(p.read_bytes() for p in parts)).hexdigest()
    # picked before the background job got to it: hashed then (all parts), and kept
    assert services.local_model_ref(parts[0]) == f"sha256:{whole}"
    discover.identify(services)
    (m,) = [m for m in list_installed(services) if m.found_in]
    assert m.name == "Big-Q4_K_M" and m.sha256 == whole and m.size == sum(p.stat().st_size for p in parts)
    assert m.parameters == 16 * 3  # both parts' tensors counted
    parts[1].write_bytes(parts[1].read_bytes() + b"\0" * 64)  # a part changed: not the identified model
    (m,) = [m for m in list_installed(services) if m.found_in]
    assert m.sha256 is None
