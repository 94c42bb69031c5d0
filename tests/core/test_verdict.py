""""Can I switch?": on simulated votes with a known truth per category, the verdict, its
interval, the cost per answer, the monthly saving and "how many more votes"."""
from __future__ import annotations

import math

import numpy as np
import pytest

from desktop.core import ratings, verdict
from desktop.core.engines.base import Result
from desktop.core.store import SlotSpec, Store

DAY = 86400.0
NOW = 1_700_000_000.0


def elo_gap(p: float) -> float:
    """The rating gap at which the local model is preferred with probability p."""
    return ratings.SCALE * math.log10(p / (1 - p))


def simulate(tmp_path, truth: dict[str, tuple[float, int]], *, api_cost=0.002, days=10.0, seed=0,
             answer_s=4.0) -> Store:
    """Rounds local vs API per category, votes drawn with P(local wins) = truth[tag][0],
    spread evenly over the last `days` days."""
    rng = np.random.default_rng(seed)
    store = Store(tmp_path / "verdict.db")
    cid = store.new_conversation("sim")
    total = sum(n for _p, n in truth.values())
    k = 0
    for tag, (p, n) in truth.items():
        for _ in range(n):
            t = NOW - days * DAY + (k + 0.5) * days * DAY / total
            local_left = bool(rng.integers(0, 2))
            slots = [SlotSpec(0, 0 if local_left else 1, "local", "Qwen 2.5 7B Q4", "sha256:qwen"),
                     SlotSpec(1, 1 if local_left else 0, "openai", "gpt-4o-mini", "gpt-4o-mini")]
            rid, ids = store.add_round(cid, f"{tag} prompt {k}", slots, tag=tag, created_at=t)
            store.save_response(ids[0], Result(text="local", status="done", started_at=t, finished_at=t + answer_s))
            store.save_response(ids[1], Result(text="api", status="done", started_at=t, finished_at=t + 1,
                                               cost_usd=api_cost))
            local_wins = rng.random() < p
            store.cast_vote(rid, "left" if local_wins == local_left else "right")
            k += 1
    return store


def test_the_verdict_per_category_matches_the_simulations_truth(tmp_path):
    truth = {"coding": (0.72, 160), "writing": (0.22, 160), "chat": (0.5, 4)}
    store = simulate(tmp_path, truth)
    v = verdict.switch_verdict(store, "qwen", "gpt-4o-mini", rounds=400, now=NOW)
    assert v.local.ref == "sha256:qwen" and v.api.ref == "gpt-4o-mini"
    by = {c.category: c for c in v.categories}
    assert set(by) == {"coding", "writing", "chat"}

    coding, writing, chat = by["coding"], by["writing"], by["chat"]
    assert coding.decision == "yes"
    assert coding.lower <= truth["coding"][0] <= coding.upper
    assert writing.decision == "no"
    assert writing.lower <= truth["writing"][0] <= writing.upper
    # too few: 4 head-to-head votes, the words say how many more
    assert chat.decision == "too_few" and chat.more_votes == verdict.MIN_HEAD_TO_HEAD - 4
    assert f"vote on about {chat.more_votes} more rounds" in chat.words

    # plain words with the interval
    assert "On coding, Qwen 2.5 7B Q4 ties or beats gpt-4o-mini on" in coding.words
    assert "you can switch" in coding.words and "gpt-4o-mini is better" in writing.words


def test_overall_mixes_the_categories(tmp_path):
    store = simulate(tmp_path, {"coding": (0.8, 100), "writing": (0.2, 100)})
    v = verdict.switch_verdict(store, rounds=300, now=NOW)  # the only local and API models are picked
    assert v.overall.category == "all" and v.overall.head_to_head == 200
    assert v.overall.lower <= 0.5 <= v.overall.upper
    assert v.overall.decision in ("close", "unsure")


def test_cost_and_monthly_saving_come_from_the_users_history(tmp_path):
    # 120 prompts over 10 days: 360 a month; 0.002 $ per API answer
    store = simulate(tmp_path, {"coding": (0.6, 120)}, api_cost=0.002, days=10)
    v = verdict.switch_verdict(store, rounds=200, now=NOW)
    c = v.overall
    assert c.local_cost == 0.0 and c.api_cost == pytest.approx(0.002)
    assert c.prompts_per_month == pytest.approx(360, rel=0.01)
    assert c.monthly_saving == pytest.approx(360 * 0.002, rel=0.01)
    assert "save about $0.72 a month" in c.words
    assert any("counted as free" in n for n in v.notes)

    # with an energy estimate: 200 W for the 4 s a local answer takes at 0.30 $/kWh
    energy = verdict.Energy(watts=200, usd_per_kwh=0.30)
    e = verdict.switch_verdict(store, energy=energy, rounds=200, now=NOW).overall
    per_answer = 200 * 4 / 3_600_000 * 0.30
    assert e.local_cost == pytest.approx(per_answer)
    assert e.monthly_saving == pytest.approx(360 * (0.002 - per_answer), rel=0.01)
    assert "electricity included" in e.words


def test_a_long_history_counts_the_last_month(tmp_path):
    store = simulate(tmp_path, {"coding": (0.6, 90)}, days=90)  # one prompt a day
    assert verdict.prompts_per_month(store, now=NOW) == pytest.approx(30, abs=1)
    assert verdict.prompts_per_month(store, "coding", now=NOW) == pytest.approx(30, abs=1)
    assert verdict.prompts_per_month(store, "nothing-here", now=NOW) == 0


def test_no_price_says_the_saving_is_unknown(tmp_path):
    store = simulate(tmp_path, {"coding": (0.6, 30)}, api_cost=None)
    c = verdict.switch_verdict(store, rounds=100, now=NOW).overall
    assert c.api_cost is None and c.monthly_saving is None
    assert "add its price to prices.json" in c.words


def test_an_unclear_result_says_how_many_more_votes(tmp_path):
    store = simulate(tmp_path, {"coding": (0.45, 14)}, seed=3)
    c = verdict.switch_verdict(store, rounds=300, now=NOW).overall
    assert c.decision == "unsure" and c.more_votes > 0
    assert f"about {c.more_votes} more votes" in c.words


def test_one_sided_short_record_is_not_certain(tmp_path):
    store = simulate(tmp_path, {"coding": (1.0, 10)})
    c = verdict.switch_verdict(store, rounds=200, now=NOW).overall
    assert c.p > 0.5 and c.upper - c.lower > 0.2  # ten straight wins: likely better, not certain


def test_choosing_contestants_says_what_exists(tmp_path):
    store = simulate(tmp_path, {"coding": (0.6, 12)})
    with pytest.raises(ValueError, match="No local model with votes matches 'llama'.*Qwen"):
        verdict.resolve(store, "llama", "local")
    assert verdict.resolve(store, "gpt-4o-mini", "openai").label == "gpt-4o-mini"
    # The file the user has names the model shown without ".gguf" (s22 review F5).
    assert verdict.resolve(store, "Qwen 2.5 7B Q4.gguf", "local").label == "Qwen 2.5 7B Q4"
    empty = Store(tmp_path / "empty.db")
    with pytest.raises(ValueError, match="No local model has votes yet"):
        verdict.switch_verdict(empty)


def _verdict_from_rows(store, battles, local, api, **kw):
    """The verdict as it was computed before it read columns: Battle rows, split by their tag."""
    overall = verdict.category_verdict(store, local, api, verdict.ALL, battles, **kw)
    by_tag: dict[str, list] = {}
    for b in battles:
        by_tag.setdefault(b.tag or verdict.UNTAGGED, []).append(b)
    return [overall] + [verdict.category_verdict(store, local, api, t, by_tag[t], **kw) for t in sorted(by_tag)]


def test_the_columnar_verdict_equals_the_one_from_battle_rows(tmp_path):
    """switch_verdict reads the battles as columns and splits them by their rounds' tags: the
    same verdicts, number for number, as from Battle rows grouped one by one; with untagged
    rounds, an empty tag, a tag named 'untagged', a third model, a deleted conversation and a judge's verdicts."""
    from desktop.core import judge

    store = simulate(tmp_path, {"coding": (0.7, 60), "writing": (0.3, 50), "": (0.5, 40)}, seed=5)
    cid = store.new_conversation("more")
    for k in range(30):  # a third model, some rounds untagged
        slots = [SlotSpec(0, k % 2, "local", "Llama 3B", "sha256:llama"),
                 SlotSpec(1, 1 - k % 2, "openai", "gpt-4o-mini", "gpt-4o-mini")]
        tag = ("coding", None, "untagged")[k % 3]  # a tag spelled like the untagged rounds' name joins them
        rid, _ = store.add_round(cid, f"p{k}", slots, tag=tag, created_at=NOW - k)
        store.cast_vote(rid, ("left", "right", "tie")[k % 3])
    gone = store.new_conversation("deleted")
    rid, _ = store.add_round(gone, "x", [SlotSpec(0, 0, "local", "Llama 3B", "sha256:llama"),
                                         SlotSpec(1, 1, "openai", "gpt-4o-mini", "gpt-4o-mini")], tag="writing")
    store.cast_vote(rid, "left")
    store.delete_conversation(gone)
    rid, ids = store.add_round(cid, "judged only", [SlotSpec(0, 0, "local", "Qwen 2.5 7B Q4", "sha256:qwen"),
                                                    SlotSpec(1, 1, "openai", "gpt-4o-mini", "gpt-4o-mini")],
                               tag="writing", created_at=NOW)
    store._db.execute("INSERT INTO judge_votes (uid, round_id, response_a, response_b, judge_ref, judge_label, "
                      "winner, created_at) VALUES ('j1', ?, ?, ?, 'judge@x', 'judge', 'a', ?)", (rid, *ids, NOW))

    rows = store.battles()
    people = verdict.contestants(store)
    assert [(c.ref, c.battles) for c in people] == [("gpt-4o-mini", 180), ("sha256:qwen", 150), ("sha256:llama", 30)]
    assert all(c.battles == sum((b.model_a == c.ref) + (b.model_b == c.ref) for b in rows) for c in people)
    assert [c.engine for c in people] == ["openai", "local", "local"]
    assert len(judge.with_judge(rows, store)) == len(rows) + 1
    for battles, cols in ((rows, store.battle_columns()),
                          (judge.with_judge(rows, store), judge.with_judge(store.battle_columns(), store))):
        for local in ("qwen", "llama"):
            v = verdict.switch_verdict(store, local, "gpt-4o-mini", battles=cols, rounds=200, now=NOW)
            expected = _verdict_from_rows(store, battles, v.local, v.api, rounds=200, now=NOW)
            assert [vars(c) for c in [v.overall] + v.categories] == [vars(c) for c in expected]
    assert {c.category for c in v.categories} == {"coding", "writing", verdict.UNTAGGED}
