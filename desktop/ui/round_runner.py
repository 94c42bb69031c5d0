"""Carries a core Round's callbacks (which arrive on worker threads) onto the GUI
thread as Qt signals. No widget is touched from a worker."""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from ..core.arena import Round
from ..core.engines.base import Result


class RoundRunner(QObject):
    delta = Signal(int, str)  # slot, text
    finished = Signal(int, object)  # slot, Result
    allFinished = Signal()

    def __init__(self, round_: Round, parent=None):
        super().__init__(parent)
        self.round = round_
        self._open = set()
        self._wired = False

    def start(self) -> None:
        # Connected last, so every other listener has seen a slot's result before allFinished.
        if not self._wired:
            self.finished.connect(self._on_finished)
            self._wired = True
        self._open = set(range(len(self.round.slots)))
        self.round.start(self._emit_delta, self._emit_result)

    def regenerate(self, slot: int) -> None:
        self._open.add(slot)
        self.round.regenerate(slot, self._emit_delta, self._emit_result)

    def cancel(self, slot: int | None = None) -> None:
        self.round.cancel(slot)

    @property
    def running(self) -> bool:
        return bool(self._open)

    # Called on worker threads: emitting is safe, the connection is queued to the GUI thread.
    def _emit_delta(self, slot: int, text: str) -> None:
        self.delta.emit(slot, text)

    def _emit_result(self, slot: int, result: Result) -> None:
        self.finished.emit(slot, result)

    def _on_finished(self, slot: int, _result) -> None:
        self._open.discard(slot)
        if not self._open:
            self.allFinished.emit()
