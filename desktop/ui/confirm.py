"""One way to ask before something that cannot be undone."""
from __future__ import annotations

from PySide6.QtWidgets import QMessageBox


def confirm(parent, title: str, text: str, action: str) -> bool:
    """A warning with `action` and Cancel; Cancel, the safe answer, is the default."""
    box = QMessageBox(QMessageBox.Warning, title, text, QMessageBox.Cancel, parent)
    go = box.addButton(action, QMessageBox.DestructiveRole)
    box.setDefaultButton(QMessageBox.Cancel)
    box.exec()
    return box.clickedButton() is go
