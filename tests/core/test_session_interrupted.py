"""An answer cut off because ArenaDesk stopped (a crash, a kill) is marked interrupted when the
app starts again. Rule: such an answer says nothing about its model, so a round holding one is
not voted on as it is; the session says why and the way out, regenerating that answer, works on
the reopened round. (An answer that *failed* — the model's own error, an empty answer — is still
judged: that is the model's answer.) Scripted engines, a real SQLite file."""
from __future__ import annotations

import time

import pytest
from fakes import scripted_services, two_pane_session, unmakeable_engines

from desktop.core.engines.registry import ModelChoice
from desktop.core.session import Refused, interrupted
from desktop.core.store.db import INTERRUPTED

GPT4O, GPT41 = ModelChoice("openai", "gpt-4o"), ModelChoice("openai", "gpt-4.1")


@pytest.fixture
def services(arenadesk_home):
    s = scripted_services({})
    yield s
    s.close()


def _crash_in_second_answer(services, blind=False) -> int:
    """A round whose right-hand answer was still streaming when the app died; the next start
    closes it as interrupted (the store's own rule, for a row no live run holds)."""
    s = two_pane_session(services, blind=blind)
    s.send("What is 2 + 2?")
    assert s.round_done.wait(10)
    right = s.open_round.response_ids[1]
    with services.store.transaction() as db:  # as a killed run leaves it: streaming, part of the text
        db.execute("UPDATE responses SET status = 'streaming', text = 'gpt-4.1 sa', error = NULL, writer = NULL, "
                   "started_at = ? WHERE id = ?", (time.time() - 10, right))
    assert services.store.close_interrupted(started_before=time.time()) == 1
    return s.conversation_id


@pytest.mark.parametrize("blind", [False, True])
def test_a_round_with_an_interrupted_answer_cannot_be_voted_on_and_says_why(services, blind):
    conv = _crash_in_second_answer(services, blind)
    s = two_pane_session(services)
    s.open(conv)
    assert interrupted(s.open_round.results[1]) and not interrupted(s.open_round.results[0])
    assert s.note(1) == ("This answer failed." if blind else INTERRUPTED)  # blind: no engine's wording
    with pytest.raises(Refused) as refused:
        s.vote("left")
    message = str(refused.value)
    assert "cut off when ArenaDesk closed" in message and "Regenerate" in message
    where = f"Model {s.letter(1)}" if blind else f"pane {s.position(1) + 1}"
    assert where in message  # blind: the letter only, never the model's name
    assert "gpt-4" not in message
    assert services.store.query("SELECT COUNT(*) FROM votes") == [(0,)]
    assert services.store.query("SELECT COUNT(*) FROM battles") == [(0,)]


def test_regenerating_the_interrupted_answer_of_a_reopened_round_then_allows_the_vote(services):
    conv = _crash_in_second_answer(services)
    s = two_pane_session(services)
    s.open(conv)
    left_before = s.open_round.results[0].text
    assert s.regenerate([1]) == [1]
    s.wait(10)
    assert not s.running
    assert s.open_round.results[1].status == "done" and s.open_round.results[1].text.startswith("gpt-4.1 says")
    assert s.open_round.results[0].text == left_before  # the other answer stays as it was
    s.vote("right")
    rows = services.store.query("SELECT status, text FROM responses WHERE id = ?", (s.open_round.response_ids[1],))
    assert rows[0][0] == "done" and rows[0][1].startswith("gpt-4.1 says")
    assert services.store.query("SELECT outcome FROM votes") == [("right",)]
    # The round is still the one it was (no new round was made for the regenerated answer).
    assert services.store.query("SELECT COUNT(*) FROM rounds WHERE conversation_id = ?", (conv,)) == [(1,)]


def test_regenerating_a_reopened_round_whose_key_is_gone_says_so_without_offering_another_model(services):
    """Regenerate asks the model that answered, so "pick a local model" (send's way out) would
    not help there; a model that cannot be made names its pane, as send does."""
    conv = _crash_in_second_answer(services)
    services.settings.openai_base_url = ""
    services.engines = type(services.engines)(services._make_engine)  # the real factory: it needs a key
    s = two_pane_session(services)
    s.open(conv)
    with pytest.raises(Refused) as refused:
        s.regenerate([1])
    assert "No OpenAI key" in str(refused.value) and "pick a local model" not in str(refused.value)

    services.engines = unmakeable_engines("the base URL has no host")
    with pytest.raises(Refused, match=r"^Pane A \(gpt-4o.*\): the base URL has no host$"):
        s.regenerate([1])


@pytest.mark.parametrize("cause", ["no key", "unmakeable", "connection removed"])
def test_regenerating_a_hidden_blind_rounds_cut_answer_whose_model_cannot_answer_names_no_model(services, cause):
    """The reopened blind round is still hidden (and cannot be voted on before its cut answer is
    asked for again): the refusal says the way out, a New chat, without the model behind the
    letter or its kind."""
    conv = _crash_in_second_answer(services, blind=True)
    if cause == "no key":
        services.settings.openai_base_url = ""
        services.engines = type(services.engines)(services._make_engine)  # the real factory: it needs a key
    elif cause == "unmakeable":
        services.engines = unmakeable_engines("the base URL has no host")
    else:
        services.settings.connections = [c for c in services.settings.connections if c.id != "openai"]
    s = two_pane_session(services)
    s.open(conv)
    assert s.hidden
    with pytest.raises(Refused) as refused:
        s.regenerate([1])
    said = str(refused.value)
    assert "cannot answer again" in said and "New chat" in said
    for tell in ("gpt-4", "OpenAI", "key", "local", "Pane", "pane", "Model A", "Model B", "connection", "base URL"):
        assert tell not in said, (tell, said)
    assert s.hidden


def test_an_answer_that_failed_on_its_own_is_still_judged(services):
    """Only the app's own interruption is excused: a model's error is its answer."""
    s = two_pane_session(services)
    s.send("Hello?")
    assert s.round_done.wait(10)
    with services.store.transaction() as db:
        db.execute("UPDATE responses SET status = 'error', error = 'The server said 500' WHERE id = ?",
                   (s.open_round.response_ids[1],))
    conv = s.conversation_id
    s = two_pane_session(services)
    s.open(conv)
    assert not interrupted(s.open_round.results[1])
    s.vote("left")
    assert services.store.query("SELECT outcome FROM votes") == [("left",)]
