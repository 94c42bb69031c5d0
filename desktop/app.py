"""The composition root for the window: builds the core's services and hands them over."""
from __future__ import annotations

import gc
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


def import_core_before_qt() -> None:
    """Import the Qt-free core the window is built on before PySide6. Once PySide6 is loaded, it
    reads the source of every module imported after it (shibokensupport/feature.py looks for the
    word "PySide6", for its __feature__ switches): about 0.2 ms a module, for the core and the
    standard library modules it pulls in, all on the way to the first frame."""
    from .core import connections, contestants, history, services, session  # noqa: F401


def run_gui(home: str | None = None) -> int:
    reason = no_display_reason()
    if reason:
        print(f"arenadesk: {reason}", file=sys.stderr)
        return 2
    # No cyclic garbage collection until the first frame is on screen: starting allocates a great
    # many objects that all live on (modules, classes, enums, widgets), and the collector would
    # walk them again and again on the way to the first frame (30-60 ms of it).
    gc.disable()
    import_core_before_qt()
    app = make_app()
    from PySide6.QtWidgets import QMessageBox

    from .core.store.db import NewerDatabase

    try:
        window = build_window(app, home)
    except (NewerDatabase, OSError) as exc:
        gc.enable()
        QMessageBox.critical(None, APP_NAME, str(exc))
        return 2
    window.onScreen.connect(gc.enable)
    window.show()
    try:
        return app.exec()
    finally:
        window.services.close()


def build_window(app, home: str | None = None):
    """Open the services and build the main window, not yet shown. Nothing is written to the
    database here: the window marks the answers a crashed run left streaming on a worker once it
    is shown. Raises NewerDatabase or OSError when the data cannot be opened."""
    from .core.services import Services
    from .ui.main_window import MainWindow
    from .ui.theme import apply_theme

    services = Services.open(home, mark_interrupted=False)
    try:
        apply_theme(app, services.settings.theme)
        return MainWindow(services)
    except BaseException:
        services.close()
        raise
