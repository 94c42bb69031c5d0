"""Benchmark (a script, not a test): the leaderboard with 1,000 bootstrap rounds over
100,000 votes among 20 models, and the JSONL export of those votes.

    python tests/bench/bench_ratings.py [--votes 100000] [--models 20] [--rounds 1000]

Targets on the project's 2-core machines: leaderboard end to end (reading the battles from
SQLite, the fit and the bootstrap) < 1 s, JSONL export < 5 s. It also prints the old reading
path (a Battle object per row) in the same run, alternating, and the ratio.
The store is filled with bulk INSERTs in one transaction (casting 100,000 votes one
by one through Store.cast_vote would fsync 100,000 times and time the disk, not us);
the rows have the same shape the Store API writes.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from desktop.core import exports, ratings  # noqa: E402
from desktop.core.store import Store  # noqa: E402


def fill(store: Store, votes: int, models: int, seed: int = 0) -> np.ndarray:
    """Blind two-pane rounds between random pairs of models with known strengths; returns them."""
    rng = np.random.default_rng(seed)
    true = np.linspace(-300, 300, models)
    a = rng.integers(0, models, votes)
    b = rng.integers(0, models - 1, votes)
    b = np.where(b >= a, b + 1, b)
    p = 1 / (1 + 10 ** ((true[b] - true[a]) / 400))
    u = rng.random(votes)
    tie = rng.random(votes) < 0.1
    outcome = np.where(tie, "tie", np.where(u < p, "left", "right"))
    t0 = time.time() - votes
    refs = [f"sha256:{i:064x}" for i in range(models)]
    params = json.dumps({"max_tokens": 512, "temperature": 0.7}, sort_keys=True)
    conv, rnd, resp, vote, battle = [], [], [], [], []
    for k in range(votes):
        t = t0 + k
        cid = rid = vid = k + 1
        conv.append((cid, uuid.uuid4().hex, f"prompt {k}", t, 1))
        rnd.append((rid, uuid.uuid4().hex, cid, 0, f"Prompt number {k}: explain something.", "", None, 1, t))
        for pos, m in enumerate((a[k], b[k])):
            resp.append((2 * k + 1 + pos, uuid.uuid4().hex, rid, pos, pos, "local", f"model-{m}.gguf", refs[m],
                         params, f"Answer {k} from model {m}. " * 8, "done", None, t, t + 0.1, t + 2.0,
                         20, 64, 0, 0.0, None))
        vote.append((vid, uuid.uuid4().hex, rid, str(outcome[k]), None, "", 1, t + 3, t + 3))
        battle.append((vid, 2 * k + 1, 2 * k + 2,
                       {"left": "a", "right": "b", "tie": "tie"}[str(outcome[k])]))
    with store.transaction() as db:
        db.executemany("INSERT INTO conversations (id, uid, title, created_at, blind) VALUES (?,?,?,?,?)", conv)
        db.executemany("INSERT INTO rounds (id, uid, conversation_id, turn, prompt, system_prompt, tag, blind, "
                       "created_at) VALUES (?,?,?,?,?,?,?,?,?)", rnd)
        db.executemany("INSERT INTO responses (id, uid, round_id, slot, position, engine, model, model_ref, params, "
                       "text, status, error, started_at, first_token_at, finished_at, tokens_in, tokens_out, "
                       "tokens_estimated, cost_usd, stars) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", resp)
        db.executemany("INSERT INTO votes (id, uid, round_id, outcome, best_position, note, blind, created_at, "
                       "updated_at) VALUES (?,?,?,?,?,?,?,?,?)", vote)
        db.executemany("INSERT INTO battles (vote_id, response_a, response_b, winner) VALUES (?,?,?,?)", battle)
    return true


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--votes", type=int, default=100_000)
    ap.add_argument("--models", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.sqlite3")
        t = time.perf_counter()
        fill(store, args.votes, args.models)
        print(f"load average {os.getloadavg()[0]:.2f} (1 min) before the runs")
        print(f"setup: {args.votes:,} votes among {args.models} models written in {time.perf_counter() - t:.1f} s")

        # End to end, as `arenadesk leaderboard` and the window do it: read the battles, fit,
        # bootstrap. The old path (a Battle object per row) and the columnar one alternate,
        # and the medians are compared, because these machines are shared and noisy.
        def old_path():
            return ratings.leaderboard(store.battles(), rounds=args.rounds, seed=0)

        def new_path():
            return ratings.leaderboard(store.battle_columns(), rounds=args.rounds, seed=0)

        times = {"old": [], "new": []}
        cpu = {"old": [], "new": []}
        for _ in range(args.repeats):
            for name, run in (("old", old_path), ("new", new_path)):
                t, c = time.perf_counter(), time.process_time()
                board = run()
                times[name].append(time.perf_counter() - t)
                cpu[name].append(time.process_time() - c)
        old, new = statistics.median(times["old"]), statistics.median(times["new"])
        t, c = time.perf_counter(), time.process_time()
        cols = store.battle_columns()
        t_read, c_read = time.perf_counter() - t, time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        board = ratings.leaderboard(cols, rounds=args.rounds, seed=0)
        t_fit, c_fit = time.perf_counter() - t, time.process_time() - c
        print(f"leaderboard end to end (read + fit + {args.rounds} bootstrap rounds, {len(cols):,} battles), "
              f"median of {args.repeats}: {new:.2f} s (target < 1 s); the old path (Battle objects): {old:.2f} s; "
              f"new / old = {new / old:.2f}")
        print(f"  CPU time (what a busy machine does not inflate as much), medians: {statistics.median(cpu['new']):.2f} s; "
              f"the old path {statistics.median(cpu['old']):.2f} s")
        print(f"  of which reading the battles into arrays {t_read:.2f} s wall ({c_read:.2f} s CPU), the fit and "
              f"bootstrap {t_fit:.2f} s wall ({c_fit:.2f} s CPU)")
        print(f"  runs new: {', '.join(f'{x:.2f}' for x in times['new'])}; old: {', '.join(f'{x:.2f}' for x in times['old'])}")
        print(f"  top: {board.rows[0].label} {board.rows[0].rating:.0f} "
              f"[{board.rows[0].lower:.0f}, {board.rows[0].upper:.0f}]")

        out = Path(tmp) / "export.jsonl"
        t, c = time.perf_counter(), time.process_time()
        n = exports.export(store, "jsonl", out)
        t_exp, c_exp = time.perf_counter() - t, time.process_time() - c
        print(f"jsonl export: {n:,} records, {out.stat().st_size / 1e6:.0f} MB: "
              f"{t_exp:.2f} s wall, {c_exp:.2f} s CPU (target < 5 s)")
        store.close()
        print(f"load average {os.getloadavg()[0]:.2f} (1 min) after the runs")
        ok = new < 1 and t_exp < 5
        print("targets met" if ok else "TARGETS MISSED (wall time; on a busy machine compare the CPU times)")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
