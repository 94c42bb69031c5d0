"""Found models answer: the base model found in LM Studio's folder, the chat model found
through an Ollama manifest, and the chat model split in two parts in llama.cpp's cache,
each run where it lies through the app's local engine, recorded under its own name and hash."""
from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path

import pytest

from chat_model import SHA256 as CHAT_SHA, cache_dir
from desktop.core.arena import Round, Slot
from desktop.core.engines.registry import ModelChoice
from desktop.core.library import discover
from desktop.core.library.embedded import SHA256 as BASE_SHA
from desktop.core.library.installed import list_installed
from found_layouts import link, ollama


def split_in_two(src: Path, out_dir: Path) -> list[Path]:
    """The file as llama.cpp's gguf-split writes it: the tensors in two files, each with split.* keys
    (gguf's own GGUFWriter does the splitting)."""
    from gguf import GGUFReader, GGUFValueType, GGUFWriter

    out_dir.mkdir(parents=True, exist_ok=True)
    r = GGUFReader(src)
    w = GGUFWriter(str(out_dir / src.name), r.fields["general.architecture"].contents(),
                   split_max_tensors=math.ceil(len(r.tensors) / 2))
    for f in r.fields.values():
        if f.name.startswith(("GGUF.", "split.")) or f.name == "general.architecture":
            continue
        vtype = f.types[0]
        w.add_key_value(f.name, f.contents(), vtype, sub_type=f.types[-1] if vtype == GGUFValueType.ARRAY else None)
    for t in r.tensors:
        w.add_tensor(t.name, t.data, raw_shape=t.data.shape, raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return sorted(out_dir.glob("*-of-*.gguf"))


@pytest.fixture(scope="session")
def split_chat_model(chat_model) -> list[Path]:
    """The chat model in two parts, made once and cached next to it (15 s here)."""
    folder = cache_dir() / f"split-{CHAT_SHA[:12]}"
    parts = sorted(folder.glob("*-of-00002.gguf"))
    if len(parts) != 2:
        tmp = folder.with_name(folder.name + ".tmp")
        for p in tmp.glob("*"):
            p.unlink()
        split_in_two(chat_model, tmp)
        tmp.rename(folder)
        parts = sorted(folder.glob("*-of-00002.gguf"))
    return parts


def ask(services, models, prompt="What is the capital of France?"):
    sampling = replace(services.settings.sampling, max_tokens=16, temperature=0.0, seed=1)
    slots = [Slot(m.choice, services.engines.get(m.choice), sampling) for m in models]
    rnd = Round(services.store, services.prices, services.store.new_conversation(), prompt, slots)
    return rnd.run(), rnd.round_id


def test_found_base_model_answers_from_lm_studios_folder(services, embedded_model):
    # the built-in model's file, linked into LM Studio's folder under its hub name
    lms = Path.home() / ".lmstudio" / "models" / "google" / "gemma-3-270m-GGUF" / "gemma-3-270m-Q4_K_M.gguf"
    lms.parent.mkdir(parents=True)
    lms.symlink_to(embedded_model)
    services.settings.use_found_models = "yes"
    scan = services.discovery.scan()
    discover.identify(services)
    # It is the built-in model's own file: one contestant, listed once (as the built-in model), and
    # still answering from LM Studio's folder when picked by its path (as a pane restored from history is).
    assert not [m for m in list_installed(services) if m.found_in]
    (found,) = scan.found
    base = replace(list_installed(services)[0], path=found.path, name=found.label,
                   choice=ModelChoice("local", str(found.path)))
    (answer,), round_id = ask(services, [base])
    assert answer.status == "done" and "Paris" in answer.text
    rows = services.store.query("SELECT model, model_ref FROM responses WHERE round_id = ?", (round_id,))
    assert rows == [("google/gemma-3-270m-GGUF/gemma-3-270m-Q4_K_M", f"sha256:{BASE_SHA}")]  # the built-in's ratings


def test_found_chat_model_answers_from_ollama_and_split_in_llama_cpps_cache(services, chat_model,
                                                                            split_chat_model):
    ollama(Path.home() / ".ollama" / "models", "smollm2", "135m", chat_model, CHAT_SHA)
    llc = Path(os.environ["XDG_CACHE_HOME"]) / "llama.cpp"  # conftest sets XDG_CACHE_HOME
    for part in split_chat_model:
        link(part, llc / part.name)
    services.settings.use_found_models = "yes"
    services.discovery.scan()
    discover.identify(services)
    found = {m.name: m for m in list_installed(services) if m.found_in}
    chat, split = found["smollm2:135m"], found["SmolLM2-135M-Instruct.Q4_1"]
    assert split.available and split.path.name.endswith("-00001-of-00002.gguf") and split.chat_template
    assert split.parameters == chat.parameters  # both parts counted

    (chat_answer, split_answer), round_id = ask(services, [chat, split])
    for answer in (chat_answer, split_answer):
        assert answer.status == "done", answer.error
        assert answer.text.strip()
    assert split_answer.text == chat_answer.text  # the same weights, greedy: the same answer
    rows = services.store.query("SELECT model, model_ref FROM responses WHERE round_id = ? ORDER BY slot",
                                (round_id,))
    assert rows[0] == ("smollm2:135m", f"sha256:{CHAT_SHA}")
    assert rows[1] == ("SmolLM2-135M-Instruct.Q4_1", f"sha256:{split.sha256}")
