"""Every way the API can fail gives its own Error kind, a message that says what to do,
never the key, and keeps whatever text had already arrived. Real HTTP against the
scripted loopback server in tests/servers.py."""
from __future__ import annotations

import threading
import time

import pytest
from servers import free_port

from desktop.core.engines.base import Done, Error, Recorder, Reported, TextDelta
from desktop.core.engines.openai_api import OpenAIEngine, OpenAIUnavailable, list_models
from desktop.core.settings import Sampling

KEY = "sentinel-KEY-7f3a9c"  # not shaped like sk-..., so only the engine's own redaction can hide it
SK_KEY = "sk-proj-sentinel0123456789abcdef"
QUESTION = [{"role": "user", "content": "Say hello."}]
PARAMS = Sampling(max_tokens=8)


def run(server_url, *, key=KEY, timeout=5.0, max_retries=3, model="gpt-4o-mini"):
    """Stream one answer; returns the Recorder's result and the events."""
    engine = OpenAIEngine(model, api_key=key, base_url=server_url, timeout=timeout, max_retries=max_retries)
    rec, events = Recorder(), []
    try:
        for event in engine.stream(QUESTION, PARAMS):
            events.append(event)
            rec.feed(event)
    finally:
        engine.close()
    return rec.result, events


def failed(result, kind):
    assert result.status == "error" and result.error_kind == kind, (result.error_kind, result.error)
    assert KEY not in result.error and SK_KEY not in result.error
    return result.error


def test_bad_key(fault_server):
    fault_server.on_chat("unauthorized")
    result, _ = run(fault_server.url)
    message = failed(result, "auth")
    assert "rejected the API key" in message and "Settings → Connections" in message
    assert len(fault_server.chat_requests()) == 1  # a bad key is not retried


def test_bad_key_on_the_real_openai_endpoint_is_worded_for_openai():
    import openai

    from desktop.core.engines.openai_api import DEFAULT_ENDPOINT, describe

    try:  # the HTTP library of the installed openai client, only to build the error's response
        import httpx2 as httpx
    except ImportError:
        import httpx

    response = httpx.Response(401, request=httpx.Request("POST", DEFAULT_ENDPOINT + "/chat/completions"))
    exc = openai.AuthenticationError("Incorrect API key provided: " + KEY, response=response, body=None)
    assert describe(exc, DEFAULT_ENDPOINT, "gpt-4o") == (
        "auth", "OpenAI rejected the API key: check it in Settings → Connections.")


def test_unknown_model_is_named(fault_server):
    fault_server.on_chat("model_not_found")
    result, _ = run(fault_server.url, model="gpt-nonexistent")
    message = failed(result, "model")
    assert "'gpt-nonexistent'" in message and "Pick another model" in message


def test_rate_limit_waits_as_long_as_retry_after_asks_then_answers(fault_server):
    fault_server.retry_after = "1"
    fault_server.on_chat("rate_limited", "stream")
    result, events = run(fault_server.url)
    assert result.status == "done" and result.text == "Hello, world!"
    first, second = fault_server.chat_requests()
    assert second.at - first.at >= 1.0
    assert isinstance(events[-1], Done)


def test_rate_limit_that_never_lifts(fault_server):
    fault_server.retry_after = "0.2"
    fault_server.on_chat("rate_limited")
    result, _ = run(fault_server.url, max_retries=2)
    message = failed(result, "rate_limit")
    assert "429" in message and "after 2 retries" in message and "try again" in message
    seen = fault_server.chat_requests()
    assert len(seen) == 3
    assert all(b.at - a.at >= 0.2 for a, b in zip(seen, seen[1:]))


def test_no_quota_is_not_retried(fault_server):
    fault_server.on_chat("quota")
    result, _ = run(fault_server.url)
    message = failed(result, "quota")
    assert "insufficient_quota" in message and "Billing" in message
    assert len(fault_server.chat_requests()) == 1


def test_server_error_after_retries(fault_server):
    fault_server.on_chat("server_error")
    result, _ = run(fault_server.url, max_retries=1)
    message = failed(result, "server")
    assert "HTTP 500" in message and "after 1 retry" in message and "try again later" in message
    assert len(fault_server.chat_requests()) == 2


def test_server_error_once_is_retried_with_back_off(fault_server):
    fault_server.on_chat("server_error", "stream")
    result, _ = run(fault_server.url)
    assert result.status == "done" and result.text == "Hello, world!"
    first, second = fault_server.chat_requests()
    assert second.at - first.at >= 0.3  # 0.5 s back-off less at most 25 % jitter


@pytest.mark.parametrize("cut", ["cut", "cut_clean"])
def test_stream_cut_mid_answer_keeps_the_text(fault_server, cut):
    """'cut': the socket closes inside a chunked body; 'cut_clean': the body just ends, unfinished."""
    fault_server.on_chat(cut)
    result, events = run(fault_server.url)
    message = failed(result, "dropped")
    assert result.text == "Hello, wor"  # the three chunks that arrived
    assert "text so far is kept" in message
    assert [type(e) for e in events] == [Reported, TextDelta, TextDelta, TextDelta, Error]
    assert events[0] == Reported("gpt-4o-mini")  # the name the server's chunks carry
    assert len(fault_server.chat_requests()) == 1  # text had streamed: no retry, no duplicate answer


def test_stream_cut_mid_answer_is_stored_with_its_partial_text(services, fault_server):
    from desktop.core import secrets
    from desktop.core.arena import Round, Slot
    from desktop.core.engines.registry import ModelChoice

    fault_server.on_chat("cut")
    services.secrets.set(secrets.OPENAI, KEY, session_only=True)
    services.settings.connection("openai").base_url = fault_server.url
    choice = ModelChoice("openai", "gpt-4o-mini")
    rnd = Round(services.store, services.prices, services.store.new_conversation(), "Say hello.",
                [Slot(choice, services.engines.get(choice), PARAMS)])
    rnd.run()
    row = services.store.response(rnd.response_ids[0])
    assert (row.status, row.text) == ("error", "Hello, wor")
    assert "kept" in row.error and KEY not in row.error


def test_server_that_never_answers_times_out(fault_server):
    fault_server.on_chat("hang")
    started = time.monotonic()
    result, _ = run(fault_server.url, timeout=1.0)
    message = failed(result, "timeout")
    assert time.monotonic() - started < 5
    assert "No answer" in message and "1 s" in message and "timeout in Settings" in message


def test_no_server_at_all():
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    result, _ = run(url)
    message = failed(result, "connection")
    assert url in message and "network" in message and "base URL" in message


@pytest.mark.parametrize("answer, retry_after, timeout", [
    ("rate_limited", "30", 5),  # cancel during a long Retry-After wait
    ("hang", None, 20),  # cancel while the server says nothing
])
def test_cancel_is_immediate_while_waiting(fault_server, answer, retry_after, timeout):
    if retry_after:
        fault_server.retry_after = retry_after
    fault_server.on_chat(answer)
    engine = OpenAIEngine("gpt-4o-mini", api_key=KEY, base_url=fault_server.url, timeout=timeout)
    threading.Timer(0.3, engine.cancel).start()
    started = time.monotonic()
    events = list(engine.stream(QUESTION, PARAMS))
    engine.close()
    assert events == [Done("cancelled")]
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("key", [KEY, SK_KEY])
@pytest.mark.parametrize("answer", ["unauthorized", "rate_limited", "server_error", "model_not_found", "quota"])
def test_the_key_never_appears_in_an_error(fault_server, key, answer):
    """The scripted server quotes the key back in its error texts, as some servers do."""
    fault_server.retry_after = "0"
    fault_server.on_chat(answer)
    result, _ = run(fault_server.url, key=key, max_retries=1)
    assert result.status == "error"
    assert key not in result.error and key[-12:] not in result.error
    assert fault_server.chat_requests()[0].headers["authorization"] == f"Bearer {key}"  # it was sent, though


def test_model_list_errors_are_clear(fault_server):
    fault_server.on_models("unauthorized")
    with pytest.raises(OpenAIUnavailable) as bad_key:
        list_models(KEY, fault_server.url, timeout=5)
    assert bad_key.value.kind == "auth" and KEY not in str(bad_key.value)
    assert "Settings → Connections" in str(bad_key.value)

    fault_server.on_models("hang")
    with pytest.raises(OpenAIUnavailable) as slow:
        list_models(KEY, fault_server.url, timeout=0.5)
    assert slow.value.kind == "timeout"

    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(OpenAIUnavailable) as refused:
        list_models(KEY, url, timeout=5)
    assert refused.value.kind == "connection" and "base URL" in str(refused.value)
