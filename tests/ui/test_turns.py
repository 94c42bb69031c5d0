"""Panes that take turns say so: a pane whose answer waits for another on its local model shows
"waiting for its turn…", not a first token that seems slow to come (scripted engines; the same
events on two real local models: tests/integration/test_local_cpu_turns.py)."""
import threading

from fakes import scripted_services, shown_window


def test_the_pane_waiting_for_its_turn_says_so_and_then_answers(qtbot, arenadesk_home):
    engines, gate = {}, threading.Event()
    services = scripted_services(engines, gate=gate)
    try:
        w = shown_window(qtbot, services, choices=("local:default", "local:default"))
        w.prompt.setPlainText("Hello")
        w.act_send.trigger()
        qtbot.waitUntil(lambda: any(p.metrics.text() == "waiting for its turn…" for p in w.panes), timeout=5000)
        waiting = next(p for p in w.panes if p.metrics.text() == "waiting for its turn…")
        with qtbot.waitSignal(w.roundFinished, timeout=10_000):
            gate.set()
        assert "says: " in waiting.view.toPlainText()  # it answered once its turn came
        assert "first token" in waiting.metrics.text()
        w.close()
    finally:
        services.close()
