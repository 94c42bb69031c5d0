"""`arenadesk models`: the installed and the found models, with where each came from."""
import json
from pathlib import Path

from chat_model import SHA256 as CHAT_SHA
from desktop.cli import run
from found_layouts import link, ollama, tiny_gguf


def test_models_lists_installed_and_found_with_their_origin(capsys, tmp_path, chat_model):
    home = Path.home()  # conftest: a temporary folder
    ollama(home / ".ollama" / "models", "smollm2", "135m", chat_model, CHAT_SHA)
    tiny_gguf(home / ".lmstudio" / "models" / "me" / "vision" / "mmproj-f16.gguf", arch="clip")
    link(chat_model, home / ".lmstudio" / "models" / "HF" / "smollm2.gguf")  # the same file again

    assert run(["models", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    by_name = {m["name"]: m for m in report["models"]}
    assert by_name["Gemma 3 270M (built in)"]["origin"] == "built in"
    chat = by_name["smollm2:135m"]
    assert chat["origin"] == "from Ollama: smollm2:135m" and chat["usable"] and not chat["used"]
    assert chat["sha256"] == CHAT_SHA and chat["also"] == ["LM Studio: HF/smollm2"]
    assert chat["choice"] == f"local:{home / '.ollama/models/blobs'}/sha256-{CHAT_SHA}"
    proj = by_name["me/vision/mmproj-f16"]
    assert not proj["usable"] and "vision projector" in proj["problem"]
    assert report["use_found_models"] == "ask"
    assert {"tool": "Ollama", "folder": str(home / ".ollama/models"), "why": "default folder"} in report["looked_in"]

    assert run(["models", "--use", "yes", "--identify"]) == 0
    out = capsys.readouterr()
    assert "✔ smollm2:135m  —  from Ollama: smollm2:135m" in out.out
    assert "also in LM Studio: HF/smollm2" in out.out
    assert "not usable: A vision projector" in out.out
    assert "Identified" in out.err
    assert run(["models", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["use_found_models"] == "yes"
    assert next(m for m in again["models"] if m["name"] == "smollm2:135m")["used"]


def test_ask_names_a_found_model_as_its_app_does(capsys, chat_model):
    blob = ollama(Path.home() / ".ollama" / "models", "smollm2", "135m", chat_model, CHAT_SHA)
    assert run(["models", "--use", "yes"]) == 0
    capsys.readouterr()
    assert run(["ask", "Say hello.", "--local", str(blob), "--max-tokens", "8", "--temperature", "0",
                "--json"]) == 0
    (answer,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert answer["model"] == "smollm2:135m" and answer["status"] == "done" and answer["text"].strip()
    assert run(["ask", "Say hello.", "--local", str(blob), "--max-tokens", "4"]) == 0
    assert capsys.readouterr().out.startswith("── smollm2:135m")
