"""An unattended suite run, in the real dialog: the 20-prompt starter suite × 3 contestants
(the built-in model, the real chat model, and llama_cpp.server on loopback as an API model).

Prints:
  - wall time of the whole run ÷ the sum of the single answers' times (each answer's own
    start to finish, as the run recorded them): below 1 means the local models and the API
    calls overlapped; near 1, they took turns (on a 2-core machine the loopback server and
    the local models share the same cores, so little overlap is possible);
  - the GUI thread's longest stall while the run goes on (a 5 ms heartbeat's worst
    lateness; target < 50 ms).

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/bench_suite.py [--max-tokens 64]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("ARENADESK_HOME", tempfile.mkdtemp(prefix="arenadesk-bench-suite-"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: chat_model, servers


def start_server(model: Path) -> tuple[subprocess.Popen, str]:
    from servers import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
                             "--port", str(port), "--chat_format", "vicuna", "--n_ctx", "2048"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/models", timeout=2):
                return proc, base
        except OSError:
            time.sleep(0.25)
    proc.kill()
    raise SystemExit("llama_cpp.server did not start within 120 s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-tokens", type=int, default=64)
    args = ap.parse_args()

    from PySide6.QtCore import QElapsedTimer, QTimer

    from chat_model import chat_model_path
    from desktop.app import make_app
    from desktop.core.library.embedded import embedded_model_path
    from desktop.core.services import Services
    from desktop.core.store.suite_runs import SuiteRuns
    from desktop.ui.suite_dialogs import SuiteRunDialog

    app = make_app()
    services = Services.open()
    builtin = embedded_model_path(services.folders.models)
    chat = chat_model_path()
    server, base = start_server(builtin)
    try:
        services.settings.openai_base_url = base
        # no key: with a base URL set, the loopback server is asked with a placeholder one
        services.settings.sampling.max_tokens = args.max_tokens
        services.settings.sampling.temperature = 0.0
        services.settings.sampling.seed = 1
        models = [("built-in", "local:default"), ("chat", f"local:{chat}"), ("server", "openai:gemma-via-api")]
        dialog = SuiteRunDialog(services, models)
        dialog._confirm_cost = lambda text: True  # no price for the loopback model: nothing to confirm
        dialog.show()
        dialog.suite.setCurrentText("starter")
        dialog.pickers[2].setCurrentIndex(dialog.pickers[2].findData("openai:gemma-via-api"))
        dialog.parallel.setValue(1)  # llama_cpp.server answers one request at a time (a new one cuts the last)
        app.processEvents()

        clock = QElapsedTimer()
        gaps: list[float] = []
        last = [0.0]

        def beat():
            now = clock.nsecsElapsed() / 1e6
            gaps.append(now - last[0])
            last[0] = now

        heart = QTimer()
        heart.setInterval(5)
        heart.timeout.connect(beat)
        finished = []
        dialog.runFinished.connect(finished.append)
        clock.start()
        heart.start()
        started = time.perf_counter()
        dialog.start()
        while not finished:
            app.processEvents()
            time.sleep(0.001)
        wall = time.perf_counter() - started
        heart.stop()

        runs = SuiteRuns(services.store)
        run = runs.run(finished[0])
        answers = runs.answers(run.id)
        single = [a.finished_at - a.started_at for a in answers if a.finished_at and a.started_at]
        per_model = {}
        for a in answers:
            if a.finished_at and a.started_at:
                per_model.setdefault(run.contestants[a.contestant]["label"], []).append(a.finished_at - a.started_at)
        counts = runs.counts(run.id)
        print(f"starter suite: {len(run.items)} prompts × {len(run.contestants)} contestants = {counts.total} answers "
              f"({counts.done} done, {counts.error} failed), max_tokens {args.max_tokens}")
        for label, times in per_model.items():
            print(f"  {label}: {len(times)} answers, {sum(times):.1f} s in all, median {statistics.median(times):.2f} s")
        print(f"wall time {wall:.1f} s; sum of single answers {sum(single):.1f} s; "
              f"wall ÷ sum = {wall / sum(single):.2f} (below 1: answers overlapped)")
        stall = max(gaps[1:]) - 5 if len(gaps) > 1 else float("nan")
        print(f"GUI thread longest stall during the run: {stall:.1f} ms (target < 50 ms); heartbeat p99 lateness "
              f"{statistics.quantiles(gaps, n=100)[-1] - 5:.1f} ms")
        dialog.shutdown()
    finally:
        server.terminate()
        server.wait(10)
        services.close()


if __name__ == "__main__":
    main()
