"""A real instruct model with a chat template (SmolLM2-135M-Instruct, ChatML, <|im_end|> a
special token) through the local engine and `arenadesk ask`: it answers, stops on its own,
remembers the conversation and follows a system prompt."""
import json

import pytest

from desktop.cli import run as cli
from desktop.core.engines.base import Done, TextDelta
from desktop.core.engines.local import LocalEngine
from desktop.core.settings import LocalRuntime, Sampling
from fakes import record

GREEDY = Sampling(max_tokens=64, temperature=0.0, seed=1)


@pytest.fixture(scope="module")
def chat_engine(chat_model):
    e = LocalEngine(chat_model, LocalRuntime(context_length=2048, threads=2))
    yield e
    e.close()


def ask(engine, messages, params=GREEDY):
    return record(engine, messages, params)


def test_answers_a_factual_question_and_stops_on_its_own(chat_engine):
    events, result = ask(chat_engine, [{"role": "user", "content": "What is the capital of France?"}])
    assert result.status == "done", result.error
    assert "Paris" in result.text
    assert sum(isinstance(e, TextDelta) and bool(e.text) for e in events) >= 2  # it streams
    # Its own end token ended the answer, well before the token limit.
    assert isinstance(events[-1], Done) and result.finish_reason == "stop" and not result.cut_off
    assert result.tokens_out < GREEDY.max_tokens
    assert "<|im_end|>" not in result.text and "<|im_start|>" not in result.text
    info = chat_engine.load_info
    assert info["chat_template"] and info["prompt_format"] == "template"
    # The stop strings are the template's own markers, and never an empty string.
    assert "<|im_end|>" in info["stops"] and all(s.strip() for s in info["stops"])


def test_remembers_an_earlier_turn(chat_engine):
    question = {"role": "user", "content": "Which word did I ask you to remember?"}
    _, alone = ask(chat_engine, [question])
    _, result = ask(chat_engine, [
        {"role": "user", "content": "Remember the word 'banana'."},
        {"role": "assistant", "content": "OK, I will remember the word 'banana'."},
        question,
    ])
    assert result.status == "done" and "banana" in result.text.lower()
    assert "banana" not in alone.text.lower()  # it came from the earlier turn


def test_follows_a_system_prompt(chat_engine):
    question = [{"role": "user", "content": "What is your name?"}]
    _, plain = ask(chat_engine, question)
    _, told = ask(chat_engine, [{"role": "system", "content": "Your name is Zorblax."}] + question)
    assert told.status == "done" and "Zorblax" in told.text
    assert "Zorblax" not in plain.text


def test_a_tiny_token_limit_is_a_marked_cut_off(chat_engine):
    events, result = ask(chat_engine, [{"role": "user", "content": "Write a long story about a dragon."}],
                         Sampling(max_tokens=5, temperature=0.0, seed=1))
    assert result.status == "done" and result.text.strip()
    assert result.finish_reason == "length" and result.cut_off and result.max_tokens == 5


def test_arenadesk_ask_with_the_chat_model_file(chat_model, services, capsys):
    services.close()
    code = cli(["ask", "What is the capital of France?", "--local", str(chat_model), "--max-tokens", "64",
                "--temperature", "0", "--seed", "1", "--json"])
    (answer,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert answer["status"] == "done" and "Paris" in answer["text"]
    assert answer["finish_reason"] == "stop" and answer["tokens_out"] > 0
    # And as a person reads it: the answer, no cut-off mark.
    assert cli(["ask", "What is the capital of France?", "--local", str(chat_model), "--max-tokens", "64",
                "--temperature", "0", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "Paris" in out and "token limit" not in out
