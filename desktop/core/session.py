"""A comparison session: the one owner of a conversation as it is being compared.

It holds each pane's model choice, sampling overrides and memory (the turns its
model is shown), the open round (live, or the last one of a reopened
conversation), where each pane is shown (blind mode shuffles), the vote and
whether the names have been revealed. The window displays it and the command
line drives it; neither keeps a copy of any of this.

Work happens on worker threads (one per answering pane, see arena.Round); the
session reports through plain callbacks called on those threads:
`on_delta(pane, text)`, `on_reasoning(pane, text)` (a reasoning model's thinking),
`on_answer(pane, Result)` and `on_round_done()`. The
window posts them to its Inbox; the command line prints.

Requests the session cannot honour raise `Refused` with what to do, before any
work starts and before anything is recorded.
"""
from __future__ import annotations

import importlib
import random
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable

from .contestants import Contestants
from .engines.registry import ModelChoice
from .services import NeedsKey, Services
from .settings import Sampling
from .store.db import INTERRUPTED

# The rounds (arena), the engines' records (engines.base) and the open round the vote acts on
# (open_round) are imported where a round is sent, shown or reopened, not with the session: the
# window makes its session before its first frame, and those modules' ~17 dataclasses (each
# compiled from generated source) would hold that frame back for what only an answer needs.
if TYPE_CHECKING:
    from .arena import Round
    from .engines.base import Result
    from .open_round import OpenRound

LETTERS = "ABCD"
MAX_PANES = 4


class Refused(Exception):
    """A request the session does not carry out; the message says why and what to do."""


def interrupted(result) -> bool:
    """An answer cut off because ArenaDesk itself stopped (a crash, a kill, a power cut), as the
    store marks it on the next start (Store.close_interrupted). `result`: a Result or a stored row."""
    return result is not None and result.status == "error" and (
        getattr(result, "error_kind", None) == "interrupted" or result.error == INTERRUPTED)


@dataclass
class PaneState:
    choice: ModelChoice | None  # None: the conversation named a model this app cannot parse
    overrides: dict = field(default_factory=dict)  # this pane's sampling, over the shared settings
    earlier: list[dict] = field(default_factory=list)  # its memory before the open round


class ComparisonSession:
    def __init__(self, services: Services, *, contestants: Contestants | None = None,
                 on_delta: Callable[[int, str], None] | None = None,
                 on_answer: Callable[[int, Result], None] | None = None,
                 on_round_done: Callable[[], None] | None = None,
                 on_reasoning: Callable[[int, str], None] | None = None,
                 on_turn: Callable[[int, bool], None] | None = None,
                 rng: random.Random | None = None):
        self.services = services
        self.contestants = contestants or Contestants(services)
        self.on_delta, self.on_answer, self.on_round_done = on_delta, on_answer, on_round_done
        self.on_reasoning = on_reasoning  # (pane, text): a reasoning model's thinking as it streams
        self.on_turn = on_turn  # (pane, waiting): its answer waits for its turn on a local model, or begins
        self.panes: list[PaneState] = []
        self.conversation_id: int | None = None
        self.open_round: OpenRound | None = None
        self.system_prompt: str | None = None  # None: the settings' system prompt
        self._rng = rng
        self._pending: set[int] = set()
        self._lock = threading.Lock()

    # -- panes ------------------------------------------------------------------------------
    @property
    def blind(self) -> bool:
        """Blind mode for the next prompt (the open round keeps the mode it was sent in)."""
        return self.services.settings.blind

    @blind.setter
    def blind(self, on: bool) -> None:
        self.services.settings.blind = on

    def add_pane(self, choice: ModelChoice | None = None,
                 has_key: Callable[[ModelChoice], bool] | None = None) -> int:
        """A new pane on `choice`, or on the model Contestants.for_new_pane picks (`has_key` says
        which API models have their key, once the caller knows without blocking)."""
        if len(self.panes) >= MAX_PANES:
            raise Refused(f"At most {MAX_PANES} panes.")
        if self.running:
            raise Refused("Wait for the answers (or press Esc) before adding a pane.")
        if choice is None:
            choice = self.contestants.for_new_pane([p.choice for p in self.panes], has_key)
            choice = choice or (self.panes[-1].choice if self.panes else ModelChoice("local", "default"))
        self.panes.append(PaneState(choice))
        return len(self.panes) - 1

    def remove_pane(self, i: int) -> None:
        if len(self.panes) <= 1:
            raise Refused("The last pane stays.")
        if self.running:
            raise Refused("Wait for the answers (or press Esc) before removing a pane.")
        if self.hidden:
            raise Refused("Vote first (or start a new chat): this blind round's names would show.")
        if self.open_round is not None and i < self.open_round.panes:
            # The open round no longer matches the panes: it stays in history, unvotable here.
            self._close_open_round()
        del self.panes[i]

    def set_choice(self, i: int, choice: ModelChoice) -> None:
        """The model for this pane's next prompt (a regenerate still asks the round's model)."""
        self.panes[i].choice = choice

    def set_override(self, i: int, name: str, value) -> None:
        if value is None:
            self.panes[i].overrides.pop(name, None)
        else:
            self.panes[i].overrides[name] = value

    def params(self, i: int) -> Sampling:
        return replace(self.services.settings.sampling, **self.panes[i].overrides)

    def history(self, i: int) -> list[dict]:
        """What pane i's model is shown before the next prompt: its earlier turns, then the
        open round's exchange if it has an answer to remember."""
        from .arena import turn_messages

        pane, r = self.panes[i], self.result(i)
        if r is None:
            return list(pane.earlier)
        return pane.earlier + turn_messages(self.open_round.prompt, r.status, r.text)

    def problems(self) -> dict[int, str]:
        """Panes whose model cannot answer the next prompt, with why and what to do."""
        out = {}
        for i, p in enumerate(self.panes):
            if p.choice is None:
                out[i] = "This conversation names a model ArenaDesk does not know: pick one for this pane."
            else:
                why = self.contestants.problem(p.choice)
                if why:
                    out[i] = why
        return out

    # -- what the screen shows --------------------------------------------------------------
    @property
    def hidden(self) -> bool:
        """Names stay hidden: the open round is blind and its names have not been shown (by a vote)."""
        cur = self.open_round
        return cur is not None and cur.blind and not cur.revealed

    def position(self, i: int) -> int:
        cur = self.open_round
        return cur.positions[i] if cur is not None and i < cur.panes else i

    def letter(self, i: int) -> str:
        return LETTERS[self.position(i)]

    def answered_by(self, i: int) -> ModelChoice | None:
        """The model that gave pane i's open answer (it may differ from the pane's next choice)."""
        cur = self.open_round
        return cur.choices[i] if cur is not None and i < cur.panes else self.panes[i].choice

    def heading(self, i: int) -> str:
        """The open answer's heading: "Model A" while blind, else who answered ("gpt-4o @ OpenAI")."""
        if self.hidden:
            return f"Model {self.letter(i)}"
        return self.contestants.heading(self.answered_by(i))

    def result(self, i: int) -> Result | None:
        """Pane i's answer in the open round, once it has one (None while it streams, and for a
        pane added after the round was sent)."""
        cur = self.open_round
        return cur.results[i] if cur is not None and i < cur.panes else None

    def footer(self, i: int) -> str:
        """The figures under the open answer. While blind, nothing that tells the sides apart:
        no cost or "free", no estimated-token mark, no load time, no engine's error wording."""
        from .arena import format_metrics

        r = self.result(i)
        if r is None:
            return ""
        if self.hidden:
            figures = format_metrics(r, blind=True)
            if r.status == "error":
                figures.insert(0, "failed")
            return " · ".join(figures) or r.status
        figures = format_metrics(r)
        if r.load_s:
            figures.append(f"model loaded in {r.load_s:.1f} s")
        return " · ".join(figures) or r.status

    def note(self, i: int) -> str:
        """What is said under the open answer: why it failed, or that it was stopped."""
        r = self.result(i)
        if r is None:
            return ""
        if r.status == "error":
            if self.hidden:  # an engine's error wording would tell which side is which
                return "This answer failed."
            return r.error or "The answer failed."
        if r.status == "cancelled":
            return "Stopped."
        from .engines.base import cut_off_note

        return f"[{cut_off_note(r.finish_reason, r.max_tokens)}]" if r.cut_off else ""

    def revealed_names(self) -> str:
        cur = self.open_round
        n = cur.panes if cur is not None else len(self.panes)
        order = sorted(range(n), key=self.position)
        return ", ".join(f"{self.letter(i)} = {self.heading(i)}" for i in order)

    # -- sending ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        with self._lock:
            return bool(self._pending)

    @staticmethod
    def load_rounds() -> None:
        """Import what sending, showing and reopening a round need (arena, and through it
        engines.base; see the imports above), so that the first Send does not wait for them: the
        window runs this on a worker once its first frame is on screen."""
        importlib.import_module(".arena", __package__)
        importlib.import_module(".open_round", __package__)

    def send(self, prompt: str, tag: str | None = None) -> OpenRound:
        """Every pane answers `prompt` with its own memory. Checks everything first; a refusal
        records nothing."""
        from .arena import Round, Slot, shuffled_positions
        from .open_round import OpenRound

        prompt = prompt.strip()
        if self.running:
            raise Refused("Wait for the answers (or press Esc) before sending again.")
        if not prompt:
            raise Refused("Type a prompt first.")
        problems = self.problems()
        if problems:
            raise self._cannot_answer(" ".join(f"Pane {self.letter(i)}: {why}" for i, why in sorted(problems.items())))
        engines = [self._engine(i, p.choice, no_key=f"Or pick a local model for pane {self.letter(i)}.")
                   for i, p in enumerate(self.panes)]
        # A follow-up in a conversation that has shown the names cannot be blind: each pane's
        # earlier turns say who it is, so its vote would be stored as blind and be a lie.
        blind = self.blind and not self.names_shown()
        n = len(self.panes)
        # The open round's answers become each pane's memory once the next round is recorded.
        memory = [self.history(i) for i in range(n)]
        slots = [Slot(p.choice, e, self.params(i), history=list(memory[i]))
                 for i, (p, e) in enumerate(zip(self.panes, engines))]
        positions = shuffled_positions(n, self._rng) if blind else list(range(n))
        if self.conversation_id is None:
            self.conversation_id = self.services.store.new_conversation(blind=blind)
        system = self._system_prompt_now()
        rnd = Round(self.services.store, self.services.prices, self.conversation_id, prompt, slots,
                    system_prompt=system, blind=blind, tag=tag or None, positions=positions)
        for p, earlier in zip(self.panes, memory):
            p.earlier = earlier
        self.open_round = OpenRound(rnd.round_id, prompt, list(rnd.response_ids), positions,
                                    [p.choice for p in self.panes], [None] * n, blind, round=rnd)
        with self._lock:
            self._pending = set(range(n))
        rnd.on_reasoning = self._reasoning
        rnd.on_turn = self._turn
        rnd.start(self._delta, self._answer)
        return self.open_round

    def prepare(self, draft: str) -> int:
        """The user paused while typing `draft` in the prompt box: each pane's engine that can read a
        prompt ahead (a loaded local model, idle) starts reading that pane's next prompt with it, so
        its first token comes sooner once the prompt is sent. Nothing is recorded or shown, the answers
        are the same, and nothing waits or loads a model. Returns how many engines took it."""
        draft = draft.strip()
        if not draft or self.running:
            return 0
        from .arena import prompt_messages  # imported when a round is first needed, as send() does

        system = self._system_prompt_now()
        taken = 0
        for i, pane in enumerate(self.panes):
            if pane.choice is None:
                continue  # a reopened pane whose model this app does not know (open() said so)
            engine = self.services.engines.made(pane.choice, instance=i)
            prepare = getattr(engine, "prepare", None)
            if prepare is None:
                continue
            # The messages send() will give this pane's engine, with the draft as the prompt.
            taken += bool(prepare(prompt_messages(draft, system, self.history(i))))
        return taken

    def _system_prompt_now(self) -> str:
        """The system prompt the next round is sent with: this conversation's own, else the settings'."""
        return self.services.settings.system_prompt if self.system_prompt is None else self.system_prompt

    def names_shown(self) -> bool:
        """This conversation has shown its models' names (a round sent with names, or a blind
        round revealed by a vote, even if a regenerate dropped that vote since): the next round
        is sent with names even in blind mode."""
        return self.conversation_id is not None and self.services.store.names_shown(self.conversation_id)

    def stop(self, i: int | None = None) -> None:
        cur = self.open_round
        if cur is not None and cur.round is not None and self.running:
            cur.round.cancel(i)

    def can_regenerate(self, i: int) -> bool:
        """Whether pane i's open answer can be asked for again: any answer of a live round; of a
        reopened round only one cut off when the app stopped (the rest is kept as it was)."""
        cur = self.open_round
        if cur is None or i >= cur.panes:
            return False
        return cur.round is not None or interrupted(cur.results[i])

    def regenerate(self, panes: list[int] | None = None) -> list[int]:
        """Answer the open round's prompt again in these panes (all by default), each with the
        model that answered it; the other answers stay, the round's vote is dropped. Returns
        the panes that answer again."""
        cur = self.open_round
        if cur is None:
            raise Refused("Nothing to regenerate: send a prompt first.")
        if self.running:
            raise Refused("Wait for the answers (or press Esc) before regenerating.")
        todo = [i for i in (range(cur.panes) if panes is None else panes) if self.can_regenerate(i)]
        if not todo:
            if cur.round is None:
                raise Refused("A reopened round is kept as it was (only an answer cut off when ArenaDesk closed can "
                              "be answered again): send a new prompt to continue.")
            return []
        if cur.round is None:
            cur.round = self._reattach(cur)
        cur.vote = None  # the store drops it too: the answer it judged is gone
        for i in todo:
            cur.results[i] = None
            cur.round.slots[i].params = self.params(i)
        with self._lock:
            self._pending = set(todo)
        for i in todo:
            cur.round.regenerate(i, self._delta, self._answer)
        return todo

    def wait(self, timeout: float | None = None) -> list[Result | None]:
        cur = self.open_round
        if cur is not None and cur.round is not None:
            cur.round.wait(timeout)
        return list(cur.results) if cur is not None else []

    # Worker threads.
    def _delta(self, i: int, text: str) -> None:
        if self.on_delta:
            self.on_delta(i, text)

    def _reasoning(self, i: int, text: str) -> None:
        if self.on_reasoning:
            self.on_reasoning(i, text)

    def _turn(self, i: int, waiting: bool) -> None:
        if self.on_turn:
            self.on_turn(i, waiting)

    def _answer(self, i: int, result: Result) -> None:
        cur = self.open_round
        if cur is not None and cur.round is not None:
            cur.results[i] = result
        with self._lock:
            self._pending.discard(i)
            done = not self._pending
        if self.on_answer:
            self.on_answer(i, result)
        if done and self.on_round_done:
            self.on_round_done()

    # -- voting -----------------------------------------------------------------------------
    def vote(self, outcome: str, best_position: int | None = None, note: str = "") -> bool:
        """Save (or change) the vote on the open round. A blind round's vote stays blind when it
        is changed after the reveal: the judgement was first made without the names. A vote cast
        with the names on screen (after a regenerate dropped the revealing vote) is not blind; the
        store decides both, from the round's recorded reveal. Returns True when this vote revealed
        the names."""
        cur = self.open_round
        if cur is None:
            raise Refused("Nothing to vote on yet: send a prompt first.")
        if self.running:
            raise Refused("Wait for every answer before voting.")
        # A vote credits and debits the models. An answer cut off because the app stopped says
        # nothing about its model (a model that answers nothing is still judged: that *is* its
        # answer), so such a round is not voted on until that answer is asked for again.
        cut = sorted(self.position(i) for i in range(cur.panes) if interrupted(cur.results[i]))
        if cut:
            which = " and ".join(f"Model {LETTERS[p]}" if self.hidden else f"pane {p + 1}" for p in cut)
            raise Refused(f"The answer in {which} was cut off when ArenaDesk closed, which says nothing about the "
                          f"model, so this round cannot be voted on as it is. Regenerate that answer (the pane's "
                          f"Regenerate button), then vote.")
        self.services.store.cast_vote(cur.round_id, outcome, best_position=best_position, note=note)
        from .open_round import Vote

        cur.vote = Vote(outcome, best_position, note)
        was_hidden, cur.revealed = self.hidden, True
        return was_hidden

    def set_note(self, note: str) -> None:
        cur = self.open_round
        if cur is not None and cur.vote is not None:
            cur.vote.note = note
            self.services.store.set_note(cur.round_id, note)

    def set_stars(self, i: int, stars: int | None) -> None:
        cur = self.open_round
        if cur is not None and i < cur.panes and cur.response_ids[i] >= 0:
            self.services.store.set_stars(cur.response_ids[i], stars)

    # -- conversations ----------------------------------------------------------------------
    def new(self) -> None:
        """A new conversation with the same panes and models; nothing remembered."""
        if self.running:
            raise Refused("Wait for the answers (or press Esc) before starting a new comparison.")
        self.conversation_id = None
        self.open_round = None
        for p in self.panes:
            p.earlier = []

    def open(self, conversation_id: int):
        """Reopen a stored conversation to read, vote on or continue: each pane gets the model it
        had (shown as gone if it is; never silently another) and its memory. Returns the
        stored panes (PaneRecord), for the window to show their transcripts."""
        from .arena import pane_records
        from .engines.base import Result
        from .open_round import OpenRound, Vote

        if self.running:
            raise Refused("Wait for the answers (or press Esc) before opening another comparison.")
        conv = self.services.store.conversation(conversation_id)
        if not conv.rounds:
            raise Refused("This comparison has no rounds to show.")
        records = pane_records(conv)
        last = conv.rounds[-1]
        by_slot = {r.slot: r for r in last.responses}
        panes, results, response_ids, positions, choices = [], [], [], [], []
        for rec in records:
            try:
                choice = ModelChoice.parse(rec.choice) if rec.choice else None
            except ValueError:
                choice = None
            row = by_slot.get(rec.slot)
            panes.append(PaneState(choice, earlier=rec.earlier))
            results.append(Result(text=row.text, status=row.status, error=row.error, finish_reason=row.finish_reason,
                                  max_tokens=row.max_tokens) if row else None)
            response_ids.append(row.id if row else -1)
            positions.append(rec.position)
            choices.append(choice)
        self.panes = panes
        self.conversation_id = conv.id
        vote = Vote(last.vote.outcome, last.vote.best_position, last.vote.note) if last.vote else None
        # A blind round stays hidden until its names were shown (its first vote; a regenerate
        # after that dropped the vote, not the reveal).
        self.open_round = OpenRound(last.id, last.prompt, response_ids, positions, choices, results, last.blind,
                                    revealed=last.names_shown, vote=vote,
                                    system_prompt=last.system_prompt)
        return records

    def _reattach(self, cur: OpenRound) -> Round:
        """A reopened round made live again to regenerate answers of it, each pane's engine
        being the model that answered there (never the picker's next choice)."""
        from .arena import Round, Slot

        slots = []
        for i in range(cur.panes):
            choice = cur.choices[i]
            if choice is None or cur.response_ids[i] < 0:
                raise self._cannot_answer(f"Pane {self.letter(i)}: the model that answered here is not known to "
                                          "ArenaDesk, so this round cannot be answered again. Send a new prompt instead.",
                                          again=True)
            why = self.contestants.problem(choice)
            if why:
                raise self._cannot_answer(f"Pane {self.letter(i)}: {why}", again=True)
            slots.append(Slot(choice, self._engine(i, choice, again=True), self.params(i),
                              history=list(self.panes[i].earlier)))
        return Round.reattach(self.services.store, self.services.prices, cur.round_id, cur.response_ids,
                              cur.prompt, slots, system_prompt=cur.system_prompt, positions=cur.positions)

    def _engine(self, i: int, choice: ModelChoice, no_key: str = "", again: bool = False):
        """The engine that answers in pane i, or Refused saying what to do: a missing key
        (followed by `no_key`, what else the user can do there), a model file that cannot be
        opened, a bad endpoint setting. `again`: for a regenerate of the open round."""
        try:
            return self.services.engines.get(choice, instance=i)
        except NeedsKey as exc:
            raise self._cannot_answer(f"{exc} {no_key}".strip(), again) from None
        except Exception as exc:
            raise self._cannot_answer(f"Pane {self.letter(i)} ({choice.label}): {exc}", again) from None

    def _cannot_answer(self, why: str, again: bool = False) -> Refused:
        """The refusal when a pane's model cannot answer: `why` names the pane and its model. While
        the open blind round is hidden its letters are the "Model A/B" on screen, so neither the
        model nor its kind ("needs a key", "pick a local model") may be tied to one before the
        vote: only what the user can do is said. `again`: a regenerate of that round (which
        cannot be voted on first when its answer was cut off), not a new prompt."""
        if not self.hidden:
            return Refused(why)
        if again:
            return Refused("A model of this blind round cannot answer again, and saying which or why would tell the "
                           "sides apart before the vote. Start a New chat to go on (this round stays in the history).")
        return Refused("A model of this blind round cannot answer the next prompt, and saying which or why would tell "
                       "the sides apart before the vote. Vote on this round to see the names (sending again then "
                       "says what to fix), or start a New chat.")

    def _close_open_round(self) -> None:
        for i, p in enumerate(self.panes):
            p.earlier = self.history(i)
        self.open_round = None
