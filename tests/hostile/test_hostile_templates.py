"""Chat templates that never end or ask for gigabytes. A GGUF file's chat template is code from
whoever made the file; it runs in the model's child process under template_guard's limits.

Each hostile template is written into a copy of the real chat model (SmolLM2, with the `gguf`
package, as the template conformance suite does) and run through the real LocalEngine and its
child process: it must end in a pane error that names the problem and offers the plain
transcript, and the plain transcript must then answer. A watchdog kills any child process of
this test that grows past 3 GB, so a regression fails here instead of eating the machine.
"""
from __future__ import annotations

import threading
import time

import psutil
import pytest

from desktop.core.engines.base import Recorder
from desktop.core.engines.chat_template import FALLBACK_HINT, ChatTemplate, TemplateProblem
from desktop.core.engines.local import LocalEngine
from desktop.core.settings import LocalRuntime, Sampling
from template_variants import CHATML, write_variant

PARAMS = Sampling(max_tokens=24, temperature=0.0, seed=1)
QUESTION = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France?"}]
LAST = "{{ messages[-1]['content'] }}"  # so that a template that did finish would pass the other checks

# name -> (template, words the error must contain)
HOSTILE = {
    # 10^10 iterations: Jinja's sandbox caps one range() at 100,000, not two nested ones.
    "endless_loop": ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}" + LAST,
                     "ran for more than 2 seconds"),
    "range_10_9": ("{% for i in range(10**9) %}x{% endfor %}" + LAST, "Range too big"),
    "macro_recursion": ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}" + LAST, "calls itself without end"),
    # 2^60 calls, never deeper than 60: only the clock stops it.
    "macro_fork": ("{% macro f(n) %}{% if n < 60 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) }}"
                   + LAST, "ran for more than 2 seconds"),
    "string_times_10_10": ("{{ 'x' * 10**10 }}" + LAST, "10,000,000,000 characters"),
    # The same with constants: Jinja would fold it while compiling, i.e. while the model loads.
    "string_times_literal": ("{{ 'x' * 10000000000 }}" + LAST, "10,000,000,000 characters"),
    "center_filter": ("{{ 'x' | center(10000000000) }}" + LAST, "10,000,000,000 characters"),
    "str_replace": ("{% set s = 'x' * 100000 %}{{ s.replace('x', s) }}" + LAST, "10,000,000,000 characters"),
    "format_width": ("{{ '{:>10000000000}'.format('x') }}" + LAST, "width of a million"),
    "percent_width": ("{{ '%10000000000s' % 'x' }}" + LAST, "width of a million"),
    # A text doubled 40 times by '~', which Jinja compiles to a plain join: only the memory limit sees it.
    "doubling": ("{% macro d(s, n) %}{% if n %}{{ d(s ~ s, n - 1) }}{% endif %}{% endmacro %}{{ d('x', 40) }}" + LAST,
                 "MB of memory"),
    "format_width_argument": ("{{ '{0:>{1}}'.format('x', 10**9) }}" + LAST, "1,000,000,000 characters"),
    "list_times": ("{% set x = [0] * 10**9 %}" + LAST, "1,000,000,000 characters"),
    "tojson_indent": ("{{ messages | tojson(indent=10**9) }}" + LAST, "1,000,000,000 characters"),
    "join_separator": ("{{ range(100000) | join('x' * 999999) }}" + LAST, "the filter 'join'"),
    "lipsum": ("{{ lipsum(n=10**9) }}" + LAST, "ran for more than 2 seconds"),  # Jinja's own global
    # Megabytes of prompt for a one-line question.
    "megabytes": ("{% for i in range(50000) %}{{ 'abcdefghij' * 10 }}{% endfor %}" + CHATML,
                  "wrote a prompt of more than"),
}
# What runs through the real child process (each costs a 100 MB file and two model loads).
THROUGH_THE_WORKER = ["endless_loop", "macro_recursion", "macro_fork", "string_times_10_10",
                      "string_times_literal", "doubling", "megabytes"]


@pytest.fixture(autouse=True)
def memory_watchdog():
    """Kill any child of this test process that passes 3 GB resident; fail the test if one did."""
    me, killed, stop = psutil.Process(), [], threading.Event()

    def watch():
        while not stop.wait(0.1):
            for child in me.children(recursive=True):
                try:
                    if child.memory_info().rss > 3 * 2**30:
                        child.kill()
                        killed.append(child.pid)
                except psutil.Error:
                    pass

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()
    assert not killed, f"a model process passed 3 GB and was killed: {killed}"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_template_is_stopped_with_a_named_problem(name):
    template, words = HOSTILE[name]
    began = time.monotonic()
    chat = ChatTemplate(template, "<|im_start|>", "<|im_end|>")
    with pytest.raises(TemplateProblem) as caught:
        chat.render(QUESTION)
    message = str(caught.value)
    assert words in message, message
    assert message.endswith(FALLBACK_HINT)
    # It stays stopped: the next answer is refused at once rather than running the template again.
    again = time.monotonic()
    with pytest.raises(TemplateProblem):
        chat.render(QUESTION)
    assert time.monotonic() - again < 1.0
    print(f"{name}: stopped after {again - began:.2f} s")


@pytest.mark.parametrize("template", [
    "{{ '%d' | format(1700000000) }}{{ '{}'.format(1700000000) }}{{ messages | tojson(indent=2) }}",
    "{{ ', '.join(['a', 'b']) }}{{ messages | map(attribute='role') | join(', ') }}{{ 'x' | center(40) }}",
])
def test_numbers_that_are_data_are_not_taken_for_widths(template):
    out = ChatTemplate(template + LAST, "<s>", "</s>").render(QUESTION)
    assert "1700000000" in out.prompt or "a, b" in out.prompt


def test_the_limits_leave_ordinary_templates_and_long_conversations_alone():
    chat = ChatTemplate(CHATML, "<|im_start|>", "<|im_end|>")
    long_text = "word " * 200_000  # a 1 MB pasted document
    out = chat.render([{"role": "user", "content": long_text}])
    assert long_text in out.prompt
    # The memory cap was lifted again: this process can still take a large allocation.
    block = bytearray(800 * 2**20)
    assert len(block) == 800 * 2**20


@pytest.fixture(scope="module")
def chat_model_reader(chat_model):
    from gguf import GGUFReader

    return GGUFReader(chat_model)


def _answer(path, prompt_format="auto"):
    engine = LocalEngine(path, LocalRuntime(context_length=1024, threads=2, prompt_format=prompt_format))
    try:
        rec = Recorder()
        began = time.monotonic()
        for ev in engine.stream(QUESTION, PARAMS):
            rec.feed(ev)
        return rec.result, engine.load_info, time.monotonic() - began
    finally:
        engine.close()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("name", THROUGH_THE_WORKER)
def test_a_crafted_gguf_with_a_hostile_template_is_a_pane_error_and_the_plain_transcript_answers(
        chat_model_reader, tmp_path, name):
    template, words = HOSTILE[name]
    path = write_variant(chat_model_reader, tmp_path / f"hostile-{name}.gguf", template)
    try:
        result, info, took = _answer(path)
        assert result.status == "error" and result.error_kind == "template", (result.status, result.error)
        assert "chat template was stopped" in result.error or "chat template failed" in result.error
        assert words in result.error and result.error.endswith(FALLBACK_HINT)
        # Not "the file may be truncated or damaged", and the load itself went through.
        assert "damaged" not in result.error and info is not None
        print(f"{name}: load and error in {took:.1f} s")
        result, info, _ = _answer(path, prompt_format="transcript")
        assert info["prompt_format"] == "transcript"
        assert result.status == "done" and result.text.strip()
    finally:
        path.unlink(missing_ok=True)
