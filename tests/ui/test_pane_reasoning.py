"""A reasoning model's thinking on screen: the collapsed "▸ Reasoning (N words)" line shows and
counts while the model still thinks (local `<think>` and servers' reasoning_content both arrive
as ReasoningDelta through the session), opens to the text as it grows, stays one line when the
answer ends, and is there again when the comparison is reopened from History."""
from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QUrl

from desktop.core.engines.base import Done, ModelInfo, ReasoningDelta, TextDelta, Usage
from desktop.ui.main_window import MainWindow
from desktop.ui.transcript import REASONING_SCHEME
from fakes import KEYLESS_ENDPOINT, shown_window

TIMEOUT_MS = 15_000
THOUGHTS = ("The user ", "asks about ", "France. Its capital ", "is Paris.")
ANSWER = "The capital of France is Paris."


class ThinkingEngine:
    """Reasons in pieces, waits for `answer` to be set (the test looks meanwhile), then answers."""

    def __init__(self, choice, answer: threading.Event):
        self.info = ModelInfo(choice.engine, choice.label, f"ref:{choice.model}")
        self.answer = answer
        self._cancel = threading.Event()

    def stream(self, messages, params, cancel=None):
        self._cancel.clear()
        for piece in THOUGHTS:
            yield ReasoningDelta(piece)
            time.sleep(0.01)
        while not self.answer.wait(0.01):
            if self._cancel.is_set() or (cancel is not None and cancel.cancelled):
                yield Done("cancelled")
                return
        yield TextDelta(ANSWER)
        yield Usage(3, 9)
        yield Done("stop")

    def cancel(self):
        self._cancel.set()

    def close(self):
        pass


@pytest.fixture
def gate():
    return threading.Event()


@pytest.fixture
def window(qtbot, arenadesk_home, gate):
    from desktop.core.engines.registry import EnginePool
    from desktop.core.services import Services

    services = Services.open()
    services.settings.openai_base_url = KEYLESS_ENDPOINT
    services.engines = EnginePool(lambda choice: ThinkingEngine(choice, gate))
    w = shown_window(qtbot, services)
    yield w
    gate.set()
    w.close()
    services.close()


def shown(pane) -> str:
    return pane.view.toPlainText()


def click_reasoning(pane, key: int = 0) -> None:
    pane.view.anchorClicked.emit(QUrl(f"{REASONING_SCHEME}:{key}"))  # what a click on the line does


def test_reasoning_shows_and_counts_while_the_model_thinks(qtbot, window, gate):
    w = window
    w.prompt.setPlainText("What is the capital of France?")
    w.act_send.trigger()
    pane = w.panes[0]
    # Still thinking (the engines wait for the gate): the line is there, with every word so far.
    qtbot.waitUntil(lambda: "▸ Reasoning (9 words) — click to show" in shown(pane), timeout=TIMEOUT_MS)
    assert pane.metrics.text() == "reasoning…"
    assert ANSWER not in shown(pane) and "asks about" not in shown(pane)  # collapsed
    click_reasoning(pane)
    assert "▾ Reasoning (9 words) — click to hide" in shown(pane)
    assert "The user asks about France. Its capital is Paris." in shown(pane)

    with qtbot.waitSignal(w.roundFinished, timeout=TIMEOUT_MS):
        gate.set()
    qtbot.waitUntil(lambda: ANSWER in shown(pane), timeout=TIMEOUT_MS)
    text = shown(pane)
    assert text.count("Reasoning (") == 1  # the live line became the answer's, not a second one
    assert text.index("Reasoning (9 words)") < text.index("The user asks") < text.index(ANSWER)
    click_reasoning(pane)
    assert "▸ Reasoning (9 words) — click to show" in shown(pane) and "asks about" not in shown(pane)
    assert ANSWER in shown(pane)  # the answer is where it was
    other = w.panes[1]
    assert shown(other).count("▸ Reasoning (9 words)") == 1 and ANSWER in shown(other)

    # Reopened from History: the stored reasoning is shown the same way.
    conversation = w.session.conversation_id
    w.new_chat()
    assert "Reasoning" not in shown(pane)
    w.open_conversation(conversation)
    text = shown(pane)
    assert text.count("▸ Reasoning (9 words) — click to show") == 1 and ANSWER in text
    click_reasoning(pane)
    assert "The user asks about France. Its capital is Paris." in shown(pane)


def test_a_second_round_and_a_regenerate_keep_one_line_per_answer(qtbot, window, gate):
    w = window
    gate.set()
    for prompt in ("First?", "Second?"):
        w.prompt.setPlainText(prompt)
        with qtbot.waitSignal(w.roundFinished, timeout=TIMEOUT_MS):
            w.act_send.trigger()
        qtbot.wait(150)
    pane = w.panes[0]
    qtbot.waitUntil(lambda: shown(pane).count(ANSWER) == 2, timeout=TIMEOUT_MS)
    assert shown(pane).count("Reasoning (9 words)") == 2
    with qtbot.waitSignal(w.roundFinished, timeout=TIMEOUT_MS):
        w.regenerate(pane)
    qtbot.waitUntil(lambda: shown(pane).count(ANSWER) == 2 and "waiting" not in pane.metrics.text(),
                    timeout=TIMEOUT_MS)
    qtbot.wait(150)
    assert shown(pane).count("Reasoning (9 words)") == 2
    click_reasoning(pane, 1)  # the regenerated answer's line opens its own text
    assert shown(pane).count("The user asks about France.") == 1
    assert shown(pane).index("Second?") < shown(pane).index("The user asks about France.")


@pytest.mark.timeout(120)
def test_reasoning_content_from_a_real_server_shows_in_the_window(qtbot, arenadesk_home, fault_server):
    """The OpenAI engine over loopback HTTP (reasoning_content chunks, then the answer)."""
    from desktop.core.services import Services

    services = Services.open()
    services.settings.openai_base_url = fault_server.on_chat("reasoning").url
    w = MainWindow(services)
    qtbot.addWidget(w)
    w.show()
    for i in range(2):
        w.choose_model(i, "openai:gpt-4o")
    w.prompt.setPlainText("Say hello.")
    with qtbot.waitSignal(w.roundFinished, timeout=60_000):
        w.act_send.trigger()
    pane = w.panes[0]
    qtbot.waitUntil(lambda: "Hello, world!" in shown(pane), timeout=TIMEOUT_MS)
    assert shown(pane).count("▸ Reasoning (5 words) — click to show") == 1
    assert "wants a greeting" not in shown(pane)
    click_reasoning(pane)
    assert "The user wants a greeting." in shown(pane)
    w.close()
    services.close()
