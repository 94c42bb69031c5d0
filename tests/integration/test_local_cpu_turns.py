"""Two different local models in one round answer in turn on the CPU, not at once.

Each local model's child runs llama.cpp on every physical core; two at once oversubscribe the
cores and slow both several-fold, and each one's tokens/s would then be measured against the
other's work. On the real base model (no chat template) and the real chat model (ChatML) together,
as a user comparing the built-in model with a downloaded chat model does."""
import time

import pytest

from fakes import FirstAnswerHeld

from desktop.core.arena import Round, Slot
from desktop.core.engines.local import LocalEngine
from desktop.core.engines.registry import ModelChoice
from desktop.core.pricing import Prices
from desktop.core.settings import LocalRuntime, Sampling
from desktop.core.store import Store

SHORT = Sampling(max_tokens=24, temperature=0.0, seed=1, repeat_penalty=1.0)


@pytest.fixture
def two_models(embedded_model, chat_model):
    engines = [LocalEngine(path, LocalRuntime(context_length=1024, threads=2)) for path in (embedded_model, chat_model)]
    yield engines
    for e in engines:
        e.close()


def a_round(tmp_path, engines, prompt):
    store = Store(tmp_path / "a.sqlite3")
    slots = [Slot(ModelChoice("local", e.model_path.name), e, SHORT) for e in engines]
    return store, Round(store, Prices({}), store.new_conversation(), prompt, slots)


def test_two_local_models_answer_one_after_the_other_each_timed_from_its_own_turn(tmp_path, two_models):
    for e in two_models:  # loaded first, as the window's warm-up does: the turn is about answering
        for _ in e.load():
            pass
    store, rnd = a_round(tmp_path, two_models, "Name three colours.")
    turns = []
    rnd.on_turn = lambda i, waiting: turns.append((i, waiting))
    # The answer that got the CPU is held at its first text, so the other surely asks while it runs.
    with FirstAnswerHeld(rnd, 120) as held:
        deadline = time.monotonic() + 60
        while (held.waiting, True) not in turns and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (held.waiting, True) in turns  # the engine said it waits for the CPU (the pane shows it)
        assert rnd.results[held.waiting] is None
    results = rnd.wait(120)
    first, second = results[held.running], results[held.waiting]
    assert first.status == second.status == "done", (first.error, second.error)
    assert first.text.strip() and second.text.strip()
    # The second began when the first had ended: its clock, and so its time to first token, is its own.
    assert second.started_at >= first.finished_at
    assert second.first_token_at >= second.started_at
    # Then the engine said that it began; the one that had the CPU never waited.
    assert (held.running, True) not in turns
    assert turns.index((held.waiting, True)) < turns.index((held.waiting, False))
    stored = store.query("SELECT status, text FROM responses ORDER BY slot")
    assert [s for s, _ in stored] == ["done", "done"]
    store.close()


def test_stopping_the_model_waiting_for_the_cpu_ends_it_at_once_and_the_other_answers_whole(tmp_path, two_models):
    for e in two_models:
        for _ in e.load():
            pass
    store, rnd = a_round(tmp_path, two_models, "Write a long story about a cat who sails around the world.")
    with FirstAnswerHeld(rnd, 120) as held:
        rnd.cancel(held.waiting)
        rnd.wait_slot(held.waiting, 10)
        stopped = rnd.results[held.waiting]
        assert stopped is not None and stopped.status == "cancelled" and stopped.text == ""
        assert rnd.results[held.running] is None  # still answering: the stop was not its
    rnd.wait(120)
    whole = rnd.results[held.running]
    assert whole.status == "done" and whole.text.strip()
    store.close()
