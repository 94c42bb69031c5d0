"""`arenadesk judge …` and `arenadesk verdict …` end to end: a real store, and real judges
(the built-in base model and the real chat model) whose verdicts are either read or
reported as unreadable — never counted when they cannot be read."""
from __future__ import annotations

import json
import re

import pytest

from desktop.cli import run
from desktop.core import exports, judge
from desktop.core.engines.base import Result
from desktop.core.library.embedded import REF as BUILT_IN
from desktop.core.settings import load
from desktop.core.store import SlotSpec, Store

QUESTIONS = [
    ("What is the capital of France?", "The capital of France is Paris.", "The capital of France is Berlin."),
    ("What is 2 + 2?", "2 + 2 = 5.", "2 + 2 = 4."),
]


def seed(store: Store, *, vote: bool = True, tag: str = "facts") -> None:
    cid = store.new_conversation("judge me")
    for k, (q, local_answer, api_answer) in enumerate(QUESTIONS):
        rid, ids = store.add_round(cid, q, [SlotSpec(0, 0, "local", "Gemma 3 270M (built in)", BUILT_IN),
                                            SlotSpec(1, 1, "openai", "gpt-4o-mini", "gpt-4o-mini")], tag=tag)
        store.save_response(ids[0], Result(text=local_answer, status="done", cost_usd=None))
        store.save_response(ids[1], Result(text=api_answer, status="done", cost_usd=0.0003))
        if vote:
            store.cast_vote(rid, "left" if k == 0 else "right")


@pytest.mark.parametrize("which", ["base", "chat"])
def test_a_real_judge_run_is_read_or_reported_unreadable(which, services, chat_model, capsys):
    services.close()
    store = Store(services.folders.database)
    seed(store)
    choice = "local:default" if which == "base" else f"local:{chat_model}"
    code = run(["judge", "calibrate", "--judge", choice, "--max-tokens", "24"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"\d+ pairs? judged", out)

    rows = store.query("SELECT raw_ab, raw_ba, verdict_ab, verdict_ba, winner, error FROM judge_votes")
    assert len(rows) == len(QUESTIONS)
    for raw_ab, raw_ba, v_ab, v_ba, winner, error in rows:
        assert error is None
        read = [judge.parse_verdict(raw_ab).choice, judge.parse_verdict(raw_ba).choice]
        # what is stored is what the replies say, nothing guessed
        assert (v_ab is None) == (read[0] is None) and (v_ba is None) == (read[1] is None)
        if winner is None:
            assert None in read
        else:
            assert winner == judge.combine(v_ab, v_ba)
    unreadable = sum(1 for r in rows if r[4] is None)
    judged = len(rows) - unreadable
    assert f"{judged} pair{'' if judged == 1 else 's'} judged" in out
    if unreadable:
        pairs = f"{unreadable} pair{'' if unreadable == 1 else 's'}"
        assert f"{pairs} got a reply that could not be read as a verdict (not counted)" in out
    # unreadable verdicts are no votes: the judge's series holds only the read ones
    assert len(judge.battles(store)) == judged
    cal = judge.calibration(store)
    assert cal.overall.n == judged and cal.overall.unparseable == unreadable
    assert "agrees with you" in out or "has not judged any of your rounds" in out

    # not calibrated on two rounds: it may not rate unvoted rounds yet
    seed(store, vote=False)
    assert run(["judge", "rate", "--judge", choice, "--max-tokens", "8"]) == 2
    assert f"it needs {judge.MIN_CALIBRATION}" in capsys.readouterr().err

    assert run(["judge", "report"]) == 0
    report = capsys.readouterr().out
    assert "Position bias of" in report and "The judge's own leaderboard" in report
    store.close()


def test_judge_votes_reach_the_leaderboard_and_exports_only_when_asked(services, tmp_path, capsys):
    services.close()
    store = Store(services.folders.database)
    seed(store)
    seed(store, vote=False)
    # verdicts as a calibrated judge would leave them (the judging itself is tested above and in tests/core)
    for pair in judge.pairs_unvoted(store, "some-judge"):
        judge.save(store, pair, judge.PairJudgement("a", "a", "A is right", "A is right"), judge_ref="some-judge",
                   judge_label="Some Judge")
    assert run(["leaderboard"]) == 0
    plain = capsys.readouterr().out
    assert "2 battles" in plain and "judge" not in plain
    assert run(["leaderboard", "--with-judge"]) == 0
    assert "4 battles" in capsys.readouterr().out

    out = tmp_path / "b.json"
    assert run(["export", "--format", "fastchat", "--out", str(out)]) == 0
    assert {b["judge"] for b in json.loads(out.read_text())} == {exports.voter_id()}
    assert run(["export", "--format", "fastchat", "--out", str(out), "--with-judge"]) == 0
    assert {b["judge"] for b in json.loads(out.read_text())} == {exports.voter_id(), "llm_judge:Some Judge"}
    store.close()


def test_verdict_command(services, capsys):
    services.close()
    store = Store(services.folders.database)
    seed(store)
    store.close()
    assert run(["verdict"]) == 0
    out = capsys.readouterr().out
    assert "Can I switch from gpt-4o-mini to Gemma 3 270M (built in)?" in out
    assert "too few votes to tell — 2 between" in out and "vote on about 8 more rounds" in out
    assert "save about" in out

    assert run(["verdict", "--local", "default", "--remote", "gpt-4o", "--watts", "150", "--kwh-price", "0.25"]) == 0
    assert "electricity included" in capsys.readouterr().out
    saved = load(services.folders.settings_file).settings.judging
    assert (saved.local_watts, saved.usd_per_kwh) == (150.0, 0.25)

    assert run(["verdict", "--local", "llama"]) == 2
    assert "No local model with votes matches 'llama'" in capsys.readouterr().err


@pytest.mark.parametrize("which", ["base", "chat"])
def test_replies_cut_short_are_shown_and_asked_again_by_the_next_run(which, services, chat_model, capsys):
    """A real judge with 8 tokens to reply cannot reach its verdict line: the pairs are reported as
    unreadable with the start of one reply, and the next run asks about them again."""
    services.close()
    store = Store(services.folders.database)
    seed(store)
    choice = "local:default" if which == "base" else f"local:{chat_model}"
    assert run(["judge", "calibrate", "--judge", choice, "--max-tokens", "8"]) == 0
    out = capsys.readouterr().out
    rows = store.query("SELECT raw_ab, raw_ba, winner, error FROM judge_votes")
    assert len(rows) == 2 and all(r[2] is None and r[3] is None for r in rows), rows
    assert "0 pairs judged; 2 pairs got a reply that could not be read as a verdict (not counted)." in out
    first_unread = rows[0][0] if judge.parse_verdict(rows[0][0]).choice is None else rows[0][1]
    shown = judge.reply_excerpt(first_unread)
    assert (f": “{shown}”" in out) if shown else "One reply was empty" in out
    assert "the next run asks about those pairs again" in out
    if which == "base":  # the built-in model has no chat template: said before it runs
        assert "is a base model (no chat template): it rarely gives a readable verdict" in out
        assert "is one of the contestants: it will judge its own answers in 2 pairs." in out  # it wrote one side
    else:
        assert "base model" not in out and "its own answers" not in out

    assert run(["judge", "calibrate", "--judge", choice, "--max-tokens", "8", "--limit", "1"]) == 0
    again = capsys.readouterr().out
    assert "1 pair whose earlier reply could not be read is tried again." in again
    assert len(store.query("SELECT id FROM judge_votes")) == 2  # the retry replaced its row, nothing added
    store.close()
