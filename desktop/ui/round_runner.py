"""Runs a core Round for the window: its callbacks arrive on worker threads and are
handed to the GUI thread through an Inbox, then announced as Qt signals there."""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from ..core.arena import Round
from ..core.engines.base import Result
from .inbox import Inbox


class RoundRunner(QObject):
    delta = Signal(int, str)  # slot, text (a batch of tokens)
    finished = Signal(int, object)  # slot, Result
    allFinished = Signal()

    def __init__(self, round_: Round, parent=None):
        super().__init__(parent)
        self.round = round_
        self._open: set[int] = set()
        self._pending: dict[int, list[str]] = {}
        self._inbox = Inbox(self)

    def start(self) -> None:
        self._open = set(range(len(self.round.slots)))
        self.round.start(self._on_delta, self._on_result)

    def regenerate(self, slot: int) -> None:
        self._open.add(slot)
        self.round.regenerate(slot, self._on_delta, self._on_result)

    def cancel(self, slot: int | None = None) -> None:
        self.round.cancel(slot)

    @property
    def running(self) -> bool:
        return bool(self._open)

    # Worker threads: only post to the inbox.
    def _on_delta(self, slot: int, text: str) -> None:
        self._inbox.post(self._deliver_delta, slot, text)

    def _on_result(self, slot: int, result: Result) -> None:
        self._inbox.post(self._deliver_result, slot, result)

    # GUI thread.
    def _deliver_delta(self, slot: int, text: str) -> None:
        self.delta.emit(slot, text)

    def _deliver_result(self, slot: int, result: Result) -> None:
        self.finished.emit(slot, result)
        self._open.discard(slot)
        if not self._open:
            self.allFinished.emit()
