"""A misbehaving OpenAI-compatible server on loopback: every hostile answer is streamed for
real, through the engine and a round into a real SQLite store, the JSONL export and the CLI.

Rules checked: every answer is stored whole whatever characters it holds (a lone surrogate
becomes U+FFFD, the rest is kept); invalid UTF-8 is called invalid UTF-8; no secret — the
key whole or without its prefix, a base URL's password — reaches the stored row, the export
or the terminal; no escape sequence from an answer or an error body reaches the terminal."""
from __future__ import annotations

import json

import pytest

from desktop.cli import run
from desktop.core.arena import Round, Slot
from desktop.core.engines.openai_api import OpenAIEngine
from desktop.core.engines.registry import ModelChoice
from desktop.core.exports import export
from desktop.core.pricing import Prices
from desktop.core.settings import Sampling
from desktop.core.store import Store
from desktop.core.untrusted import storable
from hostile_inputs import ANSWERS, TERMINAL, TERMINAL_CONTROLS, chunks

KEY = "sk-proj-Zq8RkV3mWb7YtLp2Xn5Hc9Jd"
BARE_KEY = "Zq8RkV3mWb7YtLp2Xn5Hc9Jd"
PASSWORD = "Hunter2Pass"


def ask(store: Store, url: str, key: str = KEY):
    engine = OpenAIEngine("hostile-model", api_key=key, base_url=url, timeout=20)
    try:
        conv = store.new_conversation()
        rnd = Round(store, Prices({}), conv, "say something", [Slot(ModelChoice("openai", "hostile-model"), engine,
                                                                     Sampling(max_tokens=16))])
        (result,) = rnd.run()
        return rnd, result
    finally:
        engine.close()


@pytest.mark.parametrize("kind", sorted(ANSWERS))
def test_every_hostile_answer_is_stored_whole(fault_server, tmp_path, kind):
    text = ANSWERS[kind]
    fault_server.answer_text = chunks(text)
    store = Store(tmp_path / "a.sqlite3")
    rnd, result = ask(store, fault_server.url)
    assert result.status == "done", result.error
    assert rnd.save_errors == [None]
    stored = store.response(rnd.response_ids[0])
    assert stored.status == "done"
    assert stored.text == storable(text)  # whole; only a lone surrogate becomes U+FFFD
    assert len(stored.text) == len(text)
    if kind == "lone_surrogate":
        assert stored.text == "kept \ufffd whole \ufffd end"
    store.close()


def test_invalid_utf8_in_a_stream_is_called_so_and_the_text_before_it_kept(fault_server, tmp_path):
    fault_server.on_chat("invalid_utf8")
    store = Store(tmp_path / "a.sqlite3")
    rnd, result = ask(store, fault_server.url)
    assert result.status == "error"
    assert "not valid UTF-8" in result.error and "cut" not in result.error  # not "the connection was cut"
    assert store.response(rnd.response_ids[0]).text == "Fine so far. "
    store.close()


def test_a_key_echoed_in_an_error_body_reaches_no_row_export_or_terminal(fault_server, tmp_path, capsys,
                                                                        monkeypatch):
    fault_server.on_chat("echo_key")
    store = Store(tmp_path / "a.sqlite3")
    rnd, result = ask(store, fault_server.url)
    assert result.status == "error" and "is not valid here" in result.error  # the server's words are kept
    for where in (result.error, store.response(rnd.response_ids[0]).error):
        assert KEY not in where and BARE_KEY not in where
    out = tmp_path / "all.jsonl"
    export(store, "jsonl", out)
    assert BARE_KEY not in out.read_text() and "is not valid here" in out.read_text()
    store.close()

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert run(["ask", "hi", "--remote", "m", "--base-url", fault_server.url]) == 1
    printed = capsys.readouterr()
    assert "is not valid here" in printed.out
    assert BARE_KEY not in printed.out + printed.err


def test_a_password_in_the_base_url_reaches_no_row_export_or_terminal(fault_server, tmp_path, capsys):
    fault_server.on_chat("server_error")
    url = fault_server.url.replace("http://", f"http://arena:{PASSWORD}@")
    store = Store(tmp_path / "a.sqlite3")
    engine = OpenAIEngine("m", api_key=KEY, base_url=url, timeout=20, max_retries=0)
    assert PASSWORD not in engine.endpoint
    engine.close()
    rnd, result = ask(store, url)
    assert result.status == "error" and "HTTP 500" in result.error
    assert PASSWORD not in result.error and PASSWORD not in store.response(rnd.response_ids[0]).error
    out = tmp_path / "all.jsonl"
    export(store, "jsonl", out)
    assert PASSWORD not in out.read_text()
    store.close()

    fault_server.on_chat("unauthorized")
    assert run(["ask", "hi", "--remote", "m", "--base-url", url]) == 1
    printed = capsys.readouterr()
    assert "rejected the API key" in printed.out
    assert PASSWORD not in printed.out + printed.err
    assert run(["ask", "hi", "--remote", "m", "--base-url", f"ftp://arena:{PASSWORD}@host/v1"]) == 2
    assert PASSWORD not in capsys.readouterr().err


def test_the_cli_prints_no_terminal_escape_from_an_answer(fault_server, capsys):
    fault_server.answer_text = chunks(TERMINAL, 7)  # sequences split across chunks too
    assert run(["ask", "hi", "--remote", "m", "--base-url", fault_server.url]) == 0
    out = capsys.readouterr().out
    assert "(round 1 saved" in out
    assert "xyzlinkC1\ufffdCR\ufffdBS" in out  # sequences gone whole, lone controls shown as U+FFFD
    assert "52;" not in out and "evil.invalid" not in out
    for control in TERMINAL_CONTROLS:
        assert control not in out, repr(control)

    assert run(["ask", "hi", "--remote", "m", "--base-url", fault_server.url, "--json"]) == 0
    line = capsys.readouterr().out.strip()
    assert all(c not in line for c in TERMINAL_CONTROLS)
    assert json.loads(line)["text"] == TERMINAL  # --json keeps the text exact, escaped as JSON


def test_the_cli_prints_no_terminal_escape_from_an_error_body(fault_server, capsys):
    fault_server.on_chat("model_not_found")
    fault_server.model_ids = ["x"]
    assert run(["ask", "hi", "--remote", "evil\x1b]52;c;aGk=\x07\x1b[2J", "--base-url", fault_server.url]) == 1
    printed = capsys.readouterr()
    for control in TERMINAL_CONTROLS:
        assert control not in printed.out + printed.err, repr(control)
    assert "is not available" in printed.out


def test_a_lone_surrogate_answer_is_saved_and_shown_by_the_cli(fault_server, capsys):
    fault_server.answer_text = chunks(ANSWERS["lone_surrogate"], 6)
    assert run(["ask", "hi", "--remote", "m", "--base-url", fault_server.url, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "done" and record["text"] == "kept \ufffd whole \ufffd end"
    assert run(["ask", "hi", "--remote", "m", "--base-url", fault_server.url]) == 0
    out = capsys.readouterr().out
    assert "kept \ufffd whole \ufffd end" in out and "(round 2 saved" in out
