"""The queries suite runs and the rating queue need (tables from migration 0007_suites).

Kept beside db.py rather than in it: they work through the same Store (its lock and
transactions), and every write is one transaction committed before the call returns.
"""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field

from ..untrusted import storable
from .db import Store, new_uid

RUN_STATUSES = ("ready", "running", "paused", "stopped", "done")


@dataclass
class RunRow:
    id: int
    uid: str
    suite: str
    items: list[dict]  # SuiteItem.to_dict() each
    contestants: list[dict]  # {choice, label, engine, ref}
    params: dict
    system_prompt: str
    status: str
    runner_pid: int | None
    runner_host: str | None
    created_at: float
    finished_at: float | None

    @property
    def total_answers(self) -> int:
        return sum(len(i["turns"]) for i in self.items) * len(self.contestants)


@dataclass
class AnswerRow:
    id: int
    run_id: int
    item: int
    turn: int
    contestant: int
    status: str
    text: str
    error: str | None
    model: str
    model_ref: str
    started_at: float | None
    first_token_at: float | None
    last_token_at: float | None
    finished_at: float | None
    tokens_in: int | None
    tokens_out: int | None
    tokens_estimated: bool
    cost_usd: float | None
    finish_reason: str | None = None
    reasoning: str = ""
    first_answer_at: float | None = None


@dataclass
class RunCounts:
    total: int
    done: int
    error: int
    pending: int
    spend_usd: float
    per_status: dict = field(default_factory=dict)

    @property
    def finished(self) -> int:
        return self.done + self.error


_RUN_COLS = ("id, uid, suite, items, contestants, params, system_prompt, status, runner_pid, runner_host, "
             "created_at, finished_at")
_ANSWER_COLS = ("id, run_id, item, turn, contestant, status, text, error, model, model_ref, started_at, "
                "first_token_at, last_token_at, finished_at, tokens_in, tokens_out, tokens_estimated, cost_usd, finish_reason, "
                "reasoning, first_answer_at")


def _run(r) -> RunRow:
    v = list(r)
    v[3], v[4], v[5] = json.loads(v[3]), json.loads(v[4]), json.loads(v[5] or "{}")
    return RunRow(*v)


def _answer(r) -> AnswerRow:
    v = list(r)
    v[16] = bool(v[16])
    return AnswerRow(*v)


class SuiteRuns:
    def __init__(self, store: Store):
        self.store = store

    # -- runs -------------------------------------------------------------------------------
    def create(self, suite: str, items: list[dict], contestants: list[dict], params: dict,
               system_prompt: str = "") -> int:
        """Record a run and one pending answer per (item, turn, contestant)."""
        now = time.time()
        with self.store.transaction() as db:
            run_id = db.execute(
                "INSERT INTO suite_runs (uid, suite, items, contestants, params, system_prompt, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (new_uid(), suite, json.dumps(items, ensure_ascii=False), json.dumps(contestants),
                 json.dumps(params, sort_keys=True), system_prompt, now),
            ).lastrowid
            db.executemany(
                "INSERT INTO suite_answers (run_id, item, turn, contestant, model, model_ref) VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, i, t, c, contestants[c].get("label", ""), contestants[c].get("ref", ""))
                 for i, item in enumerate(items) for t in range(len(item["turns"])) for c in range(len(contestants))],
            )
            return run_id

    def run(self, run_id: int) -> RunRow:
        rows = self.store.query(f"SELECT {_RUN_COLS} FROM suite_runs WHERE id = ?", (run_id,))
        if not rows:
            raise KeyError(f"no suite run {run_id}")
        return _run(rows[0])

    def runs(self) -> list[RunRow]:
        return [_run(r) for r in self.store.query(f"SELECT {_RUN_COLS} FROM suite_runs ORDER BY created_at DESC, id DESC")]

    def delete(self, run_id: int) -> None:
        with self.store.transaction() as db:
            db.execute("DELETE FROM suite_runs WHERE id = ?", (run_id,))

    def set_status(self, run_id: int, status: str) -> None:
        if status not in RUN_STATUSES:
            raise ValueError(status)
        with self.store.transaction() as db:
            db.execute("UPDATE suite_runs SET status = ?, finished_at = ? WHERE id = ?",
                       (status, time.time() if status == "done" else None, run_id))

    def set_contestant_ref(self, run_id: int, contestant: int, ref: str, label: str) -> None:
        """A local file's ref (its hash) is known once its engine is made."""
        with self.store.transaction() as db:
            (raw,) = db.execute("SELECT contestants FROM suite_runs WHERE id = ?", (run_id,)).fetchone()
            people = json.loads(raw)
            people[contestant]["ref"], people[contestant]["label"] = ref, label
            db.execute("UPDATE suite_runs SET contestants = ? WHERE id = ?", (json.dumps(people), run_id))
            db.execute("UPDATE suite_answers SET model_ref = ?, model = ? WHERE run_id = ? AND contestant = ? "
                       "AND status != 'done'", (ref, label, run_id, contestant))

    def claim(self, run_id: int) -> str | None:
        """Mark this process as the run's runner. Returns why not, if another live process on
        this machine holds it. Answers a dead runner left 'running' go back to pending."""
        host, pid = socket.gethostname(), os.getpid()
        with self.store.transaction() as db:
            row = db.execute("SELECT runner_pid, runner_host, status FROM suite_runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise KeyError(f"no suite run {run_id}")
            other_pid, other_host, _status = row
            # A runner that holds the run (running or paused) and is alive on this machine keeps it.
            # A dead one (a crash) does not; nor does one recorded on another machine, since a
            # SQLite file is only ever written from one machine at a time (it was copied here).
            if other_pid and other_pid != pid and other_host == host and _alive(other_pid):
                return (f"this run is being answered by another ArenaDesk (process {other_pid}); "
                        "wait for it, or stop it there")
            db.execute("UPDATE suite_runs SET runner_pid = ?, runner_host = ?, status = 'running', finished_at = NULL "
                       "WHERE id = ?", (pid, host, run_id))
            db.execute("UPDATE suite_answers SET status = 'pending', text = '', error = NULL WHERE run_id = ? "
                       "AND status = 'running'", (run_id,))
        return None

    def release(self, run_id: int, status: str) -> None:
        with self.store.transaction() as db:
            db.execute("UPDATE suite_runs SET runner_pid = NULL, runner_host = NULL, status = ?, finished_at = ? "
                       "WHERE id = ?", (status, time.time() if status == "done" else None, run_id))

    def retry_errors(self, run_id: int) -> int:
        with self.store.transaction() as db:
            return db.execute("UPDATE suite_answers SET status = 'pending', error = NULL, text = '' "
                              "WHERE run_id = ? AND status = 'error'", (run_id,)).rowcount

    # -- answers ----------------------------------------------------------------------------
    def answers(self, run_id: int, *, status: str | None = None) -> list[AnswerRow]:
        sql = f"SELECT {_ANSWER_COLS} FROM suite_answers WHERE run_id = ?"
        args: list = [run_id]
        if status:
            sql += " AND status = ?"
            args.append(status)
        return [_answer(r) for r in self.store.query(sql + " ORDER BY item, turn, contestant", args)]

    def start_answer(self, answer_id: int) -> bool:
        """pending → running; False if it is not pending (answered already: never twice)."""
        with self.store.transaction() as db:
            return db.execute("UPDATE suite_answers SET status = 'running', started_at = ? WHERE id = ? "
                              "AND status = 'pending'", (time.time(), answer_id)).rowcount == 1

    def unstart_answer(self, answer_id: int) -> None:
        """A stopped answer goes back to the queue (it is asked again on resume)."""
        with self.store.transaction() as db:
            db.execute("UPDATE suite_answers SET status = 'pending', text = '', error = NULL WHERE id = ? "
                       "AND status = 'running'", (answer_id,))

    def finish_answer(self, answer_id: int, result, *, error: str | None = None) -> None:
        status = "done" if result.status == "done" else "error"
        message = error or result.error or (None if status == "done" else "The answer was stopped.")
        with self.store.transaction() as db:
            db.execute(
                "UPDATE suite_answers SET status = ?, text = ?, error = ?, started_at = ?, first_token_at = ?, "
                "last_token_at = ?, finished_at = ?, tokens_in = ?, tokens_out = ?, tokens_estimated = ?, cost_usd = ?, "
                "finish_reason = ?, reasoning = ?, first_answer_at = ? WHERE id = ? AND status = 'running'",
                (status, storable(result.text), storable(message) if status == "error" else None, result.started_at,
                 result.first_token_at, result.last_token_at, result.finished_at, result.tokens_in, result.tokens_out,
                 int(bool(result.tokens_estimated)), result.cost_usd, getattr(result, "finish_reason", None),
                 storable(getattr(result, "reasoning", "") or ""), getattr(result, "first_answer_at", None), answer_id),
            )

    def skip_answer(self, answer_id: int, message: str) -> None:
        with self.store.transaction() as db:
            db.execute("UPDATE suite_answers SET status = 'error', error = ?, finished_at = ? WHERE id = ? "
                       "AND status IN ('pending', 'running')", (message, time.time(), answer_id))

    def counts(self, run_id: int) -> RunCounts:
        per = dict(self.store.query("SELECT status, COUNT(*) FROM suite_answers WHERE run_id = ? GROUP BY status",
                                    (run_id,)))
        (spend,) = self.store.query("SELECT COALESCE(SUM(cost_usd), 0) FROM suite_answers WHERE run_id = ?",
                                    (run_id,))[0]
        total = sum(per.values())
        return RunCounts(total, per.get("done", 0), per.get("error", 0),
                         per.get("pending", 0) + per.get("running", 0), float(spend), per)

    # -- rated pairs (the queue) --------------------------------------------------------------
    def pairs(self, run_id: int) -> dict[tuple[int, int, int], tuple[int, int, bool]]:
        """(item, contestant a, contestant b) → (conversation id, round id, voted?)."""
        rows = self.store.query(
            "SELECT p.item, p.contestant_a, p.contestant_b, p.conversation_id, p.round_id, v.id IS NOT NULL "
            "FROM suite_pairs p LEFT JOIN votes v ON v.round_id = p.round_id WHERE p.run_id = ?", (run_id,))
        return {(r[0], r[1], r[2]): (r[3], r[4], bool(r[5])) for r in rows}

    def materialize_pair(self, run_id: int, item: int, a: int, b: int, *, a_left: bool) -> tuple[int, int]:
        """The pair's answers as an ordinary blind conversation (one round per turn, the two
        answers side by side, contestant a on the left if a_left), recorded with the pair in
        one transaction; returns (conversation id, id of the last turn's round, the one voted
        on). If the pair has one already (a vote cut off by a crash), that one is returned."""
        if not a < b:
            raise ValueError("contestant a comes before contestant b")
        run = self.run(run_id)
        spec = run.items[item]
        people = run.contestants
        now = time.time()
        with self.store.transaction() as db:
            row = db.execute("SELECT conversation_id, round_id FROM suite_pairs WHERE run_id = ? AND item = ? "
                             "AND contestant_a = ? AND contestant_b = ?", (run_id, item, a, b)).fetchone()
            if row:
                return row[0], row[1]
            answers = {
                (r[0], r[1]): r[2:] for r in db.execute(
                    "SELECT turn, contestant, status, text, model, model_ref, started_at, first_token_at, last_token_at, "
                    "finished_at, tokens_in, tokens_out, tokens_estimated, cost_usd, error, finish_reason, reasoning, "
                    "first_answer_at FROM suite_answers "
                    "WHERE run_id = ? AND item = ? AND contestant IN (?, ?)", (run_id, item, a, b))
            }
            conversation_id = db.execute(
                "INSERT INTO conversations (uid, title, created_at, blind) VALUES (?, ?, ?, 1)",
                (new_uid(), f"{run.suite} · {spec['id']}"[:60], now)).lastrowid
            round_id = None
            for turn, prompt in enumerate(spec["turns"]):
                round_id = db.execute(
                    "INSERT INTO rounds (uid, conversation_id, turn, prompt, system_prompt, tag, blind, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
                    (new_uid(), conversation_id, turn, prompt, spec.get("system") or run.system_prompt,
                     spec.get("category"), now)).lastrowid
                for slot, c in enumerate((a, b)):
                    got = answers.get((turn, c))
                    if got is None:
                        raise KeyError(f"run {run_id} has no answer for item {item}, turn {turn}, contestant {c}")
                    status, text, model, ref, *times, tin, tout, est, cost, error, finish, reasoning, first_answer = got
                    position = slot if a_left else 1 - slot
                    db.execute(
                        "INSERT INTO responses (uid, round_id, slot, position, engine, model, model_ref, choice, params, "
                        "text, status, error, started_at, first_token_at, last_token_at, finished_at, tokens_in, "
                        "tokens_out, tokens_estimated, cost_usd, finish_reason, reasoning, first_answer_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (new_uid(), round_id, slot, position, people[c]["engine"], model or people[c]["label"],
                         ref or people[c]["ref"], people[c]["choice"], json.dumps(run.params, sort_keys=True), text,
                         "done" if status == "done" else "error", error, *times, tin, tout, est, cost, finish,
                         reasoning, first_answer))
            db.execute("INSERT INTO suite_pairs (run_id, item, contestant_a, contestant_b, conversation_id, round_id, "
                       "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (run_id, item, a, b, conversation_id, round_id, now))
            return conversation_id, round_id

    def pair_conversations(self, run_id: int) -> list[int]:
        return [r[0] for r in self.store.query(
            "SELECT conversation_id FROM suite_pairs WHERE run_id = ? ORDER BY item, contestant_a, contestant_b",
            (run_id,))]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
