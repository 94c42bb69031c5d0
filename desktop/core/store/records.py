"""What a round is stored and read as: each pane's part in it (SlotSpec), its answers
(ResponseRow), its vote (VoteRow), and the round itself (RoundRow).

Apart from the store (db.py), and imported where a round is sent or read: the window's
first frame needs none of them, and Python compiles each dataclass's methods from generated
source when the class is made (about 3 M instructions a class on the way to the first frame).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SlotSpec:
    """One pane's part in a round: who answers, with what, and where it is shown."""

    slot: int
    position: int
    engine: str
    model: str
    model_ref: str
    params: dict = field(default_factory=dict)
    choice: str = ""  # local:<path> | openai:<model>[@<connection>], so a conversation can be continued
    connection: str = ""  # an API answer's connection id ("" for a local file)


@dataclass
class ResponseRow:
    id: int
    round_id: int
    slot: int
    position: int
    engine: str
    model: str
    model_ref: str
    params: dict
    text: str
    status: str
    error: str | None
    started_at: float | None
    first_token_at: float | None
    finished_at: float | None
    tokens_in: int | None
    tokens_out: int | None
    tokens_estimated: bool
    cost_usd: float | None
    stars: int | None
    uid: str = ""
    choice: str = ""
    last_token_at: float | None = None
    finish_reason: str | None = None
    reasoning: str = ""
    first_answer_at: float | None = None
    connection: str = ""
    reported_model: str | None = None  # the model name the API server reported answering

    @property
    def max_tokens(self) -> int | None:
        value = self.params.get("max_tokens") if isinstance(self.params, dict) else None
        return value if isinstance(value, int) else None


@dataclass
class VoteRow:
    id: int
    round_id: int
    outcome: str
    best_position: int | None
    note: str
    blind: bool
    created_at: float
    updated_at: float
    uid: str = ""


@dataclass
class RoundRow:
    id: int
    conversation_id: int
    turn: int
    prompt: str
    system_prompt: str
    tag: str | None
    blind: bool
    created_at: float
    responses: list[ResponseRow] = field(default_factory=list)  # ordered by position
    vote: VoteRow | None = None
    uid: str = ""
    revealed_at: float | None = None  # when a blind round's names were first shown (kept by regenerate)

    @property
    def names_shown(self) -> bool:
        """Whether this round's answers have been shown with their models' names."""
        return not self.blind or self.revealed_at is not None
