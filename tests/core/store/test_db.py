import sqlite3

import pytest

from desktop.core.engines.base import Result
from desktop.core.store import NewerDatabase, SlotSpec, Store


def two_slots():
    return [
        SlotSpec(0, 0, "local", "gemma.gguf", "sha256:aa", {"temperature": 0.5}),
        SlotSpec(1, 1, "openai", "gpt-4o-mini", "gpt-4o-mini"),
    ]


def test_wal_foreign_keys_and_migrations_recorded(tmp_path):
    store = Store(tmp_path / "a.sqlite3")
    assert store.query("PRAGMA journal_mode")[0][0] == "wal"
    assert store.query("PRAGMA foreign_keys")[0][0] == 1
    names = store.migrations()
    assert names[0].startswith("0001_")
    store.close()
    # Opening again applies nothing new and keeps the data.
    again = Store(tmp_path / "a.sqlite3")
    assert again.migrations() == names


def test_round_responses_vote_and_battles(tmp_path):
    store = Store(tmp_path / "a.sqlite3")
    conv = store.new_conversation(blind=True)
    round_id, (r0, r1) = store.add_round(conv, "What is 2+2?", two_slots(), blind=True)
    store.save_response(r0, Result(text="4", status="done", started_at=1.0, first_token_at=1.1, finished_at=2.0,
                                   tokens_in=5, tokens_out=2, cost_usd=0.0))
    store.save_response(r1, Result(text="Four", status="error", error="timed out", started_at=1.0))
    store.cast_vote(round_id, "right", stars={r0: 2, r1: 5}, note="right was clearer")
    # On disk: a second connection sees it at once.
    other = sqlite3.connect(tmp_path / "a.sqlite3")
    assert other.execute("SELECT outcome, note, blind FROM votes").fetchall() == [("right", "right was clearer", 1)]
    conv_row = store.conversation(conv)
    assert conv_row.title == "What is 2+2?"
    (rnd,) = conv_row.rounds
    assert [r.text for r in rnd.responses] == ["4", "Four"]
    assert rnd.responses[1].error == "timed out" and rnd.responses[0].params == {"temperature": 0.5}
    assert [r.stars for r in rnd.responses] == [2, 5]
    (b,) = store.battles()
    assert (b.model_a, b.model_b, b.winner, b.blind) == ("sha256:aa", "gpt-4o-mini", "b", True)
    # A vote can be changed; its battles follow.
    store.cast_vote(round_id, "tie")
    assert [x.winner for x in store.battles()] == ["tie"]
    assert len(store.query("SELECT * FROM votes")) == 1


def test_best_of_four_is_stored_as_pairwise_outcomes(tmp_path):
    store = Store(tmp_path / "a.sqlite3")
    conv = store.new_conversation()
    slots = [SlotSpec(i, i, "openai", f"m{i}", f"m{i}") for i in range(4)]
    round_id, _ = store.add_round(conv, "p", slots)
    with pytest.raises(ValueError):
        store.cast_vote(round_id, "left")
    store.cast_vote(round_id, "best", best_position=2)
    battles = store.battles()
    assert len(battles) == 3 and all(b.model_a == "m2" and b.winner == "a" for b in battles)
    store.cast_vote(round_id, "both_bad")
    assert len(store.battles()) == 6


def test_delete_cascades_and_search(tmp_path):
    store = Store(tmp_path / "a.sqlite3")
    c1 = store.new_conversation()
    store.add_round(c1, "tell me about otters", two_slots())
    c2 = store.new_conversation()
    rid, _ = store.add_round(c2, "rust lifetimes", two_slots())
    store.cast_vote(rid, "left")
    assert [c.id for c in store.conversations("otter")] == [c1]
    assert [c.id for c in store.conversations()] == [c2, c1]
    store.delete_conversation(c2)
    assert store.battles() == [] and store.query("SELECT COUNT(*) FROM responses")[0][0] == 2


def test_failed_write_leaves_nothing_half_done(tmp_path):
    store = Store(tmp_path / "a.sqlite3")
    conv = store.new_conversation()
    bad = two_slots() + [SlotSpec(2, 1, "openai", "dup", "dup")]  # position 1 twice
    with pytest.raises(sqlite3.IntegrityError):
        store.add_round(conv, "p", bad)
    assert store.query("SELECT COUNT(*) FROM rounds")[0][0] == 0


def test_database_from_a_newer_version_is_refused_untouched(tmp_path):
    path = tmp_path / "a.sqlite3"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO schema_migrations VALUES ('9999_future', 0)")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(NewerDatabase, match="newer version"):
        Store(path)
    assert path.read_bytes() == before


def test_conversation_list_counts_rounds_and_unrated(tmp_path):
    store = Store(tmp_path / "a.sqlite3")
    conv = store.new_conversation()
    r1, _ = store.add_round(conv, "a", two_slots())
    store.add_round(conv, "b", two_slots())
    store.cast_vote(r1, "left")
    (row,) = store.conversations()
    assert (row.n_rounds, row.n_unrated) == (2, 1)


def test_the_reveal_is_recorded_and_outlives_the_vote(tmp_path):
    """A blind round's first vote records that its names were shown; regenerating an answer
    drops the vote, not that; a vote cast afterwards (names on screen) is not blind."""
    store = Store(tmp_path / "a.sqlite3")
    conv = store.new_conversation(blind=True)
    rid, resp = store.add_round(conv, "Q", two_slots(), blind=True)
    assert not store.names_shown(conv)
    store.cast_vote(rid, "left")
    (revealed,) = store.query("SELECT revealed_at FROM rounds")[0]
    assert revealed is not None and store.query("SELECT blind FROM votes") == [(1,)]
    store.replace_response(resp[0], two_slots()[0])
    assert store.query("SELECT COUNT(*) FROM votes") == [(0,)]
    assert store.names_shown(conv) and store.rounds(conv)[0].names_shown
    assert store.query("SELECT revealed_at FROM rounds") == [(revealed,)]
    store.cast_vote(rid, "right")
    assert store.query("SELECT outcome, blind FROM votes") == [("right", 0)]
    store.close()


def test_migration_0013_counts_a_voted_blind_round_as_revealed(tmp_path, monkeypatch):
    from desktop.core.store import db as store_db
    from desktop.core.store.migrations import MIGRATIONS

    path = tmp_path / "old.sqlite3"
    names = [name for name, _ in MIGRATIONS]
    monkeypatch.setattr(store_db, "MIGRATIONS", MIGRATIONS[:names.index("0013_rounds_revealed_at")])
    old = Store(path)
    voted_conv, unvoted_conv, named_conv = (old.new_conversation(blind=b) for b in (True, True, False))
    voted, _ = old.add_round(voted_conv, "Voted", two_slots(), blind=True)
    old.add_round(unvoted_conv, "Unvoted", two_slots(), blind=True)
    named, _ = old.add_round(named_conv, "Named", two_slots(), blind=False)
    with old.transaction() as db:  # votes as the code before 0013 wrote them
        for round_id, blind in ((voted, 1), (named, 0)):
            db.execute("INSERT INTO votes (uid, round_id, outcome, note, blind, created_at, updated_at) "
                       "VALUES (?, ?, 'left', '', ?, 1234.5, 1234.5)", (f"v{round_id}", round_id, blind))
    old.close()
    monkeypatch.setattr(store_db, "MIGRATIONS", MIGRATIONS)
    s = Store(path)
    assert s.query("SELECT prompt, revealed_at FROM rounds ORDER BY id") == [
        ("Voted", 1234.5), ("Unvoted", None), ("Named", None)]
    assert [s.names_shown(c) for c in (voted_conv, unvoted_conv, named_conv)] == [True, False, True]
    s.close()
