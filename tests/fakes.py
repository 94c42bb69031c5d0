"""Shared test doubles: engines that answer by script, fast and deterministic, for testing one
rule at a time (every user journey also runs with real models elsewhere)."""
from __future__ import annotations

import threading
import time

from desktop.core.engines.base import Done, Error, ModelInfo, Recorder, TextDelta, Usage


class ScriptedEngine:
    """Answers "<model> says: <n>" in a few deltas; `hold` keeps it streaming until released."""

    fail_next = False  # the next answer fails (a network error), once

    def __init__(self, choice, gate=None):
        self.info = ModelInfo(choice.engine, choice.label, f"ref:{choice.model}")
        self.calls = 0
        self.seen: list[list[dict]] = []
        self._cancel = threading.Event()
        self.hold = gate or threading.Event()
        self.hold.set() if gate is None else None

    def stream(self, messages, params):
        self._cancel.clear()
        self.calls += 1
        self.seen.append(messages)
        if self.fail_next:
            self.fail_next = False
            yield Error("Network down: try again.", "connection")
            return
        for part in (f"{self.info.model} ", "says: ", f"{self.calls}"):
            if self._cancel.is_set():
                yield Done("cancelled")
                return
            yield TextDelta(part)
            time.sleep(0.01)
        while not self.hold.is_set():
            if self._cancel.is_set():
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


def scripted_services(engines: dict, gate=None):
    """Services on the test's home whose engines are ScriptedEngines (kept in `engines` by choice)."""
    from desktop.core.engines.registry import EnginePool
    from desktop.core.services import Services

    s = Services.open()

    def make(choice):
        engines[str(choice)] = ScriptedEngine(choice, gate)
        return engines[str(choice)]

    s.engines = EnginePool(make)
    return s


def record(engine, messages, params):
    """Stream one answer from a real or scripted engine: (every event, the folded Result)."""
    rec, events = Recorder(), []
    for event in engine.stream(messages, params):
        events.append(event)
        rec.feed(event)
    return events, rec.result
