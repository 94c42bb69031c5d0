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

from desktop.core.engines.local_worker import (_render, _tokens, conversation_of, draft_prompt_start,
                                               next_prompt_start)
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


def test_a_state_put_back_after_another_conversation_gives_the_scores_of_its_prompt_read_from_nothing(model):
    """Panes take turns in one context: a conversation's saved cells go back in place of the other
    conversation's (longer, so its cells reach past them) and the follow-up is scored as if its
    prompt had been read from nothing."""
    llm, chat = model
    first = [{"role": "user", "content": QUESTION}]
    start = next_prompt_start(llm, chat, first, ANSWER)
    follow_up = _tokens(llm, _render(chat, first + [{"role": "assistant", "content": ANSWER},
                                                    {"role": "user", "content": FOLLOW_UP}])[0])
    other = _tokens(llm, _render(chat, [{"role": "user", "content": "Name three rivers in Europe."},
                                        {"role": "assistant", "content": ANSWER + " " + ANSWER},
                                        {"role": "user", "content": FOLLOW_UP}])[0])
    assert len(other) > len(follow_up)
    states = PromptStates()
    llm.reset()
    llm.eval(start)
    states.save(llm)
    llm.reset()
    llm.eval(other)  # the other pane's turn
    states.save(llm)

    assert states.restore(llm, follow_up) == len(start)
    assert states.restored == 1
    llm.n_tokens = len(start)
    llm.eval(follow_up[len(start):])
    put_back = scores_after(llm, follow_up)

    llm.reset()
    llm.eval(follow_up)
    assert np.array_equal(put_back, scores_after(llm, follow_up))


def assert_as_read_from_nothing(cached: np.ndarray, from_nothing: np.ndarray, llm) -> None:
    """The chat model's Q4_1 kernels give the same scores however a prompt is split into batches:
    there they must be bit-identical. The built-in Gemma's Q4_K kernels round differently with the
    split itself (its 165-token follow-up prompt read whole, against read as two batches: the same
    scores when the last batch had 8, 9, 13, 17, 20 or 40 tokens, up to 1.03 apart in a logit with
    1-7, 10-12 or 14-16): any reuse of a context has that, llama.cpp's own prefix reuse included,
    so there the next token must be the same."""
    if "q4_k" in llm.model_path.lower():
        assert int(np.argmax(cached)) == int(np.argmax(from_nothing))
    else:
        assert np.array_equal(cached, from_nothing)


def _with_draft(messages: list[dict], draft: str) -> list[dict]:
    return messages + [{"role": "user", "content": draft}]


def test_a_draft_read_while_the_user_types_leaves_the_prompt_only_two_tokens_to_read(model):
    """The window hands the prompt box's text to the model once typing pauses (PromptBar.draftPaused →
    ComparisonSession.prepare → LocalEngine.prepare): the prompt it would send is read into the
    conversation's state but its last two tokens, the prompt sent as drafted then reads only those,
    and the model's scores are those of the same prompt read from nothing; so are they when the user
    typed more before sending (the prompt reads on from where the draft's state stops matching)."""
    llm, chat = model
    convo = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": ANSWER}]
    other = [{"role": "user", "content": "Name three rivers in Europe."}, {"role": "assistant", "content": ANSWER}]
    states = PromptStates()
    for messages in (convo, other):  # two panes' conversations, as after a round
        llm.reset()
        llm.eval(next_prompt_start(llm, chat, messages[:1], messages[1]["content"]))
        states.save(llm)

    draft = "And if the bolt keeps"
    start = draft_prompt_start(llm, chat, _with_draft(convo, draft))
    states.plan_draft(conversation_of(_with_draft(convo, draft)), start)
    assert states.planned == 1
    assert states.settle(llm) > 0
    assert len(states) == 2  # the draft's state took its conversation's place; the other pane's stays

    # The user typed on: the newer draft's state replaces the older draft's.
    start = draft_prompt_start(llm, chat, _with_draft(convo, FOLLOW_UP))
    states.plan_draft(conversation_of(_with_draft(convo, FOLLOW_UP)), start)
    assert states.settle(llm) > 0
    assert len(states) == 2

    for sent in (FOLLOW_UP, FOLLOW_UP + " It is a square taper."):  # as drafted, and typed on after the pause
        prompt = _tokens(llm, _render(chat, _with_draft(convo, sent))[0])
        llm.reset()  # the other pane's turn came between: the context holds nothing of this conversation
        kept = states.restore(llm, prompt)
        if sent == FOLLOW_UP:
            assert kept == len(start) == len(prompt) - 2
        else:  # typed on: the draft's state matches up to its closing markers, which were read in vain
            assert kept == common_prefix(start, prompt) and len(start) - 6 <= kept < len(start)
        llm.n_tokens = kept
        llm.eval(prompt[kept:])
        drafted = scores_after(llm, prompt)
        llm.reset()
        llm.eval(prompt)
        assert_as_read_from_nothing(drafted, scores_after(llm, prompt), llm)


def test_a_sent_prompts_answer_state_replaces_its_drafts_state(model):
    llm, chat = model
    first = [{"role": "user", "content": QUESTION}]
    llm.reset()
    llm.eval(_tokens(llm, _render(chat, first)[0]))
    states = PromptStates()
    states.save(llm)
    convo = [{"role": "system", "content": "Be brief."}]  # another conversation that starts from nothing
    draft = _with_draft(convo, "How do I oil a chain")
    states.plan_draft(conversation_of(draft), draft_prompt_start(llm, chat, draft))
    assert states.settle(llm) > 0 and len(states) == 2
    sent = _with_draft(convo, "How do I clean a chain?")  # sent before the last words were read ahead
    replaces = states.sent(conversation_of(sent))
    assert replaces is not None and states.planned == 0
    prompt = _tokens(llm, _render(chat, sent)[0])
    kept = states.restore(llm, prompt)
    llm.n_tokens = kept
    llm.eval(prompt[kept:] + llm.tokenize(b" Rinse it.", add_bos=False))  # the answer
    states.save(llm, replaces=replaces)
    assert len(states) == 2  # the first conversation's and this one's answer; no stale draft


def test_a_draft_longer_than_the_context_is_not_read(model):
    llm, chat = model
    pasted = _with_draft([], "word " * llm.n_ctx())  # a paste that cannot be sent: its send says so
    states = PromptStates()
    states.plan_draft(conversation_of(pasted), draft_prompt_start(llm, chat, pasted))
    assert states.settle(llm) == 0 and states.planned == 0 and len(states) == 0


def test_a_prompt_is_tokenized_once_per_answer_and_read_as_llama_cpp_python_reads_its_text(model):
    """_generate tokenizes the prompt to match it against the saved states, and create_completion
    tokenizes the same text again: with remember_last_text the second is answered from memory, and
    the tokens are those create_completion itself would read (BOS as the model adds it)."""
    from desktop.core.engines.local_worker import remember_last_text

    llm, chat = model
    prompt = _render(chat, [{"role": "user", "content": QUESTION}])[0]
    plain = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
    calls = []
    tokenizer = llm.tokenizer_.tokenize
    llm.tokenizer_.tokenize = lambda *args: calls.append(args) or tokenizer(*args)
    remember_last_text(llm)
    tokens = _tokens(llm, prompt)
    assert tokens == plain
    llm.reset()
    assert list(llm.create_completion(prompt, max_tokens=1, temperature=0.0))
    assert len(calls) == 1  # ours; create_completion's own call was answered from memory
    assert list(llm.input_ids[: len(tokens)]) == tokens  # ...and it read the same tokens
    assert _tokens(llm, prompt + " more") != tokens and len(calls) == 2  # another text is tokenized
