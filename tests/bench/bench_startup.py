"""Cold start: time from process start to ArenaDesk's window mapped on the screen, divided by the
same for a bare PySide6 main window, in the same run, alternating (these machines are shared and
noisy; medians are compared). Target: ≤ 1.5.

Both programs get the same instrument: an event filter on the application that prints the time
of the first Expose of a top-level window (under X11 that is the window being mapped) and ends
the process. Needs a display: under Xvfb, or the script starts one (Debian's xvfb).

    .venv/bin/python tests/bench/bench_startup.py [--runs 9]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

INSTRUMENT = r"""
import os, sys, time
T0 = float(sys.argv[1])

def install(app):
    from PySide6.QtCore import QEvent, QObject

    class Mapped(QObject):
        def eventFilter(self, obj, event):
            if event.type() == QEvent.Expose and getattr(obj, "isExposed", lambda: False)():
                print(f"MAPPED {time.time() - T0:.4f}", flush=True)
                os._exit(0)
            return False

    app._bench_filter = Mapped()
    app.installEventFilter(app._bench_filter)
    return app
"""

BARE = INSTRUMENT + r"""
from PySide6.QtWidgets import QApplication, QMainWindow
app = install(QApplication(sys.argv[:1]))
w = QMainWindow()
w.setWindowTitle("bare")
w.resize(1100, 760)
w.show()
app.exec()
"""

ARENADESK = INSTRUMENT + r"""
import desktop.app as a
make_app = a.make_app
a.make_app = lambda *args: install(make_app(*args))
sys.exit(a.run_gui())
"""


def once(code: str, env: dict) -> float:
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", code, repr(t0)], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    for line in out.stdout.splitlines():
        if line.startswith("MAPPED "):
            return float(line.split()[1])
    raise SystemExit(f"no window mapped: {out.stderr[-2000:]}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop("QT_QPA_PLATFORM", None)
    xvfb = None
    if not env.get("DISPLAY"):
        if not shutil.which("Xvfb"):
            raise SystemExit("No display and no Xvfb: run under a display, or install xvfb.")
        env["DISPLAY"] = ":115"
        xvfb = subprocess.Popen(["Xvfb", ":115", "-screen", "0", "1280x800x24"], stderr=subprocess.DEVNULL)
        time.sleep(1.0)
    home = tempfile.mkdtemp(prefix="arenadesk-bench-start-")
    env["ARENADESK_HOME"] = home
    # As an installed app starts: from compiled bytecode (pip compiles on install). A shell with
    # PYTHONDONTWRITEBYTECODE (as these machines have) would otherwise compile every module of
    # the app, and none of the bare window's, on every run. The bytecode goes to the temporary
    # folder, not into the checkout; the warm-up runs below write it.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(home, "pycache")
    try:
        once(ARENADESK, env)  # first start writes out the built-in model, settings and the database
        once(BARE, env)  # and warms the file cache for Qt's libraries
        times = {"bare": [], "app": []}
        for _ in range(args.runs):
            times["bare"].append(once(BARE, env))
            times["app"].append(once(ARENADESK, env))
    finally:
        if xvfb is not None:
            xvfb.terminate()
        shutil.rmtree(home, ignore_errors=True)
    bare, app = statistics.median(times["bare"]), statistics.median(times["app"])
    print(f"process start → window mapped, median of {args.runs} alternating runs:")
    print(f"  bare PySide6 main window: {bare:.2f} s  ({', '.join(f'{t:.2f}' for t in times['bare'])})")
    print(f"  ArenaDesk:                {app:.2f} s  ({', '.join(f'{t:.2f}' for t in times['app'])})")
    print(f"  ratio ArenaDesk / bare:   {app / bare:.2f}   (target ≤ 1.5)")
    return 0 if app / bare <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
