"""The window's start: it is built without the heavy libraries, and what it does not need to
appear (listing the installed models, marking interrupted answers, reading the keychain) runs
on workers once its first frame is on screen (tests/bench/bench_startup.py times the whole start)."""
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject

from desktop.core.library import installed
from desktop.core.session import ComparisonSession
from desktop.core.store import SlotSpec
from desktop.ui.main_window import MainWindow
from found_layouts import tiny_gguf

ROOT = Path(__file__).resolve().parents[2]
# filelock: 40 ms to import; the store takes its run lock with the first answer it stamps.
# uuid (and the platform module it imports): with the first record written (store.db.new_uid);
# html (its entity tables): at the first text escaped for a rich-text label (untrusted.as_html);
# concurrent.futures: when connections are tested together (connections.check_all).
HEAVY = ("numpy", "gguf", "huggingface_hub", "openai", "keyring", "llama_cpp", "filelock", "uuid", "platform", "html",
         "concurrent")
# Our own modules the window does not need to appear: each is imported on first use.
LAZY = ("desktop.ui.suite_dialogs", "desktop.core.suite_runner", "desktop.core.store.suite_runs",
        # what a round needs (its records are dataclasses, each compiled from generated source):
        # imported on a worker once the window is on screen (ComparisonSession.load_rounds)
        "desktop.core.arena", "desktop.core.engines.base", "desktop.core.open_round",
        # the installed models' list: made and filled by the first listing, on a worker
        "desktop.core.library.installed",
        # the records a round is read into and the leaderboard's battles: made when first read
        "desktop.core.store.records", "desktop.core.store.battles")

BUILD_THE_WINDOW = r"""
import json, sys

import desktop.app as app_module
app_module.import_core_before_qt()
assert "PySide6" not in sys.modules
core_before_qt = {m for m in sys.modules if m.startswith("desktop.core")}
app = app_module.make_app()
window = app_module.build_window(app)  # as run_gui builds it
services = window.services
tools = [m for m in window.menuBar().actions() if m.text() == "&Tools"][0].menu()
seen = {
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[1].split(",")),
    "lazy_loaded": sorted(m for m in sys.modules if m in sys.argv[2].split(",")),
    "pickers": [[p.picker.itemText(i) for i in range(p.picker.count())] for p in window.panes],
    "tools": [a.text() for a in tools.actions() if a.text()],
    "status": services.store.query("SELECT status FROM responses")[0][0],
    "core_after_qt": sorted(m for m in sys.modules if m.startswith("desktop.core") and m not in core_before_qt),
}
# The entries work: the first trigger imports the dialogs and opens one.
next(a for a in tools.actions() if a.text() == "Rating queue…").trigger()
queue = window.suite_dialogs["queue"]
seen["queue"] = [queue.isVisible(), queue.heading.text()]
print(json.dumps(seen))
"""


def crashed_run(home: Path) -> None:
    """A run that died with an answer streaming."""
    from desktop.core.services import Services

    crashed = Services.open(home)
    conv = crashed.store.new_conversation("crashed")
    crashed.store.add_round(conv, "cut off", [SlotSpec(0, 0, "local", "m", "m")], created_at=time.time() - 7200)
    with crashed.store.transaction() as db:
        db.execute("UPDATE responses SET writer = 'a-run-that-died'")
    crashed.close()


def test_the_window_is_built_without_the_heavy_libraries_or_the_suite_dialogs(tmp_path):
    crashed_run(tmp_path / "home")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", ARENADESK_HOME=str(tmp_path / "home"),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", BUILD_THE_WINDOW, ",".join(HEAVY), ",".join(LAZY)], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["loaded"] == []
    assert seen["lazy_loaded"] == []
    # Not an empty window: two panes offering the built-in model, and the whole Tools menu.
    assert len(seen["pickers"]) == 2 and all("Gemma 3 270M (built in) · local" in p for p in seen["pickers"])
    assert {"Models", "Leaderboard", "Settings", "Run a suite…", "Rating queue…",
            "Leaderboard by category…"} <= set(seen["tools"])
    assert seen["status"] == "streaming"  # nothing written while the window is built
    # PySide6 reads the source of every module imported after it: the core the window is built
    # on is imported first (app.import_core_before_qt names it).
    assert seen["core_after_qt"] == []
    visible, heading = seen["queue"]
    assert visible and "No suite runs yet" in heading


def picker_texts(pane):
    return [pane.picker.itemText(i) for i in range(pane.picker.count())]


def test_the_installed_models_are_listed_once_on_a_worker_after_the_window_shows(qtbot, services, monkeypatch):
    mine = installed.import_file(services, tiny_gguf(services.folders.data / "elsewhere" / "Mine-Q4_K_M.gguf"))
    services.installed.__init__(services)  # as at a fresh start: nothing listed yet
    kept_reads, listings = [], []  # the list the pickers show; any listing (discovery lists its own, with finds)
    real_read, real_list = installed.InstalledModels.read, installed.list_installed
    monkeypatch.setattr(installed.InstalledModels, "read",
                        lambda self: kept_reads.append(threading.current_thread()) or real_read(self))
    monkeypatch.setattr(installed, "list_installed",
                        lambda *a, **k: listings.append(threading.current_thread()) or real_list(*a, **k))
    w = MainWindow(services)
    qtbot.addWidget(w)
    assert kept_reads == listings == []  # built without listing
    assert "Mine-Q4_K_M · local" not in picker_texts(w.panes[0])  # the built-in model, until it is listed
    w.show()
    qtbot.waitUntil(lambda: "Mine-Q4_K_M · local" in picker_texts(w.panes[1]), timeout=30_000)
    assert [t.name for t in kept_reads] == ["arenadesk-installed"]
    w.add_pane()
    w.choose_model(2, str(mine.choice))
    assert w.panes[2].picker.currentText() == "Mine-Q4_K_M · local"
    assert len(kept_reads) == 1  # a new pane and a choice use the list kept, not the folders
    assert threading.main_thread() not in listings


class Seen(QObject):
    """Records a window's first frame: the first Expose of its native window that puts it on screen."""

    def __init__(self, order):
        super().__init__()
        self.order = order

    def eventFilter(self, obj, event):  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.Expose and obj.isExposed() and "on screen" not in self.order:
            self.order.append("on screen")
        return False


def test_the_background_work_starts_once_the_first_frame_is_on_screen(qtbot, services, monkeypatch):
    order = []
    real_read = installed.InstalledModels.read
    monkeypatch.setattr(installed.InstalledModels, "read", lambda self: order.append("listing") or real_read(self))
    real_load_rounds = ComparisonSession.load_rounds
    monkeypatch.setattr(ComparisonSession, "load_rounds", staticmethod(lambda: order.append("rounds") or real_load_rounds()))
    w = MainWindow(services)
    qtbot.addWidget(w)
    w.winId()  # the native window, to watch it from its first event
    seen = Seen(order)
    w.windowHandle().installEventFilter(seen)
    w.show()
    assert order == []  # shown, not yet on screen: nothing started
    assert not w.search.isClearButtonEnabled() and not w.rating.note.isClearButtonEnabled()
    qtbot.waitUntil(lambda: "listing" in order and "rounds" in order, timeout=30_000)
    assert order[0] == "on screen"  # then the listing and the import of what a round needs, on workers
    assert w.search.isClearButtonEnabled() and w.rating.note.isClearButtonEnabled()  # before anyone can type


def test_a_window_shown_but_never_on_screen_still_starts_its_background_work(qtbot, services, monkeypatch):
    """Started minimised (or on a platform that sends no expose): the lists still come, a second later."""
    import desktop.ui.main_window as main_window

    listed = []
    real_read = installed.InstalledModels.read
    monkeypatch.setattr(installed.InstalledModels, "read", lambda self: listed.append(1) or real_read(self))
    monkeypatch.setattr(main_window.MainWindow, "eventFilter", lambda self, obj, event: False)  # no expose seen
    w = MainWindow(services)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: bool(listed), timeout=30_000)


def test_the_list_kept_follows_an_import_and_a_delete(services):
    assert services.installed.current() is None
    names = [m.name for m in services.installed.read()]
    path = tiny_gguf(services.folders.data / "elsewhere" / "Kept-Q4_K_M.gguf")
    model = installed.import_file(services, path, compute_sha256=False)
    assert [m.name for m in services.installed.current()] == names + ["Kept-Q4_K_M"]
    installed.delete(services, model)
    assert [m.name for m in services.installed.current()] == names


def test_answers_a_crashed_run_left_streaming_are_marked_once_the_window_shows(qtbot, arenadesk_home):
    from desktop.core.services import Services

    first = Services.open()
    conv = first.store.new_conversation("crashed")
    first.store.add_round(conv, "cut off", [SlotSpec(0, 0, "local", "m", "m")], created_at=time.time() - 7200)
    with first.store.transaction() as db:
        db.execute("UPDATE responses SET writer = 'a-run-that-died'")
    first.close()

    services = Services.open(mark_interrupted=False)
    try:
        status = lambda: services.store.query("SELECT status FROM responses")[0][0]  # noqa: E731
        w = MainWindow(services)
        qtbot.addWidget(w)
        assert status() == "streaming"  # nothing written while the window is built
        w.show()
        qtbot.waitUntil(lambda: status() == "error", timeout=10_000)
        w.close()
    finally:
        services.close()


def test_a_panes_own_sampling_is_set_in_its_menu_made_when_first_opened(qtbot, services):
    from PySide6.QtWidgets import QAbstractSpinBox, QDoubleSpinBox

    services.settings.sampling.max_tokens = 40  # as set in Settings → Models
    w = MainWindow(services)
    qtbot.addWidget(w)
    w.show()
    pane = w.panes[1]
    menu = pane.tune.menu()
    assert menu.findChildren(QDoubleSpinBox) == []  # nothing built while the window starts
    menu.popup(pane.tune.mapToGlobal(pane.tune.rect().bottomLeft()))
    qtbot.waitUntil(menu.isVisible)
    fields = {f.parent().layout().labelForField(f).text(): f for f in menu.findChildren(QAbstractSpinBox)}
    assert set(fields) == {"temperature", "top p", "max tokens", "seed"}
    # Until set, the shared setting applies, and its value is shown beside it.
    assert {n: f.text() for n, f in fields.items()} == {"temperature": "shared (0.7)", "top p": "shared (0.95)",
                                                        "max tokens": "shared (40)", "seed": "shared (random)"}
    fields["temperature"].setValue(0.7)
    assert w.session.panes[1].overrides == {"temperature": 0.7} and pane.tune.text() == "⚙*"
    assert w.session.panes[0].overrides == {}
    menu.hide()
    services.settings.sampling.max_tokens = 64  # changed in Settings meanwhile
    menu.popup(pane.tune.mapToGlobal(pane.tune.rect().bottomLeft()))  # opened again: the same fields
    assert menu.findChildren(QDoubleSpinBox)[0].value() == 0.7
    assert fields["max tokens"].text() == "shared (64)"
    fields["temperature"].setValue(fields["temperature"].minimum())
    assert w.session.panes[1].overrides == {} and pane.tune.text() == "⚙"
    menu.hide()


RUN_THE_APP = r"""
import gc, json, sys
import desktop.app as app_module

seen = {}
build = app_module.build_window

def build_window(app, home=None):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    seen["collecting while built"] = gc.isenabled()
    window = build(app, home)

    def on_screen():
        def after():
            seen["collecting once on screen"] = gc.isenabled()
            print(json.dumps(seen), flush=True)
            QApplication.quit()
        QTimer.singleShot(0, after)

    window.onScreen.connect(on_screen)
    return window

app_module.build_window = build_window
sys.exit(app_module.run_gui())
"""


def run_the_app(script: str, home: Path) -> dict:
    """Run the app as `arenadesk` does (run_gui) in a fresh process on `home`, with `script` wrapping
    its build_window; what the script printed last, as JSON."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", ARENADESK_HOME=str(home),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_app_collects_no_garbage_until_its_first_frame_is_on_screen(tmp_path):
    assert run_the_app(RUN_THE_APP, tmp_path / "home") == {"collecting while built": False,
                                                           "collecting once on screen": True}


FIRST_FRAME = r"""
import json, sys
import desktop.app as app_module

seen = {}
build = app_module.build_window

# (Not QByteArray: PySide6 makes it to store the History items' ids, ints, as QVariants.)
TEXT_TYPES = ("QTextFormat", "QTextCharFormat", "QTextBlockFormat", "QTextCursor", "QImage", "QUrl")

def build_window(app, home=None):
    import PySide6.QtCore as QtCore
    import PySide6.QtGui as QtGui
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    window = build(app, home)
    seen["Qt's enums once built"] = "Qt" in QtCore.__dict__
    seen["history"] = window.sidebar.item_texts()

    def on_screen():  # the first frame is painted: the History list's items and the pickers included
        seen["Qt's enums once on screen"] = "Qt" in QtCore.__dict__
        seen["text types once on screen"] = sorted(n for n in TEXT_TYPES if n in vars(QtGui) or n in vars(QtCore))
        def after():
            seen["Qt's enums after"] = "Qt" in QtCore.__dict__
            print(json.dumps(seen), flush=True)
            QApplication.quit()
        QTimer.singleShot(0, after)

    window.onScreen.connect(on_screen)
    return window

app_module.build_window = build_window
sys.exit(app_module.run_gui())
"""


def test_the_first_frame_is_made_without_pysides_qt_enums(tmp_path):
    """PySide6 builds all 93 enums of its `Qt` namespace at the first use of `Qt` (about 0.1 s, a
    sixth of the start): the window is built and its first frame painted (a History item drawn by
    its delegate, the theme "system" read) without it; it is built right after, before anyone types.
    The transcript's text-format types wait for the first answer the same way."""
    crashed_run(tmp_path / "home")  # one comparison in the History list
    seen = run_the_app(FIRST_FRAME, tmp_path / "home")
    assert seen["history"] and seen["history"][0].startswith("crashed\n")
    assert seen["Qt's enums once built"] is False
    assert seen["Qt's enums once on screen"] is False
    assert seen["Qt's enums after"] is True
    # Nor the types an answer is written with (PySide6 makes each, with its enums, at its first use).
    assert seen["text types once on screen"] == []


def test_the_window_starts_with_the_panes_it_had_when_it_closed_named_before_any_listing(qtbot, services, chat_model):
    # A user who put the chat model beside the built-in one finds them there again at the next start,
    # named in the first frame (not "(gone)", not swapped for the default GPT pane); a settings file
    # naming nonsense starts on the defaults.
    from fakes import put_in_models

    from desktop.core.services import Services
    from desktop.ui.model_picker import GONE

    smol = f"local:{put_in_models(services, chat_model)}"
    first = MainWindow(services)
    qtbot.addWidget(first)
    first.choose_model(1, smol)
    first.close()
    assert services.settings.last_panes == ["local:default", smol]

    again = Services.open()
    try:
        w = MainWindow(again)  # built as at start: nothing listed yet
        qtbot.addWidget(w)
        assert again.installed_current() is None
        assert [str(p.choice) for p in w.session.panes] == ["local:default", smol]
        texts = [p.picker.currentText() for p in w.panes]
        assert texts[0].startswith("Gemma 3 270M") and texts[1].startswith("SmolLM2-135M-Instruct.Q4_1")
        assert not any(t.endswith(GONE) for t in texts)
        w.close()
    finally:
        again.close()

    again = Services.open()
    try:
        again.settings.last_panes = ["nonsense", "ollama:llama3"]
        w = MainWindow(again)
        qtbot.addWidget(w)
        assert [p.choice.engine for p in w.session.panes] == ["local", "openai"]  # the defaults
        w.close()
    finally:
        again.close()
