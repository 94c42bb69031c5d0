"""UI review: the window driven as a demanding user would, with scripted engines (fast and
deterministic) standing in for the models, so each behaviour is checked in isolation."""
from __future__ import annotations

import threading

import pytest
from fakes import scripted_services, shown_window
from PySide6.QtCore import Qt

from desktop.ui import main_window

TIMEOUT_MS = 10_000


@pytest.fixture
def engines():
    return {}


@pytest.fixture
def gate():
    """Cleared: every scripted answer keeps streaming until it is set again."""
    g = threading.Event()
    g.set()
    return g


@pytest.fixture
def services(arenadesk_home, engines, gate):
    s = scripted_services(engines, gate, keyless=False)  # the window fixture makes it keyless
    yield s
    s.close()


@pytest.fixture
def window(qtbot, services):
    w = shown_window(qtbot, services)
    conn = services.settings.connection("openai")  # no key notice; engines are scripted
    conn.base_url, conn.needs_key = "http://127.0.0.1:9/v1", False
    yield w
    w.close()


def send(qtbot, w, text="Hello?"):
    w.prompt.setPlainText(text)
    w.act_send.trigger()
    wait_round(qtbot, w)


def wait_round(qtbot, w):
    qtbot.waitUntil(lambda: not w._running(), timeout=TIMEOUT_MS)
    qtbot.wait(150)  # the panes' render timer


def db(services, sql, args=()):
    return services.store.query(sql, args)


# -- regenerate -----------------------------------------------------------------------------
def test_regenerate_one_pane_shows_the_new_answer_and_keeps_the_other(qtbot, window, services):
    send(qtbot, window)
    left, right = window.panes
    assert "gpt-4o says: 1" in left.view.toPlainText()
    window.regenerate(left)
    wait_round(qtbot, window)
    text = left.view.toPlainText()
    assert "gpt-4o says: 2" in text and "says: 1" not in text  # replaced, not hidden or doubled
    assert text.count("gpt-4o") == 2  # the heading and the answer, once each
    assert "gpt-4.1 says: 1" in right.view.toPlainText()
    window.rating.buttons[("left", None)].click()
    assert db(services, "SELECT outcome FROM votes") == [("left",)]
    assert db(services, "SELECT text FROM responses ORDER BY slot") == [("gpt-4o says: 2",), ("gpt-4.1 says: 1",)]


def test_ctrl_r_regenerates_every_pane(qtbot, window, engines):
    send(qtbot, window)
    qtbot.keyClick(window, Qt.Key_R, Qt.ControlModifier)
    wait_round(qtbot, window)
    assert engines["openai:gpt-4o"].calls == 2 and engines["openai:gpt-4.1"].calls == 2
    assert "gpt-4.1 says: 2" in window.panes[1].view.toPlainText()
    assert window.rating.buttons[("left", None)].isEnabled()


def test_regenerating_a_failed_answer_keeps_the_earlier_turns(qtbot, window, engines):
    send(qtbot, window, "First question")
    right = window.panes[1]
    engines["openai:gpt-4.1"].fail_next = True
    send(qtbot, window, "Second question")
    assert "Network down" in right.view.toPlainText() and len(window.session.history(1)) == 2
    window.regenerate(right)
    wait_round(qtbot, window)
    sent = engines["openai:gpt-4.1"].seen[-1]
    assert [m["content"] for m in sent if m["role"] == "user"] == ["First question", "Second question"]
    assert len(window.session.history(1)) == 4 and "Network down" not in right.view.toPlainText()


def test_regenerate_after_changing_the_picker_says_which_model_answers(qtbot, window, engines, services):
    """The round's model answers again (the new pick answers from the next prompt), and the
    heading names it, not the picker's new choice."""
    send(qtbot, window)
    left = window.panes[0]
    window.choose_model(0, "openai:gpt-5")
    window.regenerate(left)
    wait_round(qtbot, window)
    assert engines["openai:gpt-4o"].calls == 2 and "openai:gpt-5" not in engines or engines["openai:gpt-5"].calls == 0
    text = left.view.toPlainText()
    assert "gpt-4o says: 2" in text and "gpt-5" not in text
    assert db(services, "SELECT choice FROM responses WHERE slot = 0") == [("openai:gpt-4o",)]
    send(qtbot, window, "Next")
    assert "gpt-5 says: 1" in left.view.toPlainText()


# -- panes ----------------------------------------------------------------------------------
def test_adding_a_pane_after_a_round_keeps_that_round_votable_and_ctrl_r_safe(qtbot, window, services):
    send(qtbot, window)
    third = window.add_pane()
    assert third is not None and third.notice.isVisible()
    # The finished round had two answers: the bar still offers the two-way vote.
    assert ("left", None) in window.rating.buttons and window.rating.buttons[("left", None)].isEnabled()
    qtbot.keyClick(window, Qt.Key_R, Qt.ControlModifier)  # must not raise for the new pane
    wait_round(qtbot, window)
    window.rating.buttons[("right", None)].click()
    assert db(services, "SELECT outcome FROM votes") == [("right",)]
    send(qtbot, window, "Now three")
    assert ("best", 2) in window.rating.buttons
    qtbot.keyClick(window, Qt.Key_3)
    assert db(services, "SELECT outcome, best_position FROM votes ORDER BY id") == [("right", None), ("best", 2)]


def test_fourth_pane_best_of_n_and_removing_panes(qtbot, window, services):
    window.add_pane()
    window.add_pane()
    assert len(window.panes) == 4 and not window.act_add_pane.isEnabled()
    send(qtbot, window)
    qtbot.keyClick(window, Qt.Key_4)
    rows = db(services, "SELECT COUNT(*) FROM battles")
    assert rows == [(3,)]
    window.remove_pane(window.panes[1])
    assert len(window.panes) == 3 and window.act_add_pane.isEnabled()
    assert [p.position for p in window.panes] == [0, 1, 2]
    assert [p.title.text() for p in window.panes] == ["A", "B", "C"]


# -- stopping ---------------------------------------------------------------------------------
def test_stop_one_pane_while_the_other_continues(qtbot, window, gate, services):
    gate.clear()
    window.prompt.setPlainText("Long one")
    window.act_send.trigger()
    qtbot.waitUntil(lambda: "says" in window.panes[0]._text, timeout=TIMEOUT_MS)
    window.panes[0].stop.click()
    qtbot.waitUntil(lambda: not window.panes[0]._streaming, timeout=TIMEOUT_MS)
    assert window.panes[1]._streaming and window._running()
    assert not window.panes[0].regen.isEnabled()  # nothing to do until the round ends
    gate.set()
    wait_round(qtbot, window)
    assert db(services, "SELECT status FROM responses ORDER BY slot") == [("cancelled",), ("done",)]


def test_stop_on_a_pane_waiting_for_the_shared_local_model_ends_it_while_the_other_answers(qtbot, window, gate,
                                                                                           services):
    """Two panes on one local model take turns on its one engine: Stop on the pane still waiting
    says "Stopped." there at once, while the other pane's answer goes on (not once it is over)."""
    for i in range(2):
        window.choose_model(i, "local:default")
    gate.clear()  # the answer that gets the engine first keeps it until the gate opens
    window.prompt.setPlainText("Long one")
    window.act_send.trigger()
    qtbot.waitUntil(lambda: any("says" in p._text for p in window.panes), timeout=TIMEOUT_MS)
    answering = next(i for i, p in enumerate(window.panes) if "says" in p._text)
    waiting = window.panes[1 - answering]
    assert waiting._streaming and waiting._text == ""
    waiting.stop.click()
    qtbot.waitUntil(lambda: not waiting._streaming, timeout=TIMEOUT_MS)
    assert "Stopped." in waiting.view.toPlainText() and waiting._text == ""
    assert window.panes[answering]._streaming and window._running()  # the other answer still going
    gate.set()
    wait_round(qtbot, window)
    assert "says: 1" in window.panes[answering].view.toPlainText()
    statuses = db(services, "SELECT status FROM responses ORDER BY slot")
    assert statuses[answering] == ("done",) and statuses[1 - answering] == ("cancelled",)


# -- blind ------------------------------------------------------------------------------------
def test_turning_blind_off_mid_round_does_not_reveal_before_the_vote(qtbot, window, services):
    window.act_toggle_blind.trigger()
    send(qtbot, window)
    assert {p.title.text() for p in window.panes} == {"Model A", "Model B"}
    window.act_toggle_blind.trigger()  # off, before voting
    assert all(p.hidden_name for p in window.panes) and not any(p.picker.isVisible() for p in window.panes)
    qtbot.keyClick(window, Qt.Key_2)
    assert not any(p.hidden_name for p in window.panes)
    assert db(services, "SELECT blind FROM votes") == [(1,)]
    send(qtbot, window, "Next, not blind")
    assert not any(p.hidden_name for p in window.panes)
    assert db(services, "SELECT blind FROM rounds ORDER BY id") == [(1,), (0,)]


def test_blind_pickers_stay_usable_before_the_first_prompt(qtbot, window):
    window.act_toggle_blind.trigger()
    window.new_chat()
    assert all(p.picker.isVisibleTo(window) for p in window.panes)


def test_a_vote_changed_after_the_reveal_stays_blind(qtbot, window, services):
    window.act_toggle_blind.trigger()
    send(qtbot, window)
    qtbot.keyClick(window, Qt.Key_1)
    assert db(services, "SELECT blind FROM votes") == [(1,)]
    window.rating.buttons[("tie", None)].click()  # names are known now; the judgement was made blind
    assert db(services, "SELECT outcome, blind FROM votes") == [("tie", 1)]


def test_a_regenerate_after_the_reveal_keeps_the_names_on_screen_and_the_follow_up_named(qtbot, window,
                                                                                          services):
    """Regenerate drops the revealing vote, not the names: the follow-up goes with names (no
    "Model A" under a named earlier turn), the status bar says why, and votes cast with the
    names on screen are not stored blind."""
    window.act_toggle_blind.trigger()
    send(qtbot, window, "First")
    qtbot.keyClick(window, Qt.Key_1)
    assert "Revealed" in window.statusBar().currentMessage()
    left, right = window.panes
    window.regenerate(left)
    wait_round(qtbot, window)
    assert not any(p.hidden_name for p in window.panes) and "Model" not in left.title.text()
    assert "gpt-4o @ OpenAI" in left.view.toPlainText() and "gpt-4o says: 2" in left.view.toPlainText()
    assert db(services, "SELECT COUNT(*) FROM votes") == [(0,)]
    send(qtbot, window, "Second")
    assert main_window.NAMES_SHOWN in window.statusBar().currentMessage()
    for pane, name in ((left, "gpt-4o @ OpenAI"), (right, "gpt-4.1 @ OpenAI")):
        text = pane.view.toPlainText()
        assert not pane.hidden_name and "Model A" not in text and "Model B" not in text
        assert text.count(name) == 2  # each turn under its model's name
    qtbot.keyClick(window, Qt.Key_2)
    assert db(services, "SELECT r.prompt, r.blind, v.blind FROM rounds r JOIN votes v ON v.round_id = r.id") == [
        ("Second", 0, 0)]


@pytest.mark.parametrize("cause", ["unmakeable", "connection removed"])
def test_a_refused_follow_up_while_blind_shows_no_name_until_the_vote(qtbot, services, cause):
    """A follow-up refused while the blind round is hidden: the status bar and the panes'
    notices say what to do, never which model (or which kind) is behind "Model A/B". After the
    vote, the refusal says which pane and why."""
    from fakes import unmakeable_engines

    w = shown_window(qtbot, services, choices=("local:default", "openai:gpt-4o"))
    try:
        services.settings.connection("openai").needs_key = False
        w.act_toggle_blind.trigger()
        send(qtbot, w, "First")
        assert {p.title.text() for p in w.panes} == {"Model A", "Model B"}
        if cause == "unmakeable":
            services.engines = unmakeable_engines("the base URL has no host")
        else:
            services.settings.connections = [c for c in services.settings.connections if c.id != "openai"]
        w.prompt.setPlainText("Second")
        w.act_send.trigger()
        said = w.statusBar().currentMessage()
        assert "Vote on this round to see the names" in said and "New chat" in said
        for tell in ("gpt-4o", "OpenAI", "Gemma", "local", "key", "Pane", "pane ", "Model A", "Model B",
                     "connection", "base URL"):
            assert tell not in said, (tell, said)
        for p in w.panes:
            assert p.hidden_name and not p.notice.isVisible(), p.notice.text()
        assert w.prompt.toPlainText() == "Second"  # kept, to send once it can be
        assert db(services, "SELECT COUNT(*) FROM rounds") == [(1,)]
        qtbot.keyClick(w, Qt.Key_1)
        w.act_send.trigger()
        said = w.statusBar().currentMessage()
        assert said.startswith("Pane ") and ("gpt-4o" in said or "Gemma" in said), said
        if cause == "connection removed":  # the pane says it too, now that names are shown
            api = w.panes[1]
            assert api.notice.isVisible() and "gpt-4o" in api.notice.text()
    finally:
        w.close()


def test_reopening_a_hidden_blind_round_whose_model_is_gone_says_not_which(qtbot, window, services):
    window.act_toggle_blind.trigger()
    send(qtbot, window, "Blind question")
    conv = window.session.conversation_id
    window.new_chat()
    services.settings.connections = [c for c in services.settings.connections if c.id != "openai"]
    window.open_conversation(conv)
    said = window.statusBar().currentMessage()
    assert "A model it used is gone: vote on this round to see which, or start a New chat." in said
    assert "gpt-4" not in said and "pick another in that pane" not in said
    for p in window.panes:
        assert p.hidden_name and not p.notice.isVisible(), p.notice.text()
    qtbot.keyClick(window, Qt.Key_1)
    assert all(p.notice.isVisible() and "Model gone" in p.notice.text() for p in window.panes)


def test_reopening_an_unvoted_blind_conversation_keeps_names_hidden(qtbot, window, services):
    window.act_toggle_blind.trigger()
    send(qtbot, window, "Blind question")
    conv = window.session.conversation_id
    window.new_chat()
    window.open_conversation(conv)
    assert all(p.hidden_name for p in window.panes)
    for p in window.panes:
        # Headings say "Model A/B", never the picker's name (the scripted answers quote their model).
        assert "(API)" not in p.view.toPlainText() and "Model " in p.view.toPlainText()
        assert not p.picker.isVisible()
    qtbot.keyClick(window, Qt.Key_1)
    assert not any(p.hidden_name for p in window.panes)
    assert db(services, "SELECT blind FROM votes") == [(1,)]


def test_reopening_shows_no_stale_figures_or_notices(qtbot, window, services):
    send(qtbot, window, "Question one")
    conv = window.session.conversation_id
    window.new_chat()
    window.add_pane()
    send(qtbot, window, "Three panes")
    window.open_conversation(conv)
    assert len(window.panes) == 2
    for p in window.panes:
        assert p.metrics.text() == "" or "tok" not in p.metrics.text() or "Question" in p.metrics.text()
        assert not p.notice.isVisible()
        assert not p.regen.isEnabled()


# -- history --------------------------------------------------------------------------------
def test_deleting_the_running_conversation_is_refused(qtbot, window, gate, services, monkeypatch):
    monkeypatch.setattr(main_window, "confirm", lambda *a: True)
    gate.clear()
    window.prompt.setPlainText("Long one")
    window.act_send.trigger()
    conv = window.session.conversation_id
    window.delete_conversation(conv)
    assert db(services, "SELECT COUNT(*) FROM conversations WHERE id = ?", (conv,)) == [(1,)]
    gate.set()
    wait_round(qtbot, window)


def test_history_search_filters_and_delete_key_deletes(qtbot, window, services, monkeypatch):
    send(qtbot, window, "apples and pears")
    window.new_chat()
    send(qtbot, window, "bananas")
    window.new_chat()
    assert window.history.count() == 2
    qtbot.keyClicks(window.search, "banana")
    qtbot.waitUntil(lambda: window.history.count() == 1, timeout=2000)
    monkeypatch.setattr(main_window, "confirm", lambda *a: True)
    window.history.setFocus()
    window.history.setCurrentRow(0)
    qtbot.keyClick(window.history, Qt.Key_Delete)
    assert window.history.count() == 0
    assert [r[0] for r in db(services, "SELECT title FROM conversations")] == ["apples and pears"]


# -- keyboard -------------------------------------------------------------------------------
def test_tab_leaves_the_prompt(qtbot, window):
    window.prompt.setFocus()
    qtbot.keyClick(window.prompt, Qt.Key_Tab)
    assert window.prompt.toPlainText() == ""
    assert not window.prompt.hasFocus()


def test_a_finished_round_does_not_steal_focus_from_a_prompt_being_typed(qtbot, window, gate, services):
    window.activateWindow()
    gate.clear()
    window.prompt.setPlainText("First")
    window.act_send.trigger()
    window.prompt.setFocus()
    qtbot.keyClicks(window.prompt, "Give me 1")  # typing the follow-up while they answer
    gate.set()
    wait_round(qtbot, window)
    assert window.prompt.hasFocus()
    qtbot.keyClicks(window.focusWidget(), "0 ideas")
    assert window.prompt.toPlainText() == "Give me 10 ideas"
    assert db(services, "SELECT COUNT(*) FROM votes") == [(0,)]


def test_keyboard_only_round_vote_and_typing_on(qtbot, window, services):
    window.activateWindow()
    window.prompt.setFocus()
    qtbot.keyClicks(window.prompt, "Keyboard only")
    qtbot.keyClick(window.prompt, Qt.Key_Return, Qt.ControlModifier)
    wait_round(qtbot, window)
    qtbot.keyClick(window.focusWidget() or window, Qt.Key_Right)
    assert db(services, "SELECT outcome FROM votes") == [("right",)]
    qtbot.keyClicks(window.focusWidget() or window, "Next")  # the next prompt, typed straight on
    assert window.prompt.hasFocus() and window.prompt.toPlainText() == "Next"
    qtbot.keyClick(window.prompt, Qt.Key_Escape)  # nothing running: harmless


# -- settings -------------------------------------------------------------------------------
def test_a_key_saved_in_settings_clears_the_notice_even_if_the_dialog_is_cancelled(qtbot, window, services):
    from desktop.ui.settings_dialog import SettingsDialog

    services.settings.connection("openai").needs_key = True
    window._update_key_notice()
    assert window.panes[0].notice.isVisible()
    done = []

    def drive():
        d = next(w for w in qtbot_app().topLevelWidgets() if isinstance(w, SettingsDialog) and w.isVisible())
        d.connections.key_row.field.setText("sk-test-123")
        d.connections.key_row.save.click()
        done.append(d.connections.key_row.status.text())
        d.reject()

    from PySide6.QtCore import QTimer

    QTimer.singleShot(200, drive)
    window.open_settings()
    assert "keychain" in done[0] or "session" in done[0]
    assert not window.panes[0].notice.isVisible()


def test_enter_in_the_key_field_or_dialog_save_keeps_the_typed_key(qtbot, window, services):
    from desktop.core import secrets
    from desktop.ui.settings_dialog import SettingsDialog

    d = SettingsDialog(services, window)
    qtbot.addWidget(d)
    d.connections.key_row.field.setText("sk-typed-not-saved")
    d.accept()
    assert services.secrets.get(secrets.OPENAI).value == "sk-typed-not-saved"


def qtbot_app():
    from PySide6.QtWidgets import QApplication

    return QApplication.instance()


def test_four_panes_fit_a_laptop_screen(qtbot, window):
    window.add_pane()
    window.add_pane()
    assert window.minimumSizeHint().width() <= 1366
