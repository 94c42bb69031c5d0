"""The composition root for the window: builds the core's services and hands them over."""
from __future__ import annotations

import sys

from . import __version__
from .core.paths import APP_ID, APP_NAME


def apply_theme(app, theme: str) -> None:
    """Light or dark as chosen, or as the system says ("system").

    Qt follows the desktop's scheme where a platform theme reports one (GNOME, KDE,
    macOS, Windows); elsewhere (plain X11, Xvfb) nothing would change, so the Fusion
    palette is set here from the resolved scheme.
    """
    from PySide6.QtCore import Qt

    hints = app.styleHints()
    wanted = {"light": Qt.ColorScheme.Light, "dark": Qt.ColorScheme.Dark}.get(theme, Qt.ColorScheme.Unknown)
    if hasattr(hints, "setColorScheme"):  # Qt >= 6.8
        hints.setColorScheme(wanted)
    dark = wanted == Qt.ColorScheme.Dark or (wanted == Qt.ColorScheme.Unknown and hints.colorScheme() == Qt.ColorScheme.Dark)
    app.setPalette(dark_palette() if dark else app.style().standardPalette())


def dark_palette():
    from PySide6.QtGui import QColor, QPalette

    p = QPalette()
    window, base, text = QColor(37, 38, 41), QColor(28, 29, 31), QColor(230, 230, 230)
    for role, color in (
        (QPalette.Window, window), (QPalette.WindowText, text), (QPalette.Base, base),
        (QPalette.AlternateBase, QColor(44, 45, 49)), (QPalette.ToolTipBase, window), (QPalette.ToolTipText, text),
        (QPalette.Text, text), (QPalette.Button, QColor(50, 52, 56)), (QPalette.ButtonText, text),
        (QPalette.BrightText, QColor(255, 90, 90)), (QPalette.Link, QColor(110, 160, 255)),
        (QPalette.Highlight, QColor(59, 111, 214)), (QPalette.HighlightedText, QColor(255, 255, 255)),
        (QPalette.PlaceholderText, QColor(150, 150, 150)), (QPalette.Mid, QColor(80, 82, 88)),
        (QPalette.Midlight, QColor(70, 72, 78)), (QPalette.Dark, QColor(20, 20, 22)), (QPalette.Shadow, QColor(0, 0, 0)),
    ):
        p.setColor(role, color)
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText):
        p.setColor(QPalette.Disabled, role, QColor(120, 120, 120))
    return p


def make_app(argv: list[str] | None = None):
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from .core.resources import resource

    app = QApplication.instance() or QApplication(argv or [sys.argv[0]])
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName(APP_NAME)
    app.setDesktopFileName(APP_ID)
    app.setStyle("Fusion")
    icon = resource("icons", f"{APP_ID}.svg")
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    style = resource("style", "app.qss")
    if style.exists():
        app.setStyleSheet(style.read_text(encoding="utf-8"))
    return app


def no_display_reason() -> str | None:
    """Why a window cannot open here (a Linux box with no display), in words; None if it can."""
    import os

    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return ("ArenaDesk found no display (neither DISPLAY nor WAYLAND_DISPLAY is set), so it cannot open "
            "its window here. On a server, the headless commands work: `arenadesk ask \"...\" --local default`, "
            "`arenadesk leaderboard`, `arenadesk export ...`, `arenadesk --self-check` (see `arenadesk --help`).")


def run_gui(home: str | None = None) -> int:
    reason = no_display_reason()
    if reason:
        print(f"arenadesk: {reason}", file=sys.stderr)
        return 2
    app = make_app()
    from PySide6.QtWidgets import QMessageBox

    from .core.services import Services
    from .core.store.db import NewerDatabase
    from .ui.main_window import MainWindow

    try:
        services = Services.open(home)
    except (NewerDatabase, OSError) as exc:
        QMessageBox.critical(None, APP_NAME, str(exc))
        return 2
    apply_theme(app, services.settings.theme)
    window = MainWindow(services)
    window.show()
    try:
        return app.exec()
    finally:
        services.close()
