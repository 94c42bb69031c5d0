"""The findings of issue 11's new-user run, one test each, in the real window with scripted
engines (each answers "<model> says: <n>"): what the user sees is asserted."""
from __future__ import annotations

import threading

import pytest
from fakes import KEYLESS_ENDPOINT, scripted_services, shown_window
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from desktop.ui import actions

TIMEOUT_MS = 10_000
LONG_A = "Meta-Llama-3.1-8B-Instruct-abliterated-Q4_K_M"
LONG_B = "Meta-Llama-3.1-8B-Instruct-abliterated-Q8_0"


@pytest.fixture
def engines():
    return {}


@pytest.fixture
def services(arenadesk_home, engines):
    s = scripted_services(engines)
    yield s
    s.close()


@pytest.fixture
def window(qtbot, services):
    w = shown_window(qtbot, services)
    yield w
    w.close()


def send(qtbot, w, text="Hello?"):
    w.prompt.setPlainText(text)
    with qtbot.waitSignal(w.roundFinished, timeout=TIMEOUT_MS):
        w.act_send.trigger()
    qtbot.wait(120)  # the panes' render timer


def visible_text(w, answers: bool = True) -> str:
    """Everything a user can read in the panes: titles, pickers, transcripts, footers, notices,
    tooltips (`answers=False`: not the transcripts, where scripted answers quote their model)."""
    parts = []
    for p in w.panes:
        parts += [p.title.text(), p.title.toolTip(), p.metrics.text()] + ([p.view.toPlainText()] if answers else [])
        if p.picker.isVisible():
            parts += [p.picker.currentText(), p.picker.toolTip()]
        if p.notice.isVisible():
            parts.append(p.notice.text())
    return "\n".join(parts)


# -- blind mode ---------------------------------------------------------------------------------
def test_blind_vote_keeps_every_answer_on_screen_and_reveals_the_names(qtbot, window, services):
    window.act_toggle_blind.trigger()
    send(qtbot, window, "Name a colour.")
    answers = [p.view.toPlainText() for p in window.panes]
    assert all("says: 1" in a for a in answers)
    qtbot.keyClick(window.rating, Qt.Key_1)
    for p, before in zip(window.panes, answers):
        text = p.view.toPlainText()
        assert "Name a colour." in text and "says: 1" in text  # the answer is still there
        assert "Model A" not in text and "Model B" not in text
    assert "gpt-4o @ OpenAI" in window.panes[0].view.toPlainText()  # model @ its connection
    assert "gpt-4.1 @ OpenAI" in window.panes[1].view.toPlainText()
    assert "Revealed: A = " in window.statusBar().currentMessage()


def test_before_the_blind_vote_nothing_tells_the_sides_apart(qtbot, window, services):
    window.choose_model(0, "local:default")  # a local model: its footer used to say "free (local)"
    services.settings.openai_base_url = KEYLESS_ENDPOINT
    window.act_toggle_blind.trigger()
    send(qtbot, window, "Name a colour.")
    seen = visible_text(window, answers=False)
    for giveaway in ("free", "local", "~", "$", "API", "gpt", "Gemma", "loaded", "key"):
        assert giveaway not in seen, giveaway
    headings = "\n".join(p.view.toPlainText() for p in window.panes)
    assert "Model A" in headings and "Model B" in headings and "· API" not in headings and "· local" not in headings
    footers = [p.metrics.text() for p in window.panes]
    assert all("tokens" in f for f in footers)
    qtbot.keyClick(window.rating, Qt.Key_2)
    assert "free (local)" in window.panes[0].metrics.text()  # shown once the names are


def test_a_blind_failure_is_explained_only_after_the_vote(qtbot, window, engines):
    window.act_toggle_blind.trigger()
    send(qtbot, window)
    engines["openai:gpt-4.1"].fail_next = True
    send(qtbot, window, "Again")
    assert "Network down" not in visible_text(window) and "failed" in window.panes[1].metrics.text()
    qtbot.keyClick(window.rating, Qt.Key_3)
    assert "Network down" in window.panes[1].view.toPlainText()


# -- models that are gone --------------------------------------------------------------------
def test_reopening_with_a_model_that_is_gone_shows_it_gone_and_sends_nothing(qtbot, window, services):
    send(qtbot, window, "Old question")
    conv = window.session.conversation_id
    window.new_chat()
    window.set_api_models(["local-server-model", "gpt-4.1"])  # the base URL now points elsewhere
    window.open_conversation(conv)
    left = window.panes[0]
    assert left.picker.currentText() == "gpt-4o (gone)"  # never silently another model
    assert left.notice.isVisible() and "gpt-4o is not offered" in left.notice.text()
    rounds = services.store.query("SELECT COUNT(*) FROM rounds")
    window.prompt.setPlainText("Go on")
    window.act_send.trigger()
    assert "Pane A: gpt-4o is not offered" in window.statusBar().currentMessage()
    assert services.store.query("SELECT COUNT(*) FROM rounds") == rounds
    window.choose_model(0, "openai:local-server-model")
    assert not left.notice.isVisible()
    send(qtbot, window, "Go on")
    assert services.store.query("SELECT choice FROM responses ORDER BY id DESC LIMIT 2") == [
        ("openai:gpt-4.1",), ("openai:local-server-model",)]


def test_a_gone_model_whose_name_is_markup_is_named_as_text_in_the_notice(qtbot, window, services):
    """Model names in a reopened conversation may come from an imported file: the pane's notice is
    rich text, so a name holding markup must read as the characters it is, cut to a sane length."""
    from PySide6.QtGui import QTextDocument

    hostile = "<h1 style='font-size:90px'>FREE</h1><a href='settings'>click</a>" + "x" * 5000
    window.set_api_models([hostile, "gpt-4.1"])
    window.choose_model(0, f"openai:{hostile}")
    send(qtbot, window, "Old question")
    conv = window.session.conversation_id
    window.new_chat()
    window.set_api_models(["gpt-4.1"])
    window.open_conversation(conv)
    notice = window.panes[0].notice
    assert notice.isVisible() and "<h1" not in notice.text() and "<a href='settings'>click" not in notice.text()
    read = QTextDocument()
    read.setHtml(notice.text())
    assert "Model gone." in read.toPlainText() and "<h1 style='font-size:90px'>FREE</h1>" in read.toPlainText()
    assert len(read.toPlainText()) < 1000


# -- fitting the screen ----------------------------------------------------------------------
def test_four_panes_fit_1280x720_and_the_window_never_grows(qtbot, window, services):
    window.resize(1280, 720)
    for _ in range(2):
        window.add_pane()
    window.set_api_models([LONG_A, LONG_B, "gpt-4.1", "gpt-4o"])
    window.choose_model(2, f"openai:{LONG_A}")
    window.choose_model(3, f"openai:{LONG_B}")
    qtbot.wait(50)
    hint = window.minimumSizeHint()
    assert hint.width() <= 1280 and hint.height() <= 720, hint
    assert window.width() <= 1280 and window.height() <= 720
    send(qtbot, window)
    assert window.width() <= 1280 and window.height() <= 720
    # Long names are cut at word boundaries keeping family and size; the full name in the tooltip.
    c, d = window.panes[2].picker, window.panes[3].picker
    assert c.shown_text().startswith("Meta-Llama-3.1-8B") and "…" in c.shown_text(), c.shown_text()
    assert LONG_A in c.toolTip() and LONG_B in d.toolTip()


def test_four_panes_at_1280x720_show_readable_model_names(qtbot, services, chat_model):
    """Issue s20 #6: the pickers read "Gem…in)", "gpt-…mini", "Smo…4_1" at four panes."""
    from fakes import put_in_models

    put_in_models(services, chat_model)
    window = shown_window(qtbot, services, choices=())
    try:
        window.resize(1280, 720)
        qtbot.waitUntil(window.contestants.local_listed, timeout=TIMEOUT_MS)
        for _ in range(2):
            window.add_pane()
        smol = next(c for c in window.contestants.local() if c.name.startswith("SmolLM2"))
        for i, choice in enumerate(["local:default", "openai:gpt-4o-mini", str(smol.choice), "local:default"]):
            window.choose_model(i, choice)
        qtbot.wait(50)
        shown = [p.picker.shown_text() for p in window.panes]
        # Family and size, cut at a word: no name is cut inside a word or loses its size.
        assert shown[0] in ("Gemma 3 270M (built in)", "Gemma 3 270M (built…", "Gemma 3 270M…"), shown
        assert shown[1] in ("gpt-4o-mini", "gpt-4o-mini · OpenAI"), shown
        assert shown[2] in ("SmolLM2-135M-Instruct.Q4_1", "SmolLM2-135M…Q4_1", "SmolLM2-135M-Instruct…",
                            "SmolLM2-135M…"), shown
        # The room comes from the tools: answer again, copy and remove are in the ⋯ menu.
        pane = window.panes[2]
        assert pane.is_compact() and pane.more.isVisible()
        assert not pane.copy.isVisible() and not pane.remove.isVisible() and not pane.regen.isVisible()
        pane.more.menu().aboutToShow.emit()
        assert [a.text() for a in pane.more.menu().actions()] == ["Answer again", "Copy answer", "Remove pane"]
        # The full name, as the Models dialog says it (no ".gguf"), is the tooltip's first line.
        assert pane.picker.toolTip().splitlines()[0] == "SmolLM2-135M-Instruct.Q4_1 · local"
        # Two panes: the tools are back beside a name that fits whole.
        for i in (3, 2):
            window.panes[i].remove.click()
        qtbot.wait(50)
        assert len(window.panes) == 2 and not window.panes[0].is_compact()
        assert window.panes[0].regen.isVisible() and not window.panes[0].more.isVisible()
        assert window.panes[0].picker.shown_text() == "Gemma 3 270M (built in) · local"
    finally:
        window.close()


def test_leaderboard_names_are_shortened_by_the_core_rule_and_stay_distinct():
    from desktop.core.names import short_names

    a, b = short_names([LONG_A, LONG_B], lambda t: len(t) <= 24)
    assert a != b and a.startswith("Meta-Llama-3.1-8B") and a.endswith("Q4_K_M") and b.endswith("Q8_0")


# -- theme -----------------------------------------------------------------------------------
def test_dark_theme_applies_to_the_open_window_at_once(qtbot, window):
    from desktop.ui.theme import apply_theme, load_style

    app = QApplication.instance()
    load_style(app)
    try:
        apply_theme(app, "light")
        qtbot.wait(20)
        pane = window.panes[0]
        light = pane.grab().toImage().pixelColor(pane.width() // 2, pane.height() // 2)
        apply_theme(app, "dark")
        qtbot.wait(20)
        dark = pane.grab().toImage().pixelColor(pane.width() // 2, pane.height() // 2)
        assert light.lightness() > 200 and dark.lightness() < 60, (light.name(), dark.name())
    finally:
        apply_theme(app, "light")
        app.setStyleSheet("")


# -- history ---------------------------------------------------------------------------------
def test_history_counts_to_rate_and_puts_a_continued_conversation_on_top(qtbot, window):
    send(qtbot, window, "first one")
    assert "1 to rate" in window.sidebar.item_texts()[0]
    qtbot.keyClick(window.rating, Qt.Key_1)
    assert "to rate" not in window.sidebar.item_texts()[0]
    first = window.session.conversation_id
    window.new_chat()
    send(qtbot, window, "second one")
    assert window.sidebar.item_texts()[0].startswith("second one")
    window.open_conversation(first)
    send(qtbot, window, "continued")
    assert window.sidebar.item_texts()[0].startswith("first one")


def test_history_says_what_is_pending_first_where_the_sidebar_cuts_the_line(qtbot, window):
    """s20 review #12: an unvoted blind comparison read "Nov 30, 06:39 · 1 round · 1 to …"."""
    window.resize(1280, 720)
    window.act_toggle_blind.trigger()
    send(qtbot, window, "What is the capital of France?")
    qtbot.wait(50)
    shown = window.sidebar.shown_facts()[0]
    assert shown.startswith("1 to rate · blind · 1 round"), shown
    # The whole line is there to read on hover, with the date.
    assert window.history.item(0).toolTip().splitlines()[1].startswith("1 to rate · blind · 1 round · ")
    qtbot.keyClick(window.rating, Qt.Key_1)
    assert window.sidebar.shown_facts()[0].startswith("blind · 1 round ·"), window.sidebar.shown_facts()


def test_history_items_keep_their_date_line_when_scrolled(qtbot, window, services):
    for n in range(30):
        conv = services.store.new_conversation(f"A rather long title for comparison number {n} that wraps")
    window.refresh_history()
    lst = window.history
    lst.scrollToBottom()
    qtbot.wait(20)
    line = lst.fontMetrics().lineSpacing()
    item = lst.item(lst.count() - 1)
    assert lst.visualItemRect(item).height() >= 2 * line
    assert "rounds" in window.sidebar.item_texts()[-1].split("\n")[1]
    assert conv


# -- inputs, panes, categories, hints -------------------------------------------------------
def test_removing_a_pane_renumbers_the_letters(qtbot, window):
    window.add_pane()
    window.act_toggle_blind.trigger()
    for _ in range(8):  # until the sides are shuffled
        send(qtbot, window)
        if [p.position for p in window.panes] != [0, 1, 2]:
            break
    qtbot.keyClick(window.rating, Qt.Key_1)
    window.remove_pane(window.panes[0])
    shown = sorted(window.panes, key=lambda p: window.pane_area.indexOf(p))
    assert [p.title.text() for p in shown] == ["A", "B"]


def test_the_category_resets_on_a_new_chat(qtbot, window):
    window.tag.setEditText("coding")
    send(qtbot, window)
    window.new_chat()
    assert window.tag.currentText() == ""
    assert [window.tag.itemText(i) for i in range(window.tag.count())] == ["coding"]  # still offered


def test_arrow_keys_are_suggested_only_with_two_panes(qtbot, window):
    send(qtbot, window)
    assert "←/→" in window.statusBar().currentMessage()
    window.add_pane()
    send(qtbot, window)
    assert "←" not in window.statusBar().currentMessage() and "1-4" in window.statusBar().currentMessage()


def test_export_dialogs_open_in_the_export_folder(qtbot, window, services, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (asked.append(a[2]), ("", ""))[1])
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (asked.append(a[2]), ("", ""))[1])
    window.open_leaderboard()
    view = window._dialogs["leaderboard"].view
    view.export_as("csv")
    view.import_from()
    assert asked[0].startswith(str(services.folders.exports)) and asked[0].endswith(".csv")
    assert asked[1] == str(services.folders.exports)


def test_rename_has_a_shortcut_listed_in_f1(qtbot, window, services, monkeypatch):
    from PySide6.QtWidgets import QInputDialog

    assert ("F2", "rename the selected comparison") in actions.shortcuts_rows()
    send(qtbot, window, "to be renamed")
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Renamed", True))
    window.history.setFocus()
    window.history.setCurrentRow(0)
    qtbot.keyClick(window.history, Qt.Key_F2)
    assert window.sidebar.item_texts()[0].startswith("Renamed")


def test_every_shortcut_in_f1_is_an_action_or_a_widget_key():
    rows = dict(actions.shortcuts_rows())
    for command in actions.COMMANDS:
        if command.keys:
            assert actions.key_text(command.keys[0]) in rows


def test_a_stopped_round_and_thread_reports_only_through_the_inbox(qtbot, window, engines):
    """Workers never touch widgets: the session's callbacks run on worker threads."""
    threads = []
    original = window.session.on_answer
    window.session.on_answer = lambda i, r: (threads.append(threading.current_thread()), original(i, r))
    send(qtbot, window)
    assert threads and all(t is not threading.main_thread() for t in threads)


def test_after_a_dialog_closes_the_shortcuts_work_without_a_click(qtbot, window):
    """s20 review #14: after closing Models with Esc, Ctrl+T did nothing until the window was clicked."""
    from PySide6.QtWidgets import QDialog

    window.prompt.setFocus()
    window.act_open_library.trigger()
    d = window._dialogs["library"]
    qtbot.waitExposed(d)
    d.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is d, timeout=TIMEOUT_MS)
    qtbot.keyClick(d, Qt.Key_Escape)
    qtbot.waitUntil(lambda: not d.isVisible(), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=TIMEOUT_MS)
    assert QApplication.focusWidget() is window.prompt
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key_T, Qt.ControlModifier)  # where the keyboard is now
    assert len(window.panes) == 3
    assert [p.title.text() for p in window.panes] == ["A", "B", "C"]

    # A modal one (Settings): the same once it is closed.
    def close_settings():
        settings = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QDialog) and w.isVisible()
                        and w is not d)
        settings.reject()

    QTimer.singleShot(300, close_settings)
    window.act_open_settings.trigger()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=TIMEOUT_MS)
    assert QApplication.focusWidget() is window.prompt


def test_a_long_history_title_ends_in_an_ellipsis_within_the_item(qtbot, window, services):
    # The title is drawn in a bolder font than the facts line: cut to the plain font's width, a long
    # one ran past the item and was clipped with no "…" (s22 start5, seen at 1280×720).
    from PySide6.QtGui import QFontMetrics

    from desktop.ui.history_sidebar import PAD, title_font

    window.resize(1280, 720)
    services.store.new_conversation("Give me three tips for sleeping better tonight, please")
    window.refresh_history()
    qtbot.wait(50)
    lst = window.history
    room = lst.visualItemRect(lst.item(0)).adjusted(PAD, PAD, -PAD, -PAD).width()
    (shown,) = window.sidebar.shown_titles()
    assert shown.startswith("Give me three tips") and shown.endswith("…"), shown
    assert QFontMetrics(title_font(lst.font())).horizontalAdvance(shown) <= room
    # And the item draws that text: the pixels right of the title's end are the item's background.
    image = lst.viewport().grab().toImage()
    end = lst.visualItemRect(lst.item(0)).left() + PAD + QFontMetrics(title_font(lst.font())).horizontalAdvance(shown)
    top = lst.visualItemRect(lst.item(0)).top() + PAD
    background = image.pixelColor(end + 2, top + 1)
    line = lst.fontMetrics().lineSpacing()
    assert all(image.pixelColor(x, y) == background for x in range(end + 1, end + PAD) for y in range(top, top + line))
