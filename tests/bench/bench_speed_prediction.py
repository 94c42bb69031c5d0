"""Speed verdicts against real runs: the library predicts a file's decode speed from what this
machine measured with the built-in model (core/library/speed.py); here the prediction is
compared with the speed the app's own local engine really reaches on the built-in base model
(Gemma 3 270M) and on the real chat model (SmolLM2-135M-Instruct), in longer answers than the
measurement's. Runs alternate and medians are compared (the machines are shared and noisy).
Target: every predicted / measured ratio within 0.7-1.3 (±30%).

    .venv/bin/python tests/bench/bench_speed_prediction.py [--runs 3] [--tokens 128]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: chat_model.py
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0, help="0: as the app picks (physical cores)")
    args = ap.parse_args()

    from chat_model import chat_model_path
    from desktop.core.engines.base import Recorder
    from desktop.core.engines.local import LocalEngine, default_threads
    from desktop.core.library.embedded import embedded_model_path
    from desktop.core.library.gguf_info import read_info
    from desktop.core.library.hardware import detect, fit_verdict
    from desktop.core.library.speed import measure, predict
    from desktop.core.settings import LocalRuntime, Sampling

    threads = args.threads or default_threads()
    builtin = embedded_model_path(Path(tempfile.mkdtemp(prefix="arenadesk-bench-")))
    chat = chat_model_path()
    memory = detect()
    profile = measure(memory, model_path=builtin, threads=threads, gpu_layers=0)
    print(f"{memory.summary()}; {threads} threads")
    print(f"measured as the app does: {profile.summary()}")

    # Answers longer than the measurement's, on prompts that keep each model talking.
    count = [{"role": "user", "content": "Count from 1 to 400: " + ", ".join(str(i) for i in range(1, 41)) + ","}]
    story = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm, in many "
                                         "paragraphs."}]
    cases = [("built-in Gemma 3 270M (base)", builtin, count), ("SmolLM2-135M-Instruct (chat)", chat, story)]
    params = Sampling(max_tokens=args.tokens, temperature=0.0, top_p=1.0, top_k=40, repeat_penalty=1.0, seed=7)
    engines = {name: LocalEngine(path, LocalRuntime(context_length=2048, threads=threads)) for name, path, _ in cases}
    speeds: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    tokens: dict[str, int] = {}
    try:
        for name, _, messages in cases:  # load both before timing anything
            for _ in engines[name].stream(messages, Sampling(max_tokens=4, temperature=0.0)):
                pass
        for _ in range(args.runs):
            for name, _, messages in cases:
                rec = Recorder()
                for event in engines[name].stream(messages, params):
                    rec.feed(event)
                r = rec.result
                if r.status != "done" or not r.tokens_per_s:
                    print(f"{name}: no timing ({r.status}: {r.error or 'too few tokens'})")
                    continue
                speeds[name].append(r.tokens_per_s)
                tokens[name] = r.tokens_out
    finally:
        for e in engines.values():
            e.close()

    ok = True
    print(f"{'model':<32} {'predicted':>10} {'measured':>10} {'ratio':>6}  runs; the plain rule (bytes ÷ bandwidth only)")
    for name, path, _ in cases:
        size = path.stat().st_size
        # The library knows a file's layers from its header (hub files: from the parameter count).
        predicted = predict(profile, fit_verdict(memory, size), memory, layers=read_info(path).block_count).tokens_per_s
        if not speeds[name]:
            ok = False
            continue
        real = statistics.median(speeds[name])
        ratio = predicted / real
        ok = ok and 0.7 <= ratio <= 1.3
        runs = ", ".join(f"{s:.1f}" for s in speeds[name])
        plain = profile.cpu_tps * profile.model_bytes / size  # what the library said before the fixed time
        print(f"{name:<32} {predicted:>7.1f} t/s {real:>7.1f} t/s {ratio:>6.2f}  {runs} "
              f"({tokens.get(name, 0)} tokens, {size / 1e6:.0f} MB); plain rule {plain:.1f} t/s ({plain / real:.2f})")
    print("within ±30%" if ok else "NOT within ±30%")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
