"""Local engine overhead: tokens/s through ArenaDesk's engine (child process, pipe,
events) divided by tokens/s of plain llama-cpp-python in this process, on the same
model, prompt, seed, threads and sampling. Runs alternate, and medians are compared,
because these machines are noisy. Target: ratio >= 0.97.

    .venv/bin/python tests/bench/bench_local_engine.py [--runs 5] [--tokens 256]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import llama_cpp

    from desktop.core.engines.base import Recorder
    from desktop.core.engines.local import LocalEngine
    from desktop.core.engines.local_worker import STOP, transcript_prompt
    from desktop.core.library.embedded import embedded_model_path
    from desktop.core.settings import LocalRuntime, Sampling

    model = embedded_model_path(tempfile.mkdtemp(prefix="arenadesk-bench-"))
    # Started for it, the built-in base model keeps counting: a long answer, a stable rate.
    messages = [{"role": "user", "content": "Count from 1 to 400: " + ", ".join(str(i) for i in range(1, 41)) + ","}]
    params = Sampling(max_tokens=args.tokens, temperature=0.0, top_p=1.0, top_k=40, repeat_penalty=1.0, seed=7)
    n_ctx = 2048

    plain = llama_cpp.Llama(model_path=str(model), n_ctx=n_ctx, n_threads=args.threads, verbose=False)
    engine = LocalEngine(model, LocalRuntime(context_length=n_ctx, threads=args.threads))

    def run_plain() -> tuple[float, int]:
        prompt = transcript_prompt(messages)
        first = last = None
        pieces = []
        for chunk in plain.create_completion(prompt=prompt, max_tokens=params.max_tokens, temperature=0.0, top_p=1.0,
                                             top_k=40, repeat_penalty=1.0, seed=7, stop=STOP, stream=True):
            text = chunk["choices"][0].get("text") or ""
            if text:
                last = time.time()
                first = first or last
                pieces.append(text)
        n = len(plain.tokenize("".join(pieces).encode(), add_bos=False, special=False))
        return (n - 1) / (last - first), n

    def run_engine() -> tuple[float, int]:
        rec = Recorder()
        for ev in engine.stream(messages, params):
            rec.feed(ev)
        r = rec.result
        assert r.status == "done", r.error
        return r.tokens_per_s, r.tokens_out

    run_plain(), run_engine()  # warm both (the engine's first call loads the model)
    plain_speeds, engine_speeds = [], []
    for _ in range(args.runs):
        s, n_plain = run_plain()
        plain_speeds.append(s)
        s, n_engine = run_engine()
        engine_speeds.append(s)
    engine.close()
    p, e = statistics.median(plain_speeds), statistics.median(engine_speeds)
    print(f"model {model.name}, {args.threads} threads, {n_plain} / {n_engine} tokens per answer (plain / engine)")
    print(f"plain llama-cpp-python : {p:6.1f} tok/s  (runs: {', '.join(f'{x:.1f}' for x in plain_speeds)})")
    print(f"ArenaDesk local engine : {e:6.1f} tok/s  (runs: {', '.join(f'{x:.1f}' for x in engine_speeds)})")
    print(f"ratio engine / plain   : {e / p:.3f}   (target >= 0.97)")


if __name__ == "__main__":
    main()
