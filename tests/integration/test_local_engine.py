"""The local engine on the real embedded model (Gemma 3 270M, Q4_K_M), in its child process."""
import os
import signal
import threading
import time

import psutil
import pytest

from desktop.core.engines.base import Done, Loaded, Recorder, TextDelta, Usage
from desktop.core.engines.local import LocalEngine
from desktop.core.settings import LocalRuntime, Sampling
from fakes import record

GREEDY = Sampling(max_tokens=24, temperature=0.0, seed=1)
LONG = Sampling(max_tokens=1500, temperature=0.0, seed=1, repeat_penalty=1.0)
# Started for it, the built-in model keeps counting: an answer long enough to interrupt.
LONG_PROMPT = "Count from 1 to 400: " + ", ".join(str(i) for i in range(1, 41)) + ","
COUNTING = [{"role": "user", "content": LONG_PROMPT}]


@pytest.fixture
def engine(embedded_model):
    e = LocalEngine(embedded_model, LocalRuntime(context_length=2048, threads=2))
    yield e
    e.close()


def run(engine, messages, params=GREEDY):
    return record(engine, messages, params)


def test_answers_sensibly_with_usage_and_timings(engine):
    events, result = run(engine, [{"role": "user", "content": "What is the capital of France?"}])
    assert isinstance(events[0], Loaded) and events[0].detail["architecture"] == "gemma3"
    assert sum(isinstance(e, TextDelta) for e in events) >= 2  # it streams
    assert isinstance(events[-2], Usage) and isinstance(events[-1], Done)
    assert result.status == "done"
    assert "Paris" in result.text
    assert result.tokens_in > 5 and result.tokens_out >= 2 and not result.tokens_estimated
    assert result.ttft_s > 0 and result.load_s > 0  # measured; how fast is a benchmark's business, not a pass/fail
    # The second answer reuses the loaded model: no Loaded event.
    events, result = run(engine, [{"role": "user", "content": "What is the capital of Italy?"}])
    assert not any(isinstance(e, Loaded) for e in events) and "Rome" in result.text


def test_multi_turn_history_reaches_the_model(engine):
    messages = [
        {"role": "system", "content": "You answer briefly."},
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Nice to meet you, Ada."},
        {"role": "user", "content": "What is my name?"},
    ]
    _, result = run(engine, messages)
    assert "Ada" in result.text


def test_reports_gpu_offload_capability(embedded_model):
    e = LocalEngine(embedded_model, LocalRuntime(gpu_layers=-1, threads=2))
    try:
        run(e, [{"role": "user", "content": "Hi"}], Sampling(max_tokens=2))
        info = e.load_info
        import llama_cpp

        assert info["gpu_offload_supported"] == bool(llama_cpp.llama_supports_gpu_offload())
        assert info["layers"] == 18
        assert info["gpu_layers_offloaded"] == (19 if info["gpu_offload_supported"] else 0)
    finally:
        e.close()


def test_cancel_stops_within_half_a_second(engine):
    cancelled_at = []
    rec = Recorder()
    for ev in engine.stream(COUNTING, LONG):
        rec.feed(ev)
        if isinstance(ev, TextDelta) and len(rec.result.text) > 20 and not cancelled_at:
            cancelled_at.append(time.monotonic())
            threading.Thread(target=engine.cancel).start()
        if isinstance(ev, Done):
            stopped = time.monotonic()
    assert rec.result.status == "cancelled"
    assert stopped - cancelled_at[0] < 0.5
    assert rec.result.text  # the partial text is kept
    # The engine answers again afterwards.
    _, result = run(engine, [{"role": "user", "content": "What is the capital of France?"}])
    assert result.status == "done" and "Paris" in result.text


def test_llama_logs_go_to_the_logs_folder(embedded_model, tmp_path, capfd):
    e = LocalEngine(embedded_model, LocalRuntime(context_length=2048, threads=2), log_dir=tmp_path)
    try:
        run(e, [{"role": "user", "content": "Hi"}], Sampling(max_tokens=2))
    finally:
        e.close()
    assert "llama" in (tmp_path / "llama.log").read_text()
    assert "llama_kv_cache" not in capfd.readouterr().err


def test_child_killed_mid_answer_is_an_error_and_the_engine_recovers(engine):
    rec = Recorder()
    killed = False
    for ev in engine.stream(COUNTING, LONG):
        rec.feed(ev)
        if isinstance(ev, TextDelta) and not killed:
            os.kill(engine.pid, signal.SIGKILL)
            killed = True
    assert rec.result.status == "error" and rec.result.error_kind == "crash"
    assert "stopped unexpectedly" in rec.result.error
    assert rec.result.text  # what arrived before the crash is kept
    _, result = run(engine, [{"role": "user", "content": "What is the capital of France?"}])
    assert result.status == "done" and "Paris" in result.text


def test_unload_ends_the_process_and_frees_its_memory(engine):
    run(engine, [{"role": "user", "content": "Hi"}], Sampling(max_tokens=2))
    pid = engine.pid
    assert psutil.Process(pid).memory_info().rss > 100 * 2**20  # the model is in that process
    engine.unload()
    assert not engine.loaded
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_not_a_gguf_file(tmp_path):
    bad = tmp_path / "notes.gguf"
    bad.write_text("hello, I am not a model")
    events, result = run(LocalEngine(bad), [{"role": "user", "content": "Hi"}])
    assert result.status == "error" and result.error_kind == "load"
    assert "notes.gguf is not a GGUF model file" in result.error


def test_truncated_file(tmp_path, embedded_model):
    cut = tmp_path / "cut.gguf"
    with embedded_model.open("rb") as src:
        cut.write_bytes(src.read(3_000_000))
    e = LocalEngine(cut)
    try:
        _, result = run(e, [{"role": "user", "content": "Hi"}])
    finally:
        e.close()
    assert result.status == "error" and result.error_kind == "load"
    assert "cut.gguf" in result.error


def test_missing_file(tmp_path):
    _, result = run(LocalEngine(tmp_path / "gone.gguf"), [{"role": "user", "content": "Hi"}])
    assert result.status == "error" and "not found" in result.error
