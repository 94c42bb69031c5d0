"""The dialogs the comparison window opens: Settings (modal), the model library and the
leaderboard (made once and kept, so a download or a chart goes on while hidden), About and the
list of shortcuts."""
from __future__ import annotations

from typing import Callable, NamedTuple

from PySide6.QtWidgets import QDialog, QMessageBox, QVBoxLayout, QWidget

from ..core import connections as cx
from ..core.engines.registry import ModelChoice
from ..core.services import Services
from . import actions


def show_kept(kept: dict, name: str, make: Callable[[], QWidget]) -> QWidget:
    """The dialog kept under `name` (made the first time), brought to the front: it keeps its
    state between showings."""
    d = kept.get(name)
    if d is None:
        d = kept[name] = make()
    d.show()
    d.raise_()
    d.activateWindow()
    return d


class SettingsChanged(NamedTuple):  # not a frozen dataclass, whose methods Python compiles at import
    endpoints: bool  # a connection, its base URL, headers or key changed: its model list is fetched again


class WindowDialogs:
    def __init__(self, window: QWidget, services: Services, *, on_models_changed: Callable[[], None],
                 on_message: Callable[[str], None], contestants=None, on_back: Callable[[], None] = lambda: None):
        self.window = window
        # Called when a dialog closes: the window takes the keyboard back. Without a window manager
        # (and under some) focus stayed with the closed dialog, and Ctrl+T did nothing until a click.
        self._on_back = on_back
        self.services = services
        self.contestants = contestants  # the panes' model list (core.contestants): the judge picks from it
        self._on_models_changed = on_models_changed
        self._on_message = on_message
        self.kept: dict[str, QWidget] = {}  # "library", "leaderboard"

    def _show_kept(self, name: str, make) -> QWidget:
        return show_kept(self.kept, name, make)

    def settings(self, chosen: list[ModelChoice | None]) -> SettingsChanged | None:
        """Settings, modal; what changed (None: nothing). `chosen`: the panes' models, whose API
        engines are remade when a key changed (also when the dialog was then cancelled: a key saved
        or removed in it is saved or removed)."""
        from .settings_dialog import SettingsDialog

        keys_before = self._keys()
        connections_before = self._endpoints()
        accepted = SettingsDialog(self.services, self.window).exec()
        self._on_back()
        key_changed = self._keys() != keys_before
        if key_changed and not accepted:
            for choice in chosen:
                if choice is not None and choice.engine == "openai":
                    self.services.engines.drop(choice)
        if not (accepted or key_changed):
            return None
        return SettingsChanged(endpoints=key_changed or self._endpoints() != connections_before)

    def _keys(self) -> dict[str, str | None]:
        return {c.id: cx.key_secret(self.services, c).value for c in self.services.settings.connections}

    def _endpoints(self) -> list:
        return [(c.id, c.base_url, dict(c.headers)) for c in self.services.settings.connections]

    def library(self) -> QWidget:
        from .library_dialog import LibraryDialog

        def make():
            d = LibraryDialog(self.services, self.window)
            d.modelsChanged.connect(self._on_models_changed)
            d.finished.connect(lambda _result: self._on_back())  # Close, Esc or the title bar's ✕
            return d

        return self._show_kept("library", make)

    def leaderboard(self) -> QWidget:
        from .leaderboard import LeaderboardView

        def make():
            d = QDialog(self.window)
            d.setWindowTitle("Your leaderboard — ArenaDesk")
            lay = QVBoxLayout(d)
            d.view = LeaderboardView(self.services.store, d, export_dir=self.services.folders.exports,
                                     judging=self.services.settings.judging, services=self.services,
                                     contestants=self.contestants)
            d.view.message.connect(self._on_message)
            d.finished.connect(lambda _result: self._on_back())
            lay.addWidget(d.view)
            screen = self.window.screen().availableGeometry()
            d.resize(min(1100, screen.width() - 40), min(760, screen.height() - 40))
            return d

        d = self._show_kept("leaderboard", make)
        d.view.refresh()
        return d

    def refresh_leaderboard(self) -> None:
        """After a vote: an open leaderboard counts it at once."""
        board = self.kept.get("leaderboard")
        if board is not None and board.isVisible():
            board.view.refresh()

    def shortcuts(self) -> None:
        QMessageBox.information(self.window, "Keyboard shortcuts", actions.shortcuts_html())
        self._on_back()

    def about(self) -> None:
        from .about import AboutDialog

        AboutDialog(self.services, self.window).exec()
        self._on_back()
