"""The real comparison window driven with qtbot: the embedded model on the left, the
OpenAI engine talking to llama_cpp.server on loopback on the right, a real SQLite file."""
import sqlite3

import pytest
from PySide6.QtCore import Qt

from desktop.core import secrets
from desktop.ui import main_window
from desktop.ui.main_window import MainWindow, no_key_notice

ROUND_TIMEOUT_MS = 90_000


@pytest.fixture
def window(qtbot, services):
    services.settings.sampling.max_tokens = 12
    services.settings.sampling.temperature = 0.0
    services.settings.sampling.seed = 1
    w = MainWindow(services)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.apiModelsFetched, timeout=30_000):  # the start's fetch, before a test changes the endpoint
        w.show()
    yield w
    w.close()


@pytest.fixture
def remote_window(window, services, llama_server):
    """Right pane: the OpenAI engine against a real OpenAI-compatible server."""
    services.secrets.set(secrets.OPENAI, "sk-test-window-key-0000")
    services.settings.connection("openai").base_url = llama_server
    window.set_api_models(["gemma-via-api"])
    window.choose_model(0, "local:default")
    window.choose_model(1, "openai:gemma-via-api")
    return window


def send(qtbot, window, text):
    window.prompt.setFocus()
    qtbot.keyClicks(window.prompt, text)
    with qtbot.waitSignal(window.roundFinished, timeout=ROUND_TIMEOUT_MS):
        qtbot.keyClick(window.prompt, Qt.Key_Return, Qt.ControlModifier)


def db(services):
    return sqlite3.connect(services.folders.database)


def test_first_run_without_key_is_ready_and_explains_the_gpt_pane(window):
    assert window.panes[0].choice() == "local:default"
    assert window.panes[1].choice().startswith("openai:")
    assert window.panes[1].notice.isVisible() and window.panes[1].notice.text() == no_key_notice("OpenAI")
    assert not window.panes[0].notice.isVisible()


def test_ctrl_t_on_a_fresh_machine_adds_a_local_model_that_can_answer(qtbot, window, services, chat_model):
    """No key stored: a pane added with Ctrl+T starts on an installed local model no pane shows yet,
    else the built-in one, never on an API model that could only say it has no key."""
    from fakes import put_in_models

    qtbot.waitUntil(window.contestants.local_listed, timeout=30_000)
    qtbot.waitUntil(window.panes[1].notice.isVisible, timeout=10_000)  # B (OpenAI) says it has no key
    qtbot.keyClick(window, Qt.Key_T, Qt.ControlModifier)
    third = window.panes[2]
    assert third.picker.currentText() == "Gemma 3 270M (built in) · local"  # the only local model: again
    assert not third.notice.isVisible()

    put_in_models(services, chat_model)  # a model the user downloaded
    window.refresh_models()
    qtbot.waitUntil(lambda: any("SmolLM2" in window.panes[0].picker.itemText(i)
                                for i in range(window.panes[0].picker.count())), timeout=30_000)
    qtbot.keyClick(window, Qt.Key_T, Qt.ControlModifier)
    fourth = window.panes[3]
    assert fourth.picker.currentText().startswith("SmolLM2") and fourth.picker.currentText().endswith(" · local")
    assert not fourth.notice.isVisible()
    assert window.panes[1].notice.text() == no_key_notice("OpenAI")  # only the API pane needs a key


def test_ctrl_t_with_a_key_stored_adds_a_gpt_model_not_a_second_copy_of_the_built_in_one(qtbot, window, services):
    """With the OpenAI key stored and only the built-in model installed, the pane Ctrl+T adds is
    the next OpenAI model (the app's question is local against GPT), with no key notice."""
    services.secrets.set(secrets.OPENAI, "sk-test-window-key-0000")
    qtbot.waitUntil(window.contestants.local_listed, timeout=30_000)
    qtbot.waitUntil(lambda: window._keys_known, timeout=10_000)
    window.panes[1].setFocus()
    qtbot.keyClick(window, Qt.Key_T, Qt.ControlModifier)
    third = window.panes[2]
    assert third.picker.currentText().endswith(" · OpenAI")
    assert third.picker.currentText() != window.panes[1].picker.currentText()
    assert not third.notice.isVisible()


def test_one_prompt_both_stream_vote_with_keyboard_and_it_is_stored(qtbot, remote_window, services):
    w = remote_window
    deltas = {0: 0, 1: 0}
    w_delta = lambda i, _t: deltas.__setitem__(i, deltas[i] + 1)  # noqa: E731
    w.session.on_delta = lambda i, t: (w_delta(i, t), w._inbox.post(w._on_delta, i, t))
    qtbot.keyClicks(w.prompt, "What is the capital of France?")
    with qtbot.waitSignal(w.roundFinished, timeout=ROUND_TIMEOUT_MS):
        qtbot.keyClick(w.prompt, Qt.Key_Return, Qt.ControlModifier)
    assert deltas[0] > 1 and deltas[1] > 1  # both streamed
    left, right = w.panes
    assert "Paris" in left._text and right._text.strip()
    assert "tok/s" in left.metrics.text() and "first token" in right.metrics.text()
    # Vote with the keyboard: ← is "left better".
    qtbot.keyClick(w, Qt.Key_Left)
    rows = db(services).execute(
        "SELECT v.outcome, r.prompt, p.engine, p.status, p.first_token_at > p.started_at, p.tokens_out > 0 "
        "FROM votes v JOIN rounds r ON r.id = v.round_id JOIN responses p ON p.round_id = r.id ORDER BY p.position"
    ).fetchall()
    assert rows == [
        ("left", "What is the capital of France?", "local", "done", 1, 1),
        ("left", "What is the capital of France?", "openai", "done", 1, 1),
    ]
    # Change the vote: key 3 is a tie.
    qtbot.keyClick(w, Qt.Key_3)
    assert db(services).execute("SELECT outcome FROM votes").fetchall() == [("tie",)]
    # Stars for the right answer.
    right.stars.buttons[3].click()
    assert db(services).execute("SELECT stars FROM responses ORDER BY position").fetchall() == [(None,), (4,)]


def test_blind_mode_hides_names_until_the_vote(qtbot, remote_window, services):
    w = remote_window
    w.act_toggle_blind.trigger()
    send(qtbot, w, "Name a colour.")
    labels = {p.title.text() for p in w.panes}
    assert labels == {"Model A", "Model B"}
    assert not any(p.picker.isVisible() for p in w.panes)
    for p in w.panes:
        text = p.view.toPlainText()
        assert "Gemma" not in text and "gemma-via-api" not in text
    qtbot.keyClick(w, Qt.Key_1)
    assert all(p.picker.isVisible() for p in w.panes)
    row = db(services).execute("SELECT r.blind, v.blind FROM rounds r JOIN votes v ON v.round_id = r.id").fetchone()
    assert row == (1, 1)
    positions = db(services).execute("SELECT engine, position FROM responses ORDER BY slot").fetchall()
    shown_left = [p for p in w.panes if p.position == 0][0]
    assert {e for e, pos in positions if pos == 0} == {"local" if shown_left.choice().startswith("local") else "openai"}
    battle = db(services).execute(
        "SELECT pa.position, b.winner FROM battles b JOIN responses pa ON pa.id = b.response_a").fetchone()
    assert battle == (0, "a")  # "left better" is about the side shown, whichever model was there


def test_sending_with_no_key_says_what_to_do_and_records_nothing(qtbot, window, services):
    window.prompt.setPlainText("What is the capital of France?")
    window.act_send.trigger()
    assert "No OpenAI key" in window.statusBar().currentMessage()
    assert "Settings" in window.statusBar().currentMessage()
    assert db(services).execute("SELECT COUNT(*) FROM conversations").fetchone() == (0,)
    assert window.history.count() == 0 and window.prompt.toPlainText() == "What is the capital of France?"
    assert not window._running()


def test_a_send_refused_for_want_of_a_key_is_said_in_that_pane_and_keeps_the_prompt(qtbot, window, services):
    """A fresh home: the built-in model beside gpt-4o-mini with no key. The whole round is refused
    (a round is a comparison), and the banner says so rather than that the local pane will answer."""
    notice = window.panes[1].notice
    assert notice.isVisible() and "Sending needs an OpenAI key for this pane" in notice.text()
    assert "works without it" not in notice.text()
    window.prompt.setFocus()
    qtbot.keyClicks(window.prompt, "What is the capital of France?")
    qtbot.keyClick(window.prompt, Qt.Key_Return, Qt.ControlModifier)
    assert window.prompt.toPlainText() == "What is the capital of France?"
    assert notice.isVisible() and notice.text().startswith("<b>Not sent: this pane has no OpenAI key.</b>")
    assert "add one in Settings → Connections</a>, or pick a local model here" in notice.text()
    assert not window.panes[0].notice.isVisible() and not window.panes[0].view.toPlainText().strip()
    window.statusBar().clearMessage()  # what the status bar said is gone ~10 s later; the pane keeps it
    window.add_pane()  # other changes to the window leave it said
    assert notice.text().startswith("<b>Not sent")
    window.choose_model(1, "local:default")  # picking a local model here is the way out the notice names
    assert not notice.isVisible()
    assert db(services).execute("SELECT COUNT(*) FROM conversations").fetchone() == (0,)


def test_an_error_in_one_pane_leaves_the_other_answering(qtbot, window, services):
    # The API pane's server does not answer (nothing listens there); the local pane answers.
    services.settings.openai_base_url = "http://127.0.0.1:9/v1"
    send(qtbot, window, "What is the capital of France?")
    left, right = window.panes
    assert "Paris" in left._text
    assert "127.0.0.1:9" in right.view.toPlainText()
    statuses = db(services).execute("SELECT engine, status, error FROM responses ORDER BY slot").fetchall()
    assert statuses[0][:2] == ("local", "done") and statuses[1][1] == "error"
    assert window.rating.buttons[("left", None)].isEnabled()  # the user can still vote


def test_multi_turn_history_and_reopen_and_delete(qtbot, window, services, monkeypatch):
    window.choose_model(1, "local:default")
    send(qtbot, window, "My name is Ada. Say hello.")
    send(qtbot, window, "What is my name?")
    assert len(window.session.history(0)) == 4  # two user turns, two answers
    assert "Ada" in window.panes[0]._text
    conv_id = window.session.conversation_id
    window.new_chat()
    assert window.session.conversation_id is None and window.panes[0].view.toPlainText() == ""
    assert window.history.count() == 1
    window.history.itemClicked.emit(window.history.item(0))
    assert window.session.conversation_id == conv_id
    assert "What is my name?" in window.panes[0].view.toPlainText()
    assert len(window.session.history(0)) == 4
    send(qtbot, window, "And again?")  # continue the reopened conversation
    assert db(services).execute("SELECT COUNT(*) FROM rounds WHERE conversation_id = ?", (conv_id,)).fetchone() == (3,)
    monkeypatch.setattr(main_window, "confirm", lambda *a: True)
    window.delete_conversation(conv_id)
    assert window.history.count() == 0 and window.session.conversation_id is None
    assert db(services).execute("SELECT COUNT(*) FROM responses").fetchone() == (0,)


def test_escape_stops_every_pane(qtbot, window, services):
    services.settings.sampling.max_tokens = 800
    window.choose_model(1, "local:default")
    services.settings.sampling.repeat_penalty = 1.0
    window.prompt.setPlainText("Count from 1 to 400: " + ", ".join(str(i) for i in range(1, 41)) + ",")
    qtbot.keyClick(window.prompt, Qt.Key_Return, Qt.ControlModifier)
    qtbot.waitUntil(lambda: len(window.panes[0]._text) > 10, timeout=ROUND_TIMEOUT_MS)
    with qtbot.waitSignal(window.roundFinished, timeout=10_000):
        qtbot.keyClick(window, Qt.Key_Escape)
    assert db(services).execute("SELECT status FROM responses ORDER BY slot").fetchall() == [("cancelled",), ("cancelled",)]
    assert window.panes[0]._text  # the partial answer is kept


def test_three_panes_best_vote_is_stored_pairwise(qtbot, window, services):
    window.add_pane()
    for i in range(3):
        window.choose_model(i, "local:default")
    assert len(window.panes) == 3 and window.rating.buttons.keys() >= {("best", 0), ("best", 2)}
    send(qtbot, window, "Say hi.")
    qtbot.keyClick(window, Qt.Key_2)  # B is best
    rows = db(services).execute(
        "SELECT pa.position, pb.position, b.winner FROM battles b JOIN responses pa ON pa.id = b.response_a "
        "JOIN responses pb ON pb.id = b.response_b ORDER BY pb.position").fetchall()
    assert rows == [(1, 0, "a"), (1, 2, "a")]


def test_votes_cast_in_the_window_make_the_leaderboard(qtbot, window, services):
    """Left (the built-in model) beats a pane that cannot answer, three times; the board says so."""
    services.settings.openai_base_url = "http://127.0.0.1:9/v1"  # nothing listens there: it fails
    window.choose_model(1, "openai:gpt-4o-mini")
    for prompt in ("Say hi.", "Say hello.", "Say hey."):
        send(qtbot, window, prompt)
        qtbot.keyClick(window, Qt.Key_1)
    window.open_leaderboard()
    view = window._dialogs["leaderboard"].view
    qtbot.waitUntil(lambda: not view.busy and bool(view.rows()), timeout=30_000)
    rows = view.rows()
    assert [r.label for r in rows] == ["Gemma 3 270M (built in)", "gpt-4o-mini @ OpenAI"]
    assert rows[0].rating > rows[1].rating
    assert all(r.lower <= r.rating <= r.upper for r in rows)
    # A vote changed while the board is open refreshes it.
    with qtbot.waitSignal(view.computed, timeout=30_000):
        window.rating.buttons[("right", None)].click()  # the board's window has the focus now
    assert view.rows()[0].label == "Gemma 3 270M (built in)"  # still ahead: 2 wins, 1 loss


def test_a_dropped_gguf_is_added_and_picked(qtbot, window, embedded_model, tmp_path, monkeypatch):
    import shutil

    copy = tmp_path / "my-model.gguf"
    shutil.copyfile(embedded_model, copy)
    window.import_model(str(copy))
    qtbot.waitUntil(lambda: window.panes[0].choice() == f"local:{copy}", timeout=30_000)
    assert "my-model" in window.panes[0].picker.currentText()
    warned = []
    monkeypatch.setattr(main_window.QMessageBox, "warning", lambda *a: warned.append(a[2]))
    bad = tmp_path / "bad.gguf"
    bad.write_text("not a model")
    window.import_model(str(bad))
    qtbot.waitUntil(lambda: bool(warned), timeout=10_000)
    assert "bad.gguf" in warned[0]


def test_categories_used_before_are_offered(qtbot, window, services):
    from desktop.core.store import SlotSpec

    conv = services.store.new_conversation()
    services.store.add_round(conv, "p", [SlotSpec(0, 0, "openai", "m", "m")], tag="coding")
    window.tag.setEditText("writ")
    window.refresh_history()
    assert [window.tag.itemText(i) for i in range(window.tag.count())] == ["coding"]
    assert window.tag.currentText() == "writ"  # what the user is typing is kept


def test_vote_keys_change_the_vote_and_other_keys_start_the_next_prompt(qtbot, window, services):
    window.choose_model(1, "local:default")
    send(qtbot, window, "Say hi.")
    qtbot.keyClick(window.rating, Qt.Key_Right)
    qtbot.keyClick(window.rating, Qt.Key_2)  # still the rating bar's: the vote stays "right"
    qtbot.keyClick(window.rating, Qt.Key_1)  # changed to "left"
    assert db(services).execute("SELECT outcome FROM votes").fetchall() == [("left",)]
    qtbot.keyClicks(window.rating, "And")  # typing on goes to the next prompt
    assert window.prompt.toPlainText() == "And" and window.prompt.hasFocus()
    assert db(services).execute("SELECT outcome FROM votes").fetchall() == [("left",)]


def test_the_reveal_names_the_blind_answers_in_the_transcript(qtbot, window, services):
    window.choose_model(1, "local:default")
    window.act_toggle_blind.trigger()
    send(qtbot, window, "Say hi.")
    assert all("Gemma" not in p.view.toPlainText() for p in window.panes)
    qtbot.keyClick(window.rating, Qt.Key_3)
    for p in window.panes:
        text = p.view.toPlainText()
        assert "Gemma 3 270M" in text and "Model A" not in text and "Model B" not in text


def test_rename_a_comparison(qtbot, window, services, monkeypatch):
    from PySide6.QtWidgets import QInputDialog

    conv = services.store.new_conversation("old title")
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("  Coding tests  ", True))
    window.rename_conversation(conv)
    assert services.store.conversation(conv).title == "Coding tests"
    assert window.history.item(0).text().startswith("Coding tests")
