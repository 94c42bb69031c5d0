"""What an OpenAI-compatible server says beyond plain text: reasoning apart from the answer,
an empty answer, an answer cut at the token limit. Real HTTP against the scripted loopback
server in tests/servers.py."""
from desktop.core.engines.base import Recorder
from desktop.core.engines.openai_api import OpenAIEngine
from desktop.core.settings import Sampling

PARAMS = Sampling(max_tokens=8)


def run(url):
    engine = OpenAIEngine("gpt-4o-mini", api_key="sk-test-reasoning", base_url=url, timeout=5.0, max_retries=0)
    rec = Recorder()
    try:
        for event in engine.stream([{"role": "user", "content": "Say hello."}], PARAMS):
            rec.feed(event)
    finally:
        engine.close()
    return rec.result


def test_reasoning_content_is_kept_apart_and_timed_apart(fault_server):
    result = run(fault_server.on_chat("reasoning").url)
    assert result.status == "done"
    assert result.reasoning == "The user wants a greeting." and result.text == "Hello, world!"
    assert result.first_token_at <= result.first_answer_at


def test_think_tags_in_the_content_are_split_off(fault_server):
    result = run(fault_server.on_chat("think_inline").url)
    assert result.status == "done"
    assert result.reasoning == "Greet them." and result.text == "Hello, world!"


def test_an_empty_answer_is_an_error_that_says_so(fault_server):
    result = run(fault_server.on_chat("empty").url)
    assert result.status == "error" and result.error_kind == "empty"
    assert result.error.startswith("No answer:")


def test_an_answer_cut_at_the_limit_is_marked(fault_server):
    result = run(fault_server.on_chat("length").url)
    assert result.status == "done" and result.text == "Hello, "
    assert result.cut_off and result.max_tokens == 8
