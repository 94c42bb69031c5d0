"""The rating queue: a suite run's answers rated blind, two at a time. No Qt.

* **What is offered next.** Among the contestant pairs that still have prompts to rate, the
  pair whose comparison is least certain: the one whose 95% intervals on the leaderboard
  (every vote between these models, fitted as the leaderboard fits them) overlap most, as a
  share of the narrower interval; a model without a rating yet counts as most uncertain.
  Votes there are the ones most likely to separate models. Within the pair, the prompt from
  the category it has been rated least on, then in suite order.
* **Blind, sides shuffled.** Which answer is on the left is drawn for every pair shown.
* **Every vote is a normal vote.** A rated pair becomes an ordinary blind conversation
  (one round per turn, the prompt's category as the rounds' tag) and the vote is cast on its
  last turn with ``Store.cast_vote``: the leaderboard, its filters and the exports see it like
  any other. Deleting that conversation from the history makes the pair rateable again.
* **Skip** puts the pair aside until nothing else is left; **undo** removes the last vote
  (its conversation) and offers that pair again.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from . import ratings
from .store import Store
from .store.suite_runs import SuiteRuns

LEADERBOARD_ROUNDS = 200  # enough to rank pairs by overlap; a vote must not wait on a full bootstrap


@dataclass
class QueuePair:
    run_id: int
    item: int  # index into the run's items
    item_id: str
    category: str
    a: int  # contestants, a < b
    b: int
    a_left: bool
    turns: list[tuple[str, str, str]]  # (prompt, left answer, right answer) per turn
    references: list[str]

    @property
    def left(self) -> int:
        return self.a if self.a_left else self.b

    @property
    def right(self) -> int:
        return self.b if self.a_left else self.a

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.item, self.a, self.b)


class RatingQueue:
    def __init__(self, store: Store, run_id: int, *, seed: int | None = None):
        self.store, self.run_id = store, run_id
        self.runs = SuiteRuns(store)
        self.rng = random.Random(seed)
        self._skipped: list[tuple[int, int, int]] = []
        self._undo: list[tuple[QueuePair, int]] = []  # (pair, its conversation id)

    # -- what there is to rate -------------------------------------------------------------------
    def _state(self):
        run = self.runs.run(self.run_id)
        done: dict[tuple[int, int], str] = {}
        complete: dict[tuple[int, int], bool] = {}
        for a in self.runs.answers(self.run_id):
            key = (a.item, a.contestant)
            complete[key] = complete.get(key, True) and a.status == "done"
            if a.status == "done":
                done[(a.item, a.turn, a.contestant)] = a.text
        n = len(run.contestants)
        rateable = [(i, a, b) for i in range(len(run.items)) for a in range(n) for b in range(a + 1, n)
                    if complete.get((i, a)) and complete.get((i, b))]
        rated = {k for k, (_c, _r, voted) in self.runs.pairs(self.run_id).items() if voted}
        return run, done, rateable, rated

    def counts(self) -> tuple[int, int]:
        """(pairs rated, pairs that can be rated now: both answers of every turn are there)."""
        _run, _done, rateable, rated = self._state()
        return len([k for k in rateable if k in rated]), len(rateable)

    def next(self) -> QueuePair | None:
        run, done, rateable, rated = self._state()
        left = [k for k in rateable if k not in rated]
        if not left:
            return None
        fresh = [k for k in left if k not in self._skipped]
        if not fresh:  # only skipped pairs remain: offer them again, oldest skip first
            fresh = [k for k in self._skipped if k in left]
            self._skipped = []
            choice = fresh[0]
        else:
            choice = self._least_certain(run, fresh, rated)
        i, a, b = choice
        item = run.items[i]
        a_left = self.rng.random() < 0.5
        first, second = (a, b) if a_left else (b, a)
        turns = [(p, done[(i, t, first)], done[(i, t, second)]) for t, p in enumerate(item["turns"])]
        refs = list(item.get("reference") or [])
        return QueuePair(self.run_id, i, str(item["id"]), item.get("category") or "", a, b, a_left, turns, refs)

    def _least_certain(self, run, fresh: list[tuple[int, int, int]], rated: set) -> tuple[int, int, int]:
        import numpy as np

        refs = [p["ref"] for p in run.contestants]
        cols = self.store.battle_columns()  # every vote: the run's models also meet outside it
        wanted = [k for k, ref in enumerate(cols.refs) if ref in set(refs)]
        between = np.isin(cols.model_a, wanted) & np.isin(cols.model_b, wanted)
        board = ratings.leaderboard(cols.subset(between), rounds=LEADERBOARD_ROUNDS, seed=0)
        rows = {r.ref: r for r in board.rows}
        votes_between = Counter((a, b) for _i, a, b in rated)

        def uncertainty(pair: tuple[int, int]) -> float:
            ra, rb = rows.get(refs[pair[0]]), rows.get(refs[pair[1]])
            if ra is None or rb is None:
                return 2.0
            if not all(map(_finite, (ra.lower, ra.upper, rb.lower, rb.upper))):
                return 2.0
            narrower = min(ra.upper - ra.lower, rb.upper - rb.lower)
            if narrower <= 0:
                return 0.0
            return max(0.0, min(ra.upper, rb.upper) - max(ra.lower, rb.lower)) / narrower

        pairs = sorted({(a, b) for _i, a, b in fresh})
        best = max(pairs, key=lambda p: (uncertainty(p), -votes_between[p]))
        rated_categories = Counter(run.items[i].get("category") for i, a, b in rated if (a, b) == best)
        candidates = [k for k in fresh if (k[1], k[2]) == best]
        return min(candidates, key=lambda k: (rated_categories[run.items[k[0]].get("category")], k[0]))

    # -- acting ----------------------------------------------------------------------------------
    def vote(self, pair: QueuePair, outcome: str, note: str = "") -> int:
        """Cast the vote (left / right / tie / both_bad, as the sides were shown); returns the round id."""
        if outcome not in ("left", "right", "tie", "both_bad"):
            raise ValueError(f"unknown outcome {outcome!r}")
        conversation_id, round_id = self.runs.materialize_pair(self.run_id, pair.item, pair.a, pair.b,
                                                               a_left=pair.a_left)
        self.store.cast_vote(round_id, outcome, note=note, blind=True)
        self._undo.append((pair, conversation_id))
        if pair.key in self._skipped:
            self._skipped.remove(pair.key)
        return round_id

    def skip(self, pair: QueuePair) -> None:
        if pair.key not in self._skipped:
            self._skipped.append(pair.key)

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    def undo(self) -> QueuePair | None:
        """Take back the last vote of this queue; returns the pair to show again."""
        if not self._undo:
            return None
        pair, conversation_id = self._undo.pop()
        self.store.delete_conversation(conversation_id)
        return pair


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")
