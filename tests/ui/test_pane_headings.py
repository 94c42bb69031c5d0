"""An answer's heading names who answered as the leaderboard and exports do ("model @ connection"
for an API model, the file's name for a local one), live, after a regenerate, after a blind vote
and in a comparison reopened from History (each turn by the model that answered it, a model no
longer offered by its name, not "(gone)"); "Model A" while blind."""
from __future__ import annotations

import pytest
from fakes import scripted_services, shown_window
from PySide6.QtCore import Qt

from desktop.core.connections import new_connection
from desktop.core.contestants import Contestants

TIMEOUT_MS = 10_000


def test_the_core_names_who_answered_from_the_choice_not_from_a_label(arenadesk_home):
    services = scripted_services({})
    try:
        box = new_connection(services.settings, "vllm", name="lab · east @ 2", base_url="http://10.0.0.5:8000/v1")
        box.models = ["team · v2 @ beta"]
        services.settings.connections.append(box)
        named = Contestants(services).heading
        assert named("openai:gpt-4o") == "gpt-4o @ OpenAI"
        assert named(f"openai:team · v2 @ beta@{box.id}") == "team · v2 @ beta @ lab · east @ 2"
        assert named(f"openai:gone-model@{box.id}") == "gone-model @ lab · east @ 2"  # no longer offered
        assert named("openai:gpt-4o@removed-box") == "gpt-4o @ removed-box"  # its connection is gone: its id
        assert named("local:default") == "Gemma 3 270M (built in)"
        assert named("local:/models/x.gguf") == "x"  # as the Models dialog names it (core/names.py)
        assert named("") == named("nonsense") == "(unknown model)"
    finally:
        services.close()


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
    # The status line names them as the headings do.
    message = w.statusBar().currentMessage()
    assert "= gpt-4o @ OpenAI" in message and "= Gemma 3 270M (built in)" in message


def test_a_name_holding_the_pickers_separator_is_headed_whole(qtbot, arenadesk_home):
    """A connection and a model whose names hold " · " (the picker's separator) and " @ ": the
    picker's label cannot be split back into the two, so the heading must not come from it."""
    services = scripted_services({})
    box = new_connection(services.settings, "vllm", name="lab · east", base_url="http://10.0.0.5:8000/v1")
    box.models = ["team · v2 @ beta"]
    services.settings.connections.append(box)
    choice = f"openai:team · v2 @ beta@{box.id}"
    w = shown_window(qtbot, services, (choice, "local:default"))
    try:
        assert w.panes[0].picker.currentText() == "team · v2 @ beta · lab · east"
        send(qtbot, w, "Hello?")
        assert headings(w.panes[0]) == ["team · v2 @ beta @ lab · east"]
        box.name = "lab · west"  # renamed in Settings: the history names it by its name now
        conversation = w.session.conversation_id
        w.new_chat()
        w.open_conversation(conversation)
        assert headings(w.panes[0]) == ["team · v2 @ beta @ lab · west"]
    finally:
        w.close()
        services.close()
