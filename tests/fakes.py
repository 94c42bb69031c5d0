"""Shared test doubles: engines that answer by script, fast and deterministic, for testing one
rule at a time (every user journey also runs with real models elsewhere)."""
from __future__ import annotations

import threading
import time

from desktop.core.engines.base import Done, Error, ModelInfo, ReasoningDelta, Recorder, TextDelta, Usage


class ScriptedEngine:
    """Answers "<model> says: <n>" in a few deltas; `hold` keeps it streaming until released.
    Scripted further (keyword arguments): `reasoning`, pieces of thinking streamed first (as a
    reasoning model's); `answer`, a text sent in one piece instead; `fail_after`, an error
    ending the answer after its text (a connection dropped mid-answer); `reads_ahead`, it takes the
    user's drafts as a local model does (`prepare`, kept in `drafts`). Like a local model, one
    engine answers one stream at a time: a stream asked for meanwhile waits its turn, and ends at
    once if its own token is set while it waits."""

    fail_next = False  # the next answer fails (a network error), once

    def __init__(self, choice, gate=None, reasoning: tuple[str, ...] = (), answer: str | None = None,
                 fail_after: str | None = None, reads_ahead: bool = False):
        self.reasoning, self.answer, self.fail_after = reasoning, answer, fail_after
        self.drafts: list[list[dict]] = []
        if reads_ahead:
            self.prepare = lambda messages: self.drafts.append(messages) or True  # taken, as by an idle model
        self.info = ModelInfo(choice.engine, choice.label, f"ref:{choice.model}")
        self.calls = 0
        self.seen: list[list[dict]] = []
        self._cancel = threading.Event()
        self._turn = threading.Lock()  # one answer at a time, as LocalEngine
        self.hold = gate or threading.Event()
        self.hold.set() if gate is None else None

    def stream(self, messages, params, cancel=None):
        while not self._turn.acquire(timeout=0.01):
            if cancel is not None and cancel.cancelled:
                yield Done("cancelled")  # stopped while another answer had the engine
                return
        try:
            yield from self._answer(messages, cancel)
        finally:
            self._turn.release()

    def _answer(self, messages, cancel):
        self._cancel.clear()

        def stopped():  # cancel(), or this answer's own token (panes sharing an engine stop by token)
            return self._cancel.is_set() or (cancel is not None and cancel.cancelled)

        self.calls += 1
        self.seen.append(messages)
        if self.fail_next:
            self.fail_next = False
            yield Error("Network down: try again.", "connection")
            return
        for piece in self.reasoning:
            yield ReasoningDelta(piece)
            time.sleep(0.01)
        parts = (self.answer,) if self.answer is not None else (f"{self.info.model} ", "says: ", f"{self.calls}")
        for part in parts:
            if stopped():
                yield Done("cancelled")
                return
            yield TextDelta(part)
            time.sleep(0.01)
        if self.fail_after:
            yield Error(self.fail_after, "connection")
            return
        while not self.hold.is_set():
            if stopped():
                yield Done("cancelled")
                return
            time.sleep(0.01)
        # An API-like engine that sends no usage: the count is estimated (shown with "~").
        yield Usage(3, 3, self.info.engine == "openai")
        yield Done()

    def cancel(self):
        self._cancel.set()

    def close(self):
        pass


KEYLESS_ENDPOINT = "http://127.0.0.1:9/v1"  # nothing listens: the API panes' engines are scripted


def scripted_services(engines: dict, gate=None, scripts: dict[str, dict] | None = None, keyless: bool = True):
    """Services on the test's home whose engines are ScriptedEngines (kept in `engines` by choice;
    `scripts`: ScriptedEngine's keyword arguments by choice, e.g. {"openai:gpt-4o": {"reasoning": …}}).
    keyless: OpenAI's connection points at KEYLESS_ENDPOINT, so no key is asked for."""
    from desktop.core.engines.registry import EnginePool
    from desktop.core.services import Services

    s = Services.open()

    def make(choice):
        engines[str(choice)] = ScriptedEngine(choice, gate, **(scripts or {}).get(str(choice), {}))
        return engines[str(choice)]

    s.engines = EnginePool(make)
    if keyless:
        s.settings.openai_base_url = KEYLESS_ENDPOINT
    return s


def unmakeable_engines(why: str):
    """An engine pool whose every engine fails to be made with `why` (a bad endpoint setting, a
    file that cannot be opened): what the session must refuse with, naming the pane."""
    from desktop.core.engines.registry import EnginePool

    def make(choice):
        raise ValueError(why)

    return EnginePool(make)


def two_pane_session(services, choices=None, blind: bool | None = None):
    """A ComparisonSession on gpt-4o and gpt-4.1 (or `choices`) whose `round_done` event is set
    when a round ends; seeded, so blind positions repeat."""
    import random

    from desktop.core.engines.registry import ModelChoice
    from desktop.core.session import ComparisonSession

    done = threading.Event()
    session = ComparisonSession(services, on_round_done=done.set, rng=random.Random(3))
    session.round_done = done
    for choice in choices or (ModelChoice("openai", "gpt-4o"), ModelChoice("openai", "gpt-4.1")):
        session.add_pane(choice)
    if blind is not None:  # else as Settings say
        session.blind = blind
    return session


def record(engine, messages, params):
    """Stream one answer from a real or scripted engine: (every event, the folded Result)."""
    rec, events = Recorder(), []
    for event in engine.stream(messages, params):
        events.append(event)
        rec.feed(event)
    return events, rec.result



def shown_window(qtbot, services, choices=("openai:gpt-4o", "openai:gpt-4.1")):
    """The real main window on `services`, shown and exposed, its panes set to `choices`."""
    from desktop.ui.main_window import MainWindow

    w = MainWindow(services)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    for i, choice in enumerate(choices):
        w.choose_model(i, choice)
    return w


def put_in_models(services, model_file):
    """A model file placed in the models folder as a download or an import would leave it (a hard
    link, or a copy across file systems); the path it has there."""
    import os
    import shutil

    target = services.folders.models / model_file.name
    try:
        os.link(model_file, target)
    except OSError:
        shutil.copyfile(model_file, target)
    return target


class FirstAnswerHeld:
    """A round of two panes that take turns (one engine, or two local models sharing the CPU),
    started with whichever pane gets its turn first held at its first piece of text: `running` is
    that pane, `waiting` the other. Leaving the `with` lets the held answer go on."""

    def __init__(self, rnd, wait_s: float):
        self.rnd, self.wait_s = rnd, wait_s
        self._answering, self._first, self._go_on = [], threading.Event(), threading.Event()

    def _on_delta(self, i, text):
        self._answering.append(i)
        self._first.set()
        self._go_on.wait(max(30.0, self.wait_s))

    def __enter__(self):
        self.rnd.start(on_delta=self._on_delta)
        assert self._first.wait(self.wait_s), "no pane wrote anything"
        self.running = self._answering[0]
        self.waiting = 1 - self.running
        return self

    def __exit__(self, *exc):
        self._go_on.set()
        return False
