"""Light and dark: the palette, and the style sheet re-applied so it follows the palette.

The style sheet (resources/style/app.qss) names palette colours (`palette(base)`);
Qt resolves those when a sheet is applied, so a palette changed later would leave
every styled widget in the old scheme until a restart. Setting the sheet again
after the palette makes a change of theme apply fully at once.
"""
from __future__ import annotations

from PySide6.QtGui import QColor, QPalette


def load_style(app) -> None:
    from ..core.resources import resource

    style = resource("style", "app.qss")
    if style.exists():
        app.setStyleSheet(style.read_text(encoding="utf-8"))


def apply_theme(app, theme: str) -> None:
    """Light or dark as chosen, or as the system says ("system", and anything unknown).

    Qt follows the desktop's scheme where a platform theme reports one (GNOME, KDE,
    macOS, Windows); elsewhere (plain X11, Xvfb) nothing would change, so the Fusion
    palette is set here from the resolved scheme.

    "system" is read without naming `Qt.ColorScheme`: the first use of PySide6's `Qt`
    namespace builds all of its 93 enums (about 0.1 s, a sixth of the start), and the first
    frame needs none of them. The app's style is Fusion (make_app), whose standard palette is
    Qt's own, in its dark variant exactly when the platform theme reports a dark scheme.
    """
    hints = app.styleHints()
    chosen = theme in ("light", "dark")
    if chosen:
        from PySide6.QtCore import Qt

        hints.setColorScheme(Qt.ColorScheme.Dark if theme == "dark" else Qt.ColorScheme.Light)
    else:
        hints.unsetColorScheme()  # the desktop's again
    standard = app.style().standardPalette()
    dark = theme == "dark" if chosen else is_dark(standard)
    app.setPalette(dark_palette() if dark else standard)
    app.setStyleSheet(app.styleSheet())  # resolve the sheet's palette() colours again


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.Window).lightness() < 128


def dark_palette() -> QPalette:
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
