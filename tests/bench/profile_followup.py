"""Where a follow-up's time to first token goes: runs bench_followup's two-pane conversation on the
real engine (one child process) with timers wrapped around the child's steps, and prints, per send,
what the child did between the parent's send and the first token: waiting for the previous answer's
save, template, tokenizing (ours and llama-cpp-python's), putting a saved state back, reading the
prompt's new tokens. Each step's CPU time (the child's main thread, `time.thread_time`) is printed
beside its wall time: on a shared machine the CPU time is the steadier figure. Not a pass/fail test.

    .venv/bin/python tests/bench/profile_followup.py [--turns 5] [--tokens 96] [--pause 2] [--drafts] [--untyped 2]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: chat_model.py
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_followup's questions


def profiled_serve(conn, cancel, model_path, runtime):
    """The child: local_worker.serve with timers around its steps; writes them as JSON lines."""
    import functools

    from desktop.core.engines import local_worker, prompt_cache

    out = open(os.environ["ARENADESK_PROFILE_OUT"], "a", buffering=1)

    def log(name, t0, c0, **extra):
        out.write(json.dumps(dict(step=name, t0=t0, t1=time.time(), cpu=time.thread_time() - c0, **extra)) + "\n")

    def timed(owner, attr, name=None, measure=None):
        fn = getattr(owner, attr)

        @functools.wraps(fn)
        def wrapper(*a, **k):
            t0, c0 = time.time(), time.thread_time()
            result = fn(*a, **k)
            log(name or attr, t0, c0, **(measure(a, k, result) if measure else {}))
            return result

        setattr(owner, attr, wrapper)

    timed(local_worker, "_render", "render")
    timed(prompt_cache.PromptStates, "save", "save", lambda a, k, r: {"tokens": len(r or ())})
    timed(prompt_cache.PromptStates, "restore", "restore", lambda a, k, r: {"reused": r})
    timed(prompt_cache.PromptStates, "settle", "settle", lambda a, k, r: {"read": r})
    timed(local_worker, "_generate", "generate")
    import llama_cpp

    timed(llama_cpp.Llama, "tokenize", "tokenize", lambda a, k, r: {"tokens": len(r)})
    timed(llama_cpp.Llama, "eval", "eval", lambda a, k, r: {"tokens": len(a[1])})
    timed(llama_cpp.Llama, "sample", "sample")

    class Conn:
        """The pipe, noting when each message arrived and when the first token of an answer left."""

        def __init__(self, conn):
            self._conn, self._first = conn, True

        def __getattr__(self, name):
            return getattr(self._conn, name)

        def recv(self):
            msg = self._conn.recv()
            out.write(json.dumps(dict(step="recv", kind=msg[0], t0=time.time())) + "\n")
            self._first = True
            return msg

        def send_bytes(self, data):
            if self._first:
                out.write(json.dumps(dict(step="first_token", t0=time.time())) + "\n")
                self._first = False
            return self._conn.send_bytes(data)

        def send(self, msg):
            if msg[0] == "done":
                out.write(json.dumps(dict(step="done", t0=time.time())) + "\n")
            return self._conn.send(msg)

    local_worker.serve(Conn(conn), cancel, model_path, runtime)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=96)
    ap.add_argument("--pause", type=float, default=2.0)
    ap.add_argument("--drafts", action="store_true", help="hand each follow-up's draft over halfway through the pause")
    ap.add_argument("--untyped", type=int, default=0,
                    help="with --drafts: the question's last words not yet typed when the draft is read")
    args = ap.parse_args()

    import tempfile

    import bench_followup
    from chat_model import chat_model_path
    from desktop.core.engines import local
    from desktop.core.engines.base import Recorder
    from desktop.core.engines.local import LocalEngine, default_threads
    from desktop.core.settings import LocalRuntime

    profile = Path(tempfile.mkdtemp(prefix="arenadesk-profile-")) / "steps.jsonl"
    os.environ["ARENADESK_PROFILE_OUT"] = str(profile)
    os.environ["ARENADESK_PROMPT_CACHE"] = "1"
    local.serve = profiled_serve
    engine = LocalEngine(chat_model_path(), LocalRuntime(context_length=4096, threads=default_threads()))
    params = bench_followup._params(args.tokens)
    history, sends = [[], []], []
    try:
        engine.warm()
        for turn in range(args.turns):
            if turn:
                time.sleep(args.pause / 2)
                if args.drafts:
                    for pane, questions in enumerate((bench_followup.QUESTIONS, bench_followup.SECOND)):
                        engine.prepare(history[pane] + [{"role": "user", "content": bench_followup.draft_of(
                            questions[turn % len(questions)], args.untyped)}])
                time.sleep(args.pause / 2)
            for pane, questions in enumerate((bench_followup.QUESTIONS, bench_followup.SECOND)):
                history[pane].append({"role": "user", "content": questions[turn % len(questions)]})
                rec = Recorder()
                for event in engine.stream(history[pane], params):
                    rec.feed(event)
                r = rec.result
                history[pane].append({"role": "assistant", "content": r.text})
                sends.append((pane + 1, turn + 1, r.started_at, r.first_token_at, r.tokens_in, engine.prompt_reused))
    finally:
        engine.close()
    steps = [json.loads(line) for line in profile.read_text().splitlines()]
    print(f"load average {os.getloadavg()[0]:.2f} at the end; ms wall (ms CPU of the child's main thread)")
    for pane, turn, started, first, tokens_in, reused in sends:
        # The child's steps from the parent's send to the first token of that answer.
        during = [s for s in steps if started - 0.001 <= s["t0"] <= first]
        parts = []
        for name in ("save", "recv", "render", "tokenize", "restore", "eval", "sample"):
            for s in (s for s in during if s["step"] == name):
                if name == "recv":
                    parts.append(f"recv +{(s['t0'] - started) * 1000:.1f}")
                    continue
                extra = f" {s['tokens']}t" if "tokens" in s else ""
                parts.append(f"{name}{extra} {(s['t1'] - s['t0']) * 1000:.1f} ({s['cpu'] * 1000:.1f})")
        print(f"pane {pane} turn {turn}: TTFT {(first - started) * 1000:.0f} ms, read {tokens_in - reused} of "
              f"{tokens_in}: " + "; ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
