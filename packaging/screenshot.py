"""Takes the README's screenshot: the real window under Xvfb, mid-comparison.

Left: the built-in Gemma 3 270M in-process (llama.cpp child process). Right: the same
family served by llama_cpp.server on loopback, reached through the OpenAI engine, as
any OpenAI-compatible endpoint would be. One round is rated; the next is streaming.

    xvfb-run -s "-screen 0 1440x900x24" .venv/bin/python packaging/screenshot.py resources/screenshots/window.png
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(out: str) -> None:
    os.environ.setdefault("ARENADESK_HOME", tempfile.mkdtemp(prefix="arenadesk-shot-"))
    from desktop.core.paths import folders
    from desktop.core.library.embedded import embedded_model_path

    model = embedded_model_path(folders().ensure().models)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
         "--chat_format", "vicuna", "--n_ctx", "2048", "--model_alias", "gemma-3-270m-server"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        shoot(out, f"http://127.0.0.1:{port}/v1")
    finally:
        server.terminate()
        server.wait(10)


def shoot(out: str, base_url: str) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    from desktop.app import make_app
    from desktop.ui.theme import apply_theme
    from desktop.core import secrets
    from desktop.core.services import Services
    from desktop.ui.main_window import MainWindow

    app = make_app()
    services = Services.open()
    services.settings.openai_base_url = base_url
    services.settings.sampling.max_tokens = 160
    services.settings.sampling.temperature = 0.7
    services.settings.sampling.seed = 11
    services.settings.sampling.stop = ["USER:"]  # the test server is a base model: end at the next turn
    services.secrets.set(secrets.OPENAI, "local-server-needs-no-key", session_only=True)
    apply_theme(app, "light")
    w = MainWindow(services)
    w.set_api_models(["gemma-3-270m-server", "gpt-4o-mini", "gpt-4.1"])
    w.choose_model(1, "openai:gemma-3-270m-server")
    w.resize(1440, 880)
    w.show()

    def wait(cond, timeout=120):
        end = time.time() + timeout
        while not cond() and time.time() < end:
            app.processEvents(QEventLoop.AllEvents, 50)

    wait(lambda: False, 2)
    w.tag.setEditText("geography")
    for prompt in ("What is the capital of France?", "And what is the capital of Italy?"):
        w.prompt.setPlainText(prompt)
        w.send()
        wait(lambda: not w._running())
    w.rating.buttons[("left", None)].click()
    w.panes[0].stars.set_value(4, emit=True)
    w.panes[1].stars.set_value(3, emit=True)
    w.tag.setEditText("health")
    w.prompt.setPlainText("What are the benefits of drinking water?")
    w.send()
    # Mid-comparison: grab while the answers are still arriving.
    wait(lambda: any(len(p._text) > 20 for p in w.panes) or not w._running(), 90)
    w.prompt.setPlainText("Which of those matters most for sleep?")
    QTimer.singleShot(0, lambda: None)
    app.processEvents()
    w.grab().save(out)
    print(f"saved {out}")
    w.stop_all()
    wait(lambda: not w._running(), 10)
    w.close()
    services.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "screenshot.png")
