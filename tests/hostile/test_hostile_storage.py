"""The database under hostile conditions: a full disk (a real 3 MB tmpfs), a read-only file
and folder, a file that fails SQLite's integrity check, and answers interrupted by a killed
process while another live process shares the file; exports written into a read-only folder
or onto a full disk.

Rules checked: the CLI never claims a save that did not happen and never shows a traceback;
a damaged database is refused on open with a plain message and a way out; interrupted
answers are marked as such as soon as the app starts again, and a live writer's are not."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from desktop.cli import run
from desktop.core.engines.base import Result
from desktop.core.store import SlotSpec, Store
from desktop.core.store.db import INTERRUPTED, DamagedDatabase, StorageError
from hostile_inputs import chunks

ROOT = Path(__file__).resolve().parents[2]
SPEC = [SlotSpec(0, 0, "openai", "m", "m")]


def _mount_tmpfs(where: Path, size: str, *options: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    opts = ",".join((f"size={size}",) + options)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True).returncode == 0


def _umount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture
def small_disk(tmp_path):
    """A real 3 MB filesystem (tmpfs; needs root, as CI's container has). No fake ENOSPC."""
    where = tmp_path / "small-disk"
    if not _mount_tmpfs(where, "3m"):
        pytest.skip("mounting a 3 MB tmpfs needs root; the full-disk drill runs where it can")
    yield where
    _umount(where)


def _fill_disk(where: Path, leave: int = 0) -> None:
    """Fill the filesystem up; then give `leave` bytes back (room to open, not to save an answer)."""
    filler = where / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (65536, 4096, 512, 1):  # unbuffered: nothing left over to fail on close
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))


def test_full_disk_the_cli_never_claims_a_save_and_shows_no_traceback(small_disk, fault_server, capsys):
    home = small_disk / "home"
    fault_server.answer_text = chunks("A" * 400_000, 8192)  # an answer bigger than the space left
    assert run(["--home", str(home), "ask", "first", "--remote", "m", "--base-url", fault_server.url]) == 0
    capsys.readouterr()
    # Room to open the database and record the round, not to save the answer: the answer arrives,
    # its save fails, and the CLI says so (exit 1, no "saved" line, no traceback).
    _fill_disk(small_disk, leave=160 * 1024)
    code = run(["--home", str(home), "ask", "second", "--remote", "m", "--base-url", fault_server.url])
    printed = capsys.readouterr()
    assert code == 1, printed
    assert "saved;" not in printed.out and "was NOT saved" in printed.err and "disk is full" in printed.err
    assert "Traceback" not in printed.err + printed.out
    # No room at all: every command is one plain line.
    (small_disk / "filler").unlink()
    _fill_disk(small_disk)
    for argv in (["ask", "third", "--remote", "m", "--base-url", fault_server.url], ["vote", "1", "left"],
                 ["leaderboard"]):
        code = run(["--home", str(home)] + argv)
        printed = capsys.readouterr()
        assert code in (1, 2), (argv, printed)
        assert "disk is full" in printed.err and "Traceback" not in printed.err + printed.out
        assert "saved" not in printed.out
    # Space again: everything works, and the first round is still there.
    (small_disk / "filler").unlink()
    assert run(["--home", str(home), "ask", "fourth", "--remote", "m", "--base-url", fault_server.url]) == 0
    assert "saved;" in capsys.readouterr().out
    store = Store(home / "data" / "arenadesk.sqlite3")
    assert store.query("SELECT COUNT(*) FROM rounds WHERE prompt = 'first'")[0][0] == 1
    (text,) = store.query("SELECT p.text FROM responses p JOIN rounds r ON r.id = p.round_id WHERE r.prompt = 'first'")[0]
    assert len(text) == 400_000
    store.close()


def test_full_disk_in_a_subprocess_exits_cleanly_without_traceback(small_disk, fault_server):
    """The real command as a user runs it, stderr and all."""
    home = small_disk / "home"
    env = dict(os.environ, PYTHONPATH=str(ROOT), ARENADESK_HOME=str(home))
    cmd = [sys.executable, "-m", "desktop", "ask", "hi", "--remote", "m", "--base-url", fault_server.url]
    assert subprocess.run(cmd, env=env, capture_output=True, timeout=120).returncode == 0
    _fill_disk(small_disk)
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode in (1, 2), out.stderr
    assert "Traceback" not in out.stderr and "saved;" not in out.stdout
    assert "disk is full" in out.stderr


def test_a_read_only_database_is_called_read_only_not_damaged(tmp_path):
    path = tmp_path / "ro" / "a.sqlite3"
    Store(path).close()
    ro = tmp_path / "ro-mount"
    if _mount_tmpfs(ro, "2m"):
        try:
            shutil.copy(path, ro / "a.sqlite3")
            subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
            target = ro / "a.sqlite3"
            with pytest.raises(DamagedDatabase) as exc:
                Store(target)
        finally:
            _umount(ro)
    else:
        if os.geteuid() == 0:
            pytest.skip("root ignores file modes and cannot mount here")
        os.chmod(path, 0o444)
        os.chmod(path.parent, 0o555)
        try:
            with pytest.raises(DamagedDatabase) as exc:
                Store(path)
        finally:
            os.chmod(path.parent, 0o755)
    message = str(exc.value)
    assert "read-only" in message and "damaged" not in message and "--home" in message


def test_a_read_only_data_folder_is_a_plain_cli_message(tmp_path, capsys):
    ro = tmp_path / "ro-home"
    if not _mount_tmpfs(ro, "1m", "ro"):
        pytest.skip("needs root to mount a read-only folder")
    try:
        assert run(["--home", str(ro / "home"), "leaderboard"]) in (1, 2)
        err = capsys.readouterr().err
        assert "Traceback" not in err and ("read-only" in err.lower() or "cannot be made" in err)
    finally:
        _umount(ro)


def test_a_database_failing_the_integrity_check_is_refused_with_a_way_out(tmp_path, capsys, arenadesk_home):
    store = Store(tmp_path / "a.sqlite3")
    conv = store.new_conversation()
    for k in range(400):
        store.add_round(conv, f"prompt {k} " + "x" * 300, SPEC)
    store.close()
    path = tmp_path / "a.sqlite3"
    data = bytearray(path.read_bytes())
    page = 4096
    for start in range(page * 3, len(data) - page, page * 5):  # damage some b-tree pages, not the header
        data[start + 8:start + 200] = b"\xa5" * 192
    path.write_bytes(bytes(data))
    before = path.read_bytes()
    with pytest.raises(DamagedDatabase) as exc:
        Store(path)
    message = str(exc.value)
    assert "damaged" in message and "integrity check" in message and "move it aside" in message
    assert path.read_bytes() == before  # not written to

    db = arenadesk_home / "data" / "arenadesk.sqlite3"
    db.parent.mkdir(parents=True, exist_ok=True)
    db.write_bytes(before)
    assert run(["leaderboard"]) == 2
    err = capsys.readouterr().err
    assert "integrity check" in err and "Traceback" not in err


WRITER = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {root!r})
    from desktop.core.store import SlotSpec, Store
    store = Store({db!r})
    conv = store.new_conversation()
    store.add_round(conv, sys.argv[1], [SlotSpec(0, 0, "openai", "m", "m")])
    print("streaming", flush=True)
    if sys.argv[2] == "die":
        os._exit(9)  # killed mid-answer: no close, no cleanup
    time.sleep(120)
""")


def test_interrupted_answers_are_marked_at_the_next_start_but_a_live_writers_are_not(tmp_path):
    db = tmp_path / "shared.sqlite3"
    Store(db).close()
    script = WRITER.format(root=str(ROOT), db=str(db))
    live = subprocess.Popen([sys.executable, "-c", script, "live one", "live"], stdout=subprocess.PIPE, text=True)
    try:
        assert live.stdout.readline().strip() == "streaming"
        dead = subprocess.run([sys.executable, "-c", script, "killed one", "die"], capture_output=True, text=True,
                              timeout=60)
        assert dead.returncode == 9 and "streaming" in dead.stdout
        store = Store(db)  # the app starts again, seconds later, not an hour
        assert store.close_interrupted() == 1
        rows = dict(store.query("SELECT r.prompt, p.status FROM responses p JOIN rounds r ON r.id = p.round_id"))
        assert rows == {"killed one": "error", "live one": "streaming"}
        (error,) = store.query("SELECT p.error FROM responses p JOIN rounds r ON r.id = p.round_id "
                               "WHERE r.prompt = 'killed one'")[0]
        assert error == INTERRUPTED
        store.close()
    finally:
        live.kill()
        live.wait(10)
    store = Store(db)  # the live writer is gone now too
    assert store.close_interrupted() == 1
    assert {s for (s,) in store.query("SELECT status FROM responses")} == {"error"}
    store.close()
    assert list(db.with_name(db.name + ".runs").glob("*.lock")) == []  # no lock file is left behind


def test_a_store_never_closes_its_own_or_another_open_stores_answers(tmp_path):
    a = Store(tmp_path / "x.sqlite3")
    b = Store(tmp_path / "x.sqlite3")
    conv = a.new_conversation()
    a.add_round(conv, "p", SPEC)
    assert b.close_interrupted() == 0 and a.close_interrupted() == 0
    a.close()
    assert b.close_interrupted() == 1  # a closed without finishing it
    b.close()


def test_legacy_streaming_rows_without_a_writer_still_close_after_an_hour(tmp_path):
    store = Store(tmp_path / "a.sqlite3")
    conv = store.new_conversation()
    store.add_round(conv, "old", SPEC, created_at=time.time() - 7200)
    store.add_round(conv, "recent", SPEC)
    with store.transaction() as db:
        db.execute("UPDATE responses SET writer = NULL")
    assert store.close_interrupted() == 1
    assert dict(store.query("SELECT r.prompt, p.status FROM responses p JOIN rounds r ON r.id = p.round_id")) == {
        "old": "error", "recent": "streaming"}
    store.close()


def test_a_lone_surrogate_never_loses_an_answer(tmp_path):
    store = Store(tmp_path / "a.sqlite3")
    conv = store.new_conversation()
    _, (rid,) = store.add_round(conv, "prompt \udcff from argv", SPEC)
    store.save_response(rid, Result(text="a\ud800b" * 1000, status="done", error="e\udfff"))
    row = store.response(rid)
    assert row.status == "done" and row.text == "a\ufffdb" * 1000 and row.error == "e\ufffd"
    assert store.query("SELECT prompt FROM rounds")[0][0] == "prompt \ufffd from argv"
    store.close()


def test_storage_errors_are_sqlite_errors_with_a_plain_message(small_disk):
    store = Store(small_disk / "a.sqlite3")
    conv = store.new_conversation()
    _fill_disk(small_disk)
    with pytest.raises(StorageError) as exc:
        for k in range(200):
            store.add_round(conv, "x" * 20_000, SPEC)
    assert isinstance(exc.value, sqlite3.OperationalError)
    assert "disk is full" in str(exc.value) and str(small_disk) in str(exc.value)
    (small_disk / "filler").unlink()
    store.add_round(conv, "after", SPEC)  # the store is usable again
    store.close()


def _store_with_votes(path: Path, rounds: int, answer: str = "an answer") -> None:
    store = Store(path)
    conv = store.new_conversation()
    for _ in range(rounds):
        rid, ids = store.add_round(conv, "p", [SlotSpec(0, 0, "openai", "a", "a"), SlotSpec(1, 1, "openai", "b", "b")])
        for k, i in enumerate(ids):
            store.save_response(i, Result(text=f"{answer} {k}", status="done"))  # two different answers
        store.cast_vote(rid, "left")
    store.close()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "fastchat", "pairs"])
def test_an_export_into_a_read_only_folder_is_a_plain_cli_message(tmp_path, capsys, fmt):
    ro = tmp_path / "ro-out"
    if not _mount_tmpfs(ro, "1m", "ro"):
        pytest.skip("needs root to mount a read-only folder")
    try:
        home = tmp_path / "home"
        assert run(["--home", str(home), "leaderboard"]) == 0  # a database to export from
        capsys.readouterr()
        code = run(["--home", str(home), "export", "--format", fmt, "--out", str(ro / f"out.{fmt}")])
        err = capsys.readouterr().err
        assert code != 0 and "Traceback" not in err
        assert f"cannot write {ro / f'out.{fmt}'}" in err and "read-only" in err.lower()
    finally:
        _umount(ro)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "fastchat", "pairs"])
def test_an_export_that_fills_the_disk_says_so_and_leaves_no_half_file(small_disk, tmp_path, capsys, fmt):
    home = tmp_path / "home"
    assert run(["--home", str(home), "leaderboard"]) == 0
    _store_with_votes(next(home.rglob("*.sqlite3")), rounds=400, answer="x" * 4000)  # ~3 MB of answers
    capsys.readouterr()
    out = small_disk / f"out.{fmt}"
    code = run(["--home", str(home), "export", "--format", fmt, "--out", str(out)])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert f"cannot write {out}" in err and "space" in err.lower()
    assert not out.exists() and not list(small_disk.glob("*.part"))  # no half-written export looks finished


def test_the_cli_does_not_vote_on_a_round_with_an_interrupted_answer(tmp_path, capsys):
    """The session's rule (tests/core/test_session_interrupted.py) holds for `arenadesk vote` too."""
    home = tmp_path / "home"
    assert run(["--home", str(home), "leaderboard"]) == 0
    store = Store(next(home.rglob("*.sqlite3")))
    rid, ids = store.add_round(store.new_conversation(), "p", [SlotSpec(0, 0, "openai", "a", "a"),
                                                               SlotSpec(1, 1, "openai", "b", "b")])
    store.save_response(ids[0], Result(text="done", status="done"))
    with store.transaction() as db:  # the second answer was streaming when the app was killed
        db.execute("UPDATE responses SET writer = NULL, started_at = ? WHERE id = ?", (time.time() - 10, ids[1]))
    assert store.close_interrupted(started_before=time.time()) == 1
    store.close()
    capsys.readouterr()
    assert run(["--home", str(home), "vote", str(rid), "left"]) == 2
    err = capsys.readouterr().err
    assert "answer 2 was cut off when ArenaDesk closed" in err and "Traceback" not in err
    store = Store(next(home.rglob("*.sqlite3")))
    assert store.query("SELECT COUNT(*) FROM votes") == [(0,)]
    store.close()
