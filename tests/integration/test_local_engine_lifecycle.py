"""The local engine's life cycle at its edges (abandoned streams, context overflow, unloading
while busy), on the real embedded model."""
import threading
import time
from dataclasses import replace

from desktop.core.engines.base import Recorder, TextDelta
from desktop.core.engines.local import LocalEngine
from desktop.core.settings import LocalRuntime

from test_local_engine import COUNTING, LONG, engine, run  # noqa: F401  (engine is a fixture)

FRANCE = [{"role": "user", "content": "What is the capital of France?"}]


def test_a_stream_abandoned_mid_answer_does_not_leak_into_the_next_answer(engine):
    stream = engine.stream(COUNTING, LONG)
    for ev in stream:
        if isinstance(ev, TextDelta) and ev.text.strip():
            break
    stream.close()  # what any consumer that stops reading early does (or garbage collection)
    _, result = run(engine, FRANCE)
    assert result.status == "done" and "Paris" in result.text
    assert "," not in result.text.split("Paris")[0]  # no tail of the counting


def test_a_conversation_longer_than_the_context_is_a_clear_error(embedded_model):
    e = LocalEngine(embedded_model, LocalRuntime(context_length=256, threads=2))
    try:
        long_history = []
        for n in range(20):
            long_history += [{"role": "user", "content": f"Tell me fact number {n} about the sea."},
                             {"role": "assistant", "content": "The sea is large and salty and full of fish. " * 2}]
        events, result = run(e, long_history + FRANCE)
        assert result.status == "error" and result.error_kind == "context"
        assert "256" in result.error and "context length" in result.error.lower()
        assert "new conversation" in result.error.lower()
        assert "Traceback" not in result.error
        # The model stays loaded and a short prompt still works.
        _, ok = run(e, FRANCE)
        assert ok.status == "done" and "Paris" in ok.text
    finally:
        e.close()


def test_unloading_while_answering_ends_the_answer_clearly_and_the_engine_recovers(engine):
    rec = Recorder()
    unloaded = False
    for ev in engine.stream(COUNTING, LONG):
        rec.feed(ev)
        if isinstance(ev, TextDelta) and not unloaded:
            threading.Thread(target=engine.unload).start()  # e.g. settings saved mid-answer
            unloaded = True
    assert rec.result.status == "error" and rec.result.error_kind == "unloaded"
    assert "stopped unexpectedly" not in rec.result.error
    assert rec.result.text
    _, result = run(engine, FRANCE)
    assert result.status == "done" and "Paris" in result.text


def test_unloading_while_loading_is_not_reported_as_a_damaged_file(engine):
    errors = []
    t = threading.Thread(target=lambda: errors.append(engine.warm()))
    t.start()
    deadline = time.monotonic() + 5
    while engine.pid is None and time.monotonic() < deadline:
        time.sleep(0.005)
    engine.unload()
    t.join(10)
    if errors[0] is not None:  # the load may also have won the race
        assert "damaged" not in errors[0] and "unloaded" in errors[0].lower()
    _, result = run(engine, FRANCE)
    assert result.status == "done" and "Paris" in result.text


def test_a_cancel_just_before_the_stream_starts_is_not_lost(engine):
    run(engine, FRANCE)  # loaded
    engine.cancel()
    # 48 tokens are enough: a stale cancel would end the answer at once, whatever its length
    # (1,500 took up to 408 s on a loaded 2-core machine, near the suite's 600 s limit).
    events, result = run(engine, COUNTING, replace(LONG, max_tokens=48))
    # The engine cannot tell an old cancel from a new one here, so this documents the contract:
    # a cancel before stream() belongs to the previous answer and the new one runs.
    assert result.status == "done" and result.tokens_out and result.tokens_out > 10


def test_an_unreadable_path_is_a_clear_load_error(tmp_path):
    folder = tmp_path / "model.gguf"
    folder.mkdir()
    _, result = run(LocalEngine(folder), FRANCE)
    assert result.status == "error" and result.error_kind == "load" and "model.gguf" in result.error


def test_stop_during_a_load_does_not_wait_for_it(embedded_model):
    e = LocalEngine(embedded_model, LocalRuntime(context_length=2048, threads=2))
    try:
        threading.Timer(0.05, e.cancel).start()  # long before the model could have loaded
        t0 = time.monotonic()
        events, result = run(e, [{"role": "user", "content": "Hi"}])
        assert result.status == "cancelled"
        assert time.monotonic() - t0 < 1.0
        assert not e.loaded
        _, result = run(e, [{"role": "user", "content": "What is the capital of France?"}])
        assert result.status == "done" and "Paris" in result.text
    finally:
        e.close()
