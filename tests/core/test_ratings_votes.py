"""Intervals stay honest when one vote yields several battles (best-of-3/4 rounds).

Votes are simulated from known strengths: a round shows k answers, the user picks the best
with probability ∝ 10^(rating/400) (for k = 2 that is exactly the Bradley–Terry model; for
k > 2 the first choice of a Plackett–Luce ranking), and the vote becomes the battles the store
writes for it: the best answer beat each of the others. For k > 2 the Bradley–Terry fit of
those battles converges to strengths a little different from the simulated ones, so coverage
is measured against what the fit converges to: the fit of a very large simulated sample.
"""
from __future__ import annotations

import numpy as np
import pytest

from desktop.core import ratings
from desktop.core.store.battles import Battle

TRUE = np.array([880.0, 960.0, 1040.0, 1120.0])
REFS = ["m0", "m1", "m2", "m3"]


def simulate_votes(rng: np.random.Generator, n_votes: int, sizes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(shown (V, 4) model indices, -1 past each vote's size; winner index per vote)."""
    k = rng.choice(sizes, size=n_votes)
    order = rng.random((n_votes, len(TRUE))).argsort(axis=1)  # a random set of models per vote
    shown = np.where(np.arange(len(TRUE))[None, :] < k[:, None], order, -1)
    # Gumbel-max: argmax of strength + Gumbel noise picks i with probability ∝ exp(strength_i)
    strength = TRUE * np.log(10) / 400
    noisy = np.where(shown >= 0, strength[np.maximum(shown, 0)] + rng.gumbel(size=shown.shape), -np.inf)
    winner = shown[np.arange(n_votes), noisy.argmax(axis=1)]
    return shown, winner


def as_battles(shown: np.ndarray, winner: np.ndarray) -> list[Battle]:
    out = []
    for v, (models, w) in enumerate(zip(shown.tolist(), winner.tolist())):
        losers = [m for m in models if m >= 0 and m != w]
        panes = len(losers) + 1
        for pos, m in enumerate(losers, start=1):
            out.append(Battle(len(out), v, REFS[w], REFS[m], REFS[w], REFS[m], "a", True, 0, pos,
                              float(v), None, panes))
    return out


def pseudo_truth(sizes: tuple[int, ...]) -> np.ndarray:
    """Centred Elo ratings the fit converges to, from 400,000 simulated votes."""
    shown, winner = simulate_votes(np.random.default_rng(12345), 400_000, sizes)
    W = np.zeros((len(TRUE), len(TRUE)))
    for col in range(shown.shape[1]):
        loser = shown[:, col]
        keep = (loser >= 0) & (loser != winner)
        np.add.at(W, (winner[keep], loser[keep]), 1.0)
    theta = ratings.fit_bt(W, prior=0.0)
    return ratings.to_elo(theta - theta.mean())


def coverage(sizes: tuple[int, ...], datasets: int = 160, votes: int = 150) -> float:
    truth = dict(zip(REFS, pseudo_truth(sizes)))
    rng = np.random.default_rng(7)
    hits = total = 0
    for seed in range(datasets):
        board = ratings.leaderboard(as_battles(*simulate_votes(rng, votes, sizes)), rounds=400, seed=seed)
        for r in board.rows:
            hits += r.lower <= truth[r.ref] <= r.upper
            total += 1
    return hits / total


@pytest.mark.parametrize("sizes", [(2,), (3, 4)], ids=["two-answer votes", "best-of-3/4 votes"])
def test_95_percent_intervals_hold_the_truth_95_percent_of_the_time(sizes):
    assert 0.92 <= coverage(sizes) <= 0.98


def test_the_battles_of_one_vote_are_resampled_together():
    """m2 and m3 only ever lose, together, in the same best-of-4 votes: resampling whole votes
    keeps their records identical in every bootstrap replicate (battle by battle, they differ)."""
    shown = np.array([[0, 1, 2, 3]] * 20 + [[1, 0, -1, -1]] * 20 + [[0, 1, -1, -1]] * 15)
    winner = np.array([0] * 20 + [1] * 20 + [0] * 15)
    board = ratings.leaderboard(as_battles(shown, winner), rounds=300, seed=1)
    assert board.n_battles == 20 * 3 + 20 + 15
    col = {ref: k for k, ref in enumerate(board.refs)}
    np.testing.assert_allclose(board.bootstrap[:, col["m2"]], board.bootstrap[:, col["m3"]])
    assert board.bootstrap[:, col["m0"]].std() > 0  # the replicates do vary
