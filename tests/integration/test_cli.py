"""The headless commands, end to end: real model, real OpenAI-compatible server, real store."""
import json
import os
import subprocess
import sys
from pathlib import Path

from desktop.cli import run
from desktop.core import secrets
from desktop.core.store import Store

SENTINEL = "sk-SENTINEL-do-not-leak-4242424242"


def test_ask_streams_both_and_records_the_round(capsys, services, llama_server, arenadesk_home):
    services.close()
    services.secrets.set(secrets.OPENAI, "sk-test-cli-key-0000")
    code = run(["ask", "What is the capital of France?", "--local", "default", "--remote", "gemma-via-api",
                "--base-url", llama_server, "--max-tokens", "16", "--temperature", "0", "--seed", "1", "--json"])
    assert code == 0
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [a["engine"] for a in answers] == ["local", "openai"]
    assert all(a["status"] == "done" and a["text"].strip() and a["tokens_out"] for a in answers)
    assert "Paris" in answers[0]["text"]
    store = Store(services.folders.database)
    rounds = store.query("SELECT id, prompt FROM rounds")
    assert rounds == [(answers[0]["round_id"], "What is the capital of France?")]
    assert run(["vote", str(rounds[0][0]), "left"]) == 0
    assert [b.winner for b in store.battles()] == ["a"]
    assert run(["leaderboard"]) == 0
    assert "Gemma" in capsys.readouterr().out


def test_no_key_is_a_clear_error(capsys, services):
    services.close()
    assert run(["ask", "hi", "--remote", "gpt-4o-mini"]) == 2
    assert "No OpenAI key" in capsys.readouterr().err


def test_the_key_is_found_nowhere_on_disk(services, llama_server, tmp_path, capsys):
    """A sentinel key used for a real round and every export never reaches a file."""
    services.close()
    services.secrets.set(secrets.OPENAI, SENTINEL)
    assert run(["ask", "Say hi.", "--local", "default", "--remote", "gemma-via-api", "--base-url", llama_server,
                "--max-tokens", "8"]) == 0
    # A failing request too: its error message must not carry the key either.
    assert run(["ask", "Say hi.", "--remote", "gemma-via-api", "--base-url", "http://127.0.0.1:9/v1",
                "--max-tokens", "4"]) == 1
    store = Store(services.folders.database)
    (round_id,) = store.query("SELECT MIN(id) FROM rounds")[0]
    run(["vote", str(round_id), "right", "--note", "fine"])
    exports = services.folders.data / "exports"
    for fmt in ("csv", "jsonl", "fastchat", "pairs"):
        assert run(["export", "--format", fmt, "--out", str(exports / f"all.{fmt}")]) == 0
    store.close()
    found = []
    for folder in services.folders.all():
        for path in Path(folder).rglob("*"):
            if path.is_file() and SENTINEL.encode() in path.read_bytes():
                found.append(path)
    assert found == []
    assert SENTINEL not in capsys.readouterr().out


def test_self_check_from_the_command_line(tmp_path, embedded_model):
    env = dict(os.environ, ARENADESK_HOME=str(tmp_path / "home"), QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-m", "desktop", "--self-check"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "self-check: ok" in out.stdout


def test_version_and_help():
    for flag in ("--version", "--help"):
        out = subprocess.run([sys.executable, "-m", "desktop", flag], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0
        assert "arenadesk" in out.stdout.lower()


def test_export_filters_from_the_command_line(services, tmp_path, capsys):
    from desktop.core.store import SlotSpec

    store = services.store
    for tag, blind in (("coding", True), ("writing", False)):
        conv = store.new_conversation(blind=blind)
        rid, _ = store.add_round(conv, f"a {tag} prompt", [SlotSpec(0, 0, "openai", "m1", "m1"),
                                                           SlotSpec(1, 1, "openai", "m2", "m2")], tag=tag, blind=blind)
        store.cast_vote(rid, "left")
    services.close()
    out = tmp_path / "x.jsonl"
    assert run(["export", "--format", "pairs", "--out", str(out), "--tag", "coding"]) == 0
    assert "exported 0 records" in capsys.readouterr().out  # empty answers make no pairs
    assert run(["export", "--format", "fastchat", "--out", str(out), "--blind-only"]) == 0
    assert [b["anony"] for b in json.loads(out.read_text())] == [True]
    assert run(["export", "--format", "fastchat", "--out", str(out), "--since", "2000-01-01", "--until", "2001-01-01"]) == 0
    assert json.loads(out.read_text()) == []


def test_no_display_is_explained_not_a_crash(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["ARENADESK_HOME"] = str(tmp_path / "home")
    out = subprocess.run([sys.executable, "-m", "desktop"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "no display" in out.stderr and "arenadesk ask" in out.stderr


def test_vote_hints_and_best_of_three(services, capsys):
    from desktop.cli import vote_hint
    from desktop.core.store import SlotSpec

    assert "second model" in vote_hint(1, 1)
    assert "left|right" in vote_hint(1, 2)
    assert "best --best N" in vote_hint(1, 3)
    conv = services.store.new_conversation()
    rid, ids = services.store.add_round(conv, "p", [SlotSpec(i, i, "openai", f"m{i}", f"m{i}") for i in range(3)])
    from desktop.core.engines.base import Result

    for i in ids:  # answered (left streaming, the next start would mark them interrupted: not votable)
        services.store.save_response(i, Result(text=f"answer {i}", status="done"))
    services.close()
    assert run(["vote", str(rid), "best"]) == 2
    assert run(["vote", str(rid), "best", "--best", "2"]) == 0
    from desktop.core.store import Store

    battles = Store(services.folders.database).battles()
    assert {(b.model_a, b.winner) for b in battles} == {("m1", "a")}


def test_a_keyless_local_server_needs_no_key(services, llama_server, capsys):
    services.close()
    assert run(["ask", "Say hi.", "--remote", "gemma-via-api", "--base-url", llama_server, "--max-tokens", "4",
                "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "done"
