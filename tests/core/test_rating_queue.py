"""The rating queue: blind pairs from a run, least certain first, skip and undo, and every
vote a normal vote (leaderboard, tags, exports). Plus the readable report of a run."""
from __future__ import annotations

import json

import pytest

from desktop.core import exports, ratings, report
from desktop.core.engines.registry import EnginePool
from desktop.core.pricing import Prices
from desktop.core.rating_queue import RatingQueue
from desktop.core.settings import Sampling
from desktop.core.store import Store
from desktop.core.store.suite_runs import SuiteRuns
from desktop.core.suite_runner import SuiteRunner, plan_run
from desktop.core.suites import Suite, SuiteItem

from test_suite_runner import API_X, API_Y, LOCAL_A, SUITE, Scripted


@pytest.fixture
def finished_run(tmp_path):
    store = Store(tmp_path / "db.sqlite3")
    log: list = []
    run_id = plan_run(store, SUITE, [LOCAL_A, API_X, API_Y], Sampling())
    runner = SuiteRunner(store, Prices({}), EnginePool(lambda c: Scripted(c, log, 0.0)), run_id)
    runner.start()
    assert runner.wait(20)
    return store, run_id


def test_pairs_are_blind_shuffled_and_every_vote_is_a_normal_vote(finished_run, tmp_path):
    store, run_id = finished_run
    q = RatingQueue(store, run_id, seed=3)
    assert q.counts() == (0, 9)  # 3 prompts × 3 pairs of contestants
    sides = set()
    labels = {0: "a.gguf", 1: "gpt-x", 2: "gpt-y"}
    while (pair := q.next()) is not None:
        sides.add(pair.a_left)
        prompt, left, right = pair.turns[-1]
        assert left.startswith(labels[pair.left]) and right.startswith(labels[pair.right])
        # the later contestant wins: gpt-y beats gpt-x beats a.gguf
        q.vote(pair, "left" if pair.left > pair.right else "right", note=f"n{pair.item}")
    assert sides == {True, False}
    assert q.counts() == (9, 9)

    battles = store.battles()
    assert len(battles) == 9 and all(b.blind for b in battles)
    assert {b.tag for b in battles} == {"writing", "math", "coding"}  # categories became tags
    board = ratings.leaderboard(battles, rounds=100)
    assert board.rows[-1].ref == "ref:a.gguf"
    assert len(store.battles(tag="math")) == 3
    # a multi-turn prompt is one conversation with both turns; the vote is on the last
    convs = [store.conversation(c) for c in SuiteRuns(store).pair_conversations(run_id)]
    multi = [c for c in convs if len(c.rounds) == 2]
    assert len(multi) == 3 and all(c.rounds[0].vote is None and c.rounds[1].vote for c in multi)
    assert all(c.blind for c in convs)
    # exports see the queue's votes
    out = tmp_path / "battles.json"
    assert exports.export(store, "fastchat", out) == 9
    rows = json.loads(out.read_text())
    assert all(r["anony"] for r in rows) and rows[0]["judge"].startswith("arena_user_")
    assert rows[0]["judge"] != "arena_user_arenadesk"


def _votes(store, a: tuple[str, str], b: tuple[str, str], outcomes: list[str]) -> None:
    """Ordinary votes from the window between two models (engine, name): the leaderboard's evidence."""
    from desktop.core.store import SlotSpec

    for outcome in outcomes:
        conv = store.new_conversation()
        rid, _ = store.add_round(conv, "p", [SlotSpec(0, 0, a[0], a[1], f"ref:{a[1]}"),
                                             SlotSpec(1, 1, b[0], b[1], f"ref:{b[1]}")])
        store.cast_vote(rid, outcome)


A, X, Y = ("local", "a.gguf"), ("openai", "gpt-x"), ("openai", "gpt-y")


@pytest.mark.parametrize("evidence, expected", [
    # a.gguf clearly behind both GPTs, the GPTs even: the GPT pair is the open question
    ({(A, X): ["right"] * 25, (A, Y): ["right"] * 25, (X, Y): ["left", "right"] * 12}, (1, 2)),
    # gpt-y clearly ahead of both, a.gguf and gpt-x even: that pair is the open question
    ({(A, Y): ["right"] * 25, (X, Y): ["right"] * 25, (A, X): ["left", "right"] * 12}, (0, 1)),
])
def test_the_least_certain_pair_comes_first(finished_run, evidence, expected):
    store, run_id = finished_run
    for (a, b), outcomes in evidence.items():
        _votes(store, a, b, outcomes)
    q = RatingQueue(store, run_id, seed=1)
    pair = q.next()
    assert (pair.a, pair.b) == expected
    q.vote(pair, "tie")
    assert (q.next().a, q.next().b) == expected  # still the least certain one


def test_models_without_votes_are_asked_about_first(finished_run):
    store, run_id = finished_run
    _votes(store, A, X, ["left", "right"] * 10)  # gpt-y has no rating yet
    pair = RatingQueue(store, run_id, seed=1).next()
    assert 2 in (pair.a, pair.b)


def test_skip_and_undo(finished_run):
    store, run_id = finished_run
    q = RatingQueue(store, run_id, seed=2)
    first = q.next()
    q.skip(first)
    second = q.next()
    assert second.key != first.key
    q.vote(second, "tie")
    assert q.counts() == (1, 9) and len(store.battles()) == 1
    back = q.undo()
    assert back.key == second.key
    assert q.counts() == (0, 9) and store.battles() == []
    assert SuiteRuns(store).pairs(run_id) == {}  # the conversation went with the vote
    assert q.undo() is None
    # skipped pairs come back when nothing else is left
    seen = set()
    while (p := q.next()) is not None:
        seen.add(p.key)
        q.vote(p, "both_bad")
    assert first.key in seen and len(seen) == 9


def test_unfinished_answers_are_not_offered(tmp_path):
    store = Store(tmp_path / "db.sqlite3")
    run_id = plan_run(store, SUITE, [LOCAL_A, API_X], Sampling())
    assert RatingQueue(store, run_id).next() is None
    assert RatingQueue(store, run_id).counts() == (0, 0)


def test_report_escapes_hostile_answers_and_shows_votes(tmp_path):
    store = Store(tmp_path / "db.sqlite3")
    log: list = []

    class Hostile(Scripted):
        def stream(self, messages, params, cancel=None):
            from desktop.core.engines.base import Done, TextDelta, Usage

            yield TextDelta("<script>alert(1)</script>\n~~~\n```\n# not a heading")
            yield Usage(1, 5)
            yield Done("stop")

    suite = Suite("evil <b>suite</b>", [SuiteItem("x<i>", "cat<&>", ["Say <img src=x onerror=alert(1)>"])])
    run_id = plan_run(store, suite, [LOCAL_A, API_X], Sampling())
    runner = SuiteRunner(store, Prices({}), EnginePool(lambda c: Hostile(c, log)), run_id)
    runner.start()
    assert runner.wait(20)
    q = RatingQueue(store, run_id)
    pair = q.next()
    q.vote(pair, "left", note="left was <better>")
    data = report.run_report(store, run_id)
    page = report.to_html(data)
    assert "<script>" not in page and "<img" not in page and "<b>suite" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Blind vote:" in page and "left was &lt;better&gt;" in page
    assert page.count("<table>") == 1 and "a.gguf" in page and "gpt-x" in page
    md = report.to_markdown(data)
    assert "\n~~~~text\n<script>alert(1)</script>\n~~~\n```\n# not a heading\n~~~~\n" in md
    assert "\\<b\\>suite\\</b\\>" in md and "left was \\<better\\>" in md
    out = report.write(data, "html", tmp_path / "r.html")
    assert out.read_text(encoding="utf-8") == page
    with pytest.raises(ValueError):
        report.write(data, "pdf", tmp_path / "r.pdf")


def test_report_of_selected_conversations(finished_run):
    store, run_id = finished_run
    q = RatingQueue(store, run_id)
    pair = q.next()
    q.vote(pair, "right")
    ids = SuiteRuns(store).pair_conversations(run_id)
    md = report.to_markdown(report.conversations_report(store, ids))
    assert "1 conversations" in md and "Blind vote:" in md and "better than" in md
