"""The verdict for a round: which answer was better, and a note.

Two panes: left better (1 or ←), right better (2 or →), tie (3), both bad (4).
More panes: pick the best (1-4), tie (T) or all bad (X). The vote is saved the
moment it is cast and can be changed until the next prompt (or later, from history).
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QButtonGroup, QFrame, QHBoxLayout, QLabel, QLineEdit, QPushButton

LETTERS = "ABCD"


class RatingBar(QFrame):
    voted = Signal(str, object)  # outcome, best position (or None)
    noteEdited = Signal(str)
    typedAhead = Signal(str)  # a key meant for the next prompt ("" for Enter)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("ratingBar")
        # Focus stays here after a vote, so 1-4 and arrows can change it; any other key
        # starts the next prompt (see keyPressEvent).
        # Qt.StrongFocus by its name: the window is built without PySide6's Qt enums (see actions.build).
        self.setProperty("focusPolicy", "StrongFocus")
        self.panes = 2
        self.outcome: tuple[str, int | None] | None = None
        self.prompt = QLabel("Which answer was better?", self)
        self.prompt.setObjectName("ratingPrompt")
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict[tuple[str, int | None], QPushButton] = {}
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(10, 6, 10, 6)
        self.row.addWidget(self.prompt)
        self.choices = QHBoxLayout()
        self.row.addLayout(self.choices)
        self.note = QLineEdit(self)
        self.note.setPlaceholderText("Note (optional): why?")
        self.note.setMinimumWidth(160)
        self.note.editingFinished.connect(lambda: self.noteEdited.emit(self.note.text()))
        self.row.addWidget(self.note, 1)
        self.status = QLabel(self)
        self.status.setObjectName("ratingStatus")
        self.row.addWidget(self.status)
        self._shortcuts: list[QShortcut] = []
        self.set_panes(2)
        self.set_open(False)

    def set_panes(self, n: int) -> None:
        self.panes = n
        for b in self.buttons.values():
            self.group.removeButton(b)
            self.choices.removeWidget(b)
            b.hide()
            b.deleteLater()
        for s in self._shortcuts:
            s.setEnabled(False)
            s.deleteLater()
        self.buttons, self._shortcuts = {}, []
        self.setVisible(n >= 2)  # one pane: nothing to compare
        if n < 2:
            return
        if n == 2:
            spec = [("← Left better", ("left", None), ["1", "Left"]),
                    ("Right better →", ("right", None), ["2", "Right"]),
                    ("Tie", ("tie", None), ["3"]),
                    ("Both bad", ("both_bad", None), ["4"])]
        else:
            spec = [(f"{LETTERS[i]} best", ("best", i), [str(i + 1)]) for i in range(n)]
            spec += [("Tie", ("tie", None), ["T"]), ("All bad", ("both_bad", None), ["X"])]
        for text, key, keys in spec:
            b = QPushButton(text, self)
            b.setCheckable(True)
            b.setObjectName("voteButton")
            b.setToolTip("Shortcut: " + " or ".join(QKeySequence(k).toString(QKeySequence.NativeText) for k in keys))
            b.clicked.connect(lambda _=False, key=key: self._vote(*key))
            self.group.addButton(b)
            self.choices.addWidget(b)
            self.buttons[key] = b
            for k in keys:
                sc = QShortcut(QKeySequence(k), self)  # anywhere in the window (the default context)
                sc.activated.connect(lambda key=key: self._shortcut(*key))
                self._shortcuts.append(sc)

    def set_open(self, on: bool) -> None:
        """Votes can be cast only when the round's answers are in."""
        for b in self.buttons.values():
            b.setEnabled(on)
        self.note.setEnabled(on)
        if not on:
            self.status.setText("")

    def reset(self) -> None:
        self.outcome = None
        self.group.setExclusive(False)
        for b in self.buttons.values():
            b.setChecked(False)
        self.group.setExclusive(True)
        self.note.clear()
        self.status.setText("")

    def show_vote(self, outcome: str, best_position: int | None, note: str) -> None:
        """Show a stored vote (reopened history) without emitting."""
        self.reset()
        self.outcome = (outcome, best_position)
        b = self.buttons.get((outcome, best_position if outcome == "best" else None))
        if b:
            b.setChecked(True)
        self.note.setText(note)
        self.status.setText("✓ saved")

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt override)
        from PySide6.QtCore import Qt

        if event.key() in (Qt.Key_Return, Qt.Key_Enter):
            self.typedAhead.emit("")
        elif event.text() and event.text().isprintable() and not event.modifiers() & ~Qt.ShiftModifier:
            self.typedAhead.emit(event.text())
        else:
            super().keyPressEvent(event)

    def _shortcut(self, outcome: str, best: int | None) -> None:
        b = self.buttons.get((outcome, best))
        if b is not None and b.isEnabled() and self.isVisible():
            b.setChecked(True)
            self._vote(outcome, best)

    def _vote(self, outcome: str, best: int | None) -> None:
        self.outcome = (outcome, best)
        self.status.setText("✓ saved")
        self.voted.emit(outcome, best)
