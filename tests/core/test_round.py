"""Review findings in the Round (core/arena.py), with engines that behave like the real ones
where it matters: one stream at a time per engine and a cancel that is engine-wide."""
import threading
import time

from fakes import FirstAnswerHeld

from desktop.core.engines.base import Done, ModelInfo, TextDelta, Usage
from desktop.core.engines.registry import ModelChoice
from desktop.core.arena import Round, Slot
from desktop.core.pricing import Prices
from desktop.core.settings import Sampling
from desktop.core.store import Store


class SharedEngine:
    """Like LocalEngine: a lock (one stream at a time; a stream waiting for it ends as soon as
    its own token is set), a cancel flag for the whole engine, cleared when the next stream starts."""

    def __init__(self, tokens=30, delay=0.02):
        self.info = ModelInfo("local", "fake.gguf", "sha256:fake")
        self.tokens, self.delay = tokens, delay
        self._lock = threading.Lock()
        self._cancel = False
        self.seen: list[list[dict]] = []

    def stream(self, messages, params, cancel=None):
        while not self._lock.acquire(timeout=0.02):
            if cancel is not None and cancel.cancelled:
                yield Done("cancelled")
                return
        try:
            yield from self._serve(messages, cancel)
        finally:
            self._lock.release()

    def _serve(self, messages, cancel):  # the lock held
        self._cancel = False
        self.seen.append(messages)
        n = 0
        for n in range(self.tokens):
            if self._cancel or (cancel is not None and cancel.cancelled):
                yield Done("cancelled")
                return
            time.sleep(self.delay)
            yield TextDelta(f"t{n} ")
        yield Usage(3, n + 1)
        yield Done("stop")

    def cancel(self):
        self._cancel = True

    def close(self):
        pass


def make_round(tmp_path, slots, prompt="Hi"):
    store = Store(tmp_path / "a.sqlite3")
    conv = store.new_conversation()
    return store, Round(store, Prices({}), conv, prompt, slots)


def test_stopping_a_waiting_pane_ends_it_at_once_and_not_the_pane_that_is_answering(tmp_path):
    # Two panes on one local model take turns; stopping the one still waiting ends it at once,
    # while the other's answer is still going (not when that whole answer is over), and does not
    # cut the other's answer short.
    engine = SharedEngine(tokens=30)
    choice = ModelChoice("local", "fake.gguf")
    slots = [Slot(choice, engine, Sampling()), Slot(choice, engine, Sampling())]
    store, rnd = make_round(tmp_path, slots)
    with FirstAnswerHeld(rnd, 5) as held:
        running, waiting = held.running, held.waiting
        rnd.cancel(waiting)
        rnd.wait_slot(waiting, 5)
        stopped = rnd.results[waiting]
        assert stopped is not None and stopped.status == "cancelled" and stopped.text == ""
        assert rnd.results[running] is None and rnd.running  # the other answer is still going
    rnd.wait(10)
    assert rnd.results[running].status == "done" and rnd.results[running].text.count("t") == 30
    assert store.query("SELECT status, text FROM responses ORDER BY slot")[waiting] == ("cancelled", "")
    store.close()


def test_regenerate_does_not_show_the_model_its_own_earlier_answer(tmp_path):
    engine = SharedEngine(tokens=2, delay=0)
    earlier = [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi there"}]
    slot = Slot(ModelChoice("local", "fake.gguf"), engine, Sampling(), history=list(earlier))
    store, rnd = make_round(tmp_path, [slot], prompt="Tell me a joke")
    rnd.run()
    rnd.regenerate(0)
    rnd.wait(5)
    first, second = engine.seen
    assert first == second == earlier + [{"role": "user", "content": "Tell me a joke"}]
    assert slot.history == earlier  # the round's input; the session keeps each pane's memory
    store.close()


def test_regenerate_after_a_failed_answer_keeps_the_earlier_turns(tmp_path):
    # The window strips the last two history entries before regenerating when the last one is
    # an assistant's: after a failed answer those are the *previous* turn. The round keeps the
    # history it started from, so the model still sees the whole conversation.
    engine = SharedEngine(tokens=2, delay=0)
    earlier = [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi there"}]
    slot = Slot(ModelChoice("local", "fake.gguf"), engine, Sampling(), history=list(earlier))
    store, rnd = make_round(tmp_path, [slot], prompt="Tell me a joke")
    slot.history = slot.history[:-2]  # what the window does
    rnd.regenerate(0)
    rnd.wait(5)
    assert engine.seen[-1] == earlier + [{"role": "user", "content": "Tell me a joke"}]
    store.close()


def test_regenerate_while_answering_stops_the_answer_instead_of_waiting_for_it(tmp_path):
    engine = SharedEngine(tokens=500, delay=0.02)  # 10 s if left to run
    slot = Slot(ModelChoice("local", "fake.gguf"), engine, Sampling())
    store, rnd = make_round(tmp_path, [slot])
    started = threading.Event()
    rnd.start(on_delta=lambda i, t: started.set())
    assert started.wait(5)
    t0 = time.monotonic()
    engine.tokens = 2
    rnd.regenerate(0)
    assert time.monotonic() - t0 < 1.0
    (r,) = rnd.wait(5)
    assert r.status == "done" and r.text == "t0 t1 "
    store.close()


def test_a_broken_price_table_does_not_leave_the_pane_streaming_forever(tmp_path):
    engine = SharedEngine(tokens=2, delay=0)
    engine.info = ModelInfo("openai", "gpt-x", "gpt-x")
    slot = Slot(ModelChoice("openai", "gpt-x"), engine, Sampling())
    store = Store(tmp_path / "a.sqlite3")
    conv = store.new_conversation()
    rnd = Round(store, Prices({"gpt-x": {"input": "abc", "output": None}}), conv, "Hi", [slot])
    results = []
    rnd.run(on_result=lambda i, r: results.append(r))
    assert len(results) == 1 and results[0].status == "done" and results[0].cost_usd is None
    assert store.response(rnd.response_ids[0]).status == "done"
    store.close()


def test_prices_ignore_unreadable_entries():
    p = Prices({"gpt-x": {"input": "abc", "output": 1}})
    assert p.cost("gpt-x", 10, 10) is None


def test_pane_records_rebuild_each_panes_transcript_and_memory(tmp_path):
    from desktop.core.arena import pane_records
    from desktop.core.engines.base import Result
    from desktop.core.store import SlotSpec, Store

    store = Store(tmp_path / "a.sqlite3")
    conv = store.new_conversation()
    specs = [SlotSpec(0, 1, "local", "g.gguf", "sha256:g", {}, "local:default"),
             SlotSpec(1, 0, "openai", "gpt-4o-mini", "gpt-4o-mini", {}, "openai:gpt-4o-mini")]
    _, (a1, b1) = store.add_round(conv, "first", specs)
    store.save_response(a1, Result(text="one", status="done"))
    store.save_response(b1, Result(text="", status="error", error="No OpenAI key"))
    _, (a2, b2) = store.add_round(conv, "second", specs)
    store.save_response(a2, Result(text="two (stopped)", status="cancelled"))
    store.save_response(b2, Result(text="deux", status="done"))
    store.set_stars(b2, 5)
    left, right = pane_records(store.conversation(conv))
    assert (left.choice, left.position, right.position) == ("local:default", 1, 0)
    assert left.turns == [("first", "one", ""), ("second", "two (stopped)", "Stopped.")]
    assert [m["content"] for m in left.history] == ["first", "one", "second", "two (stopped)"]
    assert right.turns[0] == ("first", "", "No OpenAI key")
    assert [m["content"] for m in right.history] == ["second", "deux"]  # the failed turn is not remembered
    assert (right.stars, right.last_response_id) == (5, b2)


def test_a_pane_waiting_for_its_turn_on_a_shared_model_is_not_timed_while_it_waits(tmp_path):
    # Two panes on one local model answer in turn; the second pane's time to first token is its
    # model's, not the first pane's whole answer (which it would otherwise seem to be slower by).
    engine = SharedEngine(tokens=10, delay=0.02)
    choice = ModelChoice("local", "fake.gguf")
    store, rnd = make_round(tmp_path, [Slot(choice, engine, Sampling()), Slot(choice, engine, Sampling())])
    turns = []
    rnd.on_turn = lambda i, waiting: turns.append((i, waiting))
    results = rnd.run()
    first, second = sorted(results, key=lambda r: r.started_at)
    assert first.status == second.status == "done"
    assert second.started_at >= first.finished_at
    assert second.first_token_at - second.started_at < first.finished_at - first.started_at
    # The pane that waited was told so (the window says "waiting for its turn…"), then that its turn began.
    waited = results.index(second)
    assert turns == [(waited, True), (waited, False)]
    store.close()
