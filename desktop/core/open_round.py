"""The round a comparison session's vote acts on (OpenRound), live or the last one of a
reopened conversation, and its vote (Vote).

Apart from the session (session.py), and imported where a round is sent, voted on or reopened:
the window makes its session before its first frame, which needs neither, and Python compiles
each dataclass's methods from generated source when the class is made.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .arena import Round
    from .engines.base import Result
    from .engines.registry import ModelChoice


@dataclass
class Vote:
    outcome: str
    best_position: int | None
    note: str = ""


@dataclass
class OpenRound:
    """The round the vote acts on: live, or the last one of a reopened conversation."""

    round_id: int
    prompt: str
    response_ids: list[int]  # by pane (panes added later have none)
    positions: list[int]  # where each of those panes is shown
    choices: list[ModelChoice | None]  # who answered: a regenerate asks them again
    results: list[Result | None]
    blind: bool
    revealed: bool = False
    vote: Vote | None = None
    round: Round | None = None  # the live Round; None for a reopened one until an answer is regenerated
    system_prompt: str = ""

    @property
    def panes(self) -> int:
        return len(self.response_ids)
