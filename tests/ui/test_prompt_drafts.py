"""The prompt box hands what the user types on to be read ahead (PromptBar.draftPaused), with
scripted engines: which drafts reach the local model and when. Real models: test_window_shared_model."""
from fakes import scripted_services, shown_window


def test_a_follow_up_typed_while_the_answers_run_is_read_ahead_once_they_end(qtbot, arenadesk_home):
    # While answers run no draft is taken; the follow-up typed meanwhile is offered again when the
    # round ends, so it still gets its head start (s22 review F7).
    import threading

    engines, gate = {}, threading.Event()
    services = scripted_services(engines, gate=gate, scripts={"local:default": {"reads_ahead": True}})
    try:
        w = shown_window(qtbot, services, choices=("local:default", "openai:gpt-4o"))
        w.prompt.setPlainText("First")
        w.act_send.trigger()
        qtbot.waitUntil(lambda: w.session.running, timeout=5000)
        with qtbot.waitSignal(w.prompt_bar.draftPaused, timeout=5000):
            qtbot.keyClicks(w.prompt, "And the second?")
        local = engines["local:default"]
        assert local.drafts == []  # refused while answering
        with qtbot.waitSignal(w.roundFinished, timeout=10_000):
            gate.set()
        assert local.drafts and local.drafts[-1][-1] == {"role": "user", "content": "And the second?"}
        assert w.prompt.toPlainText() == "And the second?"  # still the user's, unsent
        w.close()
    finally:
        services.close()
