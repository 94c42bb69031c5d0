"""Where one token's decoding time goes, measured on the built-in model (in a child process).

A token's time is not only the weights read: it also runs several hundred small operations
whose cost does not scale with bytes (see speed.py). To tell the two apart on one model, the
probe decodes single tokens alternately with the output layer (one large matrix, read once:
almost pure bandwidth) and without it (llama.cpp skips the output layer when no logits are
asked for): their difference is the time to read the output layer's bytes.

Runs in a child process, as the local engine does, so a crash inside llama.cpp is an error
here, not the end of the app.
"""
from __future__ import annotations

import multiprocessing
import os
import statistics
from dataclasses import dataclass
from pathlib import Path

PAIRS = 24  # decodes with and without the output layer, alternating (the medians count)
# The built-in base model continues a count reliably; speed.py measures on the same prompt.
COUNTING_PROMPT = "Count from 1 to 400: " + ", ".join(str(i) for i in range(1, 41)) + ","


@dataclass(frozen=True)
class DecodeTimes:
    with_output_s: float  # one token, every layer and the output layer
    without_output_s: float  # one token, the layers only

    @property
    def output_s(self) -> float:
        return self.with_output_s - self.without_output_s


def probe(model_path: Path, *, threads: int, pairs: int = PAIRS, log_dir: Path | None = None,
          timeout_s: float = 180.0) -> DecodeTimes:
    """Median single-token decode times of `model_path` with and without its output layer."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    log = str(Path(log_dir) / "speed-probe.log") if log_dir else None
    proc = ctx.Process(target=_child, args=(child, str(model_path), threads, pairs, log), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(timeout_s):
            raise RuntimeError(f"the decode probe did not finish in {timeout_s:.0f} s")
        try:
            result = parent.recv()
        except EOFError:
            proc.join(5)
            raise RuntimeError(f"the decode probe stopped (exit code {proc.exitcode})") from None
    finally:
        parent.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)
    if isinstance(result, str):
        raise RuntimeError(result)
    return DecodeTimes(*result)


def _child(conn, model_path: str, threads: int, pairs: int, log_file: str | None) -> None:
    if log_file:
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 2)  # llama.cpp's diagnostics go to the logs folder
        os.close(fd)
    try:
        conn.send(_measure(model_path, threads, pairs))
    except Exception as exc:  # noqa: BLE001 - the parent turns it into an error it reports
        conn.send(f"the decode probe failed: {type(exc).__name__}: {exc}")
    finally:
        conn.close()


def _measure(model_path: str, threads: int, pairs: int) -> tuple[float, float]:
    import time

    import llama_cpp

    llm = llama_cpp.Llama(model_path=model_path, n_ctx=512, n_threads=threads or None, verbose=False)
    tokens = llm.tokenize(COUNTING_PROMPT.encode(), add_bos=True)
    llm.eval(tokens)
    pos = llm.n_tokens
    batch = llama_cpp.llama_batch_init(1, 0, 1)
    timings: dict[bool, list[float]] = {True: [], False: []}
    try:
        for k in range(2 * (pairs + 2)):
            with_output = k % 2 == 0
            batch.n_tokens = 1
            batch.token[0] = tokens[1 + k % (len(tokens) - 1)]
            batch.pos[0] = pos
            batch.n_seq_id[0] = 1
            batch.seq_id[0][0] = 0
            batch.logits[0] = with_output
            start = time.perf_counter()
            if llama_cpp.llama_decode(llm._ctx.ctx, batch) != 0:
                raise RuntimeError("llama_decode failed")
            elapsed = time.perf_counter() - start
            pos += 1
            if k >= 4:  # the first two pairs warm caches and threads
                timings[with_output].append(elapsed)
    finally:
        llama_cpp.llama_batch_free(batch)
    return statistics.median(timings[True]), statistics.median(timings[False])


__all__ = ["DecodeTimes", "PAIRS", "probe"]
