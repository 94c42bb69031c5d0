"""The window's Tools entries for suites: Run a suite, Rating queue, Leaderboard by category.

The entries exist as soon as the window is built, but the dialogs behind them (suite_dialogs.py,
and through it the suite runner and its store) are imported only when an entry is first
triggered: the window starts without them (tests/ui/test_window_start.py keeps it so).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication

from .window_dialogs import show_kept

if TYPE_CHECKING:
    from PySide6.QtWidgets import QDialog

    from ..core.services import Services

# (label, tooltip, the dialog's key in window.suite_dialogs)
ENTRIES = (
    ("Run a suite…", "Answer a prompt suite with 2-4 models, unattended", "run"),
    ("Rating queue…", "Rate suite answers blind, two at a time", "queue"),
    ("Leaderboard by category…", "Ratings per suite category", "category"),
)


def add_suite_actions(window, menu, services: Services, model_items) -> None:
    """Add the suite entries to `menu`; each dialog is made on first use and kept (a run goes on
    while its dialog is closed). `model_items()` lists the window's model choices."""
    dialogs: dict[str, QDialog] = {}

    def make(name: str) -> QDialog:
        from . import suite_dialogs as sd

        if name == "run":
            return sd.SuiteRunDialog(services, model_items(), window)
        if name == "queue":
            return sd.RatingQueueDialog(services, window)
        return sd.CategoryBoardDialog(services, window)

    def open_dialog(name: str) -> None:
        d = show_kept(dialogs, name, lambda: make(name))
        if name == "category":
            d.refresh()
        else:
            d.reload()

    def quitting():
        try:
            if "run" in dialogs:
                dialogs["run"].shutdown()
        except RuntimeError:  # the window (and its dialogs) is gone already; the run resumes next time
            pass

    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(quitting)
    menu.addSeparator()
    for text, tip, name in ENTRIES:
        a = QAction(text, window)
        a.setToolTip(tip)
        a.triggered.connect(lambda _checked=False, name=name: open_dialog(name))
        menu.addAction(a)
    window.suite_dialogs = dialogs  # the window owns them (tests and shutdown reach them here)
