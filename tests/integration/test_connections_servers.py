"""Many connections at once, over real HTTP: two real `llama_cpp.server` processes (the base
model and the chat model) as two connections, the scripted fault server as a third, and the
built-in model in-process as a fourth contestant, all in one round, in the core and the CLI."""
import json
import threading
import time
from pathlib import Path

import pytest

from desktop.cli import run
from desktop.core import connections as cx
from desktop.core import secrets
from desktop.core.arena import Round, Slot
from desktop.core.engines.base import Done, Error, TextDelta
from desktop.core.engines.openai_api import OpenAIEngine
from desktop.core.engines.registry import ModelChoice
from desktop.core.settings import Sampling
from desktop.core.store import Store

PARAMS = Sampling(temperature=0.0, max_tokens=12, seed=1)
# Not shaped like sk-...: only per-connection redaction can keep them out of messages.
SENTINELS = {"box-a": "sentinel-BOXA-5a5a5a5a", "box-b": "sentinel-BOXB-6b6b6b6b", "faulty": "sentinel-FAULT-7c7c7c7c"}


def add_connections(services, llama_server, chat_llama_server, fault_server, *, keys=False):
    """box-a (base model, vicuna), box-b (chat model, ChatML) and faulty (the scripted server)."""
    for name, preset_id, url in (("box-a", "llamacpp", llama_server), ("box-b", "vllm", chat_llama_server),
                                 ("faulty", "openai", fault_server.url)):
        conn = cx.new_connection(services.settings, preset_id, name=name, base_url=url)
        conn.timeout_s = 60
        if name == "faulty":
            conn.headers = {"X-Title": "ArenaDesk test"}
        services.settings.connections.append(conn)
        if keys or preset_id == "openai":
            services.secrets.set(secrets.connection_key_name(conn.id), SENTINELS[name])
    services.save_settings()


def test_four_contestants_on_three_connections_in_one_round(services, llama_server, chat_llama_server, fault_server):
    add_connections(services, llama_server, chat_llama_server, fault_server)
    fault_server.served_model = "gpt-4o-mini-2024-07-18"
    choices = [ModelChoice("local", "default"), ModelChoice("openai", "gemma", "box-a"),
               ModelChoice("openai", "smollm2", "box-b"), ModelChoice("openai", "gpt-4o-mini", "faulty")]
    slots = [Slot(c, services.engines.get(c, instance=i), PARAMS) for i, c in enumerate(choices)]
    rnd = Round(services.store, services.prices, services.store.new_conversation(), "What is the capital of France?",
                slots)
    results = rnd.run()
    assert [r.status for r in results] == ["done"] * 4, [r.error for r in results]
    assert all(r.text.strip() for r in results)
    assert results[3].text == "Hello, world!"
    rows = services.store.responses(rnd.round_id)
    assert [(r.model, r.model_ref, r.connection) for r in rows[1:]] == [
        ("gemma @ box-a", "gemma@box-a", "box-a"), ("smollm2 @ box-b", "smollm2@box-b", "box-b"),
        ("gpt-4o-mini @ faulty", "gpt-4o-mini@faulty", "faulty")]
    assert rows[0].connection == "" and rows[0].reported_model is None
    assert rows[3].reported_model == "gpt-4o-mini-2024-07-18"
    assert all(r.reported_model for r in rows[1:])  # each llama_cpp.server says which model answered
    [request] = fault_server.chat_requests()
    assert request.headers["x-title"] == "ArenaDesk test"  # the connection's extra header
    assert request.headers["authorization"] == f"Bearer {SENTINELS['faulty']}"
    # The vote names the right contestants: the chat model on box-b wins.
    services.store.cast_vote(rnd.round_id, "best", best_position=2)
    winners = {(b.label_a, b.winner) for b in services.store.battles()}
    assert winners == {("smollm2 @ box-b", "a")}


def test_a_connection_that_is_down_fails_only_its_pane(services, llama_server, chat_llama_server, fault_server):
    add_connections(services, llama_server, chat_llama_server, fault_server)
    dead = cx.new_connection(services.settings, "vllm", name="switched-off", base_url="http://127.0.0.1:9/v1")
    services.settings.connections.append(dead)
    fault_server.on_chat("unauthorized")
    choices = [ModelChoice("openai", "gemma", "box-a"), ModelChoice("openai", "m", dead.id),
               ModelChoice("openai", "gpt-4o-mini", "faulty"), ModelChoice("openai", "smollm2", "box-b")]
    slots = [Slot(c, services.engines.get(c, instance=i), PARAMS) for i, c in enumerate(choices)]
    rnd = Round(services.store, services.prices, services.store.new_conversation(), "Say hi.", slots)
    results = rnd.run()
    assert [r.status for r in results] == ["done", "error", "error", "done"]
    assert "Could not connect to http://127.0.0.1:9/v1" in results[1].error
    assert results[2].error_kind == "auth" and SENTINELS["faulty"] not in results[2].error


def test_the_connection_limit_holds_a_second_answer_until_the_first_ends(fault_server):
    gate = threading.Semaphore(1)
    fault_server.on_chat("hang", "stream")
    first = OpenAIEngine("m", api_key="k", base_url=fault_server.url, timeout=30, gate=gate)
    second = OpenAIEngine("m", api_key="k", base_url=fault_server.url, timeout=30, gate=gate)
    events_first = first.stream([{"role": "user", "content": "a"}], PARAMS)
    events_second = second.stream([{"role": "user", "content": "b"}], PARAMS)
    got: list = []
    reader = threading.Thread(target=lambda: got.extend(events_second), daemon=True)
    waiter = threading.Thread(target=lambda: list(events_first), daemon=True)
    waiter.start()
    deadline = time.monotonic() + 10
    while not fault_server.chat_requests() and time.monotonic() < deadline:
        time.sleep(0.02)
    reader.start()
    time.sleep(0.5)  # long enough for the second request to go out, were it not held
    assert len(fault_server.chat_requests()) == 1
    first.cancel()
    reader.join(timeout=10)
    assert len(fault_server.chat_requests()) == 2
    assert "".join(e.text for e in got if isinstance(e, TextDelta)) == "Hello, world!"
    assert isinstance(got[-1], Done)
    first.close(), second.close()


def test_cancel_while_waiting_for_the_connection_limit(fault_server):
    gate = threading.Semaphore(0)  # the limit is taken by answers elsewhere
    engine = OpenAIEngine("m", api_key="k", base_url=fault_server.url, timeout=30, gate=gate)
    events = engine.stream([{"role": "user", "content": "a"}], PARAMS)
    threading.Timer(0.3, engine.cancel).start()
    assert list(events) == [Done("cancelled")]
    assert fault_server.chat_requests() == []
    engine.close()


def test_the_cli_lists_connections_and_asks_connection_model(services, llama_server, chat_llama_server, fault_server,
                                                               capsys):
    add_connections(services, llama_server, chat_llama_server, fault_server)
    fault_server.model_ids = ["gpt-4o-mini", "gpt-4o"]
    services.close()
    assert run(["connections"]) == 1  # OpenAI itself has no key here: listed as such
    out = capsys.readouterr().out
    for name in ("box-a", "box-b"):
        assert f"{name} ({name}) · http://127.0.0.1:" in out
    assert "faulty (faulty) · " + fault_server.url + " · key in the keychain · 4 at once" in out
    assert out.count("Reachable · no key needed · 1 model\n") == 2  # each llama server serves one model
    assert "Reachable · key accepted · 2 models" in out
    assert "Not tested. No OpenAI key" in out
    assert run(["ask", "What is the capital of France?", "--local", "default", "--remote", "box-a:gemma",
                "--remote", "box-b:smollm2", "--remote", "faulty:gpt-4o-mini", "--max-tokens", "12",
                "--temperature", "0", "--json"]) == 0
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(a["model"], a["connection"], a["status"]) for a in answers] == [
        ("Gemma 3 270M (built in)", "", "done"), ("gemma @ box-a", "box-a", "done"),
        ("smollm2 @ box-b", "box-b", "done"), ("gpt-4o-mini @ faulty", "faulty", "done")]
    assert all(a["text"].strip() for a in answers)
    round_id = answers[0]["round_id"]
    assert run(["vote", str(round_id), "best", "--best", "3"]) == 0
    assert run(["leaderboard"]) == 0
    board = capsys.readouterr().out
    assert "smollm2 @ box-b" in board and "gemma @ box-a" in board and "gpt-4o-mini @ faulty" in board
    # The fetched model lists were kept for the pickers.
    from desktop.core.paths import folders
    from desktop.core.settings import load

    kept = load(folders().settings_file).settings
    assert kept.connection("faulty").models == ["gpt-4o", "gpt-4o-mini"]


def test_cli_connections_add_and_remove(services, fault_server, capsys, monkeypatch):
    import io

    services.close()
    monkeypatch.setattr("sys.stdin", io.StringIO("sentinel-added-key-1234\n"))
    assert run(["connections", "add", "Rented GPU", "--preset", "vllm", "--base-url", fault_server.url,
                "--header", "X-Team: arena", "--max-concurrent", "1", "--key-stdin"]) == 0
    out = capsys.readouterr().out
    assert "added Rented GPU (rented-gpu)" in out and "--remote rented-gpu:MODEL" in out
    assert run(["connections", "--no-check"]) == 0
    assert "Rented GPU (rented-gpu) · " + fault_server.url + " · key in the keychain · 1 at once" in (
        capsys.readouterr().out)
    assert run(["ask", "hi", "--remote", "Rented GPU:gpt-4o-mini", "--max-tokens", "4"]) == 0
    [request] = fault_server.chat_requests()
    assert request.headers["x-team"] == "arena" and request.headers["authorization"].endswith("sentinel-added-key-1234")
    assert run(["connections", "add", "x", "--preset", "nope"]) == 2
    assert run(["ask", "hi", "--remote", "nowhere:m"]) != 0
    assert run(["connections", "remove", "Rented GPU"]) == 0
    assert secrets.Secrets().get(secrets.connection_key_name("rented-gpu")).value is None


def test_keys_of_every_connection_never_reach_a_file(services, llama_server, chat_llama_server, fault_server, capsys):
    """A distinct sentinel key per connection, a server that echoes the key in its error body,
    a round, a vote and every export: no key appears in any file, or on the screen."""
    add_connections(services, llama_server, chat_llama_server, fault_server, keys=True)
    services.close()
    fault_server.on_chat("stream", "unauthorized", "server_error")
    fault_server.on_models("unauthorized")
    ask = ["ask", "Say hi.", "--local", "default", "--remote", "box-a:gemma", "--remote", "box-b:smollm2",
           "--remote", "faulty:gpt-4o-mini", "--max-tokens", "8"]
    assert run(ask) == 0
    assert run(ask[:2] + ["--remote", "faulty:gpt-4o-mini", "--remote", "box-a:gemma", "--max-tokens", "8"]) == 0
    assert run(ask[:2] + ["--remote", "faulty:gpt-4o-mini", "--max-tokens", "4"]) == 1  # 500 echoing the key
    assert run(["connections"]) == 1  # the model list's 401 echoes the key too
    store = Store(services.folders.database)
    errors = [e for (e,) in store.query("SELECT error FROM responses WHERE error IS NOT NULL")]
    assert any("rejected the API key" in e for e in errors) and any("HTTP 500" in e for e in errors)
    (round_id,) = store.query("SELECT MIN(id) FROM rounds")[0]
    store.close()
    assert run(["vote", str(round_id), "best", "--best", "2", "--note", "fine"]) == 0
    exports = services.folders.data / "exports"
    for fmt in ("csv", "jsonl", "fastchat", "pairs"):
        assert run(["export", "--format", fmt, "--out", str(exports / f"all.{fmt}")]) == 0
    seen = capsys.readouterr()
    found = []
    for folder in services.folders.all():
        for path in Path(folder).rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                found += [(path, name) for name, key in SENTINELS.items() if key.encode() in data]
    assert found == []
    assert not any(key in seen.out or key in seen.err for key in SENTINELS.values())
    # ... while each server did receive its own key.
    assert {r.headers.get("authorization") for r in fault_server.requests} == {f"Bearer {SENTINELS['faulty']}"}


def test_old_cli_forms_still_work(services, llama_server, capsys):
    """--remote MODEL --base-url URL (a connection for this call, not saved) and a bare --remote MODEL."""
    services.close()
    assert run(["ask", "Say hi.", "--remote", "gemma-via-api", "--base-url", llama_server, "--max-tokens", "6",
                "--json"]) == 0
    [answer] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    host = llama_server.split("//")[1].split("/")[0]
    assert answer["status"] == "done" and answer["model"] == f"gemma-via-api @ {host}"
    from desktop.core.paths import folders
    from desktop.core.settings import load

    assert [c.id for c in load(folders().settings_file).settings.connections] == ["openai"]  # nothing saved
    assert run(["ask", "hi", "--remote", "gpt-4o-mini"]) == 2
    assert "No OpenAI key" in capsys.readouterr().err
