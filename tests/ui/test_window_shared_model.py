"""Two panes on one local model in the real window (the built-in base model, and the chat model):
they share one local engine (one answer at a time), and a pane's Stop ends that pane's answer only,
at once, even while it waits for the engine; the other pane's answer stays on screen, whole."""
from __future__ import annotations

import threading

import pytest
from fakes import put_in_models, shown_window

from desktop.core.engines.base import Recorder
from desktop.core.engines.local import LocalEngine
from desktop.core.settings import LocalRuntime

TIMEOUT_MS = 180_000
# Answers that run to max_tokens: the base model keeps counting when started for it; the chat
# model tells a story when asked for a long one.
PROMPTS = {
    "embedded_model": "Count from 1 to 400: " + ", ".join(str(i) for i in range(1, 41)) + ",",
    "chat_model": "Write a long story about a cat who sails around the world.",
}


@pytest.mark.parametrize("which", ["embedded_model", "chat_model"])
def test_stopping_the_pane_that_waits_ends_it_at_once_and_leaves_the_answering_panes_text_whole(
        qtbot, services, request, which):
    model = request.getfixturevalue(which)
    prompt = PROMPTS[which]
    s = services.settings
    s.sampling.max_tokens, s.sampling.temperature, s.sampling.seed = 24, 0.0, 1
    choice = "local:default" if which == "embedded_model" else f"local:{put_in_models(services, model)}"
    w = shown_window(qtbot, services, choices=(choice, choice))
    name = "Gemma 3 270M (built in)" if which == "embedded_model" else "SmolLM2"
    assert all(p.picker.currentText().startswith(name) for p in w.panes)
    # The answering pane's answer is held at its first piece of text (its worker waits in the
    # session's callback, the engine still serving it), so the Stop below surely comes while it
    # runs, however fast the model: the stopped pane must not wait for that answer to end.
    go_on, first = threading.Event(), []
    to_window = w.session.on_delta

    def held(i, text):
        to_window(i, text)
        if not first:
            first.append(i)
            go_on.wait(120)

    w.session.on_delta = held
    try:
        w.prompt.setPlainText(prompt)
        w.act_send.trigger()
        qtbot.waitUntil(lambda: any(p._text.strip() for p in w.panes), timeout=TIMEOUT_MS)
        answering = next(i for i, p in enumerate(w.panes) if p._text.strip())
        waiting = 1 - answering
        w.panes[waiting].stop.click()  # while the other pane's answer runs on the shared model
        qtbot.waitUntil(lambda: "Stopped." in w.panes[waiting].view.toPlainText(), timeout=30_000)
        assert w.panes[waiting]._text == "" and w.session.result(waiting).status == "cancelled"
        assert w.panes[answering]._streaming and w.session.result(answering) is None  # still answering
        go_on.set()
        qtbot.waitUntil(lambda: not w._running(), timeout=TIMEOUT_MS)
        # What the answering pane's answer is whole: the same question alone on the same model.
        alone = LocalEngine(model, LocalRuntime(context_length=2048, threads=2))
        try:
            rec = Recorder()
            for event in alone.stream([{"role": "user", "content": prompt}], w.session.params(answering)):
                rec.feed(event)
        finally:
            alone.close()
        whole = rec.result
        assert whole.status == "done" and whole.finish_reason == "length" and whole.text.strip()
        qtbot.waitUntil(lambda: w.panes[answering]._text == whole.text, timeout=10_000)
        shown = w.panes[answering].view.toPlainText()
        assert whole.text.strip() in shown and "Stopped." not in shown
        stopped = w.panes[waiting].view.toPlainText()
        assert "Stopped." in stopped and w.panes[waiting]._text == ""
        assert w.session.result(answering).status == "done" and w.session.result(waiting).status == "cancelled"
    finally:
        go_on.set()
        w.close()
