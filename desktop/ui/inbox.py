"""Worker threads hand results to the GUI thread through this inbox.

Workers never touch widgets and never emit Qt signals: emitting from plain
Python threads at token rate has crashed PySide6 (a refcount error in signal
marshalling, seen here with 6.12 under load). Instead they post callables to a
thread-safe queue, and a timer on the GUI thread runs them in batches, which
also coalesces a burst of tokens into one update.
"""
from __future__ import annotations

import collections
import functools
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
        self._idle = threading.Condition()  # guards the two below; notified when a job ends
        self._jobs = 0  # jobs given to run() that have not ended
        self._lanes: dict[str, collections.deque] = {}  # lane -> its jobs, the running one first
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

    def run(self, name: str, work, done, *, lane: str | None = None) -> None:
        """Run work() on a daemon thread; done(result, error) then runs on the GUI thread, with
        the exception as `error` (and None as result) if work raised. Jobs given the same `lane`
        run one at a time, in the order given (work that must not overlap, e.g. on one store)."""

        def job():
            try:
                try:
                    result, error = work(), None
                except Exception as exc:  # handed to `done`, which says what went wrong
                    result, error = None, exc
                self.post(done, result, error)
            finally:
                with self._idle:
                    self._jobs -= 1
                    self._idle.notify_all()

        with self._idle:
            self._jobs += 1
            if lane is not None:
                waiting = self._lanes.setdefault(lane, collections.deque())
                waiting.append(job)
                if len(waiting) > 1:
                    return  # the lane's thread runs it after the ones before it
                job = functools.partial(self._run_lane, waiting)
        threading.Thread(target=job, daemon=True, name=f"arenadesk-{name}").start()

    def _run_lane(self, waiting: collections.deque) -> None:
        while True:
            with self._idle:
                job = waiting[0]
            job()
            with self._idle:
                waiting.popleft()
                if not waiting:
                    return

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Block until every job given to run() has ended (for shutdown and tests); their
        `done` still runs later, on the GUI thread. False if some still run after timeout_s."""
        with self._idle:
            return self._idle.wait_for(lambda: self._jobs == 0, timeout_s)

    def drain(self) -> None:
        # A time budget keeps the GUI responsive when workers post faster than we can run.
        deadline = time.perf_counter() + DRAIN_BUDGET_S
        while time.perf_counter() < deadline:
            try:
                fn, args = self._queue.get_nowait()
            except queue.Empty:
                return
            fn(*args)
