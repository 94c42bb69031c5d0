"""Bradley–Terry ratings: recovery of known strengths, ties, bootstrap, ranks, bias, verdicts."""
from __future__ import annotations

import math

import numpy as np
import pytest

from desktop.core import ratings
from desktop.core.engines.base import Result
from desktop.core.store import SlotSpec, Store
from desktop.core.store.battles import Battle


def simulate(true: dict[str, float], n: int, seed: int, tie_p: float = 0.0, blind: bool = True) -> list[Battle]:
    """n battles between random pairs, outcomes drawn from the Elo-scale BT model."""
    rng = np.random.default_rng(seed)
    refs = list(true)
    out = []
    for k in range(n):
        i, j = rng.choice(len(refs), size=2, replace=False)
        a, b = refs[i], refs[j]
        if rng.random() < tie_p:
            winner = "tie"
        else:
            winner = "a" if rng.random() < ratings.expected_score(true[a], true[b]) else "b"
        left = int(rng.integers(0, 2))
        out.append(Battle(k, k, a, b, a.upper(), b.upper(), winner, blind, left, 1 - left, 1000.0 + k, None))
    return out


def fixed(a: str, b: str, winner: str, count: int, *, start: int = 0, blind: bool = False) -> list[Battle]:
    return [Battle(start + k, start + k, a, b, a, b, winner, blind, 0, 1, float(start + k), None) for k in range(count)]


def centred(true: dict[str, float]) -> dict[str, float]:
    mean = sum(true.values()) / len(true)
    return {k: v - mean + ratings.INIT_RATING for k, v in true.items()}


TRUE = {"m1": 800.0, "m2": 900.0, "m3": 1000.0, "m4": 1060.0, "m5": 1150.0, "m6": 1300.0}


def test_recovers_true_order_and_gaps():
    board = ratings.leaderboard(simulate(TRUE, 12_000, seed=7), rounds=1000, seed=0)
    truth = centred(TRUE)
    assert board.refs == sorted(TRUE, key=TRUE.get, reverse=True)
    covered = 0
    for r in board.rows:
        width = r.upper - r.lower
        assert 0 < width < 60
        assert r.lower <= r.rating <= r.upper
        # the fitted rating is off the truth by less than the interval's width...
        assert abs(r.rating - truth[r.ref]) < width
        covered += r.lower <= truth[r.ref] <= r.upper
    # ...and the 95% intervals hold the true rating (all but at most one of six)
    assert covered >= len(TRUE) - 1
    # true gaps: every gap between neighbours lies within the gap of their intervals
    for hi, lo in zip(board.rows, board.rows[1:]):
        true_gap = truth[hi.ref] - truth[lo.ref]
        assert hi.lower - lo.upper <= true_gap <= hi.upper - lo.lower
    assert board.n_battles == 12_000
    assert sum(r.battles for r in board.rows) == 2 * 12_000
    assert abs(np.mean([r.rating for r in board.rows]) - 1000) < 1e-6


def test_intervals_are_calibrated_over_many_datasets():
    """Across 25 simulated datasets, the 95% intervals hold the truth about 95% of the time."""
    true = {"a": 900.0, "b": 1000.0, "c": 1100.0, "d": 1150.0}
    truth = centred(true)
    hits = total = 0
    for seed in range(25):
        board = ratings.leaderboard(simulate(true, 2_000, seed=100 + seed), rounds=300, seed=seed)
        for r in board.rows:
            hits += r.lower <= truth[r.ref] <= r.upper
            total += 1
    assert hits / total >= 0.85


# Each model's one virtual draw (ratings.PRIOR_GAMES) pulls a 40-60 game record in by
# one to three Elo points; the maximum-likelihood gap is otherwise exact.
PRIOR_PULL = 4.0


def test_ties_count_half_a_win_each_way():
    # A beats B 30 times, B beats A 10 times, 20 ties: with ties A has 40 of 60 "wins" → odds 2:1
    battles = fixed("A", "B", "a", 30) + fixed("A", "B", "b", 10, start=30) + fixed("A", "B", "tie", 20, start=40)
    board = ratings.leaderboard(battles, rounds=200)
    gap = board.row("A").rating - board.row("B").rating
    assert gap == pytest.approx(400 * math.log10(2), abs=PRIOR_PULL)
    assert board.win_rate[0, 1] == pytest.approx(40 / 60)
    assert board.n_battles == 60

    no_ties = ratings.leaderboard(battles, include_ties=False, rounds=200)
    assert no_ties.row("A").rating - no_ties.row("B").rating == pytest.approx(400 * math.log10(3), abs=PRIOR_PULL)
    assert no_ties.n_battles == 40 and no_ties.n_left_out == 20
    assert "left out" in ratings.format_table(no_ties)


def test_both_bad_counts_as_a_tie_by_default_and_can_be_left_out():
    battles = fixed("A", "B", "a", 30) + fixed("A", "B", "b", 10, start=30) + fixed("A", "B", "both_bad", 20, start=40)
    default = ratings.leaderboard(battles, rounds=200)
    assert default.row("A").rating - default.row("B").rating == pytest.approx(400 * math.log10(2), abs=PRIOR_PULL)
    assert default.n_battles == 60

    dropped = ratings.leaderboard(battles, rounds=200, both_bad_as_tie=False)
    assert dropped.row("A").rating - dropped.row("B").rating == pytest.approx(400 * math.log10(3), abs=PRIOR_PULL)
    assert dropped.n_battles == 40

    no_ties = ratings.leaderboard(battles, include_ties=False, rounds=200)
    assert no_ties.n_battles == 40


def test_only_ties_gives_equal_ratings():
    board = ratings.leaderboard(fixed("A", "B", "tie", 25) + fixed("A", "B", "both_bad", 5, start=25), rounds=200)
    assert board.row("A").rating == pytest.approx(1000, abs=1e-6)
    assert board.row("B").rating == pytest.approx(1000, abs=1e-6)
    assert board.win_rate[0, 1] == pytest.approx(0.5)
    empty = ratings.leaderboard(fixed("A", "B", "tie", 25), include_ties=False)
    assert empty.rows == [] and empty.too_few
    assert "fewer than two" in ratings.format_table(empty)


def test_undefeated_model_has_a_finite_rating_and_a_wide_interval():
    board = ratings.leaderboard(fixed("A", "B", "a", 12) + simulate({"B": 1000, "C": 1000}, 40, seed=3), rounds=500)
    a = board.row("A")
    assert math.isfinite(a.rating) and a.rating > board.row("B").rating
    assert a.upper - a.lower > board.row("B").upper - board.row("B").lower


def test_bootstrap_is_reproducible_with_a_seed():
    battles = simulate(TRUE, 3_000, seed=11, tie_p=0.2)
    one = ratings.leaderboard(battles, rounds=1000, seed=42)
    two = ratings.leaderboard(battles, rounds=1000, seed=42)
    other = ratings.leaderboard(battles, rounds=1000, seed=43)
    assert [(r.ref, r.rating, r.lower, r.upper, r.rank) for r in one.rows] == \
           [(r.ref, r.rating, r.lower, r.upper, r.rank) for r in two.rows]
    np.testing.assert_array_equal(one.bootstrap, two.bootstrap)
    assert one.bootstrap.shape == (1000, len(TRUE))
    assert [r.lower for r in one.rows] != [r.lower for r in other.rows]
    # the point estimate does not depend on the seed
    assert [r.rating for r in one.rows] == [r.rating for r in other.rows]


def test_rank_only_separates_non_overlapping_intervals():
    true = {"top": 1400.0, "mid1": 1000.0, "mid2": 1005.0, "low": 600.0}
    board = ratings.leaderboard(simulate(true, 4_000, seed=5), rounds=1000)
    ranks = {r.ref: r.rank for r in board.rows}
    assert ranks["top"] == 1
    assert ranks["mid1"] == ranks["mid2"] == 2  # they overlap each other, not the top
    assert ranks["low"] == 4
    for r in board.rows:
        assert r.rank == 1 + sum(o.lower > r.upper for o in board.rows if o is not r)
    assert "ahead of every other model" in board.verdict
    assert not board.too_few


def test_too_few_battles_says_so_in_plain_words():
    board = ratings.leaderboard(fixed("A", "B", "a", 2) + fixed("A", "B", "b", 1, start=2), rounds=1000)
    assert board.too_few
    assert board.verdict.startswith("Too few votes")
    assert all(r.rank == 1 for r in board.rows)
    text = ratings.format_table(board)
    assert "Too few votes" in text and "A" in text and "B" in text
    assert "3*" in text and "* fewer than 10 battles" in text


def test_no_battles():
    board = ratings.leaderboard([])
    assert board.rows == [] and board.too_few
    assert "No votes yet" in ratings.format_table(board)


def test_position_bias_counts_blind_decisive_battles_only():
    left_always = [Battle(k, k, "A", "B", "A", "B", "a" if k % 2 else "b", True, 0 if k % 2 else 1,
                          1 if k % 2 else 0, float(k), None) for k in range(40)]
    sighted = fixed("A", "B", "b", 30, start=100)  # not blind: ignored
    ties = [Battle(200 + k, 200 + k, "A", "B", "A", "B", "tie", True, 0, 1, 200.0 + k, None) for k in range(10)]
    bias = ratings.position_bias(left_always + sighted + ties)
    assert bias.decisive == 40 and bias.left_wins == 40 and bias.share == 1.0
    assert bias.lower > 0.5
    assert "favour the left" in bias.verdict
    fair = ratings.position_bias(simulate({"A": 1000, "B": 1000}, 400, seed=9))
    assert fair.lower < 0.5 < fair.upper and "no sign" in fair.verdict
    assert ratings.position_bias([]).decisive == 0


def test_wilson_interval():
    lo, hi = ratings.wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    assert ratings.wilson_interval(0, 0) == (0.0, 1.0)


def test_online_elo_history():
    battles = fixed("A", "B", "a", 1) + fixed("A", "C", "tie", 1, start=1) + simulate(TRUE, 2_000, seed=1)
    for k, b in enumerate(battles):
        b.tstamp = float(k)
    board = ratings.leaderboard(battles, rounds=100)
    hist, refs = board.history, board.refs
    assert hist.shape[1] == len(refs) and 2 <= hist.shape[0] <= ratings.HISTORY_POINTS + 1
    assert np.all(np.diff(board.history_t) > 0)
    np.testing.assert_allclose(hist[-1], [r.online_elo for r in board.rows])
    # K = 32: A's first win over an equal B moves both by 16
    t, h, final = ratings.online_elo([0], [1], [0], [0.0], 2)
    assert list(h[-1]) == [1016.0, 984.0] and ratings.ELO_K == 32
    # a model is NaN in the history before its first battle
    t, h, _ = ratings.online_elo([0, 0], [1, 2], [0, 1], [0.0, 1.0], 3, max_points=10)
    assert math.isnan(h[0, 2]) and not math.isnan(h[1, 2])


def test_models_are_identified_by_ref_and_labels_disambiguated():
    battles = [Battle(k, k, "sha256:" + "a" * 64, "sha256:" + "b" * 64, "llama.gguf", "llama.gguf",
                      "a" if k % 3 else "b", False, 0, 1, float(k), None) for k in range(30)]
    board = ratings.leaderboard(battles, rounds=100)
    assert len(board.rows) == 2
    labels = board.labels
    assert labels[0] != labels[1] and all(lab.startswith("llama [sha256:") for lab in labels)
    text = ratings.format_table(board)
    assert labels[0] in text and "95% CI" in text


def test_leaderboard_from_votes_in_a_real_store(tmp_path):
    store = Store(tmp_path / "x.sqlite3")
    gguf = SlotSpec(0, 0, "local", "gemma-3-270m-q4_k_m.gguf", "sha256:" + "1" * 64, {"temperature": 0.7})
    gguf_q8 = SlotSpec(0, 0, "local", "gemma-3-270m-q8_0.gguf", "sha256:" + "2" * 64, {"temperature": 0.7})
    gpt = SlotSpec(1, 1, "openai", "gpt-4o-mini", "gpt-4o-mini", {"temperature": 0.7})
    plan = [(gguf, "right")] * 8 + [(gguf, "left")] * 2 + [(gguf_q8, "right")] * 5 + [(gguf_q8, "tie")] * 5
    for local, outcome in plan:
        cid = store.new_conversation()
        rid, ids = store.add_round(cid, "What is the capital of France?", [local, gpt])
        for i in ids:
            store.save_response(i, Result(text="Paris.", status="done", started_at=1.0, finished_at=2.0))
        store.cast_vote(rid, outcome)
    board = ratings.leaderboard(store.battles(), rounds=1000, seed=0)
    assert board.refs[0] == "gpt-4o-mini"
    assert {r.label for r in board.rows} == {"gpt-4o-mini", "gemma-3-270m-q4_k_m", "gemma-3-270m-q8_0"}
    assert board.row("gpt-4o-mini").battles == 20
    assert board.row("sha256:" + "1" * 64).battles == 10
    store.close()


def test_a_short_one_sided_record_is_not_certain():
    """3-0 is evidence, not proof: every resample of it is 3-0, yet the interval stays wide."""
    board = ratings.leaderboard(fixed("A", "B", "a", 3), rounds=1000, seed=0)
    a, b = board.row("A"), board.row("B")
    assert a.rating > b.rating
    assert a.upper - a.lower > 300 and b.upper - b.lower > 300
    assert a.rank == b.rank == 1  # the intervals overlap: no separation claimed
    assert a.rating - b.rating < 800  # the prior keeps it finite and modest
    assert board.too_few


def test_position_bias_counts_only_two_answer_rounds():
    two = [Battle(k, k, "A", "B", "A", "B", "a", True, 0, 1, float(k), None, 2) for k in range(10)]
    best_of_three = [Battle(100 + k, 100 + k, "A", "C", "A", "C", "a", True, 0, 2, float(100 + k), None, 3)
                     for k in range(50)]
    bias = ratings.position_bias(two + best_of_three)
    assert bias.decisive == 10 and bias.left_wins == 10
    # Only best-of-three votes: the words say why none counts (a new user had cast two blind votes).
    only_best = ratings.position_bias(best_of_three).verdict
    assert only_best == ("Position bias: no blind two-pane (left/right) vote with a winner yet. It is measured "
                         "on those only: a blind vote among three or four panes picks a best, not a side.")
    assert "of 10 blind two-pane votes with a winner went to the left answer" in bias.verdict


def test_a_model_against_itself_says_what_to_do():
    board = ratings.leaderboard(fixed("A", "A", "a", 3), rounds=10)
    assert board.rows == [] and "compared with itself" in board.verdict and "second model" in board.verdict


def test_replicates_fitted_on_threads_equal_one_fit_bit_for_bit():
    """The bootstrap's refits run in parts on two threads: each replicate's result is the one a
    single call gives, to the last bit (replicates that converge at once, slowly, lopsided, with
    a model absent, with an undefeated one)."""
    rng = np.random.default_rng(5)
    n = 8
    base = rng.integers(0, 40, (n, n)).astype(float)
    np.fill_diagonal(base, 0)
    base[0, :] *= 20  # a lopsided model
    base[:, 1] = 0  # one that never loses
    start = ratings.fit_bt(base)
    reps = rng.poisson(base, size=(301, n, n)).astype(float)
    reps[7] = 0  # a replicate without any battle
    reps[11, 3, :] = reps[11, :, 3] = 0  # a model absent from a replicate
    one = ratings.fit_bt(reps, start=start)
    for workers in (2, 3):
        assert np.array_equal(ratings.fit_replicates(reps, start, workers=workers), one)
    assert np.array_equal(ratings.fit_replicates(reps[:50], start, workers=2), ratings.fit_bt(reps[:50], start=start))
