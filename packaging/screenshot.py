"""Takes the README's screenshot: the real window under Xvfb, mid-comparison.

Three panes: SmolLM2-135M-Instruct (a chat model with a ChatML template, run locally),
the built-in Gemma 3 270M (a base model, run locally), and Gemma again served by
llama_cpp.server on loopback, added as the connection "my-box" and reached through the
OpenAI engine, as any OpenAI-compatible endpoint (or GPT) would be. One round is rated;
the next is streaming.

    xvfb-run -s "-screen 0 1440x900x24" .venv/bin/python packaging/screenshot.py resources/screenshots/window.png

The chat model is the tests' copy (tests/chat_model.py fetches it once), or pass its path
as the second argument.
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


def chat_model(path: str | None) -> str:
    if path:
        return path
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from chat_model import chat_model_path

    return str(chat_model_path())


def main(out: str, chat: str | None = None) -> None:
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
        shoot(out, f"http://127.0.0.1:{port}/v1", chat_model(chat))
    finally:
        server.terminate()
        server.wait(10)


def shoot(out: str, base_url: str, chat: str) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    from desktop.app import make_app
    from desktop.core.connections import new_connection
    from desktop.core.library.installed import import_file
    from desktop.core.services import Services
    from desktop.ui.main_window import MainWindow
    from desktop.ui.theme import apply_theme

    app = make_app()
    services = Services.open()
    box = new_connection(services.settings, "llamacpp", name="my-box", base_url=base_url)
    services.settings.connections.append(box)
    services.settings.sampling.max_tokens = 120
    services.settings.sampling.temperature = 0.7
    services.settings.sampling.seed = 11
    services.settings.sampling.stop = ["USER:"]  # the server runs a base model: end at the next turn
    smol = import_file(services, chat)
    apply_theme(app, "light")
    w = MainWindow(services)
    w.set_api_models(["gemma-3-270m-server"], connection=box.id)
    w.add_pane()
    w.choose_model(0, str(smol.choice))
    w.choose_model(1, "local:default")
    w.choose_model(2, f"openai:gemma-3-270m-server@{box.id}")
    w.resize(1440, 880)
    w.show()

    def wait(cond, timeout=120):
        end = time.time() + timeout
        while not cond() and time.time() < end:
            app.processEvents(QEventLoop.AllEvents, 50)

    wait(lambda: False, 2)
    w.tag.setEditText("science")
    for prompt in ("What is the largest planet in the solar system?", "And which planet is closest to the sun?"):
        w.prompt.setPlainText(prompt)
        w.send()
        wait(lambda: not w._running())
    w.rating.buttons[("best", 0)].click()
    w.panes[0].stars.set_value(4, emit=True)
    w.panes[1].stars.set_value(2, emit=True)
    w.panes[2].stars.set_value(3, emit=True)
    w.tag.setEditText("health")
    w.prompt.setPlainText("Give me three tips for better sleep.")
    w.send()
    # Mid-comparison: grab while the answers are still arriving.
    wait(lambda: any(len(p._text) > 20 for p in w.panes) or not w._running(), 90)
    w.prompt.setPlainText("Which of those matters most?")
    QTimer.singleShot(0, lambda: None)
    app.processEvents()
    w.grab().save(out)
    print(f"saved {out}")
    w.stop_all()
    wait(lambda: not w._running(), 10)
    w.close()
    services.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "screenshot.png", sys.argv[2] if len(sys.argv) > 2 else None)
