"""Review findings in the store."""
import sqlite3

import pytest

from desktop.core.store import NewerDatabase, Store


def test_a_failed_commit_does_not_leave_the_store_stuck_in_a_transaction(tmp_path):
    store = Store(tmp_path / "a.sqlite3")
    # A foreign key checked at COMMIT (deferred) makes the COMMIT itself fail.
    with pytest.raises(sqlite3.IntegrityError):
        with store.transaction() as db:
            db.execute("PRAGMA defer_foreign_keys = ON")
            db.execute("INSERT INTO rounds (uid, conversation_id, turn, prompt, created_at) VALUES ('u', 999, 0, 'p', 0)")
    # The next write works (before the fix: "cannot start a transaction within a transaction").
    conv = store.new_conversation("after")
    assert store.conversation(conv).title == "after"
    assert store.query("SELECT COUNT(*) FROM rounds")[0][0] == 0


def test_a_file_that_is_not_a_database_is_refused_with_a_clear_message_and_left_alone(tmp_path):
    path = tmp_path / "a.sqlite3"
    path.write_bytes(b"not a database " * 200)
    with pytest.raises(NewerDatabase) as exc:
        Store(path)
    assert str(path) in str(exc.value) and "not changed" in str(exc.value)
    assert path.read_bytes() == b"not a database " * 200


def test_answers_cut_off_by_a_crash_are_closed_on_the_next_start(tmp_path):
    import time

    from desktop.core.store import SlotSpec, Store

    store = Store(tmp_path / "a.sqlite3")
    conv = store.new_conversation()
    spec = [SlotSpec(0, 0, "local", "m", "m")]
    store.add_round(conv, "old", spec, created_at=time.time() - 7200)
    store.add_round(conv, "live", spec)  # another process may still be streaming this one
    with store.transaction() as db:  # rows from before runs were recorded (tests/hostile covers the rest)
        db.execute("UPDATE responses SET writer = NULL")
    assert store.close_interrupted(started_before=time.time() - 3600) == 1
    rows = store.query("SELECT r.prompt, p.status, p.error IS NOT NULL FROM responses p JOIN rounds r ON r.id = p.round_id "
                       "ORDER BY r.turn")
    assert rows == [("old", "error", 1), ("live", "streaming", 0)]


def test_a_run_takes_its_lock_with_its_first_answer_and_is_alive_from_then_on(tmp_path):
    """Opening a store takes no lock (filelock is imported only then: the window opens its store on
    the way to its first frame); the first answer it stamps takes it, so another run never takes
    a streaming answer of a live run for an interrupted one, and drops it when the store closes."""
    import time

    from filelock import FileLock, Timeout

    from desktop.core.store import SlotSpec

    db = tmp_path / "a.sqlite3"
    a, b = Store(db), Store(db)
    runs = db.with_name(db.name + ".runs")
    assert not runs.exists() or list(runs.glob("*.lock")) == []
    conv = a.new_conversation()
    a.add_round(conv, "streaming", [SlotSpec(0, 0, "local", "m", "m")])
    lock = runs / f"{a.run_id}.lock"
    with pytest.raises(Timeout):  # held by run a
        FileLock(lock).acquire(timeout=0)
    assert b.close_interrupted(started_before=time.time()) == 0  # a is alive
    a.close()
    assert not lock.exists()
    assert b.close_interrupted(started_before=time.time()) == 1  # a ended with it streaming
    b.close()
