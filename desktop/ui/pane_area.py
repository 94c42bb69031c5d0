"""The panes side by side, in the order they are shown (blind mode shuffles it every round)."""
from __future__ import annotations

from PySide6.QtWidgets import QSplitter

from .pane import Pane


class PaneArea(QSplitter):
    def __init__(self, parent=None):
        # Horizontal, QSplitter's default. Not Qt.Horizontal, and the parent by keyword: PySide6 would
        # build all the enums of its Qt namespace (about 0.1 s of the start) to name the one or to
        # rule out QSplitter(Qt.Orientation, parent) for the other.
        super().__init__(parent=parent)
        self.setChildrenCollapsible(False)
        self.panes: list[Pane] = []  # in the session's order (pane i is the session's pane i)

    def add(self, pane: Pane) -> None:
        self.panes.append(pane)
        self.addWidget(pane)
        self.even_out()

    def remove(self, pane: Pane) -> None:
        self.panes.remove(pane)
        pane.setParent(None)
        pane.deleteLater()
        self.even_out()

    def arrange(self, positions: list[int], hidden: bool) -> None:
        """Show pane i at positions[i], with names hidden or not."""
        for pane, pos in zip(self.panes, positions):
            pane.set_position(pos, hidden)
        for pane in self.shown_order():
            self.insertWidget(pane.position, pane)

    def shown_order(self) -> list[Pane]:
        return sorted(self.panes, key=lambda p: p.position)

    def even_out(self) -> None:
        """Equal widths: a pane added to a full row takes its share instead of squeezing one."""
        if self.panes:
            self.setSizes([max(self.width(), 400) // len(self.panes)] * len(self.panes))
