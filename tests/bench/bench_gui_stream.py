"""GUI responsiveness while panes stream at full speed, in the real window.

Synthetic engines pour an answer into every pane of the real window (the real
ComparisonSession, Round, store, Inbox, Pane and Transcript) as fast as a fast server
would, and a 5 ms heartbeat timer on the GUI thread measures how late it fires: that
lateness is how long the window could not react to the user. Cases:

  markdown   an 8,000-token Markdown answer (paragraphs, lists, code, tables), word tokens
  line_2mb   a 2 MB answer without a line break, in 2 KB pieces (issue 10's finding)
  table_5000 a 5,000-row table, one row a piece
  tiny       a 30,000-character Markdown answer, one character a piece (many tiny deltas)

Prints per case: the heartbeat's worst, median and p99 lateness, how many beats were later
than 100 ms, and the transcript's update time (mean, worst). Say `uptime`'s load beside any
figure: on a loaded 2-core machine everything is several times slower.

    QT_QPA_PLATFORM=offscreen python tests/bench/bench_gui_stream.py [case ...] [--panes N]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("ARENADESK_HOME", tempfile.mkdtemp(prefix="arenadesk-bench-"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hostile"))

from hostile_inputs import LINE_2MB, TABLE_5000  # noqa: E402

TOKENS = 8000
RATE = 400  # markdown case: tokens per second per pane, ten times the local model's speed


def markdown_tokens(n: int):
    """Realistic answer text, one ~word token at a time."""
    words = ("the model answers with code tables and lists so the renderer sees every kind of block "
             "while the user waits for the first token to arrive").split()
    i = 0
    block = 0
    while i < n:
        block += 1
        kind = block % 5
        if kind == 1:
            yield f"\n\n## Section {block}\n\n"
        elif kind == 2:
            for j in range(6):
                yield f"\n- item {j} "
                yield words[(i + j) % len(words)]
                i += 2
            yield "\n\n"
        elif kind == 3:
            yield "\n\n```python\n"
            for j in range(8):
                yield f"def f{j}(x):\n    return x * {j}\n"
                i += 6
            yield "```\n\n"
        elif kind == 4:
            yield "\n\n| a | b |\n|---|---|\n"
            for j in range(4):
                yield f"| {j} | {words[j]} |\n"
                i += 4
            yield "\n"
        for _ in range(60):
            yield words[i % len(words)] + " "
            i += 1


def pieces(text: str, size: int):
    return (text[k:k + size] for k in range(0, len(text), size))


def rows(text: str):
    return (line + "\n" for line in text.splitlines())


def tiny_chars(n: int):
    text = "".join(markdown_tokens(n))[:30_000]
    return iter(text)


# case: (the pieces, how many pieces between two 10 ms pauses: a server's pace)
CASES = {
    "markdown": (lambda: markdown_tokens(TOKENS), 10, 10 / RATE),
    "line_2mb": (lambda: pieces(LINE_2MB, 2048), 8, 0.005),
    "table_5000": (lambda: rows(TABLE_5000), 50, 0.005),
    "tiny": (lambda: tiny_chars(TOKENS), 200, 0.005),
}


class FloodEngine:
    def __init__(self, info, case: str):
        self.info = info
        self.case = case
        self._stop = False

    def stream(self, messages, params, cancel=None):
        from desktop.core.engines.base import Done, TextDelta, Usage

        make, every, pause = CASES[self.case]
        self._stop = False
        n = 0
        for tok in make():
            if self._stop or (cancel is not None and cancel.cancelled):
                yield Done("cancelled")
                return
            n += 1
            yield TextDelta(tok)
            if n % every == 0:
                time.sleep(pause)
        yield Usage(10, n)
        yield Done("stop")

    def cancel(self):
        self._stop = True

    def close(self):
        pass


class StallSampler:
    """--profile: a thread that, while the heartbeat is late by more than 40 ms, samples where
    the GUI thread is (its Python stack), to say what the stalls are made of."""

    def __init__(self, last_beat):
        import threading

        self.last_beat = last_beat  # () -> perf_counter time of the latest beat
        self.main = threading.main_thread().ident
        self.counts: dict[str, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        import threading
        import traceback

        self.ident = threading.get_ident()
        while not self.stop.wait(0.005):
            if time.perf_counter() - self.last_beat() > 0.040:
                for ident, frame in sys._current_frames().items():
                    if ident == self.ident:
                        continue
                    stack = traceback.extract_stack(frame)[-4:]
                    key = ("GUI: " if ident == self.main else "worker: ") + " <- ".join(
                        f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(stack))
                    self.counts[key] = self.counts.get(key, 0) + 1

    def report(self):
        print("  where the GUI thread was while the heartbeat was late (5 ms samples):")
        for key, n in sorted(self.counts.items(), key=lambda kv: -kv[1])[:14]:
            print(f"    {n:4d}  {key}")


def run_case(app, case: str, panes: int, profile: bool = False) -> None:
    from PySide6.QtCore import QElapsedTimer, Qt, QTimer

    from desktop.core.engines.base import ModelInfo
    from desktop.core.engines.registry import EnginePool
    from desktop.core.services import Services
    from desktop.ui import transcript as tmod
    from desktop.ui.main_window import MainWindow

    services = Services.open()
    services.engines = EnginePool(lambda c: FloodEngine(ModelInfo(c.engine, c.label, c.model), case))
    window = MainWindow(services)
    while len(window.panes) < panes and window.add_pane() is not None:
        pass
    window.resize(1400, 900)
    window.show()
    # Start-up work in the background (model lists, warm-up, imports) competes for the GIL; it is
    # not what this measures, so it finishes first (bench_startup.py measures start-up).
    import threading

    settle = time.perf_counter() + 20
    while time.perf_counter() < settle and any(
            t.name.startswith("arenadesk-") or "ThreadPool" in t.name for t in threading.enumerate()):
        app.processEvents()
        time.sleep(0.01)
    busy = [t.name for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()]
    if busy:
        print(f"  (threads still alive at the start: {busy})")
    app.processEvents()

    # The transcript's update time (the new incremental call, or the whole-answer call of old code).
    name = "extend_answer" if hasattr(tmod.Transcript, "extend_answer") else "show_answer"
    original = getattr(tmod.Transcript, name)
    updates: list[float] = []

    def timed(self, *a):
        t = time.perf_counter()
        original(self, *a)
        updates.append((time.perf_counter() - t) * 1000)

    setattr(tmod.Transcript, name, timed)

    clock = QElapsedTimer()
    gaps: list[float] = []
    stamps: list[float] = []
    last = [0.0]
    wall = [time.perf_counter()]
    sampler = StallSampler(lambda: wall[0]) if profile else None

    def beat():
        wall[0] = time.perf_counter()
        now = clock.nsecsElapsed() / 1e6
        gaps.append(now - last[0])
        stamps.append(now)
        last[0] = now

    heart = QTimer()
    heart.setTimerType(Qt.PreciseTimer)
    heart.setInterval(5)
    heart.timeout.connect(beat)

    window.prompt.setPlainText("Write a long answer.")
    clock.start()
    heart.start()
    if sampler:
        sampler.thread.start()
    started = time.perf_counter()
    window.send()
    # Until every answer is on screen (an answer that ended before it was all shown goes on).
    while window._running() or any(getattr(p, "_finished", None) is not None for p in window.panes):
        app.processEvents()
    elapsed = time.perf_counter() - started
    heart.stop()
    if sampler:
        sampler.stop.set()
    setattr(tmod.Transcript, name, original)
    pane = window.panes[0]
    chars = len(pane.answer_text() if hasattr(pane, "answer_text") else pane._text)
    shown = len(pane.view.toPlainText())

    late = [g - 5 for g in gaps[1:]]
    worst = max(range(len(late)), key=late.__getitem__)
    print(f"{case}: {len(window.panes)} panes, {chars:,} characters each ({shown:,} on screen), "
          f"streamed in {elapsed:.1f} s")
    print(f"  GUI heartbeat lateness: worst {late[worst]:.0f} ms (at {stamps[worst + 1] / 1000:.1f} s), "
          f"median {statistics.median(late):.1f} ms, p99 {statistics.quantiles(late, n=100)[-1]:.0f} ms, "
          f"{sum(x > 100 for x in late)} beats later than 100 ms")
    if updates:
        print(f"  transcript updates ({name}): {len(updates)}, mean {statistics.mean(updates):.1f} ms, "
              f"worst {max(updates):.0f} ms")
    if sampler:
        sampler.report()
    window.close()
    services.close()
    app.processEvents()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("cases", nargs="*", default=list(CASES))
    parser.add_argument("--panes", type=int, default=4)
    parser.add_argument("--profile", action="store_true", help="say where the GUI thread was during stalls")
    args = parser.parse_args()

    from desktop.app import make_app

    app = make_app()
    print(f"load average: {os.getloadavg()[0]:.2f} (1 min)")
    for case in args.cases:
        run_case(app, case, args.panes, args.profile)
    print(f"load average: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
