"""An answer interrupted when the app stopped, reopened from History in the real window (scripted
engines): the pane says it was interrupted, a vote is refused with why and what to do, the pane's
Regenerate button answers it again, and then the vote is saved."""
from __future__ import annotations

import time

import pytest
from fakes import scripted_services, shown_window
from PySide6.QtCore import Qt

from desktop.core.store.db import INTERRUPTED

TIMEOUT_MS = 10_000


@pytest.fixture
def services(arenadesk_home):
    s = scripted_services({})
    yield s
    s.close()


def test_an_interrupted_answer_reopened_is_regenerated_before_the_vote(qtbot, services):
    w = shown_window(qtbot, services)
    w.prompt.setPlainText("What is 2 + 2?")
    with qtbot.waitSignal(w.roundFinished, timeout=TIMEOUT_MS):
        w.act_send.trigger()
    conv, right = w.session.conversation_id, w.session.open_round.response_ids[1]
    with services.store.transaction() as db:  # as a killed app leaves it
        db.execute("UPDATE responses SET status = 'streaming', text = 'gpt-4.1 sa', writer = NULL, started_at = ? "
                   "WHERE id = ?", (time.time() - 10, right))
    assert services.store.close_interrupted(started_before=time.time()) == 1

    w.session.new()
    w.open_conversation(conv)
    qtbot.wait(150)
    pane = w.panes[1]
    assert INTERRUPTED in pane.view.toPlainText() or INTERRUPTED in pane.notice.text()
    w.rating.voted.emit("left", None)
    assert "cut off when ArenaDesk closed" in w.statusBar().currentMessage()
    assert services.store.query("SELECT COUNT(*) FROM votes") == [(0,)]

    assert pane.regen.isEnabled()
    with qtbot.waitSignal(w.roundFinished, timeout=TIMEOUT_MS):
        qtbot.mouseClick(pane.regen, Qt.LeftButton)
    qtbot.wait(150)
    assert "gpt-4.1 says" in pane.view.toPlainText()
    w.rating.voted.emit("left", None)
    assert "Vote saved" in w.statusBar().currentMessage()
    assert services.store.query("SELECT outcome FROM votes") == [("left",)]
    w.close()
