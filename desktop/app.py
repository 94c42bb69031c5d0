"""The composition root for the window: builds the core's services and hands them over."""
from __future__ import annotations

import sys

from . import __version__
from .core.paths import APP_ID, APP_NAME


def make_app(argv: list[str] | None = None):
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from .core.resources import resource
    from .ui.theme import load_style

    app = QApplication.instance() or QApplication(argv or [sys.argv[0]])
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName(APP_NAME)
    app.setDesktopFileName(APP_ID)
    app.setStyle("Fusion")
    icon = resource("icons", f"{APP_ID}.svg")
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    load_style(app)
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
    from .ui.theme import apply_theme

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
