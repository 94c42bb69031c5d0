"""Worker threads hand results to the GUI thread through this inbox.

Workers never touch widgets and never emit Qt signals: emitting from plain
Python threads at token rate has crashed PySide6 (a refcount error in signal
marshalling, seen here with 6.12 under load). Instead they post callables to a
thread-safe queue, and a timer on the GUI thread runs them in batches, which
also coalesces a burst of tokens into one update.
"""
from __future__ import annotations

import queue
import threading
import time

from PySide6.QtCore import QObject, QTimer

POLL_MS = 25
DRAIN_BUDGET_S = 0.010


class Inbox(QObject):
    def __init__(self, parent=None, interval_ms: int = POLL_MS):
        super().__init__(parent)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.drain)
        self._timer.start()

    def close(self) -> None:
        """Stop running posts (the owner is going away); later posts are dropped."""
        self._timer.stop()
        self._closed = True

    def post(self, fn, *args) -> None:
        """Any thread: run fn(*args) on the GUI thread soon."""
        if not self._closed:
            self._queue.put((fn, args))

    def run(self, name: str, work, done) -> None:
        """Run work() on a daemon thread; done(result, error) then runs on the GUI thread, with
        the exception as `error` (and None as result) if work raised."""

        def job():
            try:
                result, error = work(), None
            except Exception as exc:  # handed to `done`, which says what went wrong
                result, error = None, exc
            self.post(done, result, error)

        threading.Thread(target=job, daemon=True, name=f"arenadesk-{name}").start()

    def drain(self) -> None:
        # A time budget keeps the GUI responsive when workers post faster than we can run.
        deadline = time.perf_counter() + DRAIN_BUDGET_S
        while time.perf_counter() < deadline:
            try:
                fn, args = self._queue.get_nowait()
            except queue.Empty:
                return
            fn(*args)
