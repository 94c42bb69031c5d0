"""Unattended suite runs, one rule at a time with scripted engines that behave like the real
ones where it matters (one stream at a time per engine, an engine-wide cancel). Runs with the
real models are in tests/integration/test_suite_models.py."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from desktop.core.engines.base import Done, Error, ModelInfo, TextDelta, Usage
from desktop.core.engines.registry import EnginePool, ModelChoice
from desktop.core.pricing import Prices
from desktop.core.settings import Sampling
from desktop.core.store import Store
from desktop.core.store.suite_runs import SuiteRuns
from desktop.core.suite_runner import RunBusy, SuiteRunner, estimate_cost, plan_run
from desktop.core.suites import Suite, SuiteItem

SUITE = Suite("t", [
    SuiteItem("w1", "writing", ["Write a haiku."]),
    SuiteItem("m1", "math", ["2+2?"], ["4"]),
    SuiteItem("mt", "coding", ["Write a function.", "Now add a docstring."]),
])


class Scripted:
    """Answers "<model> says <n>" token by token; records every conversation it was shown."""

    live = 0  # streams in flight across every Scripted engine of one kind
    peak: dict = {}
    lock = threading.Lock()

    def __init__(self, choice: ModelChoice, log: list, delay: float = 0.01, fail_on: str | None = None):
        kind = choice.engine
        self.info = ModelInfo(kind, choice.model, f"ref:{choice.model}")
        self.choice, self.log, self.delay, self.fail_on = choice, log, delay, fail_on
        self._one = threading.Lock()
        self._cancel = False

    def stream(self, messages, params, cancel=None):
        with self._one:
            self._cancel = False
            with Scripted.lock:
                key = self.choice.engine
                Scripted.live_by = getattr(Scripted, "live_by", {})
                Scripted.live_by[key] = Scripted.live_by.get(key, 0) + 1
                Scripted.peak[key] = max(Scripted.peak.get(key, 0), Scripted.live_by[key])
            try:
                self.log.append((self.choice.model, [dict(m) for m in messages]))
                if self.fail_on and self.fail_on in messages[-1]["content"]:
                    yield Error("The server said no (500). Try again later.", "server")
                    return
                words = f"{self.choice.model} answers {messages[-1]['content']}".split()
                for w in words:
                    if self._cancel or (cancel is not None and cancel.cancelled):
                        yield Done("cancelled")
                        return
                    time.sleep(self.delay)
                    yield TextDelta(w + " ")
                yield Usage(10, len(words))
                yield Done("stop")
            finally:
                with Scripted.lock:
                    Scripted.live_by[key] -= 1

    def cancel(self):
        self._cancel = True

    def close(self):
        self.log.append((self.choice.model, "closed"))


@pytest.fixture(autouse=True)
def fresh_counters():
    Scripted.peak, Scripted.live_by = {}, {}


def make(tmp_path, choices, *, delay=0.01, fail_on=None, prices=None, api_limit=2, suite=SUITE):
    store = Store(tmp_path / "db.sqlite3")
    log: list = []
    pool = EnginePool(lambda c: Scripted(c, log, delay, fail_on if c.engine == "openai" else None))
    run_id = plan_run(store, suite, choices, Sampling(max_tokens=50))
    runner = SuiteRunner(store, prices or Prices({}), pool, run_id, api_limit=api_limit)
    return store, log, pool, run_id, runner


LOCAL_A, LOCAL_B = ModelChoice("local", "a.gguf"), ModelChoice("local", "b.gguf")
API_X, API_Y = ModelChoice("openai", "gpt-x"), ModelChoice("openai", "gpt-y")


def test_every_prompt_answered_once_and_multi_turn_sees_its_own_answers(tmp_path):
    store, log, _pool, run_id, runner = make(tmp_path, [LOCAL_A, API_X, API_Y])
    seen = []
    runner.on_change = seen.append
    runner.start()
    assert runner.wait(20)
    p = runner.progress()
    assert (p.state, p.done, p.total, p.errors) == ("done", 12, 12, 0)
    assert SuiteRuns(store).run(run_id).status == "done"
    asked = [(m, msgs[-1]["content"]) for m, msgs in log if msgs != "closed"]
    assert len(asked) == len(set(asked)) == 12  # nothing asked twice
    # the second turn of the multi-turn prompt carries that model's own first answer
    for model in ("a.gguf", "gpt-x", "gpt-y"):
        (msgs,) = [msgs for m, msgs in log if m == model and msgs != "closed" and msgs[-1]["content"] == "Now add a docstring."]
        assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
        assert msgs[1]["content"].startswith(f"{model} answers Write a function.")
    # progress was reported along the way, with an ETA once answers finished
    assert any(s.state == "running" and s.eta_s is not None and 0 < s.finished < 12 for s in seen)
    assert seen[-1].state == "done"


def test_local_models_answer_one_at_a_time_and_api_calls_in_parallel_within_the_limit(tmp_path):
    store, log, _pool, run_id, runner = make(tmp_path, [LOCAL_A, LOCAL_B, API_X, API_Y], delay=0.03, api_limit=2)
    runner.start()
    assert runner.wait(30)
    assert runner.progress().done == 16
    assert Scripted.peak["local"] == 1
    assert Scripted.peak["openai"] == 2
    # a.gguf answered everything, was unloaded, then b.gguf loaded
    local = [m for m, msgs in log if m in ("a.gguf", "b.gguf")]
    first_b = local.index("b.gguf")
    assert local[:first_b] == ["a.gguf"] * 4 + ["a.gguf"]  # four answers, then "closed"
    assert ("a.gguf", "closed") in log and log.index(("a.gguf", "closed")) < [i for i, (m, _) in enumerate(log) if m == "b.gguf"][0]


def test_pause_starts_nothing_new_and_resume_finishes(tmp_path):
    store, log, _pool, run_id, runner = make(tmp_path, [LOCAL_A, API_X], delay=0.02, api_limit=1)
    runner.start()
    deadline = time.time() + 10
    while runner.progress().finished < 2 and time.time() < deadline:
        time.sleep(0.01)
    runner.pause()
    assert SuiteRuns(store).run(run_id).status == "paused"
    time.sleep(0.5)  # answers in flight finish...
    during = runner.progress()
    n_asked = len(log)
    time.sleep(0.5)  # ...and nothing new starts
    assert len(log) == n_asked and runner.progress().finished == during.finished < 8
    assert during.state == "paused" and "Paused" in during.describe()
    runner.resume()
    assert runner.wait(20)
    assert runner.progress().done == 8


def test_stop_then_a_new_runner_resumes_without_answering_anything_twice(tmp_path):
    store, log, pool, run_id, runner = make(tmp_path, [LOCAL_A, API_X], delay=0.03, api_limit=1)
    runner.start()
    while runner.progress().finished < 3:
        time.sleep(0.01)
    runner.stop()
    assert runner.wait(10)
    runs = SuiteRuns(store)
    done_before = {(a.item, a.turn, a.contestant): a.finished_at for a in runs.answers(run_id, status="done")}
    assert 3 <= len(done_before) < 8
    assert runs.run(run_id).status == "stopped"
    assert not runs.answers(run_id, status="running")  # the answer cut off went back to pending

    again = SuiteRunner(store, Prices({}), pool, run_id)
    again.start()
    assert again.wait(20)
    answers = runs.answers(run_id)
    assert all(a.status == "done" for a in answers)
    for a in answers:  # the answers finished before the stop were kept, not asked again
        if (a.item, a.turn, a.contestant) in done_before:
            assert a.finished_at == done_before[(a.item, a.turn, a.contestant)]
    finished = [(m, msgs[-1]["content"]) for m, msgs in log if msgs != "closed"]
    assert len(finished) - len(set(finished)) <= 2  # only answers cut off by the stop were asked again


def test_a_run_left_running_by_a_dead_process_resumes_and_a_live_one_is_refused(tmp_path):
    store, log, pool, run_id, _runner = make(tmp_path, [LOCAL_A, API_X])
    runs = SuiteRuns(store)
    first = runs.answers(run_id)[0]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    with store.transaction() as db:  # what a crashed process leaves behind
        db.execute("UPDATE suite_runs SET status = 'running', runner_pid = ?, runner_host = ? WHERE id = ?",
                   (int(dead.stdout), socket.gethostname(), run_id))
        db.execute("UPDATE suite_answers SET status = 'running', text = 'half an ans' WHERE id = ?", (first.id,))
    runner = SuiteRunner(store, Prices({}), pool, run_id)
    runner.start()
    assert runner.wait(20)
    assert runner.progress().done == 8
    assert "half an ans" not in runs.answers(run_id)[0].text

    with store.transaction() as db:  # a live process (our parent) holds it
        db.execute("UPDATE suite_runs SET status = 'running', runner_pid = ?, runner_host = ? WHERE id = ?",
                   (os.getppid(), socket.gethostname(), run_id))
    with pytest.raises(RunBusy, match="another ArenaDesk"):
        SuiteRunner(store, Prices({}), pool, run_id).start()


def test_a_failed_turn_skips_the_later_turns_and_resume_retries_them(tmp_path):
    store, log, pool, run_id, runner = make(tmp_path, [LOCAL_A, API_X], fail_on="Write a function.")
    runner.start()
    assert runner.wait(20)
    p = runner.progress()
    assert (p.done, p.errors, p.state) == (6, 2, "done")
    runs = SuiteRuns(store)
    errors = {a.turn: a.error for a in runs.answers(run_id, status="error")}
    assert "500" in errors[0] and "earlier turn of this prompt failed" in errors[1]
    assert "2 failed" in p.describe()

    fixed = SuiteRunner(store, Prices({}), EnginePool(lambda c: Scripted(c, log)), run_id)
    fixed.start()
    assert fixed.wait(20)
    assert fixed.progress().done == 8


def test_cost_estimate_before_and_spend_while_running(tmp_path):
    prices = Prices({"gpt-x": {"input": 1.0, "output": 2.0}})
    store, log, pool, run_id, runner = make(tmp_path, [LOCAL_A, API_X, API_Y], prices=prices)
    est = estimate_cost(SuiteRuns(store).run(run_id), prices)
    assert est.api_answers == 8 and est.unpriced == ["gpt-y"]
    # 4 answers of gpt-x, each at most 50 tokens out at $2/M, plus a few prompt tokens at $1/M
    assert 4 * 50 * 2e-6 < est.upper_usd < 4 * 50 * 2e-6 + 400 * 1e-6
    assert "no price known for gpt-y" in est.describe()
    runner.start()
    assert runner.wait(20)
    p = runner.progress()
    spend = sum(a.cost_usd or 0 for a in SuiteRuns(store).answers(run_id))
    assert p.spend_usd == pytest.approx(spend) and 0 < spend <= est.upper_usd
    assert "spent $0.00" in p.describe()


def test_a_contestant_that_cannot_be_made_fails_its_answers_with_the_reason(tmp_path):
    store = Store(tmp_path / "db.sqlite3")
    log: list = []

    def factory(c):
        if c.engine == "openai":
            raise RuntimeError("No OpenAI key: add one in Settings → Accounts (or set OPENAI_API_KEY).")
        return Scripted(c, log)

    run_id = plan_run(store, SUITE, [LOCAL_A, API_X], Sampling())
    runner = SuiteRunner(store, Prices({}), EnginePool(factory), run_id)
    runner.start()
    assert runner.wait(20)
    p = runner.progress()
    assert (p.done, p.errors) == (4, 4)
    assert all("No OpenAI key" in a.error for a in SuiteRuns(store).answers(run_id, status="error"))


def test_plan_checks_its_inputs(tmp_path):
    store = Store(tmp_path / "db.sqlite3")
    with pytest.raises(ValueError, match="2 to 4 contestants"):
        plan_run(store, SUITE, [LOCAL_A], Sampling())
    with pytest.raises(ValueError, match="2 to 4 contestants"):
        plan_run(store, SUITE, [LOCAL_A, LOCAL_B, API_X, API_Y, ModelChoice("openai", "z")], Sampling())
    with pytest.raises(ValueError, match="different model"):
        plan_run(store, SUITE, [API_X, API_X], Sampling())


def test_api_answers_are_priced_per_connection_as_a_rounds_are(tmp_path):
    """The same model costs differently per provider: a "model@connection" price row wins over
    the plain one, in the estimate and in what the run records as spent."""
    prices = Prices({"gpt-x": {"input": 1.0, "output": 2.0},
                     "gpt-x@openrouter": {"input": 100.0, "output": 200.0},
                     "gpt-x@my-box": {"input": 0.0, "output": 0.0}})
    routed, boxed = ModelChoice("openai", "gpt-x", "openrouter"), ModelChoice("openai", "gpt-x", "my-box")
    store, log, pool, run_id, runner = make(tmp_path, [routed, boxed], prices=prices)
    est = estimate_cost(SuiteRuns(store).run(run_id), prices)
    assert est.unpriced == [] and est.api_answers == 8
    assert 4 * 50 * 200e-6 < est.upper_usd < 4 * 50 * 200e-6 + 400 * 100e-6  # only openrouter's rows cost
    runner.start()
    assert runner.wait(20)
    by_label = {}
    for a in SuiteRuns(store).answers(run_id):
        by_label.setdefault(a.contestant, []).append(a.cost_usd)
    spent = sorted(sum(v) for v in by_label.values())
    assert spent[0] == 0.0 and spent[1] > 4 * 2 * 200e-6  # the free box, and openrouter at its own rate
