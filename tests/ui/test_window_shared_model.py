"""Two panes on the built-in model in the real window: they share one local engine (one answer at a
time), and a pane's Stop ends that pane's answer only; the other pane's answer stays on screen, whole."""
from __future__ import annotations

from fakes import shown_window

from desktop.core.engines.base import Recorder
from desktop.core.engines.local import LocalEngine
from desktop.core.settings import LocalRuntime

TIMEOUT_MS = 180_000
# Started for it, the built-in model keeps counting: an answer that runs to max_tokens.
COUNTING = "Count from 1 to 400: " + ", ".join(str(i) for i in range(1, 41)) + ","


def test_stopping_the_pane_that_waits_leaves_the_answering_panes_text_whole(qtbot, services, embedded_model):
    s = services.settings
    s.sampling.max_tokens, s.sampling.temperature, s.sampling.seed = 24, 0.0, 1
    w = shown_window(qtbot, services, choices=("local:default", "local:default"))
    try:
        assert all(p.picker.currentText().startswith("Gemma 3 270M (built in)") for p in w.panes)
        w.prompt.setPlainText(COUNTING)
        w.act_send.trigger()
        qtbot.waitUntil(lambda: any(p._text.strip() for p in w.panes), timeout=TIMEOUT_MS)
        answering = next(i for i, p in enumerate(w.panes) if p._text.strip())
        waiting = 1 - answering
        w.panes[waiting].stop.click()  # while the other pane's answer runs on the shared model
        with qtbot.waitSignal(w.roundFinished, timeout=TIMEOUT_MS):
            pass
        # What the answering pane's answer is whole: the same question alone on the same model.
        alone = LocalEngine(embedded_model, LocalRuntime(context_length=2048, threads=2))
        try:
            rec = Recorder()
            for event in alone.stream([{"role": "user", "content": COUNTING}], w.session.params(answering)):
                rec.feed(event)
        finally:
            alone.close()
        whole = rec.result
        assert whole.status == "done" and whole.finish_reason == "length" and whole.text.strip()
        shown = w.panes[answering].view.toPlainText()
        assert whole.text.strip() in shown and "Stopped." not in shown
        assert w.panes[answering]._text == whole.text
        stopped = w.panes[waiting].view.toPlainText()
        assert "Stopped." in stopped and w.panes[waiting]._text == ""
        assert w.session.result(answering).status == "done" and w.session.result(waiting).status == "cancelled"
    finally:
        w.close()


def test_a_follow_up_typed_and_paused_on_is_read_while_typing_and_answers_as_read_from_nothing(
        qtbot, services, embedded_model):
    """Typing pauses: the prompt box's text goes to the local model (PromptBar.draftPaused), which reads
    each pane's next prompt while the user has not sent yet; once sent, a pane's prompt reads only the
    turn's closing, and the answer on screen is the one its model gives the same conversation read from
    nothing."""
    s = services.settings
    s.sampling.max_tokens, s.sampling.temperature, s.sampling.seed = 8, 0.0, 1
    w = shown_window(qtbot, services, choices=("local:default", "local:default"))
    try:
        w.prompt.setPlainText("Name a fruit.")
        with qtbot.waitSignal(w.roundFinished, timeout=TIMEOUT_MS):
            w.act_send.trigger()
        follow_up = "Name another one, please."
        with qtbot.waitSignal(w.prompt_bar.draftPaused, timeout=10_000) as paused:
            qtbot.keyClicks(w.prompt, follow_up)
        assert paused.args == [follow_up]
        engine = services.engines.made(w.session.panes[0].choice)
        assert engine.read_ahead() is not None  # what it does by itself before the user sends
        conversations = [w.session.history(i) + [{"role": "user", "content": follow_up}] for i in range(2)]
        with qtbot.waitSignal(w.roundFinished, timeout=TIMEOUT_MS):
            w.act_send.trigger()
        last = w.session.result(1)
        assert last.status == "done" and 2 <= last.tokens_in - engine.prompt_reused <= 6
        alone = LocalEngine(embedded_model, LocalRuntime(context_length=2048, threads=2))
        try:
            for i, messages in enumerate(conversations):
                rec = Recorder()
                for event in alone.stream(messages, w.session.params(i)):
                    rec.feed(event)
                assert rec.result.text.strip() and w.panes[i]._text == rec.result.text
                assert rec.result.text.strip() in w.panes[i].view.toPlainText()
        finally:
            alone.close()
    finally:
        w.close()
