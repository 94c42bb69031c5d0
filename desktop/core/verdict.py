""""Can I switch?": a local contestant against an API one, per category and overall. No Qt.

For a chosen local model L and API model G, in each category (the rounds' tags) and
over everything:

* **How good.** The Bradley–Terry fit of every vote in that category
  (``ratings.leaderboard``; other models' votes help place both through common
  opponents) gives ``p = P(L's answer is preferred to G's)``, a tie counting half —
  the share of your prompts on which L is at least as good, in the fit's terms. Its
  95% interval comes from the fit's bootstrap (the rating difference per resample);
  where the resamples do not vary (a short one-sided record) the difference's interval
  is widened to the one implied by the two ratings' own intervals, as the leaderboard
  does for a single rating.
* **Decision.** ``yes`` when the whole interval is at or above 50%; ``no`` when it is
  all below 50%; ``close`` when it holds 50% but its lower end is within
  ``CLOSE_MARGIN`` of it (at worst a small loss); ``unsure`` otherwise, with about how
  many more votes would narrow the interval to ±``TARGET_HALF_WIDTH``; ``too_few``
  below ``MIN_HEAD_TO_HEAD`` votes between the two (or ``ratings.MIN_BATTLES_PER_MODEL``
  for either), saying how many more.
* **Cost per answer.** G: the mean recorded cost of its answers (from the price table
  when they were made), in the category when it has priced answers there. L: 0, or an
  energy estimate when the user gives the machine's draw while answering (watts) and
  the price of electricity: watts × the mean answer time of L × price.
* **Monthly saving.** Your prompts a month in that category (rounds in your history:
  the last 30 days when it is that long, else scaled from its span, at least a day)
  × (G's cost per answer − L's).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from . import ratings
from .store.battles import BattleColumns

MIN_HEAD_TO_HEAD = 10
"""Votes between the two in a category below which no verdict is given."""

TARGET_HALF_WIDTH = 0.10
"""'How many more votes' aims at an interval this wide either side."""

CLOSE_MARGIN = 0.10
"""An interval holding 50% whose lower end is within this of 50% is called close."""

MONTH_S = 30 * 86400.0
ALL = "all"
UNTAGGED = "untagged"  # the category of rounds without a tag


@dataclass(frozen=True)
class Energy:
    """The user's estimate of what a local answer costs in electricity (0 / 0: counted as free)."""

    watts: float = 0.0  # the machine's extra draw while answering
    usd_per_kwh: float = 0.0

    @property
    def known(self) -> bool:
        return self.watts > 0 and self.usd_per_kwh > 0


@dataclass(frozen=True)
class Contestant:
    ref: str
    label: str
    engine: str  # local | openai (what answered in the rounds)
    battles: int  # the user's battles it took part in


@dataclass
class CategoryVerdict:
    category: str  # a tag, "untagged" or "all"
    decision: str  # yes | no | close | unsure | too_few
    p: float | None  # P(local preferred), a tie counting half
    lower: float | None
    upper: float | None
    head_to_head: int  # votes between the two
    battles: int  # votes in the category's fit
    more_votes: int  # about how many more votes a clear answer needs (0 when none)
    local_cost: float | None  # USD per answer
    api_cost: float | None
    prompts_per_month: float
    monthly_saving: float | None
    words: str


@dataclass
class SwitchVerdict:
    local: Contestant
    api: Contestant
    overall: CategoryVerdict
    categories: list[CategoryVerdict]
    energy: Energy
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [self.overall.words] + [c.words for c in self.categories]
        return out + self.notes


# -- contestants -------------------------------------------------------------------------------

def contestants(store, battles=None) -> list[Contestant]:
    """Every model in the user's votes (or in `battles`: Battle rows or BattleColumns), with the
    engine that ran it, most battles first."""
    cols = _columns(store.battle_columns() if battles is None else battles)
    # Counted as the leaderboard's Battles column counts them: a model against itself (two panes
    # on one model) is no battle, so the picker's "(6 battles)" and the table agree.
    other = cols.model_a != cols.model_b
    # In order of first appearance, as a count over the battles one by one would list them.
    pairs = np.stack([cols.model_a[other], cols.model_b[other]], axis=1).ravel()
    seen, first, n = np.unique(pairs, return_index=True, return_counts=True)
    order = np.argsort(first)
    counts = {cols.refs[k]: c for k, c in zip(seen[order].tolist(), n[order].tolist())}
    rows = store.latest_answers()
    names = ratings.display_names((ref, label) for ref, label, _ in rows)
    engine = {ref: eng for ref, _label, eng in rows}
    out = [Contestant(ref, names.get(ref, ref), engine.get(ref, ""), n) for ref, n in counts.items()]
    return sorted(out, key=lambda c: (-c.battles, c.label))


def _columns(battles) -> BattleColumns:
    return battles if isinstance(battles, BattleColumns) else BattleColumns.from_battles(battles)


def resolve(store, text: str | None, engine: str, people: list[Contestant] | None = None) -> Contestant:
    """A contestant by ref, display name, or a unique part of its name; None/empty picks the
    one of that engine with the most votes. ValueError says what there is to choose from.
    people: contestants(store), when the caller has it already."""
    pool = [c for c in (contestants(store) if people is None else people) if c.engine == engine]
    kind = "local" if engine == "local" else "API"
    if not pool:
        raise ValueError(f"No {kind} model has votes yet: compare one against the other kind and vote first.")
    if not text:
        return pool[0]
    if engine == "local" and text == "default":
        from .library.embedded import REF

        text = REF
    elif engine == "local":
        from .names import model_file_name

        text = model_file_name(text)  # the file the user has, "X.gguf", is shown (and voted on) as X
    for c in pool:
        if text in (c.ref, c.label):
            return c
    hits = [c for c in pool if text.lower() in c.label.lower() or text.lower() in c.ref.lower()]
    if len(hits) == 1:
        return hits[0]
    names = ", ".join(c.label for c in pool[:10])
    if not hits:
        raise ValueError(f"No {kind} model with votes matches {text!r}; there is: {names}.")
    raise ValueError(f"{text!r} matches several {kind} models ({', '.join(c.label for c in hits[:5])}); "
                     "give more of its name.")


# -- cost and volume ---------------------------------------------------------------------------

def cost_per_answer(store, ref: str, tag: str | None = None) -> tuple[float | None, int]:
    """Mean recorded cost (USD) of this model's finished answers, in the tag's rounds when
    there are priced ones there: (cost, answers it is taken over)."""
    for t in ([tag, None] if tag else [None]):
        sql = ("SELECT AVG(p.cost_usd), COUNT(p.cost_usd) FROM responses p JOIN rounds r ON r.id = p.round_id "
               "WHERE p.model_ref = ? AND p.status = 'done' AND p.cost_usd IS NOT NULL")
        args: list = [ref]
        if t == UNTAGGED:
            sql += " AND r.tag IS NULL"
        elif t:
            sql += " AND r.tag = ?"
            args.append(t)
        mean, n = store.query(sql, args)[0]
        if n:
            return float(mean), int(n)
    return None, 0


def answer_seconds(store, ref: str) -> float | None:
    """Mean time this model took per finished answer (load time excluded)."""
    mean, = store.query("SELECT AVG(finished_at - started_at) FROM responses WHERE model_ref = ? AND "
                        "status = 'done' AND finished_at > started_at", (ref,))[0]
    return None if mean is None else float(mean)


def local_cost(store, ref: str, energy: Energy) -> float:
    if not energy.known:
        return 0.0
    seconds = answer_seconds(store, ref)
    if seconds is None:
        return 0.0
    return energy.watts * seconds / 3_600_000.0 * energy.usd_per_kwh


def prompts_per_month(store, tag: str | None = None, now: float | None = None) -> float:
    """Your prompts (rounds) a month, from your history: the last 30 days when the history is
    that long, else its count scaled from its span (at least a day)."""
    now = time.time() if now is None else now
    sql = "SELECT MIN(created_at), COUNT(*) FROM rounds"
    args: list = []
    if tag == UNTAGGED:
        sql += " WHERE tag IS NULL"
    elif tag:
        sql += " WHERE tag = ?"
        args.append(tag)
    first, n = store.query(sql, args)[0]
    if not n:
        return 0.0
    span = now - first
    if span >= MONTH_S:
        sql2 = sql + (" AND" if "WHERE" in sql else " WHERE") + " created_at >= ?"
        return float(store.query(sql2, args + [now - MONTH_S])[0][1])
    return n * MONTH_S / max(span, 86400.0)


# -- the verdict -------------------------------------------------------------------------------

def _p_interval(board: ratings.Board, local_ref: str, api_ref: str) -> tuple[float, float, float]:
    rl, ra = board.row(local_ref), board.row(api_ref)
    diff = rl.rating - ra.rating
    p = ratings.expected_score(rl.rating, ra.rating)
    lo_d = hi_d = diff
    if board.bootstrap is not None:
        k_l, k_a = board.refs.index(local_ref), board.refs.index(api_ref)
        d = board.bootstrap[:, k_l] - board.bootstrap[:, k_a]
        d = d[np.isfinite(d)]
        if d.size:
            lo_d, hi_d = (float(x) for x in np.percentile(d, [2.5, 97.5]))
    # the widening the leaderboard applies to a collapsed rating, applied to the difference
    halves = [(r.upper - r.lower) / 2 for r in (rl, ra) if math.isfinite(r.upper - r.lower)]
    floor = math.sqrt(sum(h * h for h in halves)) if len(halves) == 2 else math.inf
    if (hi_d - lo_d) / 2 < floor:
        lo_d, hi_d = min(lo_d, diff - floor), max(hi_d, diff + floor)
    to_p = lambda x: ratings.expected_score(x, 0.0)  # noqa: E731
    return p, to_p(lo_d), to_p(hi_d)


def _money(x: float | None) -> str:
    """A monthly amount: cents."""
    if x is None:
        return "unknown"
    return f"${x:,.2f}" if abs(x) >= 0.005 or x == 0 else "less than $0.01"


def _per_answer(x: float | None) -> str:
    """A price per answer: three significant digits (they are fractions of a cent)."""
    if x is None:
        return "unknown"
    return "$0" if x == 0 else f"${x:.3g}"


def category_verdict(store, local: Contestant, api: Contestant, category: str, battles, *,
                     energy: Energy = Energy(), rounds: int = 1000, seed: int = 0,
                     now: float | None = None, board: ratings.Board | None = None) -> CategoryVerdict:
    """The verdict on `battles` (Battle rows or BattleColumns), the votes of `category`.
    board: ratings.leaderboard(battles, rounds=rounds, seed=seed), when the caller has it."""
    tag = None if category == ALL else category
    battles = _columns(battles)
    k_l, k_a = (battles.refs.index(r) if r in battles.refs else -1 for r in (local.ref, api.ref))
    h2h = int((((battles.model_a == k_l) & (battles.model_b == k_a)) | ((battles.model_a == k_a)
                                                                       & (battles.model_b == k_l))).sum())
    per_model = {r: battles.count(r) for r in (local.ref, api.ref)}
    l_cost = local_cost(store, local.ref, energy)
    a_cost, _n = cost_per_answer(store, api.ref, tag)
    volume = prompts_per_month(store, tag, now)
    saving = None if a_cost is None else volume * (a_cost - l_cost)
    where = "Overall" if category == ALL else f"On {category}"
    money = ""
    if saving is not None:
        money = (f" Switching would save about {_money(saving)} a month ({volume:.0f} prompts a month × "
                 f"{_per_answer(a_cost)} per answer of {api.label} vs {_per_answer(l_cost)} for {local.label}"
                 + (", electricity included" if energy.known else "") + ").")
    else:
        money = (f" The saving is unknown: {api.label}'s answers have no recorded cost (add its price to "
                 "prices.json in the config folder).")

    need = max(MIN_HEAD_TO_HEAD - h2h,
               *(ratings.MIN_BATTLES_PER_MODEL - n for n in per_model.values()), 0)
    if need > 0:
        words = (f"{where}: too few votes to tell — {h2h} between {local.label} and {api.label}; "
                 f"vote on about {need} more rounds where both answer." + money)
        return CategoryVerdict(category, "too_few", None, None, None, h2h, len(battles), need, l_cost, a_cost,
                               volume, saving, words)

    board = ratings.leaderboard(battles, rounds=rounds, seed=seed) if board is None else board
    p, lo, hi = _p_interval(board, local.ref, api.ref)
    head = (f"{where}, {local.label} ties or beats {api.label} on {p:.0%} ({lo:.0%}–{hi:.0%}) of your prompts "
            f"(Bradley–Terry on {board.n_battles} votes, {h2h} head to head; a tie counts half)")
    more = 0
    if lo >= 0.5:
        decision, tail = "yes", " — you can switch: it is at least as good."
    elif hi < 0.5:
        decision, tail = "no", f" — {api.label} is better on these prompts."
    elif lo >= 0.5 - CLOSE_MARGIN:
        decision, tail = "close", " — about as good: at worst a small loss."
    else:
        half = (hi - lo) / 2
        more = max(1, math.ceil(h2h * ((half / TARGET_HALF_WIDTH) ** 2 - 1)))
        decision = "unsure"
        tail = (f" — not clear yet; about {more} more votes between the two would narrow it to "
                f"±{TARGET_HALF_WIDTH:.0%}.")
    return CategoryVerdict(category, decision, p, lo, hi, h2h, board.n_battles, more, l_cost, a_cost, volume,
                           saving, head + tail + money)


def switch_verdict(store, local: Contestant | str | None = None, api: Contestant | str | None = None, *,
                   energy: Energy = Energy(), battles=None, rounds: int = 1000, seed: int = 0,
                   now: float | None = None, people: list[Contestant] | None = None,
                   board: ratings.Board | None = None) -> SwitchVerdict:
    """The verdict overall and per tag. `battles`: the votes to fit, Battle rows or BattleColumns
    of this store (default: the user's own, store.battle_columns(); pass judge.with_judge(...)
    to count a judge's too). people: contestants(store), when the caller has it already; board:
    ratings.leaderboard(battles, rounds=rounds, seed=seed), when the caller has fitted it (the
    window's leaderboard without filters is that board: the overall verdict is not fitted twice)."""
    mine = store.battle_columns() if battles is None else None
    battles = _columns(mine if battles is None else battles)
    if not (isinstance(local, Contestant) and isinstance(api, Contestant)) and people is None:
        people = contestants(store, mine)  # the user's own votes pick a model left unnamed
    if not isinstance(local, Contestant):
        local = resolve(store, local, "local", people)
    if not isinstance(api, Contestant):
        api = resolve(store, api, "openai", people)
    overall = category_verdict(store, local, api, ALL, battles, energy=energy, rounds=rounds, seed=seed, now=now,
                               board=board)
    # A battle's category is its round's tag (a judge's verdicts too: they carry their round).
    by_tag = battles.by_tag(store.tagged_rounds(), UNTAGGED)
    cats = []
    if len(by_tag) > 1 or (by_tag and UNTAGGED not in by_tag):
        for tag in sorted(by_tag):
            cats.append(category_verdict(store, local, api, tag, by_tag[tag], energy=energy, rounds=rounds,
                                         seed=seed, now=now))
    notes = []
    if not energy.known:
        notes.append(f"{local.label} is counted as free; give your machine's draw (watts) and electricity price "
                     "to include its energy.")
    return SwitchVerdict(local, api, overall, cats, energy, notes)
