"""An answer's heading names who answered as the leaderboard and exports do ("model @ connection"
for an API model, the file's name for a local one), live, after a regenerate, after a blind vote
and in a comparison reopened from History (each turn by the model that answered it, a model no
longer offered by its name, not "(gone)"); "Model A" while blind."""
from __future__ import annotations

import pytest
from fakes import scripted_services, shown_window
from PySide6.QtCore import Qt

from desktop.ui.pane import contestant_heading

TIMEOUT_MS = 10_000


def test_contestant_heading_from_the_pickers_label_or_the_choice():
    assert contestant_heading("gpt-4o · OpenAI", "openai:gpt-4o") == "gpt-4o @ OpenAI"
    assert contestant_heading("gemma · box-a", "openai:gemma@box-a") == "gemma @ box-a"
    assert contestant_heading("Gemma 3 270M (built in) · local", "local:default") == "Gemma 3 270M (built in)"
    assert contestant_heading("gpt-4o@box-a (gone)", "openai:gpt-4o@box-a") == "gpt-4o @ box-a"
    assert contestant_heading("", "local:/models/x.gguf") == "x.gguf"
    assert contestant_heading("Model A", "") == "Model A"


@pytest.fixture
def engines():
    return {}


@pytest.fixture
def window(qtbot, arenadesk_home, engines):
    services = scripted_services(engines)
    w = shown_window(qtbot, services, ("openai:gpt-4o", "local:default"))
    yield w
    w.close()
    services.close()


def send(qtbot, w, text):
    w.prompt.setPlainText(text)
    with qtbot.waitSignal(w.roundFinished, timeout=TIMEOUT_MS):
        w.act_send.trigger()
    qtbot.wait(150)


def headings(pane) -> list[str]:
    """The bold lines of the transcript other than "You": the answers' headings, in order."""
    out, b = [], pane.view.document().begin()
    while b.isValid():
        it = b.begin()
        if not it.atEnd() and it.fragment().charFormat().fontWeight() >= 600 and b.text() != "You":
            out.append(b.text())
        b = b.next()
    return out


def test_headings_name_the_contestant_live_on_regenerate_and_when_reopened(qtbot, window):
    w = window
    send(qtbot, w, "First?")
    assert headings(w.panes[0]) == ["gpt-4o @ OpenAI"]
    assert headings(w.panes[1]) == ["Gemma 3 270M (built in)"]
    assert w.panes[0].title.toolTip() == "gpt-4o · OpenAI"  # the picker's wording stays the picker's

    w.choose_model(0, "openai:gpt-4.1")
    send(qtbot, w, "Second?")
    w.choose_model(0, "openai:gpt-5")
    with qtbot.waitSignal(w.roundFinished, timeout=TIMEOUT_MS):
        w.regenerate(w.panes[0])  # the round's model answers again, and is named
    qtbot.wait(150)
    assert headings(w.panes[0]) == ["gpt-4o @ OpenAI", "gpt-4.1 @ OpenAI"]

    conversation = w.session.conversation_id
    w.new_chat()
    w.set_api_models(["gpt-4o"])  # gpt-4.1 is no longer offered: its pane shows it gone
    w.open_conversation(conversation)
    assert headings(w.panes[0]) == ["gpt-4o @ OpenAI", "gpt-4.1 @ OpenAI"]  # each turn by who answered it
    assert "(gone)" not in w.panes[0].view.toPlainText()


def test_blind_headings_say_model_a_until_the_vote_then_the_contestant(qtbot, window):
    w = window
    w.act_toggle_blind.trigger()
    send(qtbot, w, "Name a colour.")
    assert sorted(h for p in w.panes for h in headings(p)) == ["Model A", "Model B"]
    qtbot.keyClick(w.rating, Qt.Key_1)
    assert headings(w.panes[0]) == ["gpt-4o @ OpenAI"] and headings(w.panes[1]) == ["Gemma 3 270M (built in)"]
