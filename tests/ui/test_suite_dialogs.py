"""Suites in the window, with the real built-in and chat models: run a small suite with a
progress bar, rate it blind in the queue with the keyboard (undo, skip), read it per category."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from desktop.core.store.suite_runs import SuiteRuns
from desktop.core.suites import Suite, SuiteItem, write
from desktop.ui.suite_dialogs import CategoryBoardDialog, RatingQueueDialog, SuiteRunDialog

RUN_TIMEOUT_MS = 240_000
SMALL = Suite("tiny", [
    SuiteItem("capital", "geography", ["What is the capital of France?"]),
    SuiteItem("colour", "writing", ["Name one colour."]),
])


@pytest.fixture
def models(services, chat_model):
    services.settings.sampling.max_tokens = 12
    services.settings.sampling.temperature = 0.0
    services.settings.sampling.seed = 1
    write(SMALL, services.folders.data / "suites" / "tiny.jsonl")
    return [("Gemma 3 270M (built in) · local", "local:default"), (f"{chat_model.name} · local", f"local:{chat_model}")]


def run_tiny(qtbot, services, models) -> SuiteRunDialog:
    d = SuiteRunDialog(services, models)
    qtbot.addWidget(d)
    d.show()
    d.suite.setCurrentText("tiny")
    assert "2 prompts (2 answers per model); categories: geography, writing" in d.suite_info.text()
    assert d.estimate.text() == "No API models: the run costs nothing."
    assert d.pickers[0].currentData() == "local:default" and d.pickers[1].currentData().endswith(".gguf")
    qtbot.mouseClick(d.start_button, Qt.LeftButton)
    assert not d.start_button.isEnabled() and d.pause_button.isEnabled()
    with qtbot.waitSignal(d.runFinished, timeout=RUN_TIMEOUT_MS):
        pass
    return d


def test_run_a_suite_then_rate_it_blind_with_the_keyboard_then_read_it_per_category(qtbot, services, models):
    d = run_tiny(qtbot, services, models)
    assert d.bar.value() == d.bar.maximum() == 4
    assert d.status.text().startswith("Done: 4/4 answers")
    assert "Rating queue" in d.status.text()
    assert d.start_button.isEnabled() and not d.pause_button.isEnabled()
    assert d.previous.count() == 1 and "tiny" in d.previous.itemText(0) and "(4/4, done)" in d.previous.itemText(0)
    run_id = d.previous.itemData(0)
    texts = {(a.item, a.contestant): a.text for a in SuiteRuns(services.store).answers(run_id)}
    assert all(t.strip() for t in texts.values()), texts  # both models answered every prompt

    d.close()
    q = RatingQueueDialog(services)
    qtbot.addWidget(q)
    q.show()
    q.activateWindow()
    qtbot.waitUntil(q.isActiveWindow)  # keys go to the active window, as for a user
    assert q.progress.text() == "0 of 2 pairs rated"
    pair = q.pair
    shown = [box.toPlainText() for box in q.answers]
    assert sorted(shown) == sorted([texts[(pair.item, 0)], texts[(pair.item, 1)]])  # the answers, on screen
    assert "gemma" not in q.heading.text().lower() and "smollm" not in q.heading.text().lower()  # blind
    assert pair.item_id in q.heading.text()

    qtbot.keyClick(q, Qt.Key_1)  # the window's key for "left better"
    assert q.progress.text() == "1 of 2 pairs rated"
    left_label = "Gemma 3 270M (built in)" if pair.left == 0 else SuiteRuns(services.store).run(run_id).contestants[1]["label"]
    assert q.status.text().startswith(f"Saved. Left was {left_label}")
    (battle,) = services.store.battles()
    assert battle.blind and battle.tag == SMALL.items[pair.item].category and battle.winner == "a"

    qtbot.keyClick(q, Qt.Key_Z, Qt.ControlModifier)  # undo
    assert q.progress.text() == "0 of 2 pairs rated" and services.store.battles() == []
    assert q.status.text() == "Vote taken back." and q.pair.key == pair.key

    qtbot.keyClick(q, Qt.Key_S)  # skip: the other prompt comes first
    assert q.pair.key != pair.key
    qtbot.keyClick(q, Qt.Key_Right)  # right better
    qtbot.keyClick(q, Qt.Key_3)  # tie on the skipped one, offered again
    assert q.progress.text() == "2 of 2 pairs rated"
    assert "Nothing left to rate" in q.heading.text() and not q.answers

    board = CategoryBoardDialog(services, rounds=200)
    qtbot.addWidget(board)
    board.show()
    board.refresh()
    qtbot.waitUntil(lambda: board.category.count() == 3, timeout=30_000)
    assert [board.category.itemText(i) for i in range(3)] == ["All categories", "geography", "writing"]
    assert board.model.rowCount() == 2
    assert "Too few votes" in board.verdict.text()
    assert board.matrix.rowCount() == 2 and board.matrix.columnCount() == 2
    headers = [board.matrix.horizontalHeaderItem(i).text() for i in range(2)]
    assert headers == ["geography", "writing"]
    cell = board.matrix.item(0, 0).text()
    assert cell and "(" in cell and "–" in cell  # a rating with its interval
    board.category.setCurrentText("writing")
    assert board.model.rowCount() == 2


def test_pause_and_resume_from_the_dialog(qtbot, services, models, monkeypatch):
    d = SuiteRunDialog(services, models)
    qtbot.addWidget(d)
    d.show()
    d.suite.setCurrentText("tiny")
    qtbot.mouseClick(d.start_button, Qt.LeftButton)
    qtbot.mouseClick(d.pause_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: d.status.text().startswith("Paused"), timeout=30_000)
    assert d.pause_button.text() == "Resume"
    assert SuiteRuns(services.store).runs()[0].status == "paused"
    qtbot.mouseClick(d.pause_button, Qt.LeftButton)
    with qtbot.waitSignal(d.runFinished, timeout=RUN_TIMEOUT_MS):
        pass
    assert d.status.text().startswith("Done: 4/4 answers")


def test_an_api_model_without_a_key_says_what_to_do(qtbot, services, models, monkeypatch):
    said = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a: said.append(a[2]))
    d = SuiteRunDialog(services, models + [("gpt-4o-mini · API", "openai:gpt-4o-mini")])
    qtbot.addWidget(d)
    d.suite.setCurrentText("tiny")
    d.pickers[1].setCurrentIndex(d.pickers[1].findData("openai:gpt-4o-mini"))
    assert d.estimate.text().startswith("Estimated cost: at most $0.00")
    qtbot.mouseClick(d.start_button, Qt.LeftButton)
    assert said and "No OpenAI key" in said[0]
    assert SuiteRuns(services.store).runs() == []


def test_the_window_has_the_suite_entries(qtbot, services):
    from desktop.ui.main_window import MainWindow

    w = MainWindow(services)
    qtbot.addWidget(w)
    tools = [m for m in w.menuBar().actions() if m.text() == "&Tools"][0].menu()
    names = [a.text() for a in tools.actions()]
    assert {"Run a suite…", "Rating queue…", "Leaderboard by category…"} <= set(names)
    next(a for a in tools.actions() if a.text() == "Rating queue…").trigger()
    queue = w.suite_dialogs["queue"]
    assert queue.isVisible() and "No suite runs yet" in queue.heading.text()
    w.close()


def test_edit_a_suite_in_the_dialog_names_the_wrong_line(qtbot, services, monkeypatch):
    from desktop.ui import suite_dialogs

    d = SuiteRunDialog(services, [("Gemma 3 270M (built in) · local", "local:default")])
    qtbot.addWidget(d)
    assert d.suite.currentText() == "starter"
    editors = []

    def fake_exec(editor):
        editors.append(editor)
        editor.name.setText("mine")
        editor.text.setPlainText('{"id": "a", "turns": ["Hi"]}\n{"id": "a", "turns": ["Again"]}\n')
        editor._save()  # the first try: a duplicate id
        assert editor.error.text().endswith("line 2: the id 'a' is used twice; ids must be unique")
        editor.text.setPlainText('{"id": "a", "category": "greeting", "turns": ["Hi"]}\n')
        editor._save()
        return suite_dialogs.QDialog.Accepted

    monkeypatch.setattr(suite_dialogs.SuiteEditor, "exec", fake_exec)
    d.edit_suite()
    assert d.suite.currentText() == "mine"
    assert d.suite_info.text().startswith("1 prompt (1 answer per model); categories: greeting")
    assert (services.folders.data / "suites" / "mine.jsonl").read_text() == \
        '{"id": "a", "category": "greeting", "turns": ["Hi"]}\n'
