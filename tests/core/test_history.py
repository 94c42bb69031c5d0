"""The saved comparisons as History lists them (core/history.py), and which pane needs a key
(connections.missing_key): the rules the window shows, without a window."""
import pytest

from desktop.core import connections as cx
from desktop.core.engines.registry import ModelChoice
from desktop.core.history import ConversationHistory, StillAnswering
from desktop.core.store import SlotSpec


@pytest.fixture
def history(services):
    return ConversationHistory(services.store)


def comparison(services, title, prompt, tag=None):
    conv = services.store.new_conversation(title)
    services.store.add_round(conv, prompt, [SlotSpec(0, 0, "local", "m", "m")], tag=tag)
    return conv


def test_rename_keeps_a_title_and_refuses_a_blank_one(services, history):
    conv = comparison(services, "first", "What is TCP?")
    assert history.rename(conv, "  TCP basics  ") and history.title(conv) == "TCP basics"
    assert not history.rename(conv, "   ") and history.title(conv) == "TCP basics"
    assert [c.title for c in history.listed("TCP")] == ["TCP basics"]


def test_delete_asks_first_naming_what_goes_and_never_while_answering(services, history):
    conv = comparison(services, "to go", "Hello", tag="chat")
    with pytest.raises(StillAnswering, match="stop it"):
        history.delete_question(conv, answering=True)
    question = history.delete_question(conv, answering=False)
    assert "“to go” with its 1 round(s) and votes" in question.text and "cannot be undone" in question.text
    assert history.categories() == ["chat"]
    history.delete(conv)
    assert history.listed() == []


def test_missing_key_names_the_connection_that_needs_one(services, monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    groq = cx.new_connection(services.settings, "groq")
    services.settings.connections.append(groq)
    assert cx.missing_key(services, ModelChoice("openai", "llama-3.3-70b", groq.id)) == groq.name
    assert cx.missing_key(services, ModelChoice("local", "default")) is None
    assert cx.missing_key(services, ModelChoice("openai", "x", "no-such-connection")) is None  # gone, said otherwise
    services.secrets.set(cx.connection_key_name(groq.id), "gsk-test-key-0000", session_only=True)
    assert cx.missing_key(services, ModelChoice("openai", "llama-3.3-70b", groq.id)) is None
