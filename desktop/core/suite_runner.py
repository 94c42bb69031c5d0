"""Unattended suite runs: every prompt of a suite answered by 2–4 contestants. No Qt.

* **State lives in the database** (``suite_runs``/``suite_answers``): an answer is
  ``pending`` → ``running`` → ``done``/``error``, and the step to ``running`` happens only
  from ``pending``, in a transaction. A run stopped, closed or killed mid-way resumes where it
  stopped: answers left ``running`` by a dead process go back to ``pending`` (their partial
  text is dropped and they are asked again), and a finished answer is never asked again.
* **Scheduling.** Local models answer one at a time — one model loaded, all its prompts,
  then the next (two GGUF models in memory at once would fight for the same RAM and cores) —
  while API contestants' requests run in parallel, at most ``api_limit`` at once over the
  shared connection. The two groups run side by side.
* **Multi-turn prompts** feed each contestant its own earlier answers, as a conversation in
  the window does. If an earlier turn failed, the later turns are not asked (an answer to a
  conversation the model never had would be compared unfairly) and say so.
* **Pause** lets the answers in flight finish and starts no new ones; **stop** cancels them
  (they go back to pending). Errors are retried when a run resumes.
* **Cost**: before starting, an upper bound from the price table (every answer as long as
  max_tokens allows); while running, the spend so far (the sum of the answers' costs).
"""
from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from .arena import turn_messages
from .engines.base import CancelToken, Done, Error, Recorder, Result
from .engines.registry import EnginePool, ModelChoice
from .pricing import Prices
from .settings import Sampling
from .store import Store
from .store.suite_runs import RunRow, SuiteRuns
from .suites import Suite

API_LIMIT = 4
"""Requests in flight at once to API models. OpenAI's lowest tiers allow a few requests
per second; a local OpenAI-compatible server usually answers one at a time anyway."""

MIN_CONTESTANTS, MAX_CONTESTANTS = 2, 4
RESTART_MESSAGE = "Not asked: an earlier turn of this prompt failed, so this turn would not see the same conversation."


class RunBusy(RuntimeError):
    """Another live process is answering this run."""


@dataclass
class Progress:
    run_id: int
    state: str  # running | paused | stopped | done
    total: int
    done: int
    errors: int
    finished_now: int  # answers finished since this runner started (the ETA's base)
    elapsed_s: float  # time spent running (pauses not counted)
    eta_s: float | None  # None until one answer has finished
    spend_usd: float
    current: list[str] = field(default_factory=list)  # "model: prompt id (turn n)" in flight

    @property
    def finished(self) -> int:
        return self.done + self.errors

    @property
    def fraction(self) -> float:
        return self.finished / self.total if self.total else 1.0

    def describe(self) -> str:
        """One line for a status bar or a terminal."""
        parts = [f"{self.finished}/{self.total} answers"]
        if self.errors:
            parts.append(f"{self.errors} failed")
        if self.state == "running" and self.eta_s is not None and self.finished < self.total:
            parts.append(f"about {format_duration(self.eta_s)} left")
        parts.append(f"spent ${self.spend_usd:.4f}" if self.spend_usd else "spent $0")
        label = {"running": "Running", "paused": "Paused", "stopped": "Stopped", "done": "Done"}.get(self.state, self.state)
        return f"{label}: " + ", ".join(parts)


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


# -- planning ------------------------------------------------------------------------------

def contestant_record(choice: ModelChoice) -> dict:
    # An API model's ref is its name; a local file's ref (its hash) is filled in when its engine is made.
    return {"choice": str(choice), "label": choice.label, "engine": choice.engine,
            "ref": choice.ref if choice.engine == "openai" else ""}  # model@connection, as answers record it


def plan_run(store: Store, suite: Suite, choices: list[ModelChoice], sampling: Sampling,
             system_prompt: str = "") -> int:
    """Record a run (nothing is asked yet); returns its id."""
    if not MIN_CONTESTANTS <= len(choices) <= MAX_CONTESTANTS:
        raise ValueError(f"a suite run needs {MIN_CONTESTANTS} to {MAX_CONTESTANTS} contestants; got {len(choices)}")
    if len(set(choices)) != len(choices):
        raise ValueError("each contestant must be a different model")
    if not suite.items:
        raise ValueError(f"the suite {suite.name!r} has no prompts")
    return SuiteRuns(store).create(suite.name, [i.to_dict() for i in suite.items],
                                   [contestant_record(c) for c in choices], dataclasses.asdict(sampling), system_prompt)


@dataclass
class CostEstimate:
    upper_usd: float  # every pending API answer as long as max_tokens allows
    unpriced: list[str]  # API models the price table does not know
    api_answers: int

    def describe(self) -> str:
        if not self.api_answers:
            return "No API models: the run costs nothing."
        text = f"Estimated cost: at most ${self.upper_usd:.4f} for {self.api_answers} API answers"
        if self.unpriced:
            text += f" (no price known for {', '.join(self.unpriced)}: not counted)"
        return text + "."


def estimate_cost(run: RunRow, prices: Prices, pending: set[tuple[int, int, int]] | None = None) -> CostEstimate:
    """Upper bound for a recorded run's answers still to give (all of them if `pending` is None)."""
    return _upper_bound(run.items, [ModelChoice.parse(p["choice"]) for p in run.contestants], prices,
                        int(run.params.get("max_tokens") or Sampling().max_tokens), run.system_prompt, pending)


def estimate_plan_cost(suite: Suite, choices: list[ModelChoice], prices: Prices, sampling: Sampling,
                       system_prompt: str = "") -> CostEstimate:
    """The same bound before a run is recorded (the window shows it while models are picked)."""
    return _upper_bound([i.to_dict() for i in suite.items], choices, prices, sampling.max_tokens, system_prompt)


def _upper_bound(items: list[dict], choices: list[ModelChoice], prices: Prices, max_out: int, system_prompt: str,
                 pending: set[tuple[int, int, int]] | None = None) -> CostEstimate:
    """Each prompt's text (plus the earlier turns, with answers as long as max_tokens) in,
    max_tokens out, at the price table's rates."""
    from .exports import estimate_tokens

    total, answers, unpriced = 0.0, 0, []
    for c, choice in enumerate(choices):
        if choice.engine != "openai":
            continue
        if prices.price(choice.model, choice.connection) is None:
            unpriced.append(choice.model)
        for i, item in enumerate(items):
            context = estimate_tokens(item.get("system") or system_prompt or "")
            for t, prompt in enumerate(item["turns"]):
                context += estimate_tokens(prompt)
                if pending is None or (i, t, c) in pending:
                    answers += 1
                    total += prices.cost(choice.model, context, max_out, choice.connection) or 0.0
                context += max_out
    return CostEstimate(total, unpriced, answers)


# -- running -------------------------------------------------------------------------------

class SuiteRunner:
    """Answers a recorded run's pending prompts on worker threads.

    ``on_change(progress)`` is called from worker threads after every answer and state change
    (the window hands it to the GUI thread; the CLI prints it)."""

    def __init__(self, store: Store, prices: Prices, engines: EnginePool, run_id: int, *,
                 api_limit: int = API_LIMIT, on_change: Callable[[Progress], None] | None = None,
                 retry_errors: bool = True):
        self.runs = SuiteRuns(store)
        self.prices, self.engines, self.run_id = prices, engines, run_id
        self.api_limit = max(1, int(api_limit))
        self.on_change = on_change
        self.retry_errors = retry_errors
        self._gate = threading.Event()  # set while running (cleared: paused)
        self._stop = threading.Event()
        # The answers' own stop: a local model's engine is shared with the window's panes and
        # judge, and stopping the run must not end an answer of theirs. A new one each start().
        self._answers_stop = CancelToken()
        self._lock = threading.Lock()
        self._live: dict[int, str] = {}  # answer id → its description while it streams
        self._finished_now = 0
        self._active_s = 0.0
        self._active_since: float | None = None
        self._state = "ready"
        self._thread: threading.Thread | None = None
        self._worker = threading.local()
        self._slots = itertools.count(1000)  # engine instances for API worker threads (the window uses low ones)

    # -- control (any thread) ------------------------------------------------------------------
    def start(self) -> None:
        why = self.runs.claim(self.run_id)
        if why:
            raise RunBusy(why)
        if self.retry_errors:
            self.runs.retry_errors(self.run_id)
        self._stop.clear()
        self._answers_stop = CancelToken()
        self._gate.set()
        self._set_state("running")
        self._thread = threading.Thread(target=self._main, daemon=True, name=f"arenadesk-suite-run{self.run_id}")
        self._thread.start()

    def pause(self) -> None:
        if self._state == "running":
            self._gate.clear()
            self.runs.set_status(self.run_id, "paused")
            self._set_state("paused")

    def resume(self) -> None:
        if self._state == "paused":
            self.runs.set_status(self.run_id, "running")
            self._set_state("running")
            self._gate.set()

    def stop(self) -> None:
        """Cancel the answers in flight (they are asked again on resume) and end the run's threads."""
        self._stop.set()
        self._gate.set()
        self._answers_stop.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def state(self) -> str:
        return self._state

    def progress(self) -> Progress:
        counts = self.runs.counts(self.run_id)
        with self._lock:
            active = self._active_s + (time.monotonic() - self._active_since if self._active_since else 0.0)
            finished_now = self._finished_now
            current = list(self._live.values())
        remaining = counts.total - counts.finished
        eta = active / finished_now * remaining if finished_now else None
        return Progress(self.run_id, self._state, counts.total, counts.done, counts.error, finished_now, active,
                        eta, counts.spend_usd, current)

    # -- the run (its own thread) ----------------------------------------------------------------
    def _main(self) -> None:
        try:
            run = self.runs.run(self.run_id)
            rows: dict[tuple[int, int], list] = {}
            for a in self.runs.answers(self.run_id):
                rows.setdefault((a.contestant, a.item), []).append(a)
            todo = {k: v for k, v in rows.items() if any(a.status != "done" for a in v)}
            local = [c for c, p in enumerate(run.contestants) if p["engine"] == "local"]
            remote = [c for c, p in enumerate(run.contestants) if p["engine"] != "local"]
            api_tasks = [(c, i) for i in range(len(run.items)) for c in remote if (c, i) in todo]
            pool = ThreadPoolExecutor(max_workers=self.api_limit, thread_name_prefix=f"arenadesk-suite{self.run_id}-api")
            futures = [pool.submit(self._task, run, c, i, todo[(c, i)]) for c, i in api_tasks]
            self._run_locals(run, local, todo)
            for f in futures:
                f.result()
            pool.shutdown()
        except Exception as exc:  # a bug must not leave the run marked running forever
            self._fail_all(f"The run stopped on an unexpected error: {type(exc).__name__}: {exc}")
        finally:
            final = "stopped" if self.runs.counts(self.run_id).pending else "done"
            self.runs.release(self.run_id, final)
            self._set_state(final)

    def _run_locals(self, run: RunRow, local: list[int], todo: dict) -> None:
        for n, c in enumerate(local):
            tasks = [(c, i) for i in range(len(run.items)) if (c, i) in todo]
            if not tasks:
                continue
            choice = ModelChoice.parse(run.contestants[c]["choice"])
            for _, i in tasks:
                if self._stop.is_set():
                    return
                self._task(run, c, i, todo[(c, i)])
            if any(c2 != c for c2 in local[n + 1:]):
                self.engines.drop(choice)  # unload before the next local model loads

    def _engine(self, run: RunRow, c: int):
        choice = ModelChoice.parse(run.contestants[c]["choice"])
        if choice.engine == "local":
            engine = self.engines.get(choice)
        else:
            # Each API worker thread has its own engine instance: one engine streams one answer at a time.
            slot = getattr(self._worker, "slot", None)
            if slot is None:
                slot = self._worker.slot = next(self._slots)
            engine = self.engines.get(choice, instance=slot)
        person = run.contestants[c]
        if engine.info.ref and (engine.info.ref != person["ref"] or engine.info.model != person["label"]):
            self.runs.set_contestant_ref(self.run_id, c, engine.info.ref, engine.info.model)
            person["ref"], person["label"] = engine.info.ref, engine.info.model
        return engine

    def _task(self, run: RunRow, c: int, i: int, answers: list) -> None:
        """All turns of one prompt for one contestant, in order."""
        item = run.items[i]
        # Only the fields this version knows: a run recorded by another version still runs.
        params = Sampling(**{k: v for k, v in run.params.items() if k in Sampling.__dataclass_fields__})
        system = item.get("system") or run.system_prompt
        history: list[dict] = [{"role": "system", "content": system}] if system.strip() else []
        failed = False
        try:
            engine = None
            for a in sorted(answers, key=lambda a: a.turn):
                prompt = item["turns"][a.turn]
                if a.status == "done":
                    history += turn_messages(prompt, "done", a.text)
                    continue
                if a.status == "error":  # failed before, and not retried this time
                    failed = True
                    continue
                if failed:
                    self.runs.skip_answer(a.id, RESTART_MESSAGE)
                    self._answered()
                    continue
                if not self._wait_gate():
                    return
                if engine is None:
                    try:
                        engine = self._engine(run, c)
                    except Exception as exc:  # no key, a missing file: every answer says why
                        self._give_up(answers, f"{run.contestants[c]['label']} cannot answer: {exc}")
                        return
                if not self.runs.start_answer(a.id):
                    continue  # answered meanwhile (never twice)
                result = self._ask(engine, a.id, history + [{"role": "user", "content": prompt}], params,
                                   f"{run.contestants[c]['label']}: {item['id']}"
                                   + (f" (turn {a.turn + 1})" if len(item["turns"]) > 1 else ""))
                if result is None:  # stopped: asked again on resume
                    self.runs.unstart_answer(a.id)
                    return
                if run.contestants[c]["engine"] == "local":
                    result.cost_usd = 0.0
                else:  # priced per connection, as a round's answer is ("model@connection" rows win)
                    choice = ModelChoice.parse(run.contestants[c]["choice"])
                    result.cost_usd = self.prices.cost(choice.model, result.tokens_in, result.tokens_out,
                                                       choice.connection)
                self.runs.finish_answer(a.id, result)
                self._answered()
                if result.status == "done":
                    history += turn_messages(prompt, "done", result.text)
                else:
                    failed = True
        except Exception as exc:
            self._give_up(answers, f"Unexpected failure: {type(exc).__name__}: {exc}")

    def _ask(self, engine, answer_id: int, messages: list[dict], params: Sampling, what: str) -> Result | None:
        rec = Recorder()
        with self._lock:
            self._live[answer_id] = what
        self._notify()
        try:
            for event in engine.stream(messages, params, cancel=self._answers_stop):
                rec.feed(event)
                if isinstance(event, (Done, Error)):
                    break
            else:
                rec.feed(Error("The answer ended without finishing.", "dropped"))
        except Exception as exc:
            rec.feed(Error(f"Unexpected failure: {type(exc).__name__}: {exc}", "crash"))
        finally:
            with self._lock:
                self._live.pop(answer_id, None)
        if self._stop.is_set() and rec.result.status in ("cancelled", "error"):
            return None
        if rec.result.status == "cancelled":
            rec.result.status, rec.result.error = "error", "The answer was stopped."
        return rec.result

    def _wait_gate(self) -> bool:
        while not self._gate.wait(0.2):
            if self._stop.is_set():
                return False
        return not self._stop.is_set()

    def _give_up(self, answers: list, message: str) -> None:
        for a in answers:
            if a.status != "done":
                self.runs.skip_answer(a.id, message)
                self._answered()

    def _fail_all(self, message: str) -> None:
        for a in self.runs.answers(self.run_id):
            if a.status in ("pending", "running"):
                self.runs.skip_answer(a.id, message)

    def _answered(self) -> None:
        with self._lock:
            self._finished_now += 1
        self._notify()

    def _set_state(self, state: str) -> None:
        with self._lock:
            now = time.monotonic()
            if self._active_since is not None:
                self._active_s += now - self._active_since
            self._active_since = now if state == "running" else None
            self._state = state
        self._notify()

    def _notify(self) -> None:
        if self.on_change:
            try:
                self.on_change(self.progress())
            except Exception:  # a display problem must not stop the run
                pass
