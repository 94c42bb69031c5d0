"""GUI responsiveness while two panes stream at full speed, in the real window.

Two synthetic engines each pour out an 8,000-token Markdown answer (paragraphs,
lists, code blocks, tables) at 400 tokens/s each (faster than any API streams), through
the real ComparisonSession, Inbox, Pane and Transcript. Prints:
  - the GUI thread's longest stall (a 5 ms heartbeat timer's worst lateness);
  - the render time per update, bucketed by how long the answer is by then.
Targets: stall < 50 ms; render time flat as the answer grows.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/bench_gui_stream.py
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("ARENADESK_HOME", tempfile.mkdtemp(prefix="arenadesk-bench-"))

TOKENS = 8000
RATE = 400  # tokens per second per pane, ten times the local model's speed


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


class FloodEngine:
    def __init__(self, info):
        self.info = info
        self._stop = False

    def stream(self, messages, params):
        from desktop.core.engines.base import Done, TextDelta, Usage

        self._stop = False
        n = 0
        for tok in markdown_tokens(TOKENS):
            if self._stop:
                yield Done("cancelled")
                return
            n += 1
            yield TextDelta(tok)
            if n % 10 == 0:
                time.sleep(10 / RATE)  # a fast API's pace (the local model does ~40 tokens/s)
        yield Usage(10, n)
        yield Done("stop")

    def cancel(self):
        self._stop = True

    def close(self):
        pass


def main() -> None:
    from PySide6.QtCore import QElapsedTimer, QTimer

    from desktop.app import make_app
    from desktop.core.engines.base import ModelInfo
    from desktop.core.engines.registry import EnginePool
    from desktop.core.services import Services
    from desktop.ui import pane as pane_module
    from desktop.ui.main_window import MainWindow

    app = make_app()
    services = Services.open()
    services.engines = EnginePool(lambda c: FloodEngine(ModelInfo(c.engine, c.label, c.model)))
    window = MainWindow(services)
    window.resize(1400, 900)
    window.show()
    app.processEvents()

    # Render time per update, keyed by the answer's length at that moment.
    samples: list[tuple[int, float]] = []
    original = pane_module.Pane._render

    def timed_render(self):
        t = time.perf_counter()
        n = len(self._text)
        dirty = self._dirty
        original(self)
        if dirty:
            samples.append((n, (time.perf_counter() - t) * 1000))

    pane_module.Pane._render = timed_render

    # Heartbeat: how late does a 5 ms timer fire while both panes stream?
    clock = QElapsedTimer()
    gaps: list[float] = []
    last = [0.0]

    stamps: list[float] = []

    def beat():
        now = clock.nsecsElapsed() / 1e6
        gaps.append(now - last[0])
        stamps.append(now)
        last[0] = now

    heart = QTimer()
    heart.setInterval(5)
    heart.timeout.connect(beat)

    window.prompt.setPlainText("Write a long answer.")
    clock.start()
    heart.start()
    started = time.perf_counter()
    window.send()
    while window._running():
        app.processEvents()
    elapsed = time.perf_counter() - started
    heart.stop()
    chars = len(window.panes[0]._text)

    worst = max(range(1, len(gaps)), key=gaps.__getitem__)
    stall = gaps[worst] - 5
    at = stamps[worst] / 1000
    print(f"two panes, {TOKENS} tokens each ({chars} characters), streamed in {elapsed:.1f} s "
          f"({2 * TOKENS / elapsed:.0f} tokens/s into the window)")
    print(f"GUI thread longest stall: {stall:.1f} ms at {at:.1f} s of {elapsed:.1f} s (target < 50 ms); "
          f"heartbeat p99 lateness {statistics.quantiles(gaps, n=100)[-1] - 5:.1f} ms")
    print("render time per update as the answer grows:")
    buckets: dict[int, list[float]] = {}
    step = max(chars // 8, 1)
    for n, ms in samples:
        buckets.setdefault(min(n // step, 7), []).append(ms)
    means = []
    for b in sorted(buckets):
        ms = buckets[b]
        means.append(statistics.mean(ms))
        print(f"  {b * step:>6}-{(b + 1) * step:<6} chars: {statistics.mean(ms):6.2f} ms mean, "
              f"{max(ms):6.2f} ms max over {len(ms)} updates")
    if len(means) >= 2:
        print(f"last-eighth / first-eighth mean render time: {means[-1] / means[0]:.2f} (flat is ~1)")
    window.close()
    services.close()


if __name__ == "__main__":
    main()
