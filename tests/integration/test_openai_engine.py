"""The OpenAI engine over real HTTP: llama_cpp.server with the embedded model, and a
scripted loopback server for what llama_cpp.server cannot show (a usage chunk, the
exact request sent)."""
from __future__ import annotations

import threading
import time

import pytest

from desktop.core.engines.base import CancelToken, Done, Error, Recorder, TextDelta, Usage
from desktop.core.engines.openai_api import OpenAIEngine, list_models
from desktop.core.pricing import Prices
from desktop.core.settings import Sampling

KEY = "sk-arenadesk-test-0123456789abcdef"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def collect(engine, messages=QUESTION, params=None):
    return list(engine.stream(messages, params or Sampling(temperature=0.0, max_tokens=16, seed=1)))


def test_streams_a_real_answer_with_estimated_usage(llama_server):
    engine = OpenAIEngine("gemma", api_key=KEY, base_url=llama_server, timeout=30)
    try:
        events = collect(engine)
    finally:
        engine.close()
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert not [e for e in events if isinstance(e, Error)], events
    assert len(deltas) >= 2, events
    assert "".join(d.text for d in deltas).strip()
    usage, done = events[-2], events[-1]
    # llama_cpp.server sends no usage chunk, so the engine counts for itself and says so.
    assert isinstance(usage, Usage) and usage.estimated
    assert usage.prompt_tokens > 0 and usage.completion_tokens >= len(deltas) >= 2
    assert isinstance(done, Done) and done.finish_reason in ("stop", "length")


def test_cancel_mid_stream_ends_quickly_and_the_engine_answers_again(llama_server):
    engine = OpenAIEngine("gemma", api_key=KEY, base_url=llama_server, timeout=30)
    story = [{"role": "user", "content": "Write a very long story about a dragon who learns to bake bread."}]
    try:
        events, cancelled_at = [], None
        for event in engine.stream(story, Sampling(temperature=0.0, max_tokens=400, seed=1)):
            events.append(event)
            if isinstance(event, TextDelta) and cancelled_at is None:
                # cancel() is called from another thread, as the window's Stop button does.
                cancelled_at = time.monotonic()
                threading.Thread(target=engine.cancel).start()
        ended_after = time.monotonic() - cancelled_at
        assert events[-1] == Done("cancelled"), events[-3:]
        assert ended_after < 0.5
        assert sum(isinstance(e, TextDelta) for e in events) < 40  # it did not run on to max_tokens

        again = collect(engine)
        assert isinstance(again[-1], Done) and again[-1].finish_reason != "cancelled", again
    finally:
        engine.close()


def test_list_models_from_the_server(llama_server, embedded_model):
    models = list_models(KEY, llama_server, timeout=10)
    assert models and models == sorted(models)
    assert any(embedded_model.name in m for m in models)


def test_a_round_through_services_is_recorded_in_the_store(services, llama_server):
    from desktop.core import secrets
    from desktop.core.arena import Round, Slot
    from desktop.core.engines.registry import ModelChoice

    services.secrets.set(secrets.OPENAI, KEY, session_only=True)
    conn = services.settings.connection("openai")
    conn.base_url, conn.timeout_s, conn.name = llama_server, 30, "my-box"
    choice = ModelChoice("openai", "gemma-via-llama-server")
    engine = services.engines.get(choice)
    assert isinstance(engine, OpenAIEngine) and engine.endpoint == llama_server

    conversation = services.store.new_conversation()
    rnd = Round(services.store, services.prices, conversation, "What is the capital of France?",
                [Slot(choice, engine, Sampling(temperature=0.0, max_tokens=16, seed=1))])
    [result] = rnd.run()
    assert result.status == "done", result.error
    row = services.store.response(rnd.response_ids[0])
    assert row.status == "done" and row.engine == "openai" and row.model == "gemma-via-llama-server @ my-box"
    assert (row.model_ref, row.connection) == ("gemma-via-llama-server@openai", "openai")
    assert row.reported_model and row.reported_model == result.reported_model  # what the server said answered
    assert row.text == result.text and row.text.strip()
    assert row.first_token_at is not None and row.first_token_at >= row.started_at
    assert row.finished_at >= row.first_token_at
    assert row.tokens_in > 0 and row.tokens_out > 0 and row.tokens_estimated
    assert row.params["max_tokens"] == 16


# -- against the scripted server: what is sent, and real usage when the server reports it --------
def test_request_carries_mapped_sampling_and_asks_for_usage(fault_server):
    engine = OpenAIEngine("gpt-4o-mini", api_key=KEY, base_url=fault_server.url, timeout=5)
    try:
        collect(engine, params=Sampling(temperature=0.3, top_p=0.8, top_k=7, repeat_penalty=1.3, max_tokens=12,
                                        seed=42))
        collect(engine, params=Sampling(seed=-1))
    finally:
        engine.close()
    first, second = (r.body for r in fault_server.chat_requests())
    assert first["model"] == "gpt-4o-mini" and first["stream"] is True
    assert first["stream_options"] == {"include_usage": True}
    assert (first["temperature"], first["top_p"], first["max_tokens"], first["seed"]) == (0.3, 0.8, 12, 42)
    assert "top_k" not in first and "repeat_penalty" not in first
    assert "seed" not in second  # -1 means a fresh seed each time: send none


def test_an_answer_stopped_before_it_began_sends_no_request(fault_server):
    """The judge's Cancel between a pair's two orders hands the second order a stopped token: that
    answer ends at once, and no (billed) request leaves for a reply nobody would read."""
    engine = OpenAIEngine("gpt-4o-mini", api_key=KEY, base_url=fault_server.url, timeout=5)
    stopped = CancelToken()
    stopped.cancel()
    try:
        assert list(engine.stream(QUESTION, Sampling(max_tokens=8), cancel=stopped)) == [Done("cancelled")]
        assert isinstance(collect(engine)[-1], Done)  # the next answer is the only request the server saw
    finally:
        engine.close()
    assert len(fault_server.chat_requests()) == 1


def test_usage_reported_by_the_server_is_used_as_is(fault_server):
    fault_server.on_chat("stream_usage")
    engine = OpenAIEngine("gpt-4o-mini", api_key=KEY, base_url=fault_server.url, timeout=5,
                          prices=Prices({"gpt-4o-mini": {"input": 0.15, "output": 0.60}}))
    try:
        rec = Recorder()
        for event in engine.stream(QUESTION, Sampling(max_tokens=8)):
            rec.feed(event)
    finally:
        engine.close()
    r = rec.result
    assert (r.status, r.text) == ("done", "Hello, world!")
    assert (r.tokens_in, r.tokens_out, r.tokens_estimated) == (11, 4, False)
    assert engine.cost(r.tokens_in, r.tokens_out) == pytest.approx((11 * 0.15 + 4 * 0.60) / 1_000_000)


def test_list_models_puts_chat_models_first(fault_server):
    fault_server.model_ids = ["text-embedding-3-small", "gpt-4o-mini", "whisper-1", "gpt-4o", "o3-mini", "dall-e-3"]
    assert list_models(KEY, fault_server.url, timeout=5) == [
        "gpt-4o", "gpt-4o-mini", "o3-mini", "dall-e-3", "text-embedding-3-small", "whisper-1"]
