"""One table of the window's commands: it builds the actions, the toolbar, the menus and
the F1 list of shortcuts, so a shortcut cannot be added to one and forgotten in another."""
from __future__ import annotations

from typing import NamedTuple

from PySide6.QtGui import QAction, QKeySequence

STD = QKeySequence.StandardKey


class Command(NamedTuple):
    """One row of the table. A named tuple: a frozen dataclass would compile six generated methods
    on the way to the first frame (about 5 M instructions), for a row that is only read."""

    name: str  # the handler's name on the window, and the action's attribute: act_<name>
    text: str
    keys: tuple = ()  # key strings or QKeySequence.StandardKey values
    tip: str = ""  # tooltip; also the F1 line (empty: the text, lowercased)
    menu: str | None = None  # "File", "Compare", "Tools", "Help"
    toolbar: bool = False
    checkable: bool = False
    separator_before: bool = False  # in its menu


COMMANDS = [
    Command("new_chat", "New chat", (STD.New,), "Start a new comparison", "File", toolbar=True),
    Command("focus_search", "Search history", (STD.Find,), "Search the history", "File"),
    Command("rename_selected", "Rename comparison…", ("F2",), "Rename the selected comparison", "File"),
    Command("delete_selected", "Delete comparison…", (), "Delete the selected comparison (Del in the list)", "File"),
    Command("close", "Quit", (STD.Quit,), "Quit ArenaDesk", "File", separator_before=True),
    Command("send", "Send", ("Ctrl+Return", "Ctrl+Enter"), "Send the prompt to every pane", "Compare"),
    Command("stop_all", "Stop", ("Esc",), "Stop every answer", "Compare"),
    Command("regenerate_all", "Regenerate", ("Ctrl+R",), "Answer the last prompt again in every pane", "Compare"),
    Command("add_pane", "Add pane", ("Ctrl+T",), "Add a model (up to four)", "Compare", toolbar=True,
            separator_before=True),
    Command("toggle_blind", "Blind", ("Ctrl+B",), "Hide model names and shuffle sides until you vote", "Compare",
            toolbar=True, checkable=True),
    Command("open_library", "Models", ("Ctrl+M",), "Find, download and manage local models", "Tools", toolbar=True),
    Command("open_leaderboard", "Leaderboard", ("Ctrl+L",), "Your personal leaderboard and exports", "Tools",
            toolbar=True),
    Command("open_settings", "Settings", ("Ctrl+,",), "Settings", "Tools", toolbar=True),
    Command("show_shortcuts", "Keyboard shortcuts", (STD.HelpContents,), "This list", "Help"),
    Command("open_about", "About ArenaDesk", (), "Versions, folders and GPU support", "Help"),
]
MENUS = ("File", "Compare", "Tools", "Help")
# Keys handled by a widget rather than an action (the rating bar, the history list).
WIDGET_KEYS = [
    ("Del", "delete the selected comparison (in the history list)"),
    ("1–4, T, X", "vote: the best answer (A–D), tie, all bad"),
    ("← / →", "with two panes: left / right better (3 tie, 4 both bad)"),
]


def key_text(key) -> str:
    return QKeySequence(key).toString(QKeySequence.NativeText)


def build(window) -> dict[str, QAction]:
    """Make every command's action on `window` (handlers are its methods of the same name),
    set them as window.act_<name>, and fill the menu bar and a toolbar."""
    from PySide6.QtWidgets import QToolBar

    actions = {}
    for c in COMMANDS:
        a = QAction(c.text, window)
        if c.keys:
            a.setShortcuts([QKeySequence(k) for k in c.keys])
            a.setToolTip(f"{c.tip or c.text} ({key_text(c.keys[0])})")
        else:
            a.setToolTip(c.tip or c.text)
        a.setCheckable(c.checkable)
        a.triggered.connect(getattr(window, c.name))
        window.addAction(a)
        setattr(window, f"act_{c.name}", a)
        actions[c.name] = a

    bar = QToolBar("Main", window)
    bar.setObjectName("mainToolbar")
    bar.setMovable(False)
    # Qt.ToolButtonTextOnly, by its name: naming PySide6's Qt namespace builds all its enums (about
    # 0.1 s), which the first frame does without (tests/ui/test_window_start.py).
    bar.setProperty("toolButtonStyle", "ToolButtonTextOnly")
    last_menu = None
    for c in COMMANDS:
        if c.toolbar:
            if last_menu is not None and c.menu != last_menu:
                bar.addSeparator()
            bar.addAction(actions[c.name])
            last_menu = c.menu
    window.addToolBar(bar)

    menus = {name: window.menuBar().addMenu("&" + name) for name in MENUS}
    window.menus = menus  # others add their entries (the suite dialogs, under Tools)
    for c in COMMANDS:
        if c.menu:
            if c.separator_before:
                menus[c.menu].addSeparator()
            menus[c.menu].addAction(actions[c.name])
    return actions


def shortcuts_rows() -> list[tuple[str, str]]:
    rows = []
    for c in COMMANDS:
        if c.keys:
            rows.append((" or ".join(key_text(k) for k in c.keys[:1]), (c.tip or c.text).rstrip(".").lower()
                         if c.name != "show_shortcuts" else "keyboard shortcuts"))
    return rows + WIDGET_KEYS


def shortcuts_html() -> str:
    return "<table cellpadding=3>" + "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>"
                                             for k, v in shortcuts_rows()) + "</table>"
