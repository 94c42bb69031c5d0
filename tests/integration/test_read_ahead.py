"""Reading ahead while the model is idle (engines/prompt_cache.py, PromptStates.settle).

A saved state is keyed by the tokens the model generated; the next prompt holds the answer's text
tokenized again. When sampling picked a token sequence the tokenizer would not (SmolLM2 wrote
" cr" "ank" for " crank" in the follow-up benchmark), the prefix match stopped there and a follow-up
read the rest of the answer again. Here the model's state holds such a non-canonical answer, on the
built-in base model (plain transcript) and on the chat model (ChatML template): settling reads the
answer as text from the first differing token on, plus the next turn's opening; the follow-up then
reads only its own question, and the model's next-token scores are those of the same prompt read
from nothing (the prompt holds the text's own tokens: nothing generated is spliced into it)."""
from __future__ import annotations

import numpy as np
import pytest

from desktop.core.engines.local_worker import _render, _tokens, next_prompt_start
from desktop.core.engines.prompt_cache import SETTLE_CHUNK, PromptStates, common_prefix

QUESTION = "How do I fix a bicycle whose pedal crank is loose?"
ANSWER = ("Take the crank off, clean the square taper and the spindle, then put the crank back on and "
          "tighten its bolt firmly with a torque wrench, checking it again after a short ride.")
FOLLOW_UP = "And if the bolt keeps working loose?"


@pytest.fixture(params=["embedded_model", "chat_model"])
def model(request):
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(request.getfixturevalue(request.param)), n_ctx=1024, n_threads=2,
                          verbose=False)
    template = (llm.metadata or {}).get("tokenizer.chat_template")
    chat = None
    if template:
        from desktop.core.engines.chat_template import ChatTemplate

        chat = ChatTemplate.from_model(llm, template)
    yield llm, chat
    llm.close()


def generated_otherwise(llm, tokens: list[int], start: int) -> tuple[list[int], int]:
    """`tokens` with the first word token at or after `start` written as two tokens (what sampling
    may pick): the same text, other tokens. Returns them and where they first differ."""
    for i in range(start, len(tokens)):
        text = llm.detokenize([tokens[i]]).decode("utf-8", "replace")
        if len(text.strip()) >= 4 and text.strip().isalpha():
            cut = len(text) - 2
            pieces = (llm.tokenize(text[:cut].encode(), add_bos=False, special=False)
                      + llm.tokenize(text[cut:].encode(), add_bos=False, special=False))
            if len(pieces) > 1 and llm.detokenize(pieces) == llm.detokenize([tokens[i]]):
                return tokens[:i] + pieces + tokens[i + 1:], i
    raise AssertionError("no word token to split")


def scores_after(llm, tokens: list[int]) -> np.ndarray:
    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).copy()


def test_settle_reads_the_answer_as_text_and_the_next_turn_opening(model):
    llm, chat = model
    first = [{"role": "user", "content": QUESTION}]
    prompt = _tokens(llm, _render(chat, first)[0])
    expected = next_prompt_start(llm, chat, first, ANSWER)
    assert common_prefix(prompt, expected) == len(prompt)  # it continues the prompt the answer was given to
    follow_up = _tokens(llm, _render(chat, first + [{"role": "assistant", "content": ANSWER},
                                                    {"role": "user", "content": FOLLOW_UP}])[0])
    assert common_prefix(expected, follow_up) == len(expected)  # ...and is where the follow-up's prompt begins
    assert len(expected) > len(prompt) + len(llm.tokenize(ANSWER.encode(), add_bos=False))  # answer + opening

    # The model's context after it "generated" the answer as other tokens than the text's own.
    generated, differs_at = generated_otherwise(llm, expected[: len(expected) - 3], len(prompt))
    llm.reset()
    llm.eval(generated)
    states = PromptStates()
    key = states.save(llm)
    states.plan(key, lambda: expected)  # as the worker plans: computed when the model is idle
    assert states.planned == 1
    assert states.restore(llm, follow_up) == differs_at  # without settling, the follow-up would read from there

    assert states.settle(llm) == len(expected) - differs_at
    assert states.planned == 0 and len(states) == 1  # the settled state took the generated one's place
    assert states.restore(llm, follow_up) == len(expected)  # the follow-up reads only its question
    llm.n_tokens = len(expected)
    llm.eval(follow_up[len(expected):])
    settled = scores_after(llm, follow_up)

    llm.reset()
    llm.eval(follow_up)  # the same prompt read from nothing, as without prompt states
    assert np.array_equal(settled, scores_after(llm, follow_up))


def test_a_waiting_send_stops_the_read_ahead_between_chunks_and_keeps_what_was_read(model):
    llm, chat = model
    first = [{"role": "user", "content": QUESTION}]
    prompt = _tokens(llm, _render(chat, first)[0])
    expected = next_prompt_start(llm, chat, first, ANSWER)
    generated, differs_at = generated_otherwise(llm, expected[: len(expected) - 3], len(prompt))
    assert len(expected) - differs_at > SETTLE_CHUNK + 1
    llm.reset()
    llm.eval(generated)
    states = PromptStates()
    states.plan(states.save(llm), expected)
    looks = []

    def send_waiting() -> bool:  # a send arrives while the first chunk is read
        looks.append(1)
        return len(looks) > 1

    assert states.settle(llm, interrupted=send_waiting) == SETTLE_CHUNK
    assert states.restore(llm, expected + [0]) == differs_at + SETTLE_CHUNK


def test_a_send_that_stops_the_read_ahead_before_any_chunk_is_answered_from_its_own_prompt(model):
    """The read-ahead cut the context back to where the answer's text first differs from its
    tokens, then a send was waiting before anything was read. A send whose prompt is exactly what
    is left (a Regenerate, or a second pane on the same model: the same prompt) must be answered
    from that prompt, not from the scores of the cut-off answer's last token (review s21 F2)."""
    llm, chat = model
    first = [{"role": "user", "content": QUESTION}]
    prompt = _tokens(llm, _render(chat, first)[0])
    expected = next_prompt_start(llm, chat, first, ANSWER)
    generated, differs_at = generated_otherwise(llm, expected[: len(expected) - 3], len(prompt))
    llm.reset()
    llm.eval(generated)
    states = PromptStates()
    states.plan(states.save(llm), expected)
    assert states.settle(llm, interrupted=lambda: True) == 0  # the send was already waiting
    same_prompt = expected[:differs_at]
    answered = next(llm.generate(same_prompt, temp=0.0))
    llm.reset()
    assert answered == next(llm.generate(same_prompt, temp=0.0))  # the same prompt read from nothing


def test_nothing_is_read_when_the_state_already_holds_how_the_next_prompt_begins(model):
    llm, chat = model
    first = [{"role": "user", "content": QUESTION}]
    expected = next_prompt_start(llm, chat, first, ANSWER)
    llm.reset()
    llm.eval(expected)
    states = PromptStates()
    states.plan(states.save(llm), expected)
    assert states.settle(llm) == 0
    assert states.planned == 0


def test_a_plan_longer_than_the_context_is_read_only_as_far_as_the_context_goes(model):
    llm, chat = model
    first = [{"role": "user", "content": QUESTION}]
    prompt = _tokens(llm, _render(chat, first)[0])
    llm.reset()
    llm.eval(prompt)
    states = PromptStates()
    key = states.save(llm)
    # An answer that filled the context: the next prompt would not fit, and says so when it is sent.
    too_long = prompt + prompt[1:] * (llm.n_ctx() // len(prompt) + 1)
    states.plan(key, too_long)
    assert states.settle(llm) == llm.n_ctx() - 1 - len(prompt)
    assert llm.n_tokens == llm.n_ctx() - 1
