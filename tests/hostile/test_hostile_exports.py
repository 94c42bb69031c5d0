"""Exports re-redact: a row stored before a server's echo of a key was caught on saving (or written
by an older version, or imported) may still hold the key or a URL's password. Every export (CSV,
JSONL, FastChat, preference pairs, with and without the judge's verdicts) and the report (Markdown,
HTML) must leave it out, using the keys this machine's keychain holds, session-only keys, and the
passwords in the configured connections' URLs."""
from __future__ import annotations

import json
import time

import pytest

from desktop.core import exports, report
from desktop.core import settings as settings_io
from desktop.core.engines.base import Result
from desktop.core.paths import folders
from desktop.core.secrets import Redaction, Secrets, connection_key_name
from desktop.core.store import SlotSpec, Store

KEY = "sk-proj-Zq8rT2uV9wX4yA7bC1dE5fG3hJ6kL0mN"  # the connection's key, in the keychain
BODY = KEY[len("sk-proj-"):]  # how a server echoes it without its prefix
SESSION_KEY = "sessionOnlyToken-8fj3KD92hd"  # kept for this session only (no keychain)
HF = "hf_Qw3Er5Ty7Ui9Op1As3Df"  # the Hugging Face token
PASSWORD = "Hunter2Secret"  # in a connection's base URL
SECRETS = [KEY, BODY, SESSION_KEY, HF, HF[3:], PASSWORD]
CONTENT = "connect with postgres://alice:wonderland@db.example/app"  # an answer's own example, not a secret


@pytest.fixture
def leaky_store(tmp_path, memory_keyring):
    """A database whose rows hold the secrets in every text column, written with SQL directly
    (as an older version, or an import, would have left them)."""
    s = settings_io.Settings()
    conn = settings_io.Connection(id="my-box", name="my-box", base_url=f"https://bob:{PASSWORD}@my-box.invalid/v1")
    s.connections = [conn]
    settings_io.save(s, folders().ensure().settings_file)
    secrets = Secrets()
    secrets.set(connection_key_name("my-box"), KEY)
    secrets.set("huggingface_token", HF)
    secrets.set("api_key:other", SESSION_KEY, session_only=True)

    store = Store(tmp_path / "leaky.sqlite3")
    conv = store.new_conversation(f"title {KEY}")
    rid, ids = store.add_round(conv, f"prompt with {SESSION_KEY}", [
        SlotSpec(0, 0, "openai", "gpt-4o", "gpt-4o@my-box", connection="my-box"),
        SlotSpec(1, 1, "openai", "echo", "echo@my-box", connection="my-box")])
    for i in ids:
        store.save_response(i, Result(text="placeholder", status="done"))
    store.cast_vote(rid, "left", note="note")
    now = time.time()
    with store.transaction() as db:
        db.execute("UPDATE responses SET text = ?, reasoning = ? WHERE id = ?",
                   (f"Your key is {BODY}. {CONTENT}", f"thinking about {HF}", ids[0]))
        db.execute("UPDATE responses SET text = ?, status = 'error', "
                   "error = ? WHERE id = ?",
                   (f"{KEY} and {PASSWORD}",
                    f"401 from https://bob:{PASSWORD}@my-box.invalid/v1: bad key {BODY} (Bearer {KEY})", ids[1]))
        db.execute("UPDATE votes SET note = ? WHERE round_id = ?", (f"the password is {PASSWORD}", rid))
        db.execute("UPDATE rounds SET system_prompt = ? WHERE id = ?", (f"system {HF}", rid))
        db.execute("INSERT INTO judge_votes (uid, round_id, response_a, response_b, judge_ref, judge_label, "
                   "verdict_ab, verdict_ba, winner, reason_ab, raw_ab, raw_ba, error, created_at) "
                   "VALUES ('j1', ?, ?, ?, 'judge@my-box', 'judge', 'a', 'a', 'a', ?, ?, ?, ?, ?)",
                   (rid, ids[0], ids[1], f"reason {BODY}", f"raw {KEY}", f"raw {PASSWORD}",
                    f"https://bob:{PASSWORD}@x", now))
    yield store, conv
    store.close()


def _leaks(text: str) -> list[str]:
    flat = text.replace("\\", "")  # Markdown escapes '-' and '_' as '\-', '\_'
    return [s for s in SECRETS if s in text or s in flat]


@pytest.mark.parametrize("fmt", exports.FORMATS)
@pytest.mark.parametrize("with_judge", [False, True])
def test_no_export_holds_a_key_or_password_stored_before_redaction(leaky_store, tmp_path, fmt, with_judge):
    store, _ = leaky_store
    out = tmp_path / f"out.{fmt}"
    n = exports.export(store, fmt, out, include_judge=with_judge)
    text = out.read_text(encoding="utf-8-sig")
    assert n > 0 and "[redacted]" in text
    assert _leaks(text) == []
    if fmt != "pairs":  # (pairs hold only answers a vote preferred; the erroring one is left out)
        assert "wonderland" in text  # an answer's own user:password example is content, kept
    if fmt == "jsonl":  # still valid records, and importable
        records = [json.loads(line) for line in text.splitlines()]
        assert {r["type"] for r in records} >= {"conversation", "round", "response", "vote"}
        fresh = Store(tmp_path / "imported.sqlite3")
        exports.import_jsonl(fresh, out)
        fresh.close()


@pytest.mark.parametrize("fmt", report.FORMATS)
def test_a_report_holds_no_key_or_password_stored_before_redaction(leaky_store, tmp_path, fmt):
    store, conv = leaky_store
    out = report.write(report.conversations_report(store, [conv]), fmt, tmp_path / f"report.{fmt}")
    text = out.read_text(encoding="utf-8")
    assert "[redacted]" in text and _leaks(text) == []


def test_the_redaction_knows_the_keychain_session_keys_and_url_passwords(leaky_store):
    known = Redaction.for_this_machine()
    assert KEY in known.secrets and HF in known.secrets and SESSION_KEY in known.secrets
    assert PASSWORD in known.passwords
    assert known.text(f"a {BODY} b") == "a [redacted] b"
    assert known.error(f"https://u:{PASSWORD}@h/v1") == "https://h/v1"
    assert known.text(CONTENT) == CONTENT
