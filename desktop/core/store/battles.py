"""Votes as battles: one pairwise outcome per row (Battle), or all of them as arrays
(BattleColumns), as the leaderboard, the exports and the judge read them.

Apart from the store (db.py), and imported where they are read: the window's first frame
needs neither, and Python compiles each dataclass's methods from generated source when the
class is made (about 3 M instructions a class on the way to the first frame).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass
class Battle:
    """One pairwise outcome, as the leaderboard and exports read it."""

    battle_id: int
    round_id: int
    model_a: str  # model_ref
    model_b: str
    label_a: str  # display name
    label_b: str
    winner: str  # a | b | tie | both_bad
    blind: bool
    position_a: int
    position_b: int
    tstamp: float
    tag: str | None
    panes: int = 2  # answers shown in its round (left/right only means something with two)


WINNER_CODES = ("a", "b", "tie", "both_bad")  # BattleColumns.winner holds the index


@dataclass
class BattleColumns:
    """Battles as arrays, oldest first: what the leaderboard reads (Store.battle_columns).

    Models and labels are indices into `refs` and `labels`; `winner` indexes WINNER_CODES."""

    refs: list[str]
    labels: list[str]
    model_a: "np.ndarray"
    model_b: "np.ndarray"
    label_a: "np.ndarray"
    label_b: "np.ndarray"
    winner: "np.ndarray"
    blind: "np.ndarray"
    position_a: "np.ndarray"
    position_b: "np.ndarray"
    tstamp: "np.ndarray"
    panes: "np.ndarray"
    battle_id: "np.ndarray"
    vote_id: "np.ndarray"
    round_id: "np.ndarray"

    def __len__(self) -> int:
        return len(self.model_a)

    @classmethod
    def from_battles(cls, battles) -> "BattleColumns":
        """The same arrays from Battle rows (or anything with their attributes), in their order."""
        import numpy as np

        battles = list(battles)
        n = len(battles)
        refs: dict[str, int] = {}
        labels: dict[str, int] = {}
        code = {w: i for i, w in enumerate(WINNER_CODES)}

        def col(values, dtype=np.int64):
            return np.fromiter(values, dtype, n)

        return cls(
            [], [],  # filled below, once every ref and label has its index
            col(refs.setdefault(b.model_a, len(refs)) for b in battles),
            col(refs.setdefault(b.model_b, len(refs)) for b in battles),
            col(labels.setdefault(b.label_a, len(labels)) for b in battles),
            col(labels.setdefault(b.label_b, len(labels)) for b in battles),
            col(code.get(b.winner, -1) for b in battles),
            col((bool(b.blind) for b in battles), bool),
            col(b.position_a for b in battles), col(b.position_b for b in battles),
            col((b.tstamp for b in battles), float), col(getattr(b, "panes", 2) for b in battles),
            col(getattr(b, "battle_id", i) for i, b in enumerate(battles)),
            col(getattr(b, "vote_id", getattr(b, "round_id", i)) for i, b in enumerate(battles)),
            col(getattr(b, "round_id", i) for i, b in enumerate(battles)),
        )._named(list(refs), list(labels))

    def _named(self, refs: list[str], labels: list[str]) -> "BattleColumns":
        self.refs, self.labels = refs, labels
        return self

    def subset(self, which) -> "BattleColumns":
        """The battles `which` picks (a boolean mask or indices), in their order; same refs and labels."""
        return BattleColumns(self.refs, self.labels, *(getattr(self, name)[which] for name in _COLUMNS))

    def by_tag(self, tagged_rounds: dict[str, "np.ndarray"], untagged: str) -> dict[str, "BattleColumns"]:
        """The battles of each category (a round's tag; tagged_rounds: Store.tagged_rounds()) and
        those of rounds without one under `untagged`: the groups `b.tag or untagged` makes of
        Battle rows (a tag spelled `untagged` joins them), each in its order."""
        import numpy as np

        masks: dict[str, np.ndarray] = {}
        rest = np.ones(len(self), dtype=bool)
        for tag, rounds in tagged_rounds.items():
            mask = np.isin(self.round_id, rounds)
            if mask.any():
                masks[tag] = mask
                rest &= ~mask
        if rest.any():
            masks[untagged] = masks[untagged] | rest if untagged in masks else rest
        return {tag: self.subset(mask) for tag, mask in masks.items()}

    def count(self, ref: str) -> int:
        """Battles `ref` took part in."""
        k = self.refs.index(ref) if ref in self.refs else -1
        return int(((self.model_a == k) | (self.model_b == k)).sum()) if k >= 0 else 0


_COLUMNS = ("model_a", "model_b", "label_a", "label_b", "winner", "blind", "position_a", "position_b", "tstamp",
            "panes", "battle_id", "vote_id", "round_id")
