"""The LLM judge: prompt, strict parsing, both orders, storage apart from the user's votes,
calibration (agreement, Wilson interval, κ) and the judge's position bias, measured back
from a scripted judge whose agreement and bias are known."""
from __future__ import annotations

import random
import re

import numpy as np
import pytest

from desktop.core import exports, judge, ratings
from desktop.core.engines.base import Done, Error, ModelInfo, Result, TextDelta, Usage
from desktop.core.store import SlotSpec, Store


# -- a scripted judge ---------------------------------------------------------------------------

class ScriptedJudge:
    """Answers the judge prompt like a judge that is right with probability `accuracy` and, with
    probability `first_bias`, just picks whichever answer is shown first. Answers carry their
    quality in their text ("GOOD …" / "POOR …"), which this judge reads as its ground truth."""

    info = ModelInfo("openai", "scripted-judge", "scripted-judge")

    def __init__(self, accuracy: float, first_bias: float, seed: int = 0, reply: str | None = None):
        self.accuracy, self.first_bias = accuracy, first_bias
        self.rng = random.Random(seed)
        self.reply = reply
        self.calls = 0
        self.prompts: list[list[dict]] = []

    def stream(self, messages, params, cancel=None):
        self.calls += 1
        self.prompts.append(messages)
        if self.reply is not None:
            yield TextDelta(self.reply)
            yield Done()
            return
        user = messages[-1]["content"]
        a = re.search(r"\[Answer A\]\n(\w+)", user).group(1)
        good_first = a == "GOOD"
        if self.rng.random() < self.first_bias:
            pick_first = True
        else:
            right = self.rng.random() < self.accuracy
            pick_first = good_first if right else not good_first
        yield TextDelta("Reason: one answer is better.\n")
        yield TextDelta(f"Verdict: {'A' if pick_first else 'B'}")
        yield Usage(100, 8)
        yield Done()

    def cancel(self):
        pass

    def close(self):
        pass


def voted_store(tmp_path, n: int, seed: int = 1, tags=("coding", "writing"), user_accuracy: float = 1.0,
                vote: bool = True) -> Store:
    """n two-answer rounds (local vs API): which model wrote the GOOD answer and which side it is
    shown on are random; the user votes for it (with probability user_accuracy)."""
    rng = random.Random(seed)
    store = Store(tmp_path / "judge.db")
    cid = store.new_conversation("sim")
    for k in range(n):
        local_good, local_left = rng.random() < 0.5, rng.random() < 0.5
        local = SlotSpec(0, 0 if local_left else 1, "local", "Local Q4", "sha256:local")
        api = SlotSpec(1, 1 if local_left else 0, "openai", "gpt-x", "gpt-x")
        rid, ids = store.add_round(cid, f"question {k}", [local, api], tag=tags[k % len(tags)],
                                   created_at=1000.0 + k)
        store.save_response(ids[0], Result(text=f"{'GOOD' if local_good else 'POOR'} local answer {k}",
                                           status="done"))
        store.save_response(ids[1], Result(text=f"{'POOR' if local_good else 'GOOD'} api answer {k}",
                                           status="done"))
        if vote:
            good_left = local_good == local_left
            right = rng.random() < user_accuracy
            store.cast_vote(rid, "left" if good_left == right else "right")
    return store


# -- parsing ------------------------------------------------------------------------------------

@pytest.mark.parametrize("reply, choice", [
    ("Reason: A is correct.\nVerdict: A", "first"),
    ("Reason: B explains it.\nVerdict: B", "second"),
    ("reason: same\nverdict: tie", "tie"),
    ("**Verdict:** **B**", "second"),
    ("Verdict: Answer A.", "first"),
    ("My final judgement: [[B]]", "second"),
    ("Verdict: A\nVerdict: A", "first"),
])
def test_parse_reads_an_unambiguous_verdict(reply, choice):
    assert judge.parse_verdict(reply).choice == choice


@pytest.mark.parametrize("reply", [
    "",
    "Both answers are fine, I think the first one is slightly better.",
    "Verdict: A or B or tie",  # the instruction echoed back
    "Verdict: <A or B or tie>",
    "Verdict: A\nVerdict: B",  # changes its mind
    "Verdict: A is better than B",
    "Verdict: ",
    "Reason: Answer A is better.",  # prose about A, no verdict line: not guessed
])
def test_parse_refuses_what_it_cannot_read(reply):
    v = judge.parse_verdict(reply)
    assert v.choice is None
    assert v.problem


def test_parse_keeps_a_short_reason():
    v = judge.parse_verdict("Reason: " + "x" * 1000 + "\nVerdict: A")
    assert v.choice == "first" and len(v.reason) <= judge.REASON_CHARS


def test_prompt_shows_both_answers_the_request_and_the_reference():
    msgs = judge.judge_messages("What is 2+2?", "4", "5", reference="4")
    assert msgs[0]["role"] == "system" and "Verdict" in msgs[0]["content"]
    user = msgs[1]["content"]
    assert user.index("[Request]") < user.index("[Reference answer") < user.index("[Answer A]\n4") < \
        user.index("[Answer B]\n5")
    assert "reference" not in judge.judge_messages("q", "x", "y")[1]["content"].lower()


# -- both orders --------------------------------------------------------------------------------

class OrderJudge:
    """Always picks the answer shown first: every verdict depends on the order."""

    info = ModelInfo("local", "first-picker", "sha256:firstpicker")

    def stream(self, messages, params, cancel=None):
        yield TextDelta("Reason: the first is better.\nVerdict: A")
        yield Done()

    def cancel(self):
        pass


def test_an_order_dependent_verdict_is_a_tie():
    j = judge.judge_pair(OrderJudge(), "q", "one", "two")
    assert (j.verdict_ab, j.verdict_ba) == ("a", "b")
    assert j.consistent is False and j.winner == "tie"


def test_a_consistent_verdict_stands_and_unreadable_is_no_vote():
    assert judge.combine("b", "b") == "b"
    assert judge.combine("tie", "tie") == "tie"
    assert judge.combine("a", None) is None and judge.combine(None, None) is None


def test_the_judge_sees_each_answer_in_each_place():
    eng = ScriptedJudge(1.0, 0.0)
    judge.judge_pair(eng, "q", "GOOD x", "POOR y")
    firsts = [re.search(r"\[Answer A\]\n(.*)", m[-1]["content"]).group(1) for m in eng.prompts]
    assert firsts == ["GOOD x", "POOR y"]


def test_engine_errors_are_failures_not_votes(tmp_path):
    class Broken:
        info = ModelInfo("openai", "broken", "broken")

        def stream(self, messages, params, cancel=None):
            yield Error("No OpenAI key: add one in Settings → Accounts.", "auth")

        def cancel(self):
            pass

    store = voted_store(tmp_path, 5)
    summary = judge.Judge(store, Broken(), choice="openai:broken").calibrate()
    assert summary.failed == judge.MAX_FAILURES_IN_A_ROW == 3 and summary.judged == 0
    assert "No OpenAI key" in summary.errors[0]
    assert summary.gave_up == 2 and "stopped after 3 failures in a row, 2 pairs left" in summary.line()
    assert judge.battles(store, "broken") == []
    assert judge.calibration(store, "broken").overall.n == 0
    # failed pairs are tried again next time, and a working judge then judges every pair
    assert len(judge.pairs_voted(store, "broken")) == 5
    fixed = judge.Judge(store, ScriptedJudge(1.0, 0.0), choice="openai:broken", ref="broken")
    assert fixed.calibrate().judged == 5
    assert judge.calibration(store, "broken").overall.n == 5


# -- calibration and bias, measured back ---------------------------------------------------------

def test_scripted_judge_agreement_and_position_bias_are_measured_back(tmp_path):
    accuracy, bias = 0.9, 0.2
    store = voted_store(tmp_path, 400, seed=3)
    eng = ScriptedJudge(accuracy, bias, seed=11)
    summary = judge.Judge(store, eng, choice="openai:scripted-judge").calibrate()
    assert summary.judged == 400 and eng.calls == 800
    cal = judge.calibration(store, "scripted-judge")

    # Expected, from the script: an order's verdict names the good answer with probability
    # bias + (1-bias)·acc when it is shown first and (1-bias)·acc when it is second; the pair
    # agrees with the user (who always picks the good one) only when both orders do.
    p_first_shown = bias + (1 - bias) * accuracy
    p_second_shown = (1 - bias) * accuracy
    expected_agreement = p_first_shown * p_second_shown
    assert cal.overall.n == 400
    assert cal.overall.lower <= expected_agreement <= cal.overall.upper
    # the share of verdicts picking the first-shown answer: bias + (1-bias)/2 (every pair is shown both ways)
    expected_first = bias + (1 - bias) * 0.5
    assert cal.bias.decisive == 800
    assert cal.bias.lower <= expected_first <= cal.bias.upper
    assert cal.bias.lower > 0.5  # and it is called a bias
    assert "favours the first answer" in cal.bias.words("J")
    # categories: both tags, each with its own interval
    assert [a.category for a in cal.by_category] == ["coding", "writing"]
    assert sum(a.n for a in cal.by_category) == 400
    for a in cal.by_category:
        assert a.lower <= expected_agreement <= a.upper
    assert re.search(r"agrees with you on \d+% \(\d+%–\d+%\) of your coding rounds", cal.by_category[0].words("J"))
    assert cal.overall.kappa is not None and 0 < cal.overall.kappa < 1


def test_an_unbiased_judge_shows_no_bias_and_a_perfect_one_full_agreement(tmp_path):
    store = voted_store(tmp_path, 60, seed=5)
    judge.Judge(store, ScriptedJudge(1.0, 0.0), choice="x").calibrate()
    cal = judge.calibration(store, "scripted-judge")
    assert cal.overall.agree == cal.overall.n == 60 and cal.overall.kappa == pytest.approx(1.0)
    assert cal.bias.share == pytest.approx(0.5)
    assert "no sign of a preference" in cal.bias.words("J")
    assert cal.bias.order_dependent == 0


def test_kappa_matches_a_worked_example():
    # 2x2 example: observed 0.7, chance 0.5 → κ = 0.4
    pairs = [("a", "a")] * 35 + [("b", "b")] * 35 + [("a", "b")] * 15 + [("b", "a")] * 15
    assert judge.cohen_kappa(pairs) == pytest.approx(0.4)
    assert judge.cohen_kappa([("a", "a")] * 5) is None


def test_an_empty_reply_is_unreadable_not_a_failure(tmp_path):
    store = voted_store(tmp_path, 4)
    summary = judge.Judge(store, ScriptedJudge(1.0, 0.0, reply=""), choice="x").calibrate()
    assert (summary.unparseable, summary.failed, summary.judged) == (4, 0, 0)
    assert summary.problems[0] == "the judge answered nothing"
    assert summary.line().endswith("(not counted). One reply was empty: the judge answered nothing.")
    # not done: the next run asks again (a longer reply length or another judge may answer)
    again = judge.pairs_voted(store, "scripted-judge")
    assert len(again) == 4 and all(p.unread_before for p in again)


def test_unreadable_replies_are_reported_and_never_counted(tmp_path):
    store = voted_store(tmp_path, 6)
    eng = ScriptedJudge(1.0, 0.0, reply="I think both are nice answers to be honest.")
    summary = judge.Judge(store, eng, choice="openai:scripted-judge").calibrate()
    assert summary.unparseable == 6 and summary.judged == 0
    assert "could not be read" in summary.line()
    cal = judge.calibration(store, "scripted-judge")
    assert cal.overall.n == 0 and cal.overall.unparseable == 6
    assert cal.overall.words("J") == ("J has not judged any of your rounds you voted on yet: 6 pairs gave no "
                                      "readable verdict (the next run asks again).")
    assert judge.battles(store, "scripted-judge") == []
    raw = store.query("SELECT raw_ab, winner FROM judge_votes")
    assert raw[0] == ("I think both are nice answers to be honest.", None)


def test_rating_unvoted_rounds_waits_for_calibration(tmp_path):
    store = voted_store(tmp_path, 12, seed=2)
    cid = store.new_conversation("unvoted")
    for k in range(5):
        _rid, ids = store.add_round(cid, f"new {k}", [SlotSpec(0, 0, "local", "Local Q4", "sha256:local"),
                                                      SlotSpec(1, 1, "openai", "gpt-x", "gpt-x")], tag="coding")
        store.save_response(ids[0], Result(text=f"GOOD {k}", status="done"))
        store.save_response(ids[1], Result(text=f"POOR {k}", status="done"))
    j = judge.Judge(store, ScriptedJudge(1.0, 0.0), choice="openai:scripted-judge")
    with pytest.raises(judge.NotCalibrated, match="checked against 0 of your votes"):
        j.rate_unvoted()
    j.calibrate(limit=5)
    with pytest.raises(judge.NotCalibrated, match="checked against 5"):
        j.rate_unvoted()
    j.calibrate()
    summary = j.rate_unvoted()
    assert summary.judged == 5
    assert len(judge.battles(store, "scripted-judge", unvoted_only=True)) == 5
    assert j.rate_unvoted().judged == 0  # nothing judged twice


# -- never mixed into the user's votes -------------------------------------------------------------

def test_judge_votes_stay_out_of_the_users_leaderboard_and_exports(tmp_path):
    store = voted_store(tmp_path, 20, seed=4)
    cid = store.new_conversation("unvoted")
    for k in range(30):
        _rid, ids = store.add_round(cid, f"new {k}", [SlotSpec(0, 0, "local", "Local Q4", "sha256:local"),
                                                      SlotSpec(1, 1, "openai", "gpt-x", "gpt-x")])
        store.save_response(ids[0], Result(text=f"POOR {k}", status="done"))
        store.save_response(ids[1], Result(text=f"GOOD {k}", status="done"))
    user_before = [(b.round_id, b.winner) for b in store.battles()]
    board_before = ratings.leaderboard(store.battles(), rounds=50)
    paths_before = {fmt: tmp_path / f"before.{fmt}" for fmt in exports.FORMATS}
    for fmt, p in paths_before.items():
        exports.export(store, fmt, p)

    j = judge.Judge(store, ScriptedJudge(1.0, 0.0), choice="openai:scripted-judge")
    j.calibrate()
    j.rate_unvoted()
    assert len(judge.battles(store)) == 50

    # the user's votes, their leaderboard and every export are exactly as before
    assert [(b.round_id, b.winner) for b in store.battles()] == user_before
    board_after = ratings.leaderboard(store.battles(), rounds=50)
    assert [(r.ref, r.rating, r.battles) for r in board_after.rows] == \
        [(r.ref, r.rating, r.battles) for r in board_before.rows]
    for fmt in exports.FORMATS:
        p = tmp_path / f"after.{fmt}"
        exports.export(store, fmt, p)
        before, after = paths_before[fmt].read_text(encoding="utf-8"), p.read_text(encoding="utf-8")
        if fmt == "jsonl":  # the header carries the export time
            before, after = before.split("\n", 1)[1], after.split("\n", 1)[1]
        assert after == before, fmt
        assert "scripted-judge" not in after and "judge_vote" not in after

    # switched on, the judge's verdicts on unvoted rounds join (and only those)
    combined = judge.with_judge(store.battles(), store)
    assert len(combined) == 20 + 30
    assert ratings.leaderboard(combined, rounds=50).row("gpt-x").battles == 50
    # the leaderboard's fast path (columns) counts them in with the same result, number for number
    columns = judge.with_judge(store.battle_columns(), store)
    assert len(columns) == 50
    slow, fast = ratings.leaderboard(combined, rounds=50), ratings.leaderboard(columns, rounds=50)
    assert [vars(r) for r in fast.rows] == [vars(r) for r in slow.rows]
    assert np.array_equal(fast.bootstrap, slow.bootstrap, equal_nan=True)
    assert np.array_equal(fast.history, slow.history, equal_nan=True)
    assert len(judge.with_judge(store.battle_columns(), store, blind_only=True)) == 20  # a blind board is yours


def test_a_regenerated_answer_loses_the_judges_verdict(tmp_path):
    store = voted_store(tmp_path, 2, vote=False)
    j = judge.Judge(store, ScriptedJudge(1.0, 0.0), choice="x")
    j.run(judge.pairs_unvoted(store, j.ref))
    assert len(judge.battles(store, j.ref)) == 2
    (rid,) = store.query("SELECT MIN(id) FROM responses")[0]
    store.replace_response(rid, SlotSpec(0, 0, "local", "Local Q4", "sha256:local"))
    assert len(judge.battles(store, j.ref)) == 1


def test_reference_answers_reach_the_judge(tmp_path):
    store = voted_store(tmp_path, 1)
    eng = ScriptedJudge(1.0, 0.0)
    judge.Judge(store, eng, choice="x").calibrate(reference="GOOD is right")
    assert all("[Reference answer, known to be correct]\nGOOD is right" in m[-1]["content"] for m in eng.prompts)
    assert store.query("SELECT reference FROM judge_votes") == [("GOOD is right",)]


def test_exports_mark_judge_votes_when_asked_and_import_keeps_them_apart(tmp_path):
    import csv
    import json

    store = voted_store(tmp_path, 10, seed=6)
    cid = store.new_conversation("unvoted")
    _rid, ids = store.add_round(cid, "=cmd|' /C calc'!A0", [SlotSpec(0, 0, "local", "Local Q4", "sha256:local"),
                                                            SlotSpec(1, 1, "openai", "gpt-x", "gpt-x")])
    store.save_response(ids[0], Result(text="GOOD x", status="done"))
    store.save_response(ids[1], Result(text="POOR y", status="done"))
    j = judge.Judge(store, ScriptedJudge(1.0, 0.0), choice="openai:scripted-judge")
    j.calibrate()
    j.rate_unvoted()
    judged = len(judge.battles(store, j.ref))
    assert judged == 11

    with store.transaction() as db:  # half its verdicts from before names dropped ".gguf": one judge still
        db.execute("UPDATE judge_votes SET judge_label = judge_label || '.gguf' WHERE id % 2 = 0")

    out = tmp_path / "with-judge"
    assert exports.export(store, "csv", out / "v.csv", include_judge=True) == 10 + 11
    with open(out / "v.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    voters = [r["voter"] for r in rows]
    assert voters.count("you") == 10 and voters.count("judge: scripted-judge") == 11
    judge_row = next(r for r in rows if r["voter"].startswith("judge") and r["prompt"].startswith("'="))
    assert judge_row["outcome"] == "left" and judge_row["winner"] == "Local Q4"
    assert judge_row["note"] == "one answer is better."

    assert exports.export(store, "fastchat", out / "b.json", include_judge=True) == 10 + 11
    battles = json.loads((out / "b.json").read_text(encoding="utf-8"))
    assert sorted({b["judge"] for b in battles}) == [exports.voter_id(), "llm_judge:scripted-judge"]

    pairs = [json.loads(line) for line in (out / "p.jsonl").read_text().splitlines()] \
        if exports.export(store, "pairs", out / "p.jsonl", include_judge=True) else []
    assert {p["source"] for p in pairs} == {"you", "judge:scripted-judge"}

    assert exports.export(store, "jsonl", out / "all.jsonl", include_judge=True)
    kinds = [json.loads(line)["type"] for line in (out / "all.jsonl").read_text().splitlines()[1:]]
    assert kinds.count("judge_vote") == 11 and kinds.count("vote") == 10

    other = Store(tmp_path / "other.db")
    summary = exports.import_jsonl(other, out / "all.jsonl")
    assert "11 judge votes (kept apart from yours)" in summary
    assert len(other.battles()) == 10  # the user's votes only
    assert len(judge.battles(other, j.ref)) == 11
    assert "judge votes" not in exports.import_jsonl(other, out / "all.jsonl")  # nothing twice


def test_a_suite_items_reference_answer_reaches_the_judge(tmp_path):
    """Rounds made from a prompt-suite run get the item's reference answer for their turn."""
    from desktop.core.store.suite_runs import SuiteRuns

    store = Store(tmp_path / "suite.db")
    runs = SuiteRuns(store)
    items = [{"id": "q0", "category": "math", "turns": ["What is 17 × 23?", "And 17 × 24?"],
              "reference": ["391", "408"]},
             {"id": "q1", "category": "math", "turns": ["Name a prime."]}]
    people = [{"label": "Local Q4", "ref": "sha256:local", "engine": "local", "choice": "local:x"},
              {"label": "gpt-x", "ref": "gpt-x", "engine": "openai", "choice": "openai:gpt-x"}]
    run_id = runs.create("starter", items, people, {})
    with store.transaction() as db:
        db.execute("UPDATE suite_answers SET status = 'done', text = CASE contestant WHEN 0 THEN 'GOOD ' || item "
                   "ELSE 'POOR ' || item END")
    runs.materialize_pair(run_id, 0, 0, 1, a_left=True)
    runs.materialize_pair(run_id, 1, 0, 1, a_left=False)

    pairs = sorted(judge.pairs_unvoted(store, "scripted-judge"), key=lambda p: p.round_id)
    assert [(p.prompt, p.reference) for p in pairs] == [
        ("What is 17 × 23?", "391"), ("And 17 × 24?", "408"), ("Name a prime.", None)]
    eng = ScriptedJudge(1.0, 0.0)
    judge.Judge(store, eng, choice="x").run(pairs)
    shown = [m[-1]["content"].split("[Answer A]")[0] for m in eng.prompts]
    assert sum("[Reference answer, known to be correct]\n391" in t for t in shown) == 2
    assert sum("[Reference answer, known to be correct]\n408" in t for t in shown) == 2
    assert sum("Reference answer" in t for t in shown) == 4  # the item without one is judged without
    assert sorted(r[0] or "" for r in store.query("SELECT reference FROM judge_votes")) == ["", "391", "408"]
