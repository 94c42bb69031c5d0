"""Crafted files: JSONL imports with malformed records, settings with absurd numbers, GGUF
headers that lie. Each is refused or corrected with a message that names the file (and the
line) and says what to do; nothing is half-imported, and the import summary counts every
record it did not add for what it was."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from desktop.cli import run
from desktop.core import settings as settings_io
from desktop.core.exports import export, import_jsonl
from desktop.core.library.gguf_info import GGUFError, read_info
from desktop.core.store import SlotSpec, Store
from desktop.core.engines.base import Result

HEADER = {"type": "arenadesk-export", "version": 1}


def _write(path, *records):
    path.write_text("\n".join(json.dumps(r) for r in (HEADER,) + records) + "\n", encoding="utf-8")
    return path


def _valid_export(tmp_path):
    store = Store(tmp_path / "src.sqlite3")
    conv = store.new_conversation()
    rid, ids = store.add_round(conv, "p", [SlotSpec(0, 0, "openai", "a", "a"), SlotSpec(1, 1, "openai", "b", "b")])
    for i in ids:
        store.save_response(i, Result(text="t", status="done"))
    store.cast_vote(rid, "left")
    out = tmp_path / "export.jsonl"
    export(store, "jsonl", out)
    store.close()
    return [json.loads(line) for line in out.read_text().splitlines()]


BAD = [
    ("conversation", {"uid": ["a", "list"]}, "uid"),
    ("conversation", {"uid": {"a": 1}}, "uid"),
    ("conversation", {"uid": 7}, "uid"),
    ("conversation", {"uid": "c1", "title": {"x": 1}}, "'title'"),
    ("conversation", {"uid": "c1", "created_at": "yesterday"}, "'created_at'"),
    ("round", {"uid": "r1", "conversation": "c1", "turn": "0"}, "'turn'"),
    ("round", {"uid": "r1", "conversation": ["c1"], "turn": 0}, "'conversation'"),
    # Integers too large for a float (JSON has no limit): a clear error, not an OverflowError.
    ("round", {"uid": "r1", "conversation": "c1", "turn": 0, "revealed_at": 10 ** 400}, "'revealed_at'"),
    ("round", {"uid": "r1", "conversation": "c1", "turn": 0, "revealed_at": "now"}, "'revealed_at'"),
    ("round", {"uid": "r1", "conversation": "c1", "turn": 0, "created_at": -10 ** 400}, "'created_at'"),
    ("response", {"uid": "p1", "round": "r1", "slot": 0, "position": 0, "cost_usd": 10 ** 309}, "'cost_usd'"),
    ("response", {"uid": "p1", "round": "r1", "slot": 0, "position": 0, "params": [1, 2]}, "'params'"),
    ("response", {"uid": "p1", "round": "r1", "slot": True, "position": 0}, "'slot'"),
    ("response", {"uid": "p1", "round": "r1", "slot": 0, "position": 0, "stars": 2.5}, "'stars'"),
    ("vote", {"uid": "v1", "round": "r1", "outcome": "left", "battles": "a>b"}, "'battles'"),
    ("vote", {"uid": "v1", "round": "r1", "outcome": "left", "battles": [["a", "b"]]}, "battle"),
    ("vote", {"uid": "v1", "round": "r1", "outcome": "left", "battles": [{"a": 1, "b": 2, "winner": "a"}]}, "battle"),
]


@pytest.mark.parametrize("kind,record,named", BAD)
def test_a_malformed_record_is_a_clear_error_naming_file_and_line(tmp_path, kind, record, named):
    path = _write(tmp_path / "crafted.jsonl", {"type": "conversation", "uid": "c0"}, dict(record, type=kind))
    store = Store(tmp_path / "a.sqlite3")
    with pytest.raises(ValueError) as exc:
        import_jsonl(store, path)
    message = str(exc.value)
    assert message.startswith("crafted.jsonl, line 3:") and named in message and "nothing was imported" in message
    assert store.query("SELECT COUNT(*) FROM conversations")[0][0] == 0  # not half-imported
    store.close()


def test_the_cli_shows_the_import_error_without_a_traceback(tmp_path, capsys):
    path = _write(tmp_path / "crafted.jsonl", {"type": "response", "uid": "p", "round": "r", "slot": 0,
                                               "position": 0, "params": ["x"]})
    assert run(["import", str(path)]) == 2
    err = capsys.readouterr().err
    assert "crafted.jsonl, line 2" in err and "Traceback" not in err


def test_invalid_utf8_and_a_bad_header_version_name_the_file_and_line(tmp_path):
    store = Store(tmp_path / "a.sqlite3")
    path = tmp_path / "bytes.jsonl"
    path.write_bytes(json.dumps(HEADER).encode() + b'\n{"type": "conversation", "uid": "\xff\xfe"}\n')
    with pytest.raises(ValueError, match=r"bytes.jsonl, line 2: not UTF-8"):
        import_jsonl(store, path)
    path = _write(tmp_path / "version.jsonl")
    path.write_text(json.dumps({"type": "arenadesk-export", "version": "one"}) + "\n")
    with pytest.raises(ValueError, match=r"version.jsonl, line 1: the header's version"):
        import_jsonl(store, path)
    store.close()


def test_lone_surrogates_in_an_import_are_stored_not_fatal(tmp_path):
    records = _valid_export(tmp_path)
    for r in records:
        if r.get("type") == "response":
            r["text"] = "half \ud800 an emoji"  # json.dumps writes it as the escape \ud800: valid JSON
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    store = Store(tmp_path / "a.sqlite3")
    summary = import_jsonl(store, path)
    assert "2 answers" in summary
    assert {t for (t,) in store.query("SELECT text FROM responses")} == {"half \ufffd an emoji"}
    store.close()


def test_the_summary_counts_rows_the_database_refused_as_dropped_not_already_here(tmp_path):
    records = _valid_export(tmp_path)
    clash = next(dict(r) for r in records if r.get("type") == "response")
    clash["uid"] = "another-answer-in-the-same-pane"  # (round, slot) is taken: the database refuses it
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records + [clash]) + "\n")
    store = Store(tmp_path / "a.sqlite3")
    summary = import_jsonl(store, path)
    assert "2 answers" in summary
    assert "Dropped because they break the database's rules" in summary and "1 responses" in summary
    assert "already here" not in summary
    again = import_jsonl(store, path)
    assert "already here" in again
    store.close()


@pytest.mark.parametrize("value", [-4096, 10**9, 0])
def test_an_absurd_context_length_in_settings_is_named_and_replaced(tmp_path, value):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"version": 1, "runtime": {"context_length": value, "threads": 2}}))
    loaded = settings_io.load(path)
    assert loaded.settings.runtime.context_length == settings_io.LocalRuntime().context_length
    assert loaded.settings.runtime.threads == 2  # the rest of the file is kept
    assert "context_length" in loaded.warning and str(path) in loaded.warning


def _gguf_header(version=3, tensors=0, kvs=0) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, tensors, kvs)


@pytest.mark.parametrize("data,said", [
    (_gguf_header(tensors=2**62, kvs=1), "claims"),
    (_gguf_header(kvs=2**40), "claims"),
    (_gguf_header(kvs=1) + struct.pack("<Q", 2**60) + b"k", "corrupt"),
    (b"GGUF" + b"\xff" * 60, ""),
    (b"PK\x03\x04" + b"\x00" * 100, "not a GGUF"),
])
def test_crafted_gguf_headers_are_refused_quickly(tmp_path, data, said):
    path = tmp_path / "crafted.gguf"
    path.write_bytes(data + b"\x00" * 64)
    with pytest.raises(GGUFError) as exc:
        read_info(path)
    assert said in str(exc.value)


@pytest.mark.parametrize("value", [-4096, 10**9])
def test_an_absurd_context_length_given_to_the_engine_is_refused_before_llama_cpp_sees_it(chat_model, value):
    """Settings files are checked on load; a runtime made another way (a suite, code) is checked by
    the engine: -4096 once reached llama.cpp as a four-billion-token context and the model process
    was killed for memory, reported as a damaged file."""
    from desktop.core.engines.base import Error
    from desktop.core.engines.local import LocalEngine

    engine = LocalEngine(chat_model, settings_io.LocalRuntime(context_length=value, threads=2))
    events = list(engine.load())
    assert engine.pid is None  # no model process was started
    assert len(events) == 1 and isinstance(events[0], Error)
    message = events[0].message
    assert f"Context length {value:,} is not between 512 and 262,144" in message
    assert "Settings → Local models" in message and "damaged" not in message


_TOO_BIG_CONTEXT = """
import resource, sys
# Room for the model, not for a 262,144-token context's key-value cache (about 6 GB for this model).
resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))
from desktop.core.engines.local import LocalEngine
from desktop.core.settings import LocalRuntime
engine = LocalEngine(sys.argv[1], LocalRuntime(context_length=262144, threads=2))
print("\\n".join(getattr(ev, "message", repr(ev)) for ev in engine.load()))
engine.close()
"""


@pytest.mark.timeout(180)
def test_a_context_too_large_for_memory_is_called_so_not_a_damaged_file(chat_model):
    """A context length within the settings' range can still be more than this machine's memory
    holds: llama.cpp reads the file, then fails to make the context. Run under a 4 GB address-space
    limit so that it fails the same way on any machine (and never takes the machine's memory)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _TOO_BIG_CONTEXT, str(chat_model)], capture_output=True,
                         text=True, timeout=150, cwd=Path(__file__).resolve().parents[2])
    message = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-2000:]
    assert "could not set up a context of 262,144 tokens" in message, message
    assert "smaller Context length" in message and "damaged" not in message
