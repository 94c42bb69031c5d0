"""The row under the panes where a prompt is written: the prompt, its category, Send and Stop."""
from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget


# How long typing must pause before the draft is offered to the models to read ahead: long enough
# not to restart the read on every key, short next to the time between stopping typing and sending.
DRAFT_PAUSE_MS = 400


class PromptBar(QWidget):
    sendRequested = Signal()
    stopRequested = Signal()
    draftPaused = Signal(str)  # the prompt's text, once typing paused (local models read it ahead)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.prompt = QPlainTextEdit(self)
        self.prompt.setObjectName("prompt")
        self.prompt.setPlaceholderText("Ask every model the same thing…   Ctrl+Enter sends · Esc stops · F1 shortcuts")
        self.prompt.setFixedHeight(84)
        self.prompt.setTabChangesFocus(True)  # keyboard users can leave it; Tab is rarely wanted in a prompt
        self.tag = QComboBox(self)
        self.tag.setEditable(True)
        self.tag.setToolTip("A category for this prompt (coding, writing…), to filter the leaderboard")
        self.tag.lineEdit().setPlaceholderText("category")
        self.tag.setMinimumWidth(110)
        self.send_button = QPushButton("Send", self)
        self.send_button.setObjectName("sendButton")
        self.send_button.setToolTip("Send to every pane (Ctrl+Enter)")
        self.send_button.clicked.connect(self.sendRequested)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setToolTip("Stop every answer (Esc)")
        self.stop_button.clicked.connect(self.stopRequested)
        buttons = QVBoxLayout()
        buttons.addWidget(self.tag)
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.prompt, 1)
        row.addLayout(buttons)
        self._draft_timer = QTimer(self)
        self._draft_timer.setSingleShot(True)
        self._draft_timer.setInterval(DRAFT_PAUSE_MS)
        self._draft_timer.timeout.connect(self.offer_draft)
        self.prompt.textChanged.connect(self._draft_timer.start)

    def offer_draft(self) -> None:
        """Hand the text typed so far on to be read ahead (draftPaused), if there is any: on a pause
        in typing, and again when answers end (a draft typed while they ran was refused)."""
        if self.text():
            self.draftPaused.emit(self.text())

    def text(self) -> str:
        return self.prompt.toPlainText().strip()

    def category(self) -> str | None:
        return self.tag.currentText().strip() or None

    def set_categories(self, categories: list[str]) -> None:
        """The categories used so far, offered in the box; the text typed stays."""
        typed = self.tag.currentText()
        self.tag.blockSignals(True)
        self.tag.clear()
        self.tag.addItems(categories)
        self.tag.setEditText(typed)
        self.tag.blockSignals(False)

    def set_running(self, on: bool) -> None:
        self.send_button.setEnabled(not on)
        self.stop_button.setEnabled(on)
