"""The row under the panes where a prompt is written: the prompt, its category, Send and Stop."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget


class PromptBar(QWidget):
    sendRequested = Signal()
    stopRequested = Signal()

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
