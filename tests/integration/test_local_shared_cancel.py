"""Stopping one answer on a local model that others share ends that answer only.

A local model is one engine (one child process, one answer at a time) whoever uses it: two panes
on the same model, and the LLM judge run from the window on it. Each answer is stopped by its own
CancelToken: a stopped answer that waits for the engine never starts, the one running is ended only
if it is the stopped one, and the other answers finish whole. On the real base model (no chat
template) and the real chat model (ChatML)."""
import threading
from dataclasses import replace

import pytest

from fakes import FirstAnswerHeld

from desktop.core import judge
from desktop.core.arena import Round, Slot
from desktop.core.engines.base import CancelToken, Done, Recorder, Result, TextDelta, Waiting
from desktop.core.engines.local import LocalEngine
from desktop.core.engines.registry import ModelChoice
from desktop.core.pricing import Prices
from desktop.core.settings import LocalRuntime, Sampling
from desktop.core.store import SlotSpec, Store

SHORT = Sampling(max_tokens=32, temperature=0.0, seed=1, repeat_penalty=1.0)
# Answers that run to max_tokens: the base model keeps counting when started for it; the chat
# model tells a story when asked for a long one.
LONG = {
    "embedded_model": [{"role": "user", "content": "Count from 1 to 400: " + ", ".join(str(i) for i in range(1, 41)) + ","}],
    "chat_model": [{"role": "user", "content": "Write a long story about a cat who sails around the world."}],
}
FRANCE = [{"role": "user", "content": "What is the capital of France?"}]
JUDGE = replace(judge.JUDGE_SAMPLING, max_tokens=24)


@pytest.fixture(params=["embedded_model", "chat_model"])
def model(request):
    return request.getfixturevalue(request.param)


@pytest.fixture
def long_answer(request, model):
    return LONG[request.node.callspec.params["model"]]


@pytest.fixture
def engine(model):
    e = LocalEngine(model, LocalRuntime(context_length=2048, threads=2))
    yield e
    e.close()


def solo(model, messages, params=SHORT) -> Result:
    """The answer alone on a fresh engine of the same model: what a whole answer is."""
    e = LocalEngine(model, LocalRuntime(context_length=2048, threads=2))
    try:
        rec = Recorder()
        for event in e.stream(messages, params):
            rec.feed(event)
        return rec.result
    finally:
        e.close()


class Answer(threading.Thread):
    """One answer streamed on its own thread, as a pane or the judge does; `started` once text came."""

    def __init__(self, engine, messages, params=SHORT):
        super().__init__(daemon=True)
        self.engine, self.messages, self.params = engine, messages, params
        self.stop = CancelToken()
        self.started = threading.Event()
        self.events: list = []
        self.rec = Recorder()

    def run(self):
        for event in self.engine.stream(self.messages, self.params, cancel=self.stop):
            self.events.append(event)
            self.rec.feed(event)
            if isinstance(event, TextDelta):
                self.started.set()

    @property
    def result(self) -> Result:
        return self.rec.result


def one_answering_one_waiting(engine, first, second) -> tuple["Answer", "Answer"]:
    """Two answers on one engine: `first` started and writing, then `second` started (it waits)."""
    running, waiting = Answer(engine, first), Answer(engine, second)
    running.start()
    assert running.started.wait(120)
    waiting.start()
    return running, waiting


def test_a_stopped_answer_that_waits_for_the_engine_never_starts_and_the_running_one_finishes_whole(model, long_answer, engine):
    whole = solo(model, long_answer)
    assert whole.status == "done" and whole.finish_reason == "length"  # it would run to max_tokens
    running, waiting = one_answering_one_waiting(engine, long_answer, FRANCE)
    waiting.stop.cancel()
    waiting.join(30)
    assert not waiting.is_alive()
    assert running.is_alive() and running.result.status == "streaming"  # the stop did not reach it
    # It said it waits for its turn (the pane shows that), then ended without starting.
    assert [type(e) for e in waiting.events] == [Waiting, Done] and waiting.result.status == "cancelled"
    assert waiting.result.text == ""
    running.join(120)
    assert running.result.status == "done" and running.result.finish_reason == "length"
    assert running.result.text == whole.text


def test_stopping_the_running_answer_leaves_the_waiting_one_whole(model, long_answer, engine):
    whole = solo(model, FRANCE)
    assert whole.status == "done" and whole.text.strip()
    running, waiting = one_answering_one_waiting(engine, long_answer, FRANCE)
    running.stop.cancel()
    running.join(30)
    waiting.join(120)
    assert running.result.status == "cancelled" and running.result.text
    # The stopped answer's tail was drained, not read as the waiting one's: its own text, whole.
    assert waiting.result.status == "done" and waiting.result.text == whole.text


# -- through the round and the judge, as the window runs them -------------------------------------

def voted_store(tmp_path) -> Store:
    """One round the user voted on: the judge's one pair."""
    store = Store(tmp_path / "judge.db")
    cid = store.new_conversation("shared engine")
    specs = [SlotSpec(0, 0, "local", "Local A", "sha256:a"), SlotSpec(1, 1, "openai", "gpt-x", "gpt-x")]
    rid, ids = store.add_round(cid, "What is the capital of France?", specs)
    store.save_response(ids[0], Result(text="Paris is the capital of France.", status="done"))
    store.save_response(ids[1], Result(text="Lyon is the capital of France.", status="done"))
    store.cast_vote(rid, "left")
    return store


class Watched:
    """The shared engine as the judge uses it, telling the test when the judge's reply streams."""

    def __init__(self, engine):
        self.engine, self.info = engine, engine.info
        self.streaming = threading.Event()

    def stream(self, *args, **kwargs):
        for event in self.engine.stream(*args, **kwargs):
            if isinstance(event, TextDelta):
                self.streaming.set()
            yield event

    def cancel(self):
        self.engine.cancel()


def pane_round(store, model, engine, messages) -> Round:
    choice = ModelChoice("local", str(model))
    return Round(store, Prices({}), store.new_conversation("panes"), messages[-1]["content"],
                 [Slot(choice, engine, SHORT)])


def test_cancelling_the_judge_does_not_stop_a_pane_answering_on_its_model(model, long_answer, engine, tmp_path):
    whole = solo(model, long_answer)
    store = voted_store(tmp_path)
    first_text = threading.Event()
    rnd = pane_round(store, model, engine, long_answer)
    rnd.start(on_delta=lambda i, text: first_text.set())
    assert first_text.wait(120)  # the pane has the engine
    j = judge.Judge(store, engine, choice=f"local:{model}", sampling=JUDGE)
    outcome = {}
    judging = threading.Thread(target=lambda: outcome.update(summary=j.calibrate()), daemon=True)
    judging.start()
    j.cancel()  # the judge dialog's Cancel, while the judge waits for the pane's answer
    judging.join(120)
    assert not judging.is_alive() and outcome["summary"].cancelled and outcome["summary"].judged == 0
    [result] = rnd.wait(120)
    assert result.status == "done" and result.text == whole.text  # the pane's answer, whole
    assert not store.query("SELECT id FROM judge_votes")
    store.close()


def test_a_panes_stop_does_not_end_the_judge_run_on_its_model(model, long_answer, engine, tmp_path):
    store = voted_store(tmp_path)
    watched = Watched(engine)
    j = judge.Judge(store, watched, choice=f"local:{model}", sampling=JUDGE)
    outcome = {}
    judging = threading.Thread(target=lambda: outcome.update(summary=j.calibrate()), daemon=True)
    judging.start()
    assert watched.streaming.wait(120)  # the judge's reply is streaming
    rnd = pane_round(store, model, engine, long_answer)
    rnd.start()
    rnd.cancel(0)  # the pane's Stop, while its answer waits for the judge's reply
    [result] = rnd.wait(120)
    # Stopped (before it started, unless it took the engine between the judge's two replies, on a
    # loaded machine: whether it never starts is the engine test's business, with a long answer running).
    assert result is not None and result.status == "cancelled"
    judging.join(300)
    assert not judging.is_alive(), "the judge run did not end"
    summary = outcome["summary"]
    assert not summary.cancelled and summary.failed == 0
    assert summary.judged + summary.unparseable == 1  # the pair was judged in both orders
    assert len(store.query("SELECT id FROM judge_votes")) == 1
    store.close()


def test_two_panes_on_one_model_each_stop_ends_only_that_panes_answer(model, long_answer, engine, tmp_path):
    whole = solo(model, long_answer)
    store = Store(tmp_path / "panes.db")
    choice = ModelChoice("local", str(model))
    slots = [Slot(choice, engine, SHORT), Slot(choice, engine, SHORT)]  # Ctrl+T: a second pane on the model
    rnd = Round(store, Prices({}), store.new_conversation("two panes"), long_answer[-1]["content"], slots)
    with FirstAnswerHeld(rnd, 120) as held:
        rnd.cancel(held.waiting)
        rnd.wait_slot(held.waiting, 30)
        # Its Stop took effect at once: before the answer that has the engine ended.
        assert rnd.results[held.waiting] is not None and rnd.results[held.waiting].status == "cancelled"
        assert rnd.results[held.running] is None
    assert rnd.results[held.waiting].text == ""  # it never started
    rnd.wait_slot(held.running, 120)
    assert rnd.results[held.running].status == "done" and rnd.results[held.running].text == whole.text
    store.close()
