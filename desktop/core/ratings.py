"""Ratings: Bradley–Terry strengths with bootstrap intervals, on the Elo scale.

What the leaderboard says and how it is computed (no Qt here):

* **Model identity.** A model is its ref (``sha256:<file hash>`` for a local
  file, so two quants are two entries; ``<model>@<connection id>`` for an API
  model, so "gpt-4o-mini @ OpenAI" and "gpt-4o-mini @ my-box" are two entries).
  The model name a server reports answering is kept with each answer;
  ``snapshot_changes`` says when it changed under one contestant.
  Labels are only for display; two refs that share a label are told apart by a
  short piece of their ref.
* **Outcomes.** ``a`` / ``b`` is a win; ``tie`` counts as half a win each way;
  ``both_bad`` counts as a tie by default (``both_bad_as_tie=False`` leaves it
  out). ``include_ties=False`` leaves ties *and* both-bad votes out.
* **Bradley–Terry by maximum likelihood.** Battles are first aggregated into a
  win-count matrix ``W`` (``W[i, j]`` = wins of i over j, ties as halves); the
  log-likelihood ``Σ W[i,j]·log σ(θi − θj)`` is maximised by Newton's method
  with a backtracking line search, vectorised over bootstrap replicates (one
  batched 20×20 solve per iteration). A very weak ridge (``RIDGE`` on the
  natural-log scale, i.e. a Gaussian prior with a standard deviation of about
  1,700 Elo points) keeps an undefeated model's rating finite and fixes the
  scale's origin (the strengths sum to zero); with a few dozen battles per
  model its effect is far below the interval widths.
* **Elo scale.** ``rating = 400 · log10-odds + 1000`` (FastChat's SCALE=400,
  BASE=10, INIT=1000): a 400-point gap means 10:1 odds. The mean rating is 1000.
* **Intervals.** A seeded bootstrap of *votes* (``rounds`` ≥ 1000 by default).
  A vote among three or four answers yields several battles that stand or fall
  together (the best answer beat each of the others): resampling those battles
  one by one treats them as independent evidence and gives intervals that are
  too narrow (95% intervals held the truth 84% of the time on simulated
  best-of-3/4 votes). So a vote is resampled whole, with all its battles (a
  vote is the battles sharing a ``vote_id``; Battle rows without one use their
  ``round_id``, as a round carries one vote). Resampling V votes with
  replacement is the same as drawing multinomial counts over the distinct vote
  *patterns* (the set of (model, model, outcome) cells a vote adds), which is
  what is done here, so 1,000 rounds over 100,000 votes cost one matrix product. The 95%
  interval is the 2.5th–97.5th percentile of each model's bootstrap ratings,
  widened where needed to the Wald interval from the likelihood's curvature:
  on a short one-sided record every resample is the same and the percentile
  interval would claim certainty it does not have.
* **Rank.** ``1 + the number of models whose lower bound is above this model's
  upper bound`` (as LMSYS does): models whose intervals overlap share a rank.
* **Online Elo history.** Ratings replayed battle by battle in time order with
  ``K = 32`` (see ``ELO_K``).
* **Position bias.** Among *blind* decisive battles, the share won by the side
  shown on the left, with a Wilson 95% interval.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from .names import model_file_name
from .store.battles import BattleColumns

SCALE = 400.0
BASE = 10.0
INIT_RATING = 1000.0
_NAT_TO_ELO = SCALE / math.log(BASE)  # natural-log strength → Elo points
_Z95 = 1.959963984540054  # the standard normal's 97.5th percentile: two-sided 95% intervals

RIDGE = 0.01
"""Weak L2 penalty on natural-log strengths (see the module docstring)."""

PRIOR_GAMES = 1.0
"""Each model also plays this many virtual drawn games against a 1000-rated reference
(the "add a draw" prior of Bayesian Elo). It matters only for small, lopsided
records: 3-0 is evidence, not certainty, and without it the rating of an undefeated
model would run off to the ridge's limit with a zero-width bootstrap interval.
With a few dozen real battles its pull is a few Elo points."""

ELO_K = 32.0
"""K for the online Elo history. FastChat uses K=4, tuned for millions of public
votes where each vote should barely move a rating. A personal leaderboard has
tens to hundreds of votes: with K=4 a model that wins 70% of 100 battles would
still sit within ~100 points of where it started, and the curve would suggest
"all models are equal". K=32 (the chess default) lets the history reach its
level in a few dozen battles; it is noisier, which is why the table shows the
Bradley–Terry fit with intervals and the history is only a picture of the trend."""

MIN_BATTLES_PER_MODEL = 10
"""Below this many battles a model's rating is called a rough guess."""

MIN_POSITION_BATTLES = 20
"""Below this many blind decisive battles, position bias is not judged."""

HISTORY_POINTS = 400
"""The Elo history keeps at most about this many snapshots (for charts)."""

WINNERS = ("a", "b", "tie", "both_bad")


# -- results ---------------------------------------------------------------------------------

@dataclass
class ModelRating:
    ref: str
    label: str
    rating: float
    lower: float  # 2.5th percentile of the bootstrap
    upper: float  # 97.5th percentile
    rank: int
    battles: int  # battles counted in the fit
    wins: float  # ties count half
    online_elo: float

    @property
    def interval(self) -> tuple[float, float]:
        return (self.lower, self.upper)


@dataclass
class PositionBias:
    decisive: int  # blind battles with a winner
    left_wins: int
    share: float | None  # left_wins / decisive
    lower: float | None  # Wilson 95% interval
    upper: float | None
    verdict: str


@dataclass
class Board:
    rows: list[ModelRating]  # best first
    win_rate: np.ndarray  # [i, j]: share of i's battles against j that i won (ties half); NaN where none
    battle_counts: np.ndarray  # [i, j]: battles between i and j (counted in the fit)
    history_t: np.ndarray  # (T,) unix times of the snapshots
    history: np.ndarray  # (T, len(rows)) online Elo after each snapshot's battle; NaN before a model's first battle
    position_bias: PositionBias
    verdict: str  # plain words: what the numbers support
    too_few: bool  # True when the data cannot support a conclusion yet
    n_battles: int  # battles used in the fit
    n_left_out: int  # ties / both-bad left out by the switches, and self-battles
    include_ties: bool
    both_bad_as_tie: bool
    rounds: int
    seed: int
    elo_k: float = ELO_K
    bootstrap: np.ndarray | None = field(default=None, repr=False)  # (rounds, len(rows)) ratings
    snapshot_notes: list[str] = field(default_factory=list)  # from snapshot_changes, filled by the caller

    @property
    def refs(self) -> list[str]:
        return [r.ref for r in self.rows]

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.rows]

    def row(self, ref: str) -> ModelRating:
        for r in self.rows:
            if r.ref == ref:
                return r
        raise KeyError(ref)


# -- labels ----------------------------------------------------------------------------------

def display_names(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """ref → display name from (ref, label) pairs in time order: the latest label wins,
    and refs sharing a label get a short piece of their ref so they stay distinct."""
    latest: dict[str, str] = {}
    for ref, label in pairs:
        latest[ref] = model_file_name(label) if label else ref  # rows recorded before the rule carry ".gguf"
    by_label: dict[str, list[str]] = {}
    for ref, label in latest.items():
        by_label.setdefault(label, []).append(ref)
    out = {}
    for label, refs in by_label.items():
        for ref in refs:
            out[ref] = label if len(refs) == 1 else f"{label} [{_short_ref(ref)}]"
    return out


def _short_ref(ref: str) -> str:
    if ref.startswith("sha256:"):
        return "sha256:" + ref[7:15]
    return ref


# -- the fit ---------------------------------------------------------------------------------

def fit_bt(wins: np.ndarray, ridge: float = RIDGE, max_iter: int = 100, tol: float = 1e-7,
           prior: float = PRIOR_GAMES, start: np.ndarray | None = None) -> np.ndarray:
    """Bradley–Terry log-strengths (natural log) maximising the penalised likelihood.

    wins: (n, n) or (B, n, n), wins[.., i, j] = (possibly fractional) wins of i over j.
    start: (n,) strengths to start Newton's method from (the full data's fit, for bootstrap
    replicates: they lie near it, so a few steps reach the same maximum, which is unique —
    the penalised likelihood is strictly concave — as from zero).
    Returns (n,) or (B, n) strengths summing to zero over each replicate's models.
    """
    single = wins.ndim == 2
    W = np.asarray(wins, dtype=float)[None] if single else np.asarray(wins, dtype=float)
    B, n, _ = W.shape
    N = W + W.transpose(0, 2, 1)
    won = W.sum(axis=2)
    eye = np.eye(n)
    theta = np.zeros((B, n)) if start is None else np.repeat(np.asarray(start, dtype=float)[None], B, axis=0)

    f = _objective_rows(W, theta, ridge, prior)
    active = np.ones(B, dtype=bool)
    for _ in range(max_iter):
        idx = np.nonzero(active)[0]
        if idx.size == 0:
            break
        t = theta[idx]
        d = t[:, :, None] - t[:, None, :]
        p = 1.0 / (1.0 + np.exp(-d))
        Ni = N[idx]
        q = 1.0 / (1.0 + np.exp(-t))  # against the virtual reference
        grad = won[idx] - (Ni * p).sum(axis=2) - ridge * t + prior * (0.5 - q)
        s = Ni * p * (1.0 - p)
        H = -s + eye * (s.sum(axis=2)[:, :, None] + ridge) + eye * (prior * q * (1.0 - q))[:, :, None]
        step = np.linalg.solve(H, grad[:, :, None])[:, :, 0]
        # backtracking: halve the step where the likelihood would not improve
        alpha = np.ones(idx.size)
        fi = f[idx]
        Wi = W[idx]
        for _ls in range(30):
            cand = t + alpha[:, None] * step
            fc = _objective_rows(Wi, cand, ridge, prior)
            bad = fc < fi - 1e-12 * (1 + np.abs(fi))
            if not bad.any():
                break
            alpha = np.where(bad, alpha * 0.5, alpha)
        else:  # the search gave up: the last candidates are not the ones taken
            fc = _objective_rows(Wi, t + alpha[:, None] * step, ridge, prior)
        theta[idx] = t + alpha[:, None] * step
        f[idx] = fc  # the objective at the step taken, computed in the search
        moved = np.abs(alpha[:, None] * step).max(axis=1)
        active[idx] = moved > tol
    return theta[0] if single else theta


def fit_replicates(wins: np.ndarray, start: np.ndarray, workers: int | None = None) -> np.ndarray:
    """fit_bt over (B, n, n) bootstrap replicates, in parts on `workers` threads (default: up
    to two, as the machine has cores). numpy lets go of the GIL inside its loops, so a second
    core takes half the work. Each replicate's fit depends on its own counts only (its steps,
    line search and stopping are its own), so the result is the same, bit for bit, as one call
    (tests/core/test_ratings.py checks)."""
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    if workers < 2 or len(wins) < 100:
        return fit_bt(wins, start=start)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        return np.concatenate(list(pool.map(lambda part: fit_bt(part, start=start),
                                            np.array_split(wins, workers))))


def _objective_rows(W: np.ndarray, t: np.ndarray, ridge: float, prior: float = PRIOR_GAMES) -> np.ndarray:
    d = t[:, :, None] - t[:, None, :]
    virtual = 0.5 * prior * (np.logaddexp(0.0, -t) + np.logaddexp(0.0, t)).sum(axis=1)
    return -(W * np.logaddexp(0.0, -d)).sum(axis=(1, 2)) - 0.5 * ridge * (t * t).sum(axis=1) - virtual


def wald_se(wins: np.ndarray, theta: np.ndarray, ridge: float = RIDGE, prior: float = PRIOR_GAMES) -> np.ndarray:
    """Standard errors (natural log) from the penalised likelihood's curvature at theta."""
    n = len(theta)
    N = wins + wins.T
    d = theta[:, None] - theta[None, :]
    p = 1.0 / (1.0 + np.exp(-d))
    q = 1.0 / (1.0 + np.exp(-theta))
    s = N * p * (1.0 - p)
    H = -s + np.diag(s.sum(axis=1) + ridge + prior * q * (1.0 - q))
    # Ratings are relative (reported around a mean of 1000): take the covariance of the
    # centred strengths, so the common shift the likelihood cannot see adds nothing.
    C = np.eye(n) - 1.0 / n
    V = C @ np.linalg.inv(H) @ C
    return np.sqrt(np.clip(np.diag(V), 0.0, None)) if n else np.zeros(0)


def to_elo(theta: np.ndarray) -> np.ndarray:
    return INIT_RATING + _NAT_TO_ELO * theta


def expected_score(rating_a: float, rating_b: float) -> float:
    """P(a beats b) under the Elo-scale model."""
    return 1.0 / (1.0 + BASE ** ((rating_b - rating_a) / SCALE))


# -- the leaderboard ---------------------------------------------------------------------------

def leaderboard(
    battles: Sequence,
    include_ties: bool = True,
    rounds: int = 1000,
    seed: int = 0,
    *,
    both_bad_as_tie: bool = True,
    elo_k: float = ELO_K,
    filtered: str = "",
) -> Board:
    """Fit the leaderboard from `Battle` rows (store.battles()) or anything with the same
    attributes: model_a, model_b, label_a, label_b, winner, blind, position_a, position_b, tstamp;
    or from the same battles as arrays (store.battle_columns(), much faster on many votes).
    The battles of one vote share a vote_id (Battle rows: a round_id).

    filtered: the filters that chose `battles`, in words (e.g. "tag 'coding'"); when they
    leave nothing, the verdict says the filter matched nothing rather than "no votes yet"."""
    cols = battles if isinstance(battles, BattleColumns) else BattleColumns.from_battles(battles)
    order = np.argsort(cols.tstamp, kind="stable")  # stable: the store's order breaks ties
    a_all, b_all, winner = cols.model_a[order], cols.model_b[order], cols.winner[order]
    tstamp = cols.tstamp[order]
    names = _display_names_of(cols, order)
    bias = _position_bias_of(winner, cols.blind[order], cols.position_a[order], cols.position_b[order],
                             cols.panes[order])

    keep = [0, 1] + ([2] + ([3] if both_bad_as_tie else []) if include_ties else [])
    used = np.isin(winner, keep) & (a_all != b_all)
    n_used = int(used.sum())
    n_left_out = len(cols) - n_used

    # Models are numbered in order of first appearance (a before b within a battle).
    pairs = np.stack([a_all[used], b_all[used]], axis=1).ravel()
    seen, first = np.unique(pairs, return_index=True)
    by_appearance = seen[np.argsort(first)]
    refs: list[str] = [cols.refs[k] for k in by_appearance]
    n = len(refs)
    if n < 2:
        verdict = (
            f"No votes match {filtered}: try another filter or clear it to see every vote."
            if not len(cols) and filtered
            else "No votes yet: rate a few rounds between two different models to start your leaderboard."
            if not len(cols)
            else "Not enough to rank: the votes counted so far involve fewer than two different models"
            + (" (a model compared with itself tells nothing; add a second model: download one under Models, "
               "or add an OpenAI key in Settings)." if bool((a_all == b_all).any()) else ".")
        )
        empty = np.zeros((0, 0))
        return Board([], empty, empty, np.zeros(0), np.zeros((0, 0)), bias, _join(verdict, bias.verdict), True,
                     n_used, n_left_out, include_ties, both_bad_as_tie, rounds, seed, elo_k)

    remap = np.full(len(cols.refs), -1, dtype=np.int64)
    remap[by_appearance] = np.arange(n)
    ia = remap[a_all[used]]
    ib = remap[b_all[used]]
    oc = np.minimum(winner[used], 2)  # both-bad (3), when kept, counts as a tie
    used_t = tstamp[used]

    # canonical cells: i < j, outcome 0 = i won, 1 = j won, 2 = tie
    swap = ia > ib
    i = np.where(swap, ib, ia)
    j = np.where(swap, ia, ib)
    o = np.where(swap & (oc < 2), 1 - oc, oc)
    cell_counts = np.bincount((i * n + j) * 3 + o, minlength=n * n * 3)
    cells = np.nonzero(cell_counts)[0]
    counts = cell_counts[cells].astype(float)
    ci, cj, co = (cells // 3) // n, (cells // 3) % n, cells % 3
    # M maps a cell count to its contribution to the flattened win matrix
    M = np.zeros((cells.size, n * n))
    rows_k = np.arange(cells.size)
    M[rows_k[co == 0], (ci * n + cj)[co == 0]] = 1.0
    M[rows_k[co == 1], (cj * n + ci)[co == 1]] = 1.0
    M[rows_k[co == 2], (ci * n + cj)[co == 2]] = 0.5
    M[rows_k[co == 2], (cj * n + ci)[co == 2]] = 0.5

    W = (counts @ M).reshape(n, n)
    theta = fit_bt(W)
    theta = theta - theta.mean()  # report around a mean of 1000
    ratings = to_elo(theta)

    # The bootstrap draws whole votes: each vote's pattern (the cells its battles fill) is a
    # row of P, and P @ M is what one vote of that pattern adds to the win matrix.
    cell_of = np.searchsorted(cells, (i * n + j) * 3 + o)
    pattern_counts, P = _vote_patterns(cols.vote_id[order][used], cell_of, cells.size)
    total = int(pattern_counts.sum())
    rng = np.random.default_rng(seed)
    if rounds > 0:
        sample = rng.multinomial(total, pattern_counts / total, size=rounds).astype(float)
        Wb = _bootstrap_wins(sample, P, ci, cj, co, n)
        tb = fit_replicates(Wb, theta)
        boot = to_elo(tb - tb.mean(axis=1, keepdims=True))
        played = (Wb + Wb.transpose(0, 2, 1)).sum(axis=2) > 0
        boot[~played] = np.nan  # a model absent from a resample has no rating there
        with np.errstate(all="ignore"):
            lower = np.nanpercentile(boot, 2.5, axis=0)
            upper = np.nanpercentile(boot, 97.5, axis=0)
        lower = np.where(np.isnan(lower), -np.inf, lower)
        upper = np.where(np.isnan(upper), np.inf, upper)
    else:
        boot = None
        lower = np.full(n, -np.inf)
        upper = np.full(n, np.inf)
    # Where every resample looks alike (a short, one-sided record) the percentile interval
    # collapses to a point; the likelihood's own curvature still knows the uncertainty.
    # The wider of the two is reported.
    half = _Z95 * _NAT_TO_ELO * wald_se(W, theta)
    collapsed = (upper - lower) < half  # under half the Wald width: the resamples did not vary
    lower = np.where(collapsed, np.minimum(lower, ratings - half), lower)
    upper = np.where(collapsed, np.maximum(upper, ratings + half), upper)

    rank = 1 + (lower[None, :] > upper[:, None]).sum(axis=1)
    N = W + W.T
    played_n = np.bincount(ia, minlength=n) + np.bincount(ib, minlength=n)
    won = W.sum(axis=1)

    online_t, online_hist, online_final = online_elo(ia, ib, oc, used_t, n, k=elo_k)

    order = sorted(range(n), key=lambda k: (-ratings[k], names.get(refs[k], refs[k])))
    rows = [
        ModelRating(
            ref=refs[k], label=names.get(refs[k], refs[k]), rating=float(ratings[k]),
            lower=float(lower[k]), upper=float(upper[k]), rank=int(rank[k]), battles=int(played_n[k]),
            wins=float(won[k]), online_elo=float(online_final[k]),
        )
        for k in order
    ]
    with np.errstate(invalid="ignore", divide="ignore"):
        win_rate = np.where(N > 0, W / np.where(N > 0, N, 1), np.nan)
    perm = np.array(order)
    win_rate = win_rate[np.ix_(perm, perm)]
    np.fill_diagonal(win_rate, np.nan)
    verdict, too_few = _verdict(rows, n_used)
    return Board(
        rows=rows,
        win_rate=win_rate,
        battle_counts=N[np.ix_(perm, perm)],
        history_t=online_t,
        history=online_hist[:, perm],
        position_bias=bias,
        verdict=_join(verdict, bias.verdict),
        too_few=too_few,
        n_battles=n_used,
        n_left_out=n_left_out,
        include_ties=include_ties,
        both_bad_as_tie=both_bad_as_tie,
        rounds=rounds,
        seed=seed,
        elo_k=elo_k,
        bootstrap=None if boot is None else boot[:, perm],
    )


def _bootstrap_wins(sample: np.ndarray, P: np.ndarray, ci, cj, co, n: int) -> np.ndarray:
    """(rounds, n, n) win matrices from (rounds, patterns) vote counts: sample @ P @ M without
    the dense products. P's first rows are single cells (every one-battle vote), the rest are
    the votes of several battles; a cell adds 1 to W[i, j] (i won), W[j, i] (j won) or ½ to
    both (a tie). The counts are whole numbers and halves, so any order of sums is exact."""
    rounds, n_cells = sample.shape[0], ci.size
    single = int((P.sum(axis=1) == 1).sum()) if P.size else 0
    # _vote_patterns puts the one-cell patterns first, one per cell, in cell order
    cell_sample = np.zeros((rounds, n_cells))
    first_cells = np.argmax(P[:single], axis=1)
    cell_sample[:, first_cells] = sample[:, :single]
    if single < P.shape[0]:
        cell_sample += sample[:, single:] @ P[single:]
    W = np.zeros((rounds, n * n))
    won_i, won_j, tie = co == 0, co == 1, co == 2
    # within one of these assignments the targets are distinct (cells are distinct), so += is exact
    W[:, (ci * n + cj)[won_i]] += cell_sample[:, won_i]
    W[:, (cj * n + ci)[won_j]] += cell_sample[:, won_j]
    W[:, (ci * n + cj)[tie]] += 0.5 * cell_sample[:, tie]
    W[:, (cj * n + ci)[tie]] += 0.5 * cell_sample[:, tie]
    return W.reshape(rounds, n, n)


def _vote_patterns(vote_key: np.ndarray, cell_of: np.ndarray, n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Group battles into votes and votes into distinct patterns: (votes per pattern,
    (patterns, cells) battle counts). A vote of one battle (every two-answer vote) is the
    pattern of its cell, counted with arrays; only votes of several battles are grouped one by one."""
    _, vote = np.unique(vote_key, return_inverse=True)
    vote = vote.ravel()
    size = np.bincount(vote)
    single = size[vote] == 1
    single_counts = np.bincount(cell_of[single], minlength=n_cells)
    present = np.nonzero(single_counts)[0]
    rows = [np.eye(n_cells)[present]]
    counts = [single_counts[present].astype(float)]
    multi = np.nonzero(~single)[0]
    if multi.size:
        ordered = multi[np.lexsort((cell_of[multi], vote[multi]))]
        bounds = np.nonzero(np.diff(vote[ordered]))[0] + 1
        found: dict[tuple, int] = {}
        for members in np.split(cell_of[ordered], bounds):
            key = tuple(members.tolist())
            found[key] = found.get(key, 0) + 1
        # In the patterns' own order, not the votes': how votes are numbered (vote ids, round
        # ids, a judge's verdicts) must not change which resample a seed draws.
        patterns = dict(sorted(found.items()))
        extra = np.zeros((len(patterns), n_cells))
        for k, key in enumerate(patterns):
            np.add.at(extra[k], list(key), 1.0)
        rows.append(extra)
        counts.append(np.fromiter(patterns.values(), float, len(patterns)))
    return np.concatenate(counts), np.vstack(rows)


def _display_names_of(cols: BattleColumns, order: np.ndarray) -> dict[str, str]:
    """display_names() over the columns: each ref's latest label, found with arrays."""
    refs = np.stack([cols.model_a[order], cols.model_b[order]], axis=1).ravel()
    labels = np.stack([cols.label_a[order], cols.label_b[order]], axis=1).ravel()
    seen, last_rev = np.unique(refs[::-1], return_index=True)
    last = len(refs) - 1 - last_rev
    # display_names() keeps each ref's latest label: handing it only those gives the same names.
    return display_names((cols.refs[int(r)], cols.labels[int(labels[p])]) for r, p in zip(seen, last))


def _position_bias_of(winner, blind, position_a, position_b, panes) -> PositionBias:
    decisive_mask = blind & (winner <= 1) & (position_a != position_b) & (panes == 2)
    a_left = position_a < position_b
    return _bias(int(decisive_mask.sum()), int(((winner == 0) == a_left)[decisive_mask].sum()))


def online_elo(ia, ib, outcome, tstamps, n: int, k: float = ELO_K, max_points: int = HISTORY_POINTS):
    """Replay battles in order: (snapshot times, (T, n) ratings, final ratings).

    outcome: 0 = a won, 1 = b won, 2 = tie. Models start at 1000 when first seen;
    before that their history is NaN."""
    ia, ib = np.asarray(ia, dtype=np.int64).tolist(), np.asarray(ib, dtype=np.int64).tolist()
    outcome = np.asarray(outcome, dtype=np.int64).tolist()
    m = len(ia)
    rating = [INIT_RATING] * n
    stride = max(1, -(-m // max_points))
    ends = list(range(stride - 1, m, stride))
    if m and (not ends or ends[-1] != m - 1):
        ends.append(m - 1)
    times: list[float] = []
    snaps: list[list[float]] = []
    score_of = (1.0, 0.0, 0.5)
    scores = [score_of[x] for x in outcome]
    base, scale = BASE, SCALE  # locals: this loop runs once per battle (100,000 on a big store)
    start = 0
    for end in ends:  # battle by battle, a snapshot after every `stride` of them and after the last
        for a, b, score in zip(ia[start:end + 1], ib[start:end + 1], scores[start:end + 1]):
            ra, rb = rating[a], rating[b]
            delta = k * (score - 1.0 / (1.0 + base ** ((rb - ra) / scale)))
            rating[a] = ra + delta
            rating[b] = rb - delta
        start = end + 1
        times.append(float(tstamps[end]))
        snaps.append(list(rating))
    # A model's history is NaN before its first battle.
    first = np.full(n, m, dtype=np.int64)
    if m:
        np.minimum.at(first, np.asarray(ia, dtype=np.int64), np.arange(m))
        np.minimum.at(first, np.asarray(ib, dtype=np.int64), np.arange(m))
    hist = np.array(snaps, dtype=float).reshape(len(snaps), n)
    hist[np.asarray(ends, dtype=np.int64)[:, None] < first[None, :]] = np.nan
    return np.array(times, dtype=float), hist, np.array(rating, dtype=float)


def position_bias(battles: Sequence) -> PositionBias:
    """Share of blind decisive two-answer battles won by the side shown on the left.

    Rounds of three or four answers are left out: a best-of-N vote is not a left/right choice."""
    if isinstance(battles, BattleColumns):
        return _position_bias_of(battles.winner, battles.blind, battles.position_a, battles.position_b,
                                 battles.panes)
    decisive = 0
    left = 0
    for b in battles:
        if (not b.blind or b.winner not in ("a", "b") or b.position_a == b.position_b
                or getattr(b, "panes", 2) != 2):
            continue
        decisive += 1
        a_left = b.position_a < b.position_b
        left += (b.winner == "a") == a_left
    return _bias(decisive, left)


def _bias(decisive: int, left: int) -> PositionBias:
    if decisive == 0:
        return PositionBias(0, 0, None, None, None,
                            "Position bias: no blind two-pane (left/right) vote with a winner yet. It is "
                            "measured on those only: a blind vote among three or four panes picks a best, "
                            "not a side.")
    share = left / decisive
    lo, hi = wilson_interval(left, decisive)
    votes = "vote" if decisive == 1 else "votes"
    pct = (f"{share:.0%} of {decisive} blind two-pane {votes} with a winner went to the left answer "
           f"(95% CI {lo:.0%}–{hi:.0%})")
    if decisive < MIN_POSITION_BATTLES:
        verdict = f"Position bias: {pct}; too few votes to tell whether you favour a side."
    elif lo > 0.5:
        verdict = f"Position bias: {pct} — more than chance; you seem to favour the left side."
    elif hi < 0.5:
        verdict = f"Position bias: {pct} — less than chance; you seem to favour the right side."
    else:
        verdict = f"Position bias: {pct}; no sign that the side an answer is shown on sways your votes."
    return PositionBias(decisive, left, share, lo, hi, verdict)


def wilson_interval(k: int, n: int, z: float = _Z95) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _verdict(rows: list[ModelRating], n_battles: int) -> tuple[str, bool]:
    parts = []
    too_few = False
    thin = [r for r in rows if r.battles < MIN_BATTLES_PER_MODEL]
    if thin:
        # Leads the verdict: with a handful of battles even non-overlapping intervals are a
        # rough guess, and "some models can be told apart" would claim more than the votes hold.
        too_few = True
        listed = ", ".join(f"{r.label} ({r.battles})" for r in thin[:5]) + (" …" if len(thin) > 5 else "")
        parts.append(
            f"Too few votes to conclude: {listed} {'has' if len(thin) == 1 else 'have'} fewer than "
            f"{MIN_BATTLES_PER_MODEL} battles, and under that a rating is a rough guess. Keep voting."
        )
    distinct_ranks = len({r.rank for r in rows})
    if distinct_ranks == 1:
        too_few = True
        if not thin:
            parts.append(
                f"Too few battles for a conclusion: after {n_battles} battles every model's 95% interval "
                "overlaps those of the others, so none is ahead of another yet. Keep voting."
            )
        else:
            parts.append("So far every model's 95% interval overlaps those of the others.")
    elif sum(1 for r in rows if r.rank == 1) == 1 and all(r.rank > 1 for r in rows[1:]):
        parts.append(f"{rows[0].label} {'looks' if thin else 'is'} ahead of every other model: "
                     "its 95% interval does not overlap theirs.")
    else:
        parts.append(
            ("So far some" if thin else "Some") + " models can be told apart (their intervals do not overlap), "
            "others not yet: models that share a rank are not distinguishable on these votes."
        )
    return " ".join(parts), too_few


def _join(*parts: str) -> str:
    return "\n".join(p for p in parts if p)


# -- text ------------------------------------------------------------------------------------

def snapshot_changes(rows) -> list[str]:
    """One sentence per API contestant whose server reported more than one model name over
    time (a provider moved an alias to a new snapshot), from Store.reported_models() rows:
    (model_ref, label, reported_model, first seen, last seen, answers), oldest first."""
    import datetime as dt

    def day(t) -> str:
        return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d") if t else "?"

    by_ref: dict[str, list[tuple]] = {}
    for row in rows:
        by_ref.setdefault(row[0], []).append(row)
    out = []
    for ref, seen in by_ref.items():
        if len(seen) < 2:
            continue
        label = seen[0][1] or ref
        spans = ", then ".join(f"{r[2]} ({r[5]} answer{'s' if r[5] != 1 else ''}, {day(r[3])} to {day(r[4])})"
                               for r in seen)
        out.append(f"Snapshot changed: {label} answered as {spans}. Its rating mixes these; "
                   "compare the dates before reading much into it.")
    return out


def format_ci(r: ModelRating) -> str:
    if not (math.isfinite(r.lower) and math.isfinite(r.upper)):
        return "n/a"
    return f"{r.lower:.0f}–{r.upper:.0f}"


def format_table(board: Board) -> str:
    """The leaderboard as plain text (the command line's output)."""
    lines = []
    if board.rows:
        width = max(5, *(len(r.label) for r in board.rows))
        lines.append(f"{'Rank':>4}  {'Model':<{width}}  {'Rating':>6}  {'95% CI':>11}  {'Battles':>7}")
        thin = False
        for r in board.rows:
            mark = "*" if r.battles < MIN_BATTLES_PER_MODEL else ""
            thin = thin or bool(mark)
            lines.append(
                f"{r.rank:>4}  {r.label:<{width}}  {r.rating:>6.0f}  {format_ci(r):>11}  {str(r.battles) + mark:>7}"
            )
        if thin:
            lines.append(f"* fewer than {MIN_BATTLES_PER_MODEL} battles: the rating and its interval are rough guesses")
        ties = (
            "ties count half a win each way" + ("; both-bad votes count as ties" if board.both_bad_as_tie
                                                else "; both-bad votes left out")
            if board.include_ties else "ties and both-bad votes left out"
        )
        lines.append("")
        lines.append(
            f"{board.n_battles} battles; Bradley–Terry on the Elo scale (400·log10 odds + 1000); "
            f"95% intervals from {board.rounds} bootstrap rounds (seed {board.seed}); {ties}."
        )
    lines.append(board.verdict)
    lines += board.snapshot_notes
    return "\n".join(lines)


# -- per category ----------------------------------------------------------------------------

UNTAGGED = "(no category)"


def by_category(battles: Sequence, rounds: int = 1000, seed: int = 0, *, tagged_rounds=None,
                **options) -> dict[str, Board]:
    """One leaderboard per category (a round's tag; a suite's categories become tags), fitted
    on that category's votes alone, so each has its own honest intervals. Sorted by name,
    rounds without a tag last under ``UNTAGGED``. `battles`: Battle rows, or BattleColumns
    with tagged_rounds = Store.tagged_rounds() (the columns carry rounds, not tags)."""
    if isinstance(battles, BattleColumns):
        if tagged_rounds is None:  # else every vote would land, silently, under UNTAGGED
            raise TypeError("by_category on BattleColumns needs tagged_rounds=Store.tagged_rounds()")
        groups = battles.by_tag(tagged_rounds, UNTAGGED)
    else:
        groups = {}
        for b in battles:
            groups.setdefault(b.tag or UNTAGGED, []).append(b)
    names = sorted(groups, key=lambda t: (t == UNTAGGED, t.lower()))
    return {t: leaderboard(groups[t], rounds=rounds, seed=seed, **options) for t in names}


def category_matrix(boards: dict[str, Board]) -> tuple[list[str], list[str], dict[tuple[str, str], ModelRating]]:
    """(model labels, categories, (label, category) → rating) for a table of each model's
    rating per category; a model absent from a category has no cell there."""
    cells: dict[tuple[str, str], ModelRating] = {}
    order: dict[str, float] = {}
    for category, board in boards.items():
        for r in board.rows:
            cells[(r.label, category)] = r
            order[r.label] = max(order.get(r.label, -math.inf), r.rating)
    labels = sorted(order, key=lambda lab: (-order[lab], lab))
    return labels, list(boards), cells
