"""The window with four panes on four places at once: the built-in model in-process, two real
llama_cpp.server processes as two connections, and the scripted fault server as a third; and
Settings → Connections with its Test connection verdict."""
import sqlite3

import pytest
from PySide6.QtCore import Qt

from desktop.core import connections as cx
from desktop.core import secrets
from desktop.ui.main_window import MainWindow

ROUND_TIMEOUT_MS = 120_000


@pytest.fixture
def connected(services, llama_server, chat_llama_server, fault_server):
    services.settings.sampling.max_tokens = 12
    services.settings.sampling.temperature = 0.0
    services.settings.sampling.seed = 1
    for name, preset_id, url, models in (("box-a", "llamacpp", llama_server, ["gemma"]),
                                         ("box-b", "vllm", chat_llama_server, ["smollm2"]),
                                         ("faulty", "openai", fault_server.url, ["gpt-4o-mini"])):
        conn = cx.new_connection(services.settings, preset_id, name=name, base_url=url)
        conn.models = models
        services.settings.connections.append(conn)
    services.secrets.set(secrets.connection_key_name("faulty"), "sentinel-window-faulty-1234")
    fault_server.served_model = "gpt-4o-mini-2024-07-18"
    return services


def test_four_panes_on_four_places_stream_at_once_and_the_vote_names_them(qtbot, connected, fault_server):
    services = connected
    w = MainWindow(services)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.apiModelsFetched, timeout=30_000):  # fetched once the window shows
        w.show()
    qtbot.waitExposed(w)
    # The servers list their files' paths and answer to any name: offer them under short names.
    w.set_api_models(["gemma"], "box-a")
    w.set_api_models(["smollm2"], "box-b")
    while len(w.panes) < 4:
        w.add_pane()
    labels = [w.panes[0].picker.itemText(i) for i in range(w.panes[0].picker.count())]
    # Grouped: local files first, then each connection in order, each label naming its connection.
    order = [labels.index(x) for x in ("Gemma 3 270M (built in) · local", "gpt-4o-mini · OpenAI", "gemma · box-a",
                                       "smollm2 · box-b", "gpt-4o-mini · faulty")]
    assert order == sorted(order)
    for i, choice in enumerate(("local:default", "openai:gemma@box-a", "openai:smollm2@box-b",
                                "openai:gpt-4o-mini@faulty")):
        w.choose_model(i, choice)  # what picking in the combo box does
    assert [p.model_label() for p in w.panes] == ["Gemma 3 270M (built in) · local", "gemma · box-a",
                                                 "smollm2 · box-b", "gpt-4o-mini · faulty"]
    assert not any(p.notice.isVisible() for p in w.panes)
    w.prompt.setFocus()
    qtbot.keyClicks(w.prompt, "What is the capital of France?")
    with qtbot.waitSignal(w.roundFinished, timeout=ROUND_TIMEOUT_MS):
        w.send_button.click()
    for pane in w.panes:
        assert pane._text.strip(), pane.model_label()
        assert pane._text.strip() in pane.view.toPlainText()  # on screen, not only in state
    assert "Hello, world!" in w.panes[3].view.toPlainText()
    # The chat model's pane wins: key 3 picks the third answer in a round of four.
    qtbot.keyClick(w, Qt.Key_3)
    with sqlite3.connect(services.folders.database) as db:
        rows = db.execute("SELECT p.model, p.connection, p.reported_model, b.winner FROM battles b "
                          "JOIN responses p ON p.id = b.response_a ORDER BY b.id").fetchall()
    assert {(m, c, w_) for m, c, _r, w_ in rows} == {("smollm2 @ box-b", "box-b", "a")}
    assert all(r for _m, _c, r, _w in rows)  # the server's own name for the model is kept
    w.close()


def test_a_pane_on_a_connection_without_a_key_says_which_one(qtbot, connected):
    services = connected
    conn = cx.new_connection(services.settings, "groq")
    conn.models = ["llama-3.3-70b"]
    services.settings.connections.append(conn)
    w = MainWindow(services)
    qtbot.addWidget(w)
    w.choose_model(1, f"openai:llama-3.3-70b@{conn.id}")
    assert "No Groq key yet" in w.panes[1].notice.text()
    w.close()


def test_settings_connections_tab_adds_tests_and_saves(qtbot, services, fault_server):
    from desktop.ui.settings_dialog import SettingsDialog

    fault_server.model_ids = ["m1", "m2", "m3"]
    d = SettingsDialog(services)
    qtbot.addWidget(d)
    tab = d.connections
    assert [tab.list.item(i).text() for i in range(tab.list.count())] == ["OpenAI"]
    assert "platform.openai.com" in tab.help.text()
    conn = tab.add("llamacpp")
    assert tab.base_url.text() == "http://localhost:8080/v1" and "llama-server" in tab.help.text()
    tab.name.setText("GPU box")
    tab.name.editingFinished.emit()
    tab.base_url.setText(fault_server.url)
    tab.headers.setPlainText("X-Title: ArenaDesk")
    tab.test_button.click()
    qtbot.waitUntil(lambda: tab.verdict.text() not in ("", "Testing…"), timeout=20_000)
    assert tab.verdict.text() == "Reachable · no key needed · 3 models"
    assert "3: m1, m2, m3" in tab.models.text()
    fault_server.on_models("unauthorized")
    tab.key_row.field.setText("sentinel-dialog-key-999999")
    tab.test_button.click()
    qtbot.waitUntil(lambda: tab.verdict.text() not in ("", "Testing…"), timeout=20_000)
    assert tab.verdict.text().startswith("Reachable, but the key was refused.")
    assert "sentinel-dialog-key" not in tab.verdict.text()
    d.accept()
    saved = services.settings.connection("GPU box")
    assert saved is not None and saved.id == conn.id and saved.headers == {"X-Title": "ArenaDesk"}
    assert saved.models == ["m1", "m2", "m3"]
    assert services.secrets.get(secrets.connection_key_name(conn.id)).value == "sentinel-dialog-key-999999"
    assert "sentinel-dialog-key" not in services.folders.settings_file.read_text()


def test_a_bad_base_url_keeps_the_dialog_open_and_cancel_forgets_an_added_key(qtbot, services, monkeypatch):
    from desktop.ui.settings_dialog import SettingsDialog

    d = SettingsDialog(services)
    qtbot.addWidget(d)
    warned = []
    monkeypatch.setattr(d.connections, "warn", warned.append)
    conn = d.connections.add("ollama")
    d.connections.key_row.field.setText("sentinel-cancelled-key-1")
    d.connections.key_row.save.click()
    d.connections.base_url.setText("localhost:11434")
    d.accept()
    assert warned and "not a usable base URL" in warned[0] and d.result() == 0
    d.reject()
    assert [c.id for c in services.settings.connections] == ["openai"]
    assert services.secrets.get(secrets.connection_key_name(conn.id)).value is None


def test_test_connection_answers_a_click_at_its_place_in_settings_opened_from_the_window(qtbot, services,
                                                                                         fault_server):
    """The dialog as a user gets it: opened from the window's Settings action, so it runs its own
    event loop inside the window's, and the click lands wherever the window says it is on screen
    (a widget left over in front of the button would take it). The fault server stands for OpenAI."""
    from PySide6.QtCore import QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QPushButton

    from desktop.ui.settings_dialog import KeyRow, SettingsDialog

    fault_server.model_ids = ["m1", "m2"]
    services.settings.connection("openai").base_url = fault_server.url
    services.secrets.set(secrets.OPENAI, "sentinel-click-key-4242")
    w = MainWindow(services)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    seen: dict = {}

    def click_test_connection():
        d = QApplication.activeModalWidget()
        try:
            assert isinstance(d, SettingsDialog)
            qtbot.waitExposed(d)
            tab = d.connections
            seen["key rows"] = [r.name for r in d.findChildren(KeyRow) if r.isVisible()]
            button = tab.test_button
            at = button.mapTo(d, button.rect().center())
            under = d.childAt(at)
            seen["under the pointer"] = under.text() if isinstance(under, QPushButton) else repr(under)
            QTest.mouseClick(d.windowHandle(), Qt.LeftButton, Qt.KeyboardModifier.NoModifier, at)
            seen["right after"] = tab.verdict.text()
            qtbot.waitUntil(lambda: tab.verdict.text() not in ("", "Testing…"), timeout=20_000)
            seen["verdict"] = tab.verdict.text()
            seen["models"] = tab.models.text()
        finally:
            if d is not None:
                d.reject()
            seen["done"] = True

    QTimer.singleShot(0, lambda: QTimer.singleShot(300, click_test_connection) or w.act_open_settings.trigger())
    qtbot.waitUntil(lambda: "done" in seen and QApplication.activeModalWidget() is None, timeout=40_000)
    assert seen["key rows"] == [secrets.connection_key_name("openai")]  # one key row, the one in the form
    assert seen["under the pointer"] == "Test connection"
    assert seen["right after"] == "Testing…"
    assert seen["verdict"] == "Reachable · key accepted · 2 models"
    assert "2: m1, m2" in seen["models"]
    w.close()


def test_a_connection_that_needs_no_key_does_not_say_no_key_stored(qtbot, services):
    from desktop.ui.settings_dialog import SettingsDialog

    d = SettingsDialog(services)
    qtbot.addWidget(d)
    d.show()
    qtbot.waitExposed(d)
    tab = d.connections
    assert tab.key_row.status.isVisible() and tab.key_row.status.text() == "No key stored."  # OpenAI needs one
    tab.add("ollama")
    assert [tab.list.item(i).text() for i in range(tab.list.count())] == ["OpenAI", "Ollama"]
    assert tab.list.currentRow() == 1 and tab.name.text() == "Ollama"
    assert tab.help.text().startswith("No key: Ollama on this machine needs none")
    qtbot.waitUntil(tab.key_row.isVisible)  # a row added to a shown form shows on the next turn of the loop
    # not "No key stored." right under "needs none"
    assert tab.key_row.field.isVisible() and not tab.key_row.status.isVisible()
    tab.key_row.field.setText("sentinel-optional-key-77")  # a key for a server that asks is still possible
    tab.key_row.save.click()
    assert tab.key_row.status.isVisible() and "stored" in tab.key_row.status.text()
    d.reject()


def test_without_a_keychain_the_key_row_says_so_in_a_wrapped_line(qtbot, services):
    import keyring
    import keyring.backends.fail

    from desktop.ui.settings_dialog import SettingsDialog

    keyring.set_keyring(keyring.backends.fail.Keyring())  # the memory_keyring fixture puts its own back
    d = SettingsDialog(services)
    qtbot.addWidget(d)
    d.show()  # at the size it asks for, as exec() shows it
    qtbot.waitExposed(d)
    row = d.connections.key_row
    line = row.no_keychain
    assert line.isVisible() and line.text() == ("No system keychain was found:\na key can be kept for this "
                                                "session only,\nor set OPENAI_API_KEY.")
    # All of it on screen: as tall and wide as its three lines need, inside the dialog.
    assert line.height() >= line.sizeHint().height() and line.width() >= line.sizeHint().width()
    assert line.mapTo(d, line.rect().bottomRight()).x() <= d.width()
    assert not row.session_only.isVisible()  # no greyed, ticked box: there is nothing to choose
    row.field.setText("sentinel-no-keychain-55")
    row.save.click()
    assert row.status.text().startswith("A key is kept for this session only")
    d.reject()
