"""Review probes of exports and import: a conversation continued on two machines after a
sync, formula-safe CSV, FastChat's field set."""
from __future__ import annotations

import json

from desktop.core import exports, ratings
from desktop.core.store import Store
from test_exports import GEMMA, GPT, table_counts, two_pane


def test_a_conversation_continued_on_both_machines_keeps_both_sides_votes(tmp_path):
    home = Store(tmp_path / "home.sqlite3")
    cid, _ = two_pane(home, "First question", ["a", "b"], "left")
    sync = tmp_path / "sync.jsonl"
    exports.export(home, "jsonl", sync)
    work = Store(tmp_path / "work.sqlite3")
    exports.import_jsonl(work, sync)
    # both machines go on with the same conversation, each with its own second turn
    two_pane(home, "Home's follow-up", ["h1", "h2"], "right", conv=cid)
    (work_cid,) = [r[0] for r in work.query("SELECT id FROM conversations")]
    two_pane(work, "Work's follow-up", ["w1", "w2"], "left", conv=work_cid)

    back = tmp_path / "back.jsonl"
    exports.export(work, "jsonl", back)
    before = table_counts(home)
    summary = exports.import_jsonl(home, back)
    after = table_counts(home)
    # work's second turn (its round, two answers, its vote and battle) is not lost
    assert after["rounds"] == before["rounds"] + 1, summary
    assert after["votes"] == before["votes"] + 1, summary
    assert after["battles"] == before["battles"] + 1, summary
    prompts = {r[0] for r in home.query("SELECT prompt FROM rounds")}
    assert {"Home's follow-up", "Work's follow-up"} <= prompts
    assert "1 new conversations, 1 rounds, 2 answers, 1 votes" in summary
    forks = [t for (t,) in home.query("SELECT title FROM conversations") if "continued on another machine" in t]
    assert len(forks) == 1
    # importing it again adds nothing
    again = table_counts(home)
    exports.import_jsonl(home, back)
    assert table_counts(home) == again
    # and every vote of both machines counts on the leaderboard
    board = ratings.leaderboard(home.battles(), rounds=10)
    assert board.n_battles == 3
    home.close()
    work.close()


def test_csv_cells_that_spreadsheets_would_run_are_quoted():
    for bad in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"):
        assert exports.safe_cell(bad).startswith("'")
    assert exports.safe_cell("Paris") == "Paris"


def test_fastchat_fields_are_the_clean_battle_set(tmp_path):
    s = Store(tmp_path / "s.sqlite3")
    two_pane(s, "Q", ["x", "y"], "both_bad", blind=True, slots=(GEMMA, GPT))
    out = tmp_path / "fc.json"
    exports.export(s, "fastchat", out)
    [b] = json.loads(out.read_text())
    assert set(b) >= {"question_id", "model_a", "model_b", "winner", "judge", "conversation_a", "conversation_b",
                      "turn", "anony", "language", "tstamp"}
    assert b["winner"] == "tie (bothbad)" and b["anony"] is True and b["turn"] == 1
    assert [m["role"] for m in b["conversation_a"]] == ["user", "assistant"]
    assert all(isinstance(m["num_tokens"], int) for m in b["conversation_a"] + b["conversation_b"])
    assert isinstance(b["tstamp"], float)
    s.close()


def test_a_reveal_travels_with_the_export_even_without_its_vote(tmp_path):
    """A blind round revealed, then regenerated (the vote dropped, the names still shown), is
    still revealed on the other machine: a follow-up there goes with names."""
    home = Store(tmp_path / "home.sqlite3")
    cid, rid = two_pane(home, "Blind question", ["a", "b"], "left", blind=True)
    revealed = home.rounds(cid)[0].revealed_at
    assert revealed is not None
    home.clear_vote(rid)
    sync = tmp_path / "sync.jsonl"
    exports.export(home, "jsonl", sync)
    work = Store(tmp_path / "work.sqlite3")
    exports.import_jsonl(work, sync)
    (work_cid,) = [r[0] for r in work.query("SELECT id FROM conversations")]
    assert work.query("SELECT COUNT(*) FROM votes") == [(0,)]
    assert work.names_shown(work_cid) and work.rounds(work_cid)[0].revealed_at == revealed
    home.close()
    work.close()
