"""A round: one prompt sent to every pane at once, streamed concurrently, recorded.

The round is written to the store before any engine starts, and each answer is
saved when it ends however it ends (done, cancelled, error: the partial text is
kept), so nothing the user saw is lost. Callbacks arrive on worker threads; the
window turns them into Qt signals.
"""
from __future__ import annotations

import random
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from .engines.base import (CancelToken, Done, Engine, Error, ReasoningDelta, Recorder, Result, Started, TextDelta,
                           Waiting, acquire_unless_cancelled, cut_off_note)
from .engines.registry import ModelChoice
from .pricing import Prices
from .settings import Sampling
from .store import SlotSpec, Store

SAVE_EVERY_S = 2.0  # partial text reaches the database at least this often while streaming


@dataclass
class Slot:
    """One pane's side of the conversation."""

    choice: ModelChoice
    engine: Engine
    params: Sampling
    history: list[dict] = field(default_factory=list)  # the turns this pane's model is shown before the prompt

    def messages(self, prompt: str, system_prompt: str = "", history: list[dict] | None = None) -> list[dict]:
        return prompt_messages(prompt, system_prompt, self.history if history is None else history)


def prompt_messages(prompt: str, system_prompt: str, history: list[dict]) -> list[dict]:
    """What a model is given for `prompt`: the system prompt, the pane's earlier turns, the prompt."""
    head = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
    return head + history + [{"role": "user", "content": prompt}]


def shuffled_positions(n: int, rng: random.Random | None = None) -> list[int]:
    """Blind mode: where each slot is shown this round (slot i at positions[i])."""
    positions = list(range(n))
    (rng or random).shuffle(positions)
    return positions


class Round:
    def __init__(
        self,
        store: Store,
        prices: Prices,
        conversation_id: int,
        prompt: str,
        slots: list[Slot],
        *,
        system_prompt: str = "",
        blind: bool = False,
        tag: str | None = None,
        positions: list[int] | None = None,
    ):
        if not prompt.strip():
            raise ValueError("the prompt is empty")
        self.store, self.prices = store, prices
        self.prompt, self.slots, self.system_prompt = prompt, slots, system_prompt
        self.positions = positions or list(range(len(slots)))
        specs = [self._spec(i) for i in range(len(slots))]
        self.round_id, self.response_ids = store.add_round(
            conversation_id, prompt, specs, system_prompt=system_prompt, blind=blind, tag=tag
        )
        self._prepare()

    @classmethod
    def reattach(cls, store: Store, prices: Prices, round_id: int, response_ids: list[int], prompt: str,
                 slots: list[Slot], *, system_prompt: str = "", positions: list[int] | None = None) -> "Round":
        """A stored round (a reopened conversation's last one) made live again, so that an answer
        of it can be regenerate()d in place; nothing is written until then."""
        self = cls.__new__(cls)
        self.store, self.prices = store, prices
        self.prompt, self.slots, self.system_prompt = prompt, slots, system_prompt
        self.positions = positions or list(range(len(slots)))
        self.round_id, self.response_ids = round_id, list(response_ids)
        self._prepare()
        return self

    def _prepare(self) -> None:
        slots = self.slots
        self.results: list[Result | None] = [None] * len(slots)
        self.save_errors: list[str | None] = [None] * len(slots)  # why an answer could not be stored
        # Each answer's own stop: engines can be shared (two panes on one local model, the judge
        # on it too), and stopping one pane must end that pane's answer only, waiting or running.
        self._stops = [CancelToken() for _ in slots]
        self._threads: list[threading.Thread | None] = [None] * len(slots)
        # The conversation each pane had before this round: what its model is shown, every time
        # this round is answered (a regenerate must not see the answer it replaces).
        self._earlier = [list(s.history) for s in slots]
        # Panes that share an engine (two panes on one local model) take turns here, so the pane
        # started first answers first (the engine alone would serve whichever asked first once a
        # warm-up let go of it); each waits watching its own stop (_take_turn).
        self._turns = {id(s.engine): threading.Lock() for s in slots}
        # Called with (pane, text) for each piece of a reasoning model's thinking, as it streams.
        self.on_reasoning: Callable[[int, str], None] | None = None
        # Called with (pane, True) when a pane's answer has to wait for its turn (another pane on its
        # model, another local model on the CPU), and (pane, False) when its turn begins.
        self.on_turn: Callable[[int, bool], None] | None = None

    def _spec(self, i: int) -> SlotSpec:
        s = self.slots[i]
        return SlotSpec(i, self.positions[i], s.choice.engine, s.engine.info.model, s.engine.info.ref,
                        asdict(s.params), str(s.choice), s.choice.connection)

    # -- running ----------------------------------------------------------------------------
    def start(self, on_delta: Callable[[int, str], None] | None = None,
              on_result: Callable[[int, Result], None] | None = None) -> None:
        for i in range(len(self.slots)):
            self.start_slot(i, on_delta, on_result)

    def start_slot(self, i: int, on_delta=None, on_result=None) -> None:
        self._stops[i] = CancelToken()
        t = threading.Thread(target=self._run_slot, args=(i, on_delta, on_result), daemon=True,
                             name=f"arenadesk-round{self.round_id}-slot{i}")
        self._threads[i] = t
        t.start()

    def regenerate(self, i: int, on_delta=None, on_result=None) -> None:
        """Answer this pane's prompt again; the earlier answer (and the round's vote) is replaced.
        An answer still streaming is stopped first rather than waited for (this runs on the GUI thread)."""
        self.cancel(i)
        self.wait_slot(i)
        self.store.replace_response(self.response_ids[i], self._spec(i))
        self.start_slot(i, on_delta, on_result)

    def wait(self, timeout: float | None = None) -> list[Result]:
        for i in range(len(self.slots)):
            self.wait_slot(i, timeout)
        return list(self.results)

    def wait_slot(self, i: int, timeout: float | None = None) -> None:
        t = self._threads[i]
        if t is not None:
            t.join(timeout)

    def run(self, on_delta=None, on_result=None) -> list[Result]:
        self.start(on_delta, on_result)
        return self.wait()

    def cancel(self, i: int | None = None) -> None:
        for j, stop in enumerate(self._stops):
            if i is None or i == j:
                stop.cancel()

    @property
    def running(self) -> bool:
        return any(t is not None and t.is_alive() for t in self._threads)

    def _run_slot(self, i: int, on_delta, on_result) -> None:
        slot = self.slots[i]
        rec = Recorder()
        try:
            turn = self._turns.setdefault(id(slot.engine), threading.Lock())  # a pane's engine may be swapped
            if self._take_turn(i, turn):
                rec = Recorder()  # the clock starts with this pane's turn: waiting for another pane is not its time
                try:
                    self._stream(i, slot, rec, on_delta)
                finally:
                    turn.release()
            else:
                rec.feed(Done("cancelled"))  # stopped while another pane had the engine
        except Exception as exc:  # an engine bug must not take the round down with it
            rec.feed(Error(f"Unexpected failure: {type(exc).__name__}: {exc}", "crash"))
        result = rec.result
        self.results[i] = result
        try:
            result.cost_usd = self.cost(slot, result)
            self.store.save_response(self.response_ids[i], result)
            self.save_errors[i] = None
        except Exception as exc:  # a full disk, a read-only file: the answer exists on screen only, and says so
            self.save_errors[i] = str(exc)
            said = f"{result.error} " if result.error else ""
            result.status, result.error_kind = "error", "storage"
            result.error = f"{said}This answer was not saved: {exc}"
        finally:
            # Whatever happens to the bookkeeping, the pane hears that its answer ended.
            if on_result:
                on_result(i, result)

    def _take_turn(self, i: int, turn: threading.Lock) -> bool:
        """Wait for this pane's turn on its engine; False (no turn held) once the pane is stopped.
        The stop is looked at while waiting, so a Stop on a waiting pane ends it at once, not when
        the other pane's whole answer is over."""
        waited = not turn.acquire(blocking=False)
        if waited:
            self._turn_changed(i, True)
            if not acquire_unless_cancelled(turn, self._stops[i]):
                return False
        if self._stops[i].cancelled:
            turn.release()
            return False
        if waited:
            self._turn_changed(i, False)
        return True

    def _turn_changed(self, i: int, waiting: bool) -> None:
        if self.on_turn:
            self.on_turn(i, waiting)

    def _stream(self, i: int, slot: Slot, rec: Recorder, on_delta) -> None:
        last_save = time.monotonic()
        messages = slot.messages(self.prompt, self.system_prompt, self._earlier[i])
        for event in slot.engine.stream(messages, slot.params, cancel=self._stops[i]):
            rec.feed(event)
            if isinstance(event, TextDelta) and event.text:
                if on_delta:
                    on_delta(i, event.text)
                if time.monotonic() - last_save > SAVE_EVERY_S:
                    try:
                        self.store.save_response(self.response_ids[i], rec.result)
                    except sqlite3.Error:
                        pass  # the answer goes on; the save at its end says whether it could be stored
                    last_save = time.monotonic()
            elif isinstance(event, ReasoningDelta) and event.text and self.on_reasoning:
                self.on_reasoning(i, event.text)
            elif isinstance(event, (Waiting, Started)):
                self._turn_changed(i, isinstance(event, Waiting))
            if isinstance(event, (Done, Error)):
                break
        else:
            rec.feed(Error("The answer ended without finishing; the text so far is kept.", "dropped"))

    def cost(self, slot: Slot, result: Result) -> float | None:
        if slot.choice.engine == "local":
            return 0.0
        return self.prices.cost(slot.choice.model, result.tokens_in, result.tokens_out, slot.choice.connection)


def turn_messages(prompt: str, status: str, text: str) -> list[dict]:
    """What a finished turn adds to its pane's memory: the exchange, if there is an answer to
    remember (a stopped answer counts with what it said; a failed one is forgotten)."""
    if status in ("done", "cancelled") and text:
        return [{"role": "user", "content": prompt}, {"role": "assistant", "content": text}]
    return []


@dataclass
class PaneRecord:
    """One pane of a stored conversation, as the window shows and continues it."""

    slot: int
    choice: str  # what its picker named in the last round ("" if unknown)
    position: int  # where it was shown in the last round
    turns: list[tuple[str, str, str]]  # (prompt, answer, note) per round it took part in
    history: list[dict]  # the messages it remembers for the next prompt
    stars: int | None  # stars on its last answer
    last_response_id: int | None
    earlier: list[dict] = field(default_factory=list)  # its memory before the last round
    reasonings: list[str] = field(default_factory=list)  # a reasoning model's thinking, per turn ("" if none)
    choices: list[str] = field(default_factory=list)  # the model that answered, per turn ("" if unknown)


def pane_records(conversation) -> list[PaneRecord]:
    """Rebuild each pane's transcript and memory from a stored ConversationRow."""
    rounds = conversation.rounds
    n = max((len(r.responses) for r in rounds), default=0)
    by_slot = [{r.slot: r for r in rnd.responses} for rnd in rounds]
    out = []
    for i in range(n):
        turns, history, earlier, reasonings, choices = [], [], [], [], []
        for rnd, slots in zip(rounds, by_slot):
            r = slots.get(i)
            if r is None:
                continue
            earlier = list(history)
            note = r.error if r.status == "error" else ("Stopped." if r.status == "cancelled" else "")
            if r.status == "done" and r.finish_reason == "length":
                note = f"[{cut_off_note(r.finish_reason, r.max_tokens)}]"
            turns.append((rnd.prompt, r.text, note or ""))
            reasonings.append(r.reasoning or "")
            choices.append(r.choice or "")
            history += turn_messages(rnd.prompt, r.status, r.text)
        last = by_slot[-1].get(i) if by_slot else None
        out.append(PaneRecord(i, last.choice if last else "", last.position if last else i, turns, history,
                              last.stars if last else None, last.id if last else None,
                              earlier if last else history, reasonings, choices))
    return out


def format_metrics(r: Result, blind: bool = False) -> list[str]:
    """The figures shown under an answer, in the same words everywhere. `blind`: only what
    every engine reports alike (no cost or "free", no mark on estimated token counts)."""
    out = []
    if r.ttft_s is not None:
        out.append(f"first token {_seconds(r.ttft_s)}")
    if r.reasoning and r.first_answer_s is not None and not blind:  # only reasoning models have it: a tell
        out.append(f"first answer token {_seconds(r.first_answer_s)}")  # after the reasoning
    if r.tokens_per_s is not None:
        out.append(f"{r.tokens_per_s:.1f} tok/s")
    if r.tokens_out is not None:
        out.append(f"{'~' if r.tokens_estimated and not blind else ''}{r.tokens_out} tokens")
    if r.cost_usd is not None and not blind:
        out.append("free (local)" if r.cost_usd == 0 else f"${r.cost_usd:.4f}")
    return out


def _seconds(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"
