"""The comparison session's rules, as specifications, without Qt: scripted engines stand in
for the models (each answers "<model> says: <n>"), the store is a real SQLite file."""
from __future__ import annotations


import pytest
from fakes import ScriptedEngine, scripted_services, two_pane_session, unmakeable_engines

from desktop.core.engines.registry import ModelChoice
from desktop.core.session import Refused

GPT4O, GPT41, LOCAL = ModelChoice("openai", "gpt-4o"), ModelChoice("openai", "gpt-4.1"), ModelChoice("local", "default")


@pytest.fixture
def engines():
    return {}


@pytest.fixture
def services(arenadesk_home, engines):
    s = scripted_services(engines)
    yield s
    s.close()


@pytest.fixture
def session(services):
    return two_pane_session(services)


def send(session, prompt="Hello?"):
    session.round_done.clear()
    session.send(prompt)
    assert session.round_done.wait(10)
    assert not session.running


def answers(session):
    return [r.text for r in session.open_round.results]


def test_a_round_remembers_each_panes_own_turns(session, engines):
    send(session, "First")
    send(session, "Second")
    assert [m["content"] for m in session.history(0)] == ["First", "gpt-4o says: 1", "Second", "gpt-4o says: 2"]
    assert [m["content"] for m in session.history(1)][-1] == "gpt-4.1 says: 2"
    seen = engines["openai:gpt-4.1"].seen[-1]
    assert [m["content"] for m in seen] == ["First", "gpt-4.1 says: 1", "Second"]


def test_blind_reveal_keeps_the_answers_and_the_blind_flag(session, services):
    session.blind = True
    send(session)
    assert session.hidden
    assert {session.heading(0), session.heading(1)} == {"Model A", "Model B"}
    # Before the vote nothing tells the sides apart: no cost, no "free", no "~" on estimated counts.
    for i in range(2):
        assert "free" not in session.footer(i) and "~" not in session.footer(i) and "$" not in session.footer(i)
    before = answers(session)
    assert session.vote("left") is True  # this vote revealed the names
    assert not session.hidden
    assert answers(session) == before  # the answers stay
    assert {session.heading(0), session.heading(1)} == {"gpt-4o @ OpenAI", "gpt-4.1 @ OpenAI"}
    assert services.store.query("SELECT blind FROM votes") == [(1,)]


def test_a_follow_up_after_the_names_were_shown_is_not_blind(session, services):
    """Each pane's earlier turns name its model once a blind round is voted on (or a round went
    with names), so a follow-up in that conversation goes with names: its vote is not stored as
    blind. Until then, follow-ups stay blind; a new chat is blind again."""
    session.blind = True
    send(session, "First")
    send(session, "Second")  # round 1 not voted on: nothing named yet
    assert session.hidden and session.open_round.blind
    session.vote("left")
    send(session, "Third")
    assert session.blind and not session.open_round.blind and not session.hidden
    assert session.heading(0) == "gpt-4o @ OpenAI"
    session.vote("right")
    assert services.store.query("SELECT r.prompt, r.blind, v.blind FROM rounds r JOIN votes v ON v.round_id = r.id "
                                "ORDER BY r.turn") == [("Second", 1, 1), ("Third", 0, 0)]
    session.new()
    send(session, "Fresh")
    assert session.open_round.blind and session.hidden
    # Blind switched on after a round that went with names: the follow-up goes with names too.
    session.vote("left")
    session.new()
    session.blind = False
    send(session, "Named")
    session.blind = True
    send(session, "Then blind?")
    assert not session.open_round.blind and not session.hidden


def test_a_regenerate_after_the_reveal_keeps_the_names_shown(session, services):
    """Regenerate drops the round's vote, not the reveal: the names stay on screen, so the
    follow-up goes with names (headings named, not "Model A" under a named earlier turn) and its
    vote is not stored blind; reopened, the round still shows its names."""
    session.blind = True
    send(session, "First")
    session.vote("left")
    session.round_done.clear()
    session.regenerate([0])
    assert session.round_done.wait(10)
    assert services.store.query("SELECT COUNT(*) FROM votes") == [(0,)]  # the vote judged the old answer
    assert not session.hidden and session.names_shown()
    assert session.heading(0) == "gpt-4o @ OpenAI"
    send(session, "Second")
    assert not session.open_round.blind and not session.hidden
    assert {session.heading(0), session.heading(1)} == {"gpt-4o @ OpenAI", "gpt-4.1 @ OpenAI"}
    session.vote("left")
    assert services.store.query("SELECT r.prompt, r.blind, v.blind FROM rounds r JOIN votes v ON v.round_id = r.id "
                                "ORDER BY r.turn") == [("Second", 0, 0)]
    conv = session.conversation_id
    session.new()
    session.open(conv)
    assert not session.hidden and session.names_shown()


def test_a_vote_cast_with_the_names_on_screen_is_not_stored_blind(session, services):
    """After the reveal, a regenerated answer is read with its name over it: the vote on it is
    a judgement made with the names (changing it keeps that). Regenerating a round still hidden
    keeps its vote blind."""
    session.blind = True
    send(session, "Hidden")
    session.round_done.clear()
    session.regenerate([1])
    assert session.round_done.wait(10)
    assert session.hidden
    assert session.vote("tie") is True
    assert services.store.query("SELECT blind FROM votes") == [(1,)]
    session.round_done.clear()
    session.regenerate([1])
    assert session.round_done.wait(10)
    assert not session.hidden
    assert session.vote("right") is False  # nothing left to reveal
    assert services.store.query("SELECT outcome, blind FROM votes") == [("right", 0)]
    session.vote("left")
    assert services.store.query("SELECT outcome, blind FROM votes") == [("left", 0)]


def test_a_vote_changed_after_the_reveal_stays_blind(session, services):
    session.blind = True
    send(session)
    session.vote("left")
    assert session.vote("tie") is False  # already revealed
    assert services.store.query("SELECT outcome, blind FROM votes") == [("tie", 1)]
    # Reopened later and changed again: still the blind judgement it started as.
    conv = session.conversation_id
    session.new()
    session.open(conv)
    assert not session.hidden
    session.vote("right")
    assert services.store.query("SELECT outcome, blind FROM votes") == [("right", 1)]


def test_blind_sides_are_shuffled_by_position_and_left_means_the_side_shown(session, services):
    session.blind = True
    for _ in range(6):  # with this seed the sides swap at least once in six rounds
        send(session)
        if session.position(0) == 1:
            break
    assert session.position(0) == 1
    session.vote("left")  # the answer shown on the left: pane 1's
    (winner,) = services.store.query(
        "SELECT pa.choice FROM battles b JOIN responses pa ON pa.id = b.response_a WHERE b.winner = 'a'")
    assert winner == ("openai:gpt-4.1",)


def test_regenerate_replaces_one_answer_and_keeps_the_other(session, services, engines):
    send(session, "Question")
    session.vote("left")
    session.round_done.clear()
    assert session.regenerate([0]) == [0]
    assert session.round_done.wait(10)
    assert answers(session) == ["gpt-4o says: 2", "gpt-4.1 says: 1"]
    assert session.open_round.vote is None and services.store.query("SELECT COUNT(*) FROM votes") == [(0,)]
    # The model was shown the conversation without the answer it replaces, and remembers the new one once.
    assert [m["content"] for m in engines["openai:gpt-4o"].seen[-1]] == ["Question"]
    assert [m["content"] for m in session.history(0)] == ["Question", "gpt-4o says: 2"]


def test_regenerate_asks_the_rounds_model_even_after_the_picker_changed(session, engines):
    send(session)
    session.set_choice(0, ModelChoice("openai", "gpt-5"))
    session.round_done.clear()
    session.regenerate([0])
    assert session.round_done.wait(10)
    assert engines["openai:gpt-4o"].calls == 2 and "openai:gpt-5" not in engines
    assert session.heading(0) == "gpt-4o @ OpenAI"
    send(session, "Next")
    assert engines["openai:gpt-5"].calls == 1


def test_continue_uses_the_same_models_and_memory(session, services, engines):
    send(session, "My name is Ada.")
    conv = session.conversation_id
    session.new()
    session.set_choice(0, ModelChoice("openai", "gpt-5"))
    session.open(conv)
    assert [p.choice for p in session.panes] == [GPT4O, GPT41]
    send(session, "What is my name?")
    assert [m["content"] for m in engines["openai:gpt-4o"].seen[-1]] == [
        "My name is Ada.", "gpt-4o says: 1", "What is my name?"]
    assert services.store.query("SELECT COUNT(*) FROM rounds WHERE conversation_id = ?", (conv,)) == [(2,)]


def test_continue_says_why_it_cannot_when_a_model_is_gone(session, services):
    send(session)
    conv = session.conversation_id
    # The endpoint now offers other models (a base URL pointed at a local server).
    session.contestants.set_api_models(["local-server-model", "gpt-4.1"])
    session.new()
    session.open(conv)
    assert session.panes[0].choice == GPT4O  # shown as it was, never switched
    problems = session.problems()
    assert list(problems) == [0] and "gpt-4o" in problems[0] and "pick another model" in problems[0]
    rounds_before = services.store.query("SELECT COUNT(*) FROM rounds")
    with pytest.raises(Refused, match="Pane A: gpt-4o is not offered"):
        session.send("Go on")
    assert services.store.query("SELECT COUNT(*) FROM rounds") == rounds_before  # nothing recorded
    session.set_choice(0, ModelChoice("openai", "local-server-model"))
    send(session, "Go on")


def test_a_local_model_whose_file_is_gone_is_shown_as_gone(session, services, tmp_path):
    gone = ModelChoice("local", str(tmp_path / "deleted.gguf"))
    session.set_choice(1, gone)
    assert "deleted is gone" in session.problems()[1]


def test_no_key_refuses_before_anything_is_recorded(session, services):
    services.settings.openai_base_url = ""  # no key, no keyless endpoint
    services.engines = type(services.engines)(services._make_engine)  # the real factory: it needs a key
    with pytest.raises(Refused, match="No OpenAI key.*Settings.* Or pick a local model for pane A\\.$"):
        session.send("Hello?")
    assert services.store.query("SELECT COUNT(*) FROM conversations") == [(0,)]
    assert session.conversation_id is None


def test_an_engine_that_cannot_be_made_names_the_pane_and_its_model(session, services):
    services.engines = unmakeable_engines("the base URL has no host")
    with pytest.raises(Refused, match=r"^Pane A \(gpt-4o.*\): the base URL has no host$"):
        session.send("Hello?")
    assert services.store.query("SELECT COUNT(*) FROM conversations") == [(0,)]


def _needs_key_pool(services):
    """Engines as after a restart that lost a session-only key: the API model cannot be made."""
    from desktop.core.engines.registry import EnginePool
    from desktop.core.services import NeedsKey

    def make(choice):
        if choice.engine == "openai":
            raise NeedsKey("No OpenAI key: add one in Settings → Connections → OpenAI.")
        return ScriptedEngine(choice)

    return EnginePool(make)


@pytest.mark.parametrize("cause", ["unmakeable", "no key", "connection removed"])
def test_a_refused_follow_up_while_blind_names_no_model_and_no_kind(services, cause):
    """While a blind round is hidden, its letters are the "Model A/B" on screen: a refused
    follow-up says what to do without naming the model behind a letter or saying that a letter
    is the API (or local) side. After the vote, the refusal names the pane and its model."""
    session = two_pane_session(services, choices=(LOCAL, GPT4O), blind=True)
    send(session, "First")
    assert session.hidden
    if cause == "unmakeable":
        services.engines = unmakeable_engines("the base URL has no host")
    elif cause == "no key":
        services.engines = _needs_key_pool(services)
    else:
        services.settings.connections = [c for c in services.settings.connections if c.id != "openai"]
    with pytest.raises(Refused) as refused:
        session.send("Second")
    said = str(refused.value)
    for tell in ("gpt-4o", "OpenAI", "Gemma", "built in", "local", "Local", "key", "API", "Pane", "pane A", "pane B",
                 "Model A", "Model B", "base URL", "connection"):
        assert tell not in said, (tell, said)
    assert "Vote on this round to see the names" in said and "New chat" in said
    assert session.hidden and services.store.query("SELECT COUNT(*) FROM rounds") == [(1,)]
    session.vote("left")
    with pytest.raises(Refused, match=r"^Pane [AB] \(|^Pane [AB]: gpt-4o|^No OpenAI key.* pane [AB]\.$"):
        session.send("Second")


def test_inputs_are_checked_first(session):
    with pytest.raises(Refused, match="Type a prompt"):
        session.send("   ")
    with pytest.raises(Refused, match="Nothing to vote on"):
        session.vote("left")
    with pytest.raises(Refused, match="Nothing to regenerate"):
        session.regenerate()


def test_reopening_an_unvoted_blind_round_keeps_it_hidden(session):
    session.blind = True
    send(session)
    conv = session.conversation_id
    positions = [session.position(0), session.position(1)]
    session.new()
    session.blind = False
    session.open(conv)
    assert session.hidden and [session.position(0), session.position(1)] == positions
    assert answers(session) == ["gpt-4o says: 1", "gpt-4.1 says: 1"]


def test_a_failed_answer_says_nothing_engine_specific_while_blind(session, engines):
    session.blind = True
    send(session)
    engines["openai:gpt-4.1"].fail_next = True
    send(session, "Again")
    failed = 1
    assert "Network" not in session.note(failed) and "failed" in session.footer(failed)
    session.vote("tie")
    assert "Network down" in session.note(failed)


def test_while_blind_the_footer_says_nothing_of_reasoning(services, engines):
    """Only reasoning models report when their answer (after the thinking) began: a tell of the
    model's family, held back with the names; the window holds the reasoning line back too."""
    engines.clear()
    services.engines = type(services.engines)(
        lambda choice: engines.setdefault(str(choice), ScriptedEngine(
            choice, reasoning=("Thinking ", "it over.") if choice == GPT4O else ())))
    session = two_pane_session(services, blind=True)
    send(session)
    assert session.open_round.results[0].reasoning == "Thinking it over."
    assert session.hidden and "answer token" not in session.footer(0)
    assert session.footer(0).count(" · ") == session.footer(1).count(" · ")  # the same figures on each side
    session.vote("tie")
    assert "first answer token" in session.footer(0)


def test_removing_a_pane_keeps_the_others_memory(session):
    session.add_pane(ModelChoice("openai", "gpt-5"))
    send(session, "Hi")
    session.remove_pane(1)
    assert session.open_round is None and len(session.panes) == 2
    assert [m["content"] for m in session.history(0)] == ["Hi", "gpt-4o says: 1"]
    assert session.position(1) == 1


def test_a_new_pane_starts_on_a_local_model_that_answers_without_a_key(session, services):
    """A new pane's model answers with nothing set up: the installed models no pane shows yet (the
    built-in one first), then the built-in one again, never an API model that needs a key."""
    from found_layouts import tiny_gguf

    other = ModelChoice("local", str(tiny_gguf(services.folders.models / "other-model.gguf")))
    services.installed.changed()  # as an import or a download says
    assert [session.panes[session.add_pane()].choice for _ in range(2)] == [LOCAL, other]
    both_local = two_pane_session(services, choices=(LOCAL, other))
    assert both_local.panes[both_local.add_pane()].choice == LOCAL  # every local model in a pane: the built-in one


def test_a_new_pane_prefers_an_api_model_with_its_key_to_a_second_copy_of_a_local_one(services):
    """Every local model in a pane: an API model no pane shows, on a connection whose key is there,
    comes before the built-in model again; its key is asked once per connection, not per model."""
    session = two_pane_session(services, choices=(LOCAL, GPT4O))
    asked = []

    def has_key(choice):
        asked.append(choice.connection)
        return choice.connection == GPT4O.connection

    added = session.panes[session.add_pane(has_key=has_key)].choice
    assert added.engine == "openai" and added.connection == GPT4O.connection and added != GPT4O
    assert len(asked) == len(set(asked))
    # No connection has its key: the built-in model again, not a pane that could only say so.
    assert session.panes[session.add_pane(has_key=lambda _c: False)].choice == LOCAL


def test_a_new_pane_falls_back_to_an_api_model_only_when_no_local_model_is_installed(session, services, monkeypatch):
    monkeypatch.setattr(services.installed, "current", lambda: [])  # (the built-in model is always installed)
    added = session.panes[session.add_pane()].choice
    assert added.engine == "openai" and added not in (GPT4O, GPT41)


def test_a_paused_draft_goes_to_each_engine_that_reads_ahead_as_the_messages_send_will_give_it(arenadesk_home):
    engines = {}
    services = scripted_services(engines, scripts={"local:default": {"reads_ahead": True}})
    try:
        session = two_pane_session(services, choices=(LOCAL, GPT4O))
        services.settings.system_prompt = "Be brief."
        assert session.prepare("Hello?") == 0  # typing neither makes an engine nor loads a model
        send(session, "First")
        local = engines["local:default"]
        assert session.prepare("  Second  ") == 1  # the API model has nothing to read ahead
        assert session.prepare("   ") == 0
        send(session, "Second")
        # The draft was the prompt send() then gave the local model: system prompt, its turns, the prompt.
        assert local.drafts == [local.seen[-1]]
        assert [m["content"] for m in local.drafts[0]] == ["Be brief.", "First", f"{local.info.model} says: 1", "Second"]
        assert not hasattr(engines["openai:gpt-4o"], "prepare")
    finally:
        services.close()


def test_a_draft_skips_a_reopened_pane_whose_model_is_unknown_and_reaches_the_others(arenadesk_home):
    # An imported conversation can name a model kind this app does not know: that pane has no
    # model (session.open says so); typing must not raise on every pause, and the panes after it
    # still get the draft (s22 review F2).
    engines = {}
    services = scripted_services(engines, scripts={"local:default": {"reads_ahead": True}})
    try:
        services.settings.system_prompt = ""
        session = two_pane_session(services, choices=(GPT4O, LOCAL), blind=False)
        send(session, "First")
        with services.store.transaction() as db:
            db.execute("UPDATE responses SET choice = 'ollama:llama3' WHERE slot = 0")
        conversation = session.conversation_id
        session.new()
        session.open(conversation)
        assert session.panes[0].choice is None
        assert session.prepare("Next question") == 1
        assert engines["local:default"].drafts[-1][-1] == {"role": "user", "content": "Next question"}
    finally:
        services.close()


def test_no_draft_is_handed_over_while_the_answers_run(arenadesk_home):
    import threading

    engines, gate = {}, threading.Event()
    services = scripted_services(engines, gate=gate, scripts={"local:default": {"reads_ahead": True}})
    try:
        services.settings.system_prompt = ""
        session = two_pane_session(services, choices=(LOCAL, LOCAL))
        session.send("First")
        assert session.running
        assert session.prepare("Second") == 0
        gate.set()
        assert session.round_done.wait(10)
        assert session.prepare("Second") == 2  # each pane's conversation (one engine: they take turns)
        first, second = engines["local:default"].drafts
        assert first[-1] == second[-1] == {"role": "user", "content": "Second"}
        assert first[:-1] == session.history(0) != second[:-1] == session.history(1)
    finally:
        services.close()
