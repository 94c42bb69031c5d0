"""Chat templates as the model families write them, reasoning split from answers, and the
rules for empty and cut-off answers: one rule at a time, without running a model."""
import pytest

from desktop.core.engines.base import Done, ReasoningDelta, Recorder, TextDelta, Usage, cut_off_note
from desktop.core.engines.chat_template import FALLBACK_HINT, ChatTemplate, TemplateProblem, ThinkSplitter, fold_system
from template_variants import CHATML, GEMMA, LLAMA3, MISTRAL, PHI3, RAISES, REASONING, RENDERS_EMPTY, UNKNOWN_FILTER

QUESTION = [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Capital of France?"}]


@pytest.mark.parametrize("template, bos, eos, marker", [
    (CHATML, "<|im_start|>", "<|im_end|>", "<|im_end|>"),
    (LLAMA3, "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"),
    (GEMMA, "<bos>", "<eos>", "<end_of_turn>"),
    (MISTRAL, "<s>", "</s>", "</s>"),
    (PHI3, "<s>", "<|endoftext|>", "<|end|>"),
])
def test_each_family_renders_and_stops_on_its_own_end_marker(template, bos, eos, marker):
    chat = ChatTemplate(template, bos, eos)
    assert chat.problem is None
    assert marker in chat.stops and eos in chat.stops
    assert all(s.strip() for s in chat.stops)
    out = chat.render(QUESTION)
    assert "Capital of France?" in out.prompt and "Answer in one word." in out.prompt  # the system prompt is never lost
    assert not out.opens_reasoning


def test_special_tokens_that_read_empty_are_never_stop_strings():
    """The old bug: detokenize() gives '' for special tokens, and '' as a stop string ends every
    answer before its first token."""
    chat = ChatTemplate(CHATML.replace("'<|im_end|>'", "eos_token"), bos_token="", eos_token="")
    assert "" not in chat.stops
    assert ChatTemplate(CHATML, "", "", end_tokens=("", " ")).stops == ["<|im_end|>"]


def test_a_template_without_a_system_role_gets_it_folded_into_the_first_user_turn():
    chat = ChatTemplate(GEMMA, "<bos>", "<eos>")
    history = QUESTION + [{"role": "assistant", "content": "Paris."}, {"role": "user", "content": "And Italy?"}]
    prompt = chat.render(history).prompt
    assert prompt.startswith("<bos><start_of_turn>user\nAnswer in one word.\n\nCapital of France?<end_of_turn>")
    assert prompt.endswith("<start_of_turn>model\nParis.<end_of_turn>\n<start_of_turn>user\nAnd Italy?<end_of_turn>\n"
                           "<start_of_turn>model\n")


def test_a_template_that_silently_drops_the_system_prompt_gets_it_folded_too():
    drops = "{% for m in messages %}{% if m['role'] != 'system' %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endif %}{% endfor %}<|im_start|>assistant\n"
    prompt = ChatTemplate(drops, "", "<|im_end|>").render(QUESTION).prompt
    assert "<|im_start|>user\nAnswer in one word.\n\nCapital of France?" in prompt


def test_a_reasoning_template_opens_think():
    out = ChatTemplate(REASONING, "", "<|im_end|>").render(QUESTION)
    assert out.opens_reasoning and out.prompt.endswith("<think>\n")


@pytest.mark.parametrize("template, words", [
    (RAISES, "failed while writing the prompt: This template is broken on purpose"),
    (UNKNOWN_FILTER, "cannot be read: No filter named 'shout'"),
    (RENDERS_EMPTY, "wrote an empty prompt"),
    ("{% for m in messages %}{{ m['content'] }", "cannot be read"),  # a syntax error
    ("Hello{% for m in messages %}{% endfor %}", "left the message out"),
])
def test_a_broken_template_is_a_clear_problem_offering_the_plain_transcript(template, words):
    chat = ChatTemplate(template, "<s>", "</s>")
    with pytest.raises(TemplateProblem) as caught:
        chat.render(QUESTION)
    message = str(caught.value)
    assert words in message and message.endswith(FALLBACK_HINT) and "Plain transcript" in message


def test_fold_system_leaves_messages_without_a_system_prompt_alone():
    msgs = [{"role": "user", "content": "hi"}]
    assert fold_system(msgs) == msgs and fold_system(msgs) is not msgs


# -- reasoning split from the answer -------------------------------------------------------------

def split(chunks, opened=False):
    s = ThinkSplitter(opened)
    pieces = [p for c in chunks for p in s.feed(c)] + s.finish()
    joined = {"reasoning": "", "answer": ""}
    for kind, text in pieces:
        joined[kind] += text
    return joined["reasoning"], joined["answer"]


def test_think_block_is_split_off_even_when_tags_arrive_in_pieces():
    text = "<think>The user asks about France. Paris.</think>\n\nThe capital of France is Paris."
    for size in (1, 2, 3, 7, len(text)):
        chunks = [text[i:i + size] for i in range(0, len(text), size)]
        assert split(chunks) == ("The user asks about France. Paris.", "The capital of France is Paris.")


def test_a_prompt_that_opened_think_starts_in_reasoning():
    assert split(["Hmm, France...", "</thi", "nk>", " Paris."], opened=True) == ("Hmm, France...", "Paris.")
    assert split(["thinking and never done"], opened=True) == ("thinking and never done", "")


def test_think_only_counts_at_the_start_of_an_answer():
    assert split(["Use <think> tags like <think>x</think>."]) == ("", "Use <think> tags like <think>x</think>.")
    assert split(["</think> is a closing tag"]) == ("", "</think> is a closing tag")
    assert split(["  ", "<th", "ink>a</think>b"]) == ("a", "b")
    assert split(["<", "b>bold</b>"]) == ("", "<b>bold</b>")
    assert split(["<thi"]) == ("", "<thi")  # a tag never finished is text


# -- empty and cut-off answers -------------------------------------------------------------------

def record(*events):
    rec = Recorder()
    for e in events:
        rec.feed(e)
    return rec.result


@pytest.mark.parametrize("done, reasoning, words", [
    (Done("stop", 64, "end_token"), "", "ended its turn at once (its end-of-turn token came first)"),
    (Done("stop", 64, "stop_sequence"), "", "a stop sequence cut the answer before any text"),
    (Done("length", 64), "", "used all of Max tokens (64) without writing any text"),
    (Done("length", 64), "Let me think...", "spent all of Max tokens (64) reasoning"),
    (Done("stop", 64), "Let me think...", "reasoned but ended its turn without answering"),
    (Done("content_filter"), "", "withheld"),
])
def test_an_answer_without_text_is_an_error_that_says_why(done, reasoning, words):
    events = [ReasoningDelta(reasoning)] if reasoning else []
    result = record(*events, TextDelta("  \n"), Usage(5, 3), done)
    assert result.status == "error" and result.error_kind == "empty"
    assert result.error.startswith("No answer: ") and words in result.error
    assert result.reasoning == reasoning and result.finish_reason == done.finish_reason


def test_a_stopped_empty_answer_stays_stopped():
    assert record(Done("cancelled")).status == "cancelled"


def test_a_cut_off_answer_is_done_and_marked():
    result = record(TextDelta("Once upon a"), Usage(5, 3), Done("length", 3))
    assert result.status == "done" and result.cut_off and result.max_tokens == 3
    assert cut_off_note(result.finish_reason, result.max_tokens) == "stopped at the token limit (Max tokens 3)"
    assert not record(TextDelta("Hi."), Done("stop", 3)).cut_off
    assert cut_off_note("stop", 3) == ""


def test_reasoning_is_timed_apart_from_the_answer():
    ticks = iter([0.0, 1.0, 1.5, 4.0, 4.5, 5.0])
    rec = Recorder(clock=lambda: next(ticks))
    for e in (ReasoningDelta("Let me"), ReasoningDelta(" see."), TextDelta("Paris."), Usage(3, 4), Done("stop", 64)):
        rec.feed(e)
    r = rec.result
    assert r.text == "Paris." and r.reasoning == "Let me see."
    assert r.ttft_s == 1.0 and r.first_answer_s == 4.0
