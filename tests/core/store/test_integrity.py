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
