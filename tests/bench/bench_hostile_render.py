"""How long the GUI thread stalls on hostile answers, and whether a worker thread (the one that
saves the answer) keeps running meanwhile.

Streams each answer into a real Transcript the way the pane does (the whole answer so far,
one call per tick, `STEP` characters a tick) and prints, per answer:
  worst tick   the longest single show_answer + repaint on the GUI thread
  worker gap   the longest pause of a Python thread ticking every 5 ms meanwhile (it needs
               the GIL, as the thread that saves the answer does)
The baseline is the same answer rendered as Markdown every tick (what the transcript did
before it degraded big answers to plain text), on a prefix small enough to finish.

    QT_QPA_PLATFORM=offscreen python tests/bench/bench_hostile_render.py
"""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hostile"))

from PySide6.QtWidgets import QApplication  # noqa: E402

from desktop.ui import transcript as tmod  # noqa: E402
from hostile_inputs import LINE_2MB, TABLE_5000  # noqa: E402


class Ticker(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.gap = 0.0
        self.stop = threading.Event()

    def run(self):
        last = time.perf_counter()
        while not self.stop.wait(0.005):
            now = time.perf_counter()
            self.gap = max(self.gap, now - last)
            last = now


def stream(text: str, step: int) -> tuple[float, float, float]:
    view = tmod.Transcript()
    view.resize(800, 600)
    view.show()
    ticker = Ticker()
    ticker.start()
    worst = 0.0
    t_all = time.perf_counter()
    view.begin_answer("Model")
    for end in range(step, len(text) + step, step):
        t0 = time.perf_counter()
        view.show_answer(text[:end])
        view.viewport().repaint()
        QApplication.processEvents()
        worst = max(worst, time.perf_counter() - t0)
    view.end_answer(text)
    total = time.perf_counter() - t_all
    ticker.stop.set()
    ticker.join()
    view.deleteLater()
    return worst, ticker.gap, total


def main() -> None:
    app = QApplication.instance() or QApplication([])  # noqa: F841
    cases = [("2 MB line", LINE_2MB, 16 * 1024), ("5,000-row table", TABLE_5000, 4 * 1024)]
    print(f"{'answer':<34} {'worst tick':>11} {'worker gap':>11} {'total':>8}")
    for name, text, step in cases:
        w, g, t = stream(text, step)
        print(f"{name + ' (plain beyond limit)':<34} {w * 1000:>9.0f}ms {g * 1000:>9.0f}ms {t:>7.1f}s")
    # Baseline: Markdown on every tick, as before; a prefix only (the whole would take minutes).
    limit = tmod.PLAIN_TEXT_BEYOND
    rows = tmod.MAX_TABLE_ROWS
    tmod.PLAIN_TEXT_BEYOND, tmod.MAX_TABLE_ROWS = 10**12, 10**12
    try:
        for name, text, step in [("2 MB line, first 120 KB", LINE_2MB[:120_000], 16 * 1024),
                                 ("table, first 1,000 rows", TABLE_5000[:TABLE_5000.index("| 1000 |")], 4 * 1024)]:
            w, g, t = stream(text, step)
            print(f"{name + ' (Markdown, before)':<34} {w * 1000:>9.0f}ms {g * 1000:>9.0f}ms {t:>7.1f}s")
    finally:
        tmod.PLAIN_TEXT_BEYOND, tmod.MAX_TABLE_ROWS = limit, rows
    # The largest answer still rendered as Markdown, streamed.
    md = ("Some *prose* with `code` and a [link](https://example.com). " * 30 + "\n\n") * 24
    md = md[:limit]
    w, g, t = stream(md, 512)
    print(f"{'Markdown at the size limit':<34} {w * 1000:>9.0f}ms {g * 1000:>9.0f}ms {t:>7.1f}s")


if __name__ == "__main__":
    main()
