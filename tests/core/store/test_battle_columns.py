"""The leaderboard's fast reading path: Store.battle_columns() holds the same battles, in the
same order, as Store.battles(), and the leaderboard from either is identical, number for number."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest

from desktop.core import ratings
from desktop.core.engines.base import Result
from desktop.core.store import BattleColumns, SlotSpec, Store
from desktop.core.store import db as store_db
from desktop.core.store.battles import WINNER_CODES
from desktop.core.store.db import INTERRUPTED
from desktop.core.store.migrations import MIGRATIONS


def _fill(store: Store, seed: int = 3) -> None:
    """A realistic mix: two- to four-answer rounds, blind and not, every outcome (ties and
    both-bad too), categories, a model compared with itself, a label renamed halfway, shuffled
    positions, a vote changed later, votes whose times are out of id order (as after an import
    from another machine), deleted conversations, and votes on rounds holding an answer that was
    interrupted (the window refuses those now; older stores and imports have them, and they count)."""
    rng = np.random.default_rng(seed)
    models = [("local", f"model-{i}.gguf", f"sha256:{i:064x}") for i in range(5)] + [("openai", "gpt-4o-mini",
                                                                                       "gpt-4o-mini")]
    rounds = []
    for k in range(160):
        panes = int(rng.choice([2, 2, 2, 3, 4]))
        picks = rng.choice(len(models), size=panes, replace=False)
        if k % 37 == 0:
            picks[1] = picks[0]  # the same model in two panes
        positions = rng.permutation(panes)
        slots = []
        for slot, (m, pos) in enumerate(zip(picks, positions)):
            engine, label, ref = models[m]
            if k > 80 and m == 0:
                label = "model-0 renamed.gguf"
            slots.append(SlotSpec(slot, int(pos), engine, label, ref, {}))
        blind = bool(rng.random() < 0.6)
        conv = store.new_conversation(blind=blind)
        tag = "work" if k % 3 == 0 else "code" if k % 5 == 0 else None
        rid, ids = store.add_round(conv, f"prompt {k}", slots, blind=blind, tag=tag)
        for n, response_id in enumerate(ids):
            if k % 13 == 0 and n == 1:  # cut off by a crash, then voted on
                store.save_response(response_id, Result(text="half an ans", status="error", error=INTERRUPTED))
            else:
                store.save_response(response_id, Result(text=f"answer {k}.{n}", status="done"))
        if panes == 2:
            outcome = str(rng.choice(["left", "right", "tie", "both_bad"]))
            store.cast_vote(rid, outcome)
        else:
            outcome = str(rng.choice(["best", "tie", "both_bad"]))
            store.cast_vote(rid, outcome, best_position=int(rng.integers(0, panes)) if outcome == "best" else None)
        rounds.append(rid)
    store.cast_vote(rounds[5], "tie")  # a vote changed later: its battles follow
    for rid in (rounds[8], rounds[40], rounds[41]):  # deleted: their battles go with them
        store.delete_conversation(store.query("SELECT conversation_id FROM rounds WHERE id = ?", (rid,))[0][0])
    # Vote times out of id order, and a few equal times (the battle id breaks those ties).
    with store.transaction() as db:
        db.execute("UPDATE votes SET created_at = created_at - 500 WHERE id % 7 = 0")
        db.execute("UPDATE votes SET created_at = 12345.0 WHERE id % 11 = 0")


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "cols.sqlite3")
    _fill(s)
    yield s
    s.close()


def _as_rows(cols: BattleColumns) -> list[tuple]:
    return [(int(cols.battle_id[i]), cols.refs[cols.model_a[i]], cols.refs[cols.model_b[i]],
             cols.labels[cols.label_a[i]], cols.labels[cols.label_b[i]], WINNER_CODES[cols.winner[i]],
             bool(cols.blind[i]), int(cols.position_a[i]), int(cols.position_b[i]), float(cols.tstamp[i]),
             int(cols.panes[i]), int(cols.round_id[i])) for i in range(len(cols))]


FILTERS = [{}, {"blind_only": True}, {"tag": "work"}, {"tag": "code", "blind_only": True}, {"since": 12000.0},
           {"until": 1e12, "blind_only": True}]


@pytest.mark.parametrize("filters", FILTERS)
def test_columns_hold_the_same_battles_in_the_same_order(store, filters):
    battles = store.battles(**filters)
    cols = store.battle_columns(**filters)
    assert len(battles) > 10
    if not filters:  # the mix holds what it says it does
        assert {b.winner for b in battles} == set(WINNER_CODES) and {b.panes for b in battles} == {2, 3, 4}
        assert {b.tag for b in battles} == {"work", "code", None}
        interrupted = {r for (r,) in store.query("SELECT round_id FROM responses WHERE error = ?", (INTERRUPTED,))}
        assert interrupted & {b.round_id for b in battles}
        assert len(store.query("SELECT id FROM conversations")) == 157
    assert _as_rows(cols) == [(b.battle_id, b.model_a, b.model_b, b.label_a, b.label_b, b.winner, b.blind,
                               b.position_a, b.position_b, b.tstamp, b.panes, b.round_id) for b in battles]


def _same_board(x: ratings.Board, y: ratings.Board) -> None:
    assert [vars(r) for r in x.rows] == [vars(r) for r in y.rows]
    for name in ("win_rate", "battle_counts", "history_t", "history", "bootstrap"):
        assert np.array_equal(getattr(x, name), getattr(y, name), equal_nan=True), name
    assert (x.position_bias, x.verdict, x.too_few, x.n_battles, x.n_left_out) == \
        (y.position_bias, y.verdict, y.too_few, y.n_battles, y.n_left_out)


@pytest.mark.parametrize("filters", FILTERS)
@pytest.mark.parametrize("include_ties,both_bad_as_tie", [(True, True), (True, False), (False, True)])
def test_leaderboard_from_columns_is_identical(store, filters, include_ties, both_bad_as_tie):
    kw = dict(include_ties=include_ties, both_bad_as_tie=both_bad_as_tie, rounds=200, seed=4)
    old = ratings.leaderboard(store.battles(**filters), **kw)
    new = ratings.leaderboard(store.battle_columns(**filters), **kw)
    assert old.rows, "the mix should rank some models"
    _same_board(old, new)
    # the renamed label is the one shown, as before
    assert any(r.label == "model-0 renamed" for r in new.rows) or not any(
        r.ref.endswith("0" * 64) for r in new.rows)


def test_empty_and_self_only_stores(tmp_path):
    s = Store(tmp_path / "empty.sqlite3")
    cols = s.battle_columns()
    assert len(cols) == 0
    board = ratings.leaderboard(cols)
    assert board.rows == [] and board.verdict.startswith("No votes yet")
    conv = s.new_conversation()
    rid, _ = s.add_round(conv, "p", [SlotSpec(0, 0, "openai", "m", "m", {}), SlotSpec(1, 1, "openai", "m", "m", {})])
    s.cast_vote(rid, "left")
    old, new = ratings.leaderboard(s.battles()), ratings.leaderboard(s.battle_columns())
    assert new.verdict == old.verdict and "compared with itself" in new.verdict
    s.close()


def test_a_name_holding_the_separator_and_ids_past_32_bits_read_the_same(tmp_path):
    """The fast query joins each battle's names with a control character and packs ids 32 bits
    apart: a hostile model name holding that character, and a store whose ids outgrew 32 bits
    (e.g. imported), are read another way, with the same rows."""
    s = Store(tmp_path / "odd.sqlite3")
    _fill(s, seed=5)
    conv = s.new_conversation(blind=True)
    for k in range(3):
        rid, _ = s.add_round(conv, f"odd {k}", [SlotSpec(0, 0, "openai", "evil\x1fname", "evil\x1fref", {}),
                                                SlotSpec(1, 1, "openai", "gpt-4o-mini", "gpt-4o-mini", {})], blind=True)
        s.cast_vote(rid, "left" if k else "right")
    expected = [(b.battle_id, b.model_a, b.model_b, b.label_a, b.label_b, b.winner, b.blind, b.position_a,
                 b.position_b, b.tstamp, b.panes, b.round_id) for b in s.battles()]
    assert "evil\x1fref" in {row[1] for row in expected} | {row[2] for row in expected}
    assert _as_rows(s.battle_columns()) == expected
    _same_board(ratings.leaderboard(s.battles(), rounds=100), ratings.leaderboard(s.battle_columns(), rounds=100))

    with s.transaction() as db:
        db.execute("UPDATE battles SET id = id + 5000000000")
    expected = [(b.battle_id, b.model_a, b.model_b, b.label_a, b.label_b, b.winner, b.blind, b.position_a,
                 b.position_b, b.tstamp, b.panes, b.round_id) for b in s.battles()]
    assert expected[0][0] > 5000000000
    assert _as_rows(s.battle_columns()) == expected
    s.close()


def _rows(battles) -> list[tuple]:
    return [(b.battle_id, b.model_a, b.model_b, b.label_a, b.label_b, b.winner, b.blind, b.position_a,
             b.position_b, b.tstamp, b.panes, b.round_id) for b in battles]


def test_a_store_from_before_the_index_gets_it_and_reads_the_same(tmp_path, monkeypatch):
    """Migration 0012 builds the index the fast path reads on a store that has votes already."""
    path = tmp_path / "old.sqlite3"
    # Every migration but 0012: the later ones are columns the code that fills it writes (0013).
    monkeypatch.setattr(store_db, "MIGRATIONS", [m for m in MIGRATIONS if m[0] != "0012_responses_by_contestant"])
    old = Store(path)
    _fill(old, seed=7)
    before = _rows(old.battles())
    old.close()
    monkeypatch.setattr(store_db, "MIGRATIONS", MIGRATIONS)
    s = Store(path)
    assert "0012_responses_by_contestant" in s.migrations()
    indexes = {r[0] for r in s.query("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"responses_by_contestant", "rounds_by_tag"} <= indexes and "responses_by_ref" not in indexes
    plan = " ".join(str(r) for r in s.query("EXPLAIN QUERY PLAN SELECT model_ref, model, group_concat(id), "
                                            "group_concat(position) FROM responses GROUP BY model_ref, model"))
    assert "COVERING INDEX responses_by_contestant" in plan
    assert _rows(s.battles()) == before
    assert _as_rows(s.battle_columns()) == before
    _same_board(ratings.leaderboard(s.battles(), rounds=100), ratings.leaderboard(s.battle_columns(), rounds=100))
    s.close()


def test_positions_and_ids_out_of_the_usual_range_read_the_same(tmp_path):
    """Hand-edited values: positions far past four panes or negative, answer ids past 32 bits
    and far apart (not a dense table), a battle whose answer is gone (foreign keys were off)."""
    s = Store(tmp_path / "edited.sqlite3")
    _fill(s, seed=9)
    with s.transaction() as db:
        db.execute("UPDATE responses SET position = position + 70000 WHERE id % 5 = 0")
        db.execute("UPDATE responses SET position = -1 - position WHERE id % 7 = 0")
    expected = _rows(s.battles())
    assert {b[7] for b in expected} & {70000, 70001} and min(b[7] for b in expected) < 0
    assert _as_rows(s.battle_columns()) == expected
    with s.transaction() as db:
        db.execute("PRAGMA defer_foreign_keys = ON")
        db.execute("UPDATE responses SET id = id * 1000000007 WHERE id % 3 = 0")
        db.execute("UPDATE battles SET response_a = response_a * 1000000007 WHERE response_a % 3 = 0")
        db.execute("UPDATE battles SET response_b = response_b * 1000000007 WHERE response_b % 3 = 0")
    expected = _rows(s.battles())
    assert max(b[0] for b in expected) < 2**31 < max(s.query("SELECT MAX(id) FROM responses")[0])
    assert _as_rows(s.battle_columns()) == expected
    s._db.execute("PRAGMA foreign_keys = OFF")
    s._db.execute("DELETE FROM responses WHERE id = (SELECT response_b FROM battles ORDER BY id LIMIT 1)")
    expected = _rows(s.battles())
    assert _as_rows(s.battle_columns()) == expected
    s.close()


def test_vote_times_come_back_bit_for_bit(tmp_path):
    """Any double, negative, zero, near 2^61 or under a second, reads back as the very same
    double, in the same order (no time goes through text)."""
    s = Store(tmp_path / "times.sqlite3")
    _fill(s, seed=11)
    rng = np.random.default_rng(0)
    ids = [r[0] for r in s.query("SELECT id FROM votes ORDER BY id")]
    wild = np.concatenate([rng.uniform(1, 2**33, len(ids) // 2) * rng.choice([-1, 1], len(ids) // 2),
                           rng.uniform(1, 2**61, len(ids) - len(ids) // 2)])
    wild[:4] = [1.0, 1.0000000000000002, -1.5, 2.0**61 + 2**9]
    wild[4] = 0.0
    with s.transaction() as db:
        db.executemany("UPDATE votes SET created_at = ? WHERE id = ?", list(zip(wild.tolist(), ids)))
    expected = _rows(s.battles())
    assert _as_rows(s.battle_columns()) == expected
    with s.transaction() as db:  # below one second
        db.execute("UPDATE votes SET created_at = 1e-3 * id + 1e-9 WHERE id % 4 = 0")
    expected = _rows(s.battles())
    assert any(0 < b[9] < 1 for b in expected)
    assert _as_rows(s.battle_columns()) == expected
    _same_board(ratings.leaderboard(s.battles(), rounds=50), ratings.leaderboard(s.battle_columns(), rounds=50))
    s.close()


def test_a_subset_of_the_columns_is_the_same_battles_picked_one_by_one(store):
    """What the rating queue and the verdict fit: some models' battles, or a category's."""
    cols = store.battle_columns()
    wanted = {"sha256:" + "0" * 63 + "1", "sha256:" + "0" * 63 + "3", "gpt-4o-mini"}
    picked = [b for b in store.battles() if b.model_a in wanted and b.model_b in wanted]
    keep = [k for k, ref in enumerate(cols.refs) if ref in wanted]
    sub = cols.subset(np.isin(cols.model_a, keep) & np.isin(cols.model_b, keep))
    assert len(picked) > 10 and _as_rows(sub) == _rows(picked)
    _same_board(ratings.leaderboard(picked, rounds=100), ratings.leaderboard(sub, rounds=100))
    assert sub.count("gpt-4o-mini") == sum(("gpt-4o-mini" in (b.model_a, b.model_b)) for b in picked)


def test_categories_from_columns_are_those_of_battle_rows(store):
    """ratings.by_category on columns (split by the rounds' tags) gives the boards it gives on
    Battle rows (split by b.tag): empty tags and a tag spelled like the untagged group's name
    join the untagged rounds there too."""
    with store.transaction() as db:
        db.execute("UPDATE rounds SET tag = '' WHERE id % 17 = 0")
        db.execute("UPDATE rounds SET tag = ? WHERE id % 19 = 0", (ratings.UNTAGGED,))
    rows = ratings.by_category(store.battles(), rounds=60, seed=2)
    cols = ratings.by_category(store.battle_columns(), rounds=60, seed=2, tagged_rounds=store.tagged_rounds())
    assert list(cols) == list(rows) == ["code", "work", ratings.UNTAGGED]
    with pytest.raises(TypeError):  # the columns carry rounds, not tags: no silent one-board answer
        ratings.by_category(store.battle_columns(), rounds=60, seed=2)
    for tag in rows:
        _same_board(rows[tag], cols[tag])


def test_a_position_that_is_not_a_whole_number_reads_the_slow_way(tmp_path):
    """A hand-edited position of 2.5 cannot travel in the integer lists: the battles are read
    from battles() instead, and nothing is cut short."""
    from desktop.core.store.db import _ints

    with pytest.raises(ValueError):
        _ints("1,2,3.5")
    with pytest.raises(ValueError):
        _ints("1,2", 3)
    for bad in ("1,2.5,3", "2.5", "1-2", "1,,2", ",1", "1,", "1,x", "1e3", " 1"):
        with pytest.raises(ValueError):
            _ints(bad)
    assert _ints("-3,0,12").tolist() == [-3, 0, 12]
    s = Store(tmp_path / "half.sqlite3")
    _fill(s, seed=13)
    with s.transaction() as db:
        db.execute("UPDATE responses SET position = position + 0.5 WHERE id = (SELECT MAX(response_b) FROM battles)")
    cols = s.battle_columns()
    assert len(cols) == len(s.battles())
    s.close()


def test_reading_lists_on_two_threads_leaves_the_warning_filters_alone():
    """Boards are read on worker threads, two at once (the leaderboard and the category boards):
    the reading must not change the process's warning filters, which every thread shares
    (review s21 F3: a DeprecationWarning anywhere would then have been raised as an error)."""
    import threading
    import warnings

    from desktop.core.store.db import _ints

    before = list(warnings.filters)
    text = ",".join(str(i) for i in range(20_000))

    def read():
        for _ in range(100):
            _ints(text)
            with contextlib.suppress(ValueError):
                _ints(text + ",2.5")

    threads = [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert warnings.filters == before
