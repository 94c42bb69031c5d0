"""Template conformance: the real chat model's weights under other families' chat-template
shapes (written with the gguf package, see template_variants.py). Each renders and stops on
its own end marker, or fails with a pane error that names the template problem and offers
the plain-transcript fallback, which then answers."""
import pytest

from desktop.core.engines.base import Recorder
from desktop.core.engines.chat_template import FALLBACK_HINT
from desktop.core.engines.local import LocalEngine
from desktop.core.settings import LocalRuntime, Sampling
from template_variants import VARIANTS, variant_files

PARAMS = Sampling(max_tokens=48, temperature=0.0, seed=1)
QUESTION = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France?"}]
BY_NAME = {v.name: v for v in VARIANTS}


@pytest.fixture(scope="session")
def variants(chat_model, tmp_path_factory):
    """Every variant written once per test session (metadata changes only; ~1-2 s each)."""
    return variant_files(chat_model, tmp_path_factory.mktemp("template-variants"))


def answer(path, messages=QUESTION, runtime=None):
    engine = LocalEngine(path, runtime or LocalRuntime(context_length=1024, threads=2))
    try:
        rec = Recorder()
        for ev in engine.stream(messages, PARAMS):
            rec.feed(ev)
        return rec.result, engine.load_info
    finally:
        engine.close()


@pytest.mark.parametrize("name", ["chatml", "llama3", "gemma", "mistral", "phi3"])
def test_each_family_shape_renders_and_stops_on_its_own_end_marker(variants, name):
    variant = BY_NAME[name]
    result, info = answer(variants[name])
    assert info["prompt_format"] == "template" and info["template_problem"] is None
    assert variant.end_marker in info["stops"] and all(s.strip() for s in info["stops"])
    # Its end-of-turn token (SmolLM2's own, renamed to this family's marker) ends the answer,
    # never the token limit. Under a foreign shape the small model may end its turn at once:
    # then the pane says so (an empty answer is an error that says why), never a silent "done".
    assert result.finish_reason == "stop"
    assert variant.end_marker not in result.text
    if result.status == "error":
        assert result.error_kind == "empty" and "end-of-turn token came first" in result.error
    else:
        assert result.status == "done" and result.text.strip()


def test_a_reasoning_template_keeps_the_thinking_apart(variants):
    result, _ = answer(variants["reasoning"])
    assert result.reasoning.strip()  # the prompt opened <think>: what follows is reasoning
    assert "<think>" not in result.text and "</think>" not in result.text
    if result.status == "error":  # a 135M model may think past Max tokens: said so, never a silent empty answer
        assert result.error_kind == "empty" and "reasoning" in result.error
    else:
        assert result.status == "done" and result.text.strip()


@pytest.mark.parametrize("name", ["raises", "unknown_filter", "renders_empty"])
def test_a_broken_template_is_a_clear_pane_error_and_the_plain_transcript_answers(variants, name):
    result, info = answer(variants[name])
    assert result.status == "error" and result.error_kind == "template"
    assert "chat template" in result.error and BY_NAME[name].problem in result.error
    assert result.error.endswith(FALLBACK_HINT)
    # The way out it offers: the plain transcript.
    result, info = answer(variants[name], runtime=LocalRuntime(context_length=1024, threads=2,
                                                               prompt_format="transcript"))
    assert info["prompt_format"] == "transcript"
    assert result.status == "done" and result.text.strip()
