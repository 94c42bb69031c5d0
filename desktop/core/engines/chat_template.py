"""A GGUF file's own chat template, used the way llama.cpp and its model family mean it.

Runs in the model's child process (see local_worker.py). Three things the file's template
alone does not give, and that every instruct model needs:

- the special tokens' texts (`<|im_end|>`, `<eos>`...): `detokenize()` gives '' for special
  tokens, so they are read with llama.cpp's `token_get_text`, as llama-cpp-python's own
  `Llama` does; an empty text is never a stop string (it would stop before the first token);
- the template's own end-of-turn marker as a stop string, found by rendering a probe
  conversation (a file whose template comes from another family than its vocabulary may
  write the marker as plain text, which no end-of-generation token would catch);
- a system prompt folded into the first user turn when the template refuses or drops the
  system role (Gemma, older Mistral).

A template that cannot be read, raises, writes an empty prompt, or goes past a limit of
template_guard.py (time, memory, size: the template is code from whoever made the file) is a
`TemplateProblem` whose message names the problem and offers the plain-transcript fallback.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .template_guard import GuardedEnvironment, TemplateLimit, guarded_filter, run_limited

# Where the user can switch a model to the plain transcript (LocalRuntime.prompt_format).
FALLBACK_HINT = ("To talk to this model anyway, set Settings → Local models → Prompt format to "
                 "\"Plain transcript\" (arenadesk ask: --plain-transcript), or import a fixed file of the model.")

# What a template may write beyond twice the conversation's own text (see ChatTemplate._format).
OUTPUT_ALLOWANCE = 1_000_000

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"

_PROBE_ANSWER = "ArenaDeskProbeAnswer7"
_PROBE_SYSTEM = "ArenaDeskProbeSystem7"
# The first marker-like piece after an answer: <|im_end|>, <end_of_turn>, </s>, [/INST]-style, or a word.
_MARKER = re.compile(r"<[^<>\s]{1,40}>|\[[^\[\]\s]{1,40}\]")


class TemplateProblem(Exception):
    """The model's chat template cannot make a prompt; str() says what and offers the fallback."""


@dataclass(frozen=True)
class Rendered:
    prompt: str
    stop: list[str]
    opens_reasoning: bool  # the prompt ends inside <think>: the answer starts with reasoning


def token_text(llm, token_id: int) -> str:
    """A token's text as llama.cpp means it, special tokens included ('' for no token)."""
    if token_id is None or token_id < 0:
        return ""
    try:
        # llama-cpp-python's Llama reads the template's eos/bos texts through the same call.
        return llm._model.token_get_text(token_id) or ""
    except Exception:
        return ""


class ChatTemplate:
    def __init__(self, template: str, bos_token: str, eos_token: str, end_tokens: tuple[str, ...] = ()):
        self.source = template
        self.bos_token, self.eos_token = bos_token, eos_token
        self.problem: str | None = None  # once set, every render raises it
        self._compiled = None
        import jinja2

        try:
            self._compiled = run_limited(lambda: _environment().from_string(template))
        except jinja2.TemplateError as exc:  # TemplateSyntaxError, TemplateAssertionError (an unknown filter)
            self.problem = f"This model's chat template cannot be read: {_describe(exc)}. {FALLBACK_HINT}"
        except TemplateLimit as exc:  # Jinja folds constant expressions while compiling
            self.problem = _stopped(exc)
        self.end_markers: list[str] = []
        if self._compiled is not None:
            self.end_markers = self._find_end_markers()
        stops = [eos_token, *end_tokens, *self.end_markers]
        self.stops = list(dict.fromkeys(s for s in stops if s and s.strip()))

    @classmethod
    def from_model(cls, llm, template: str) -> "ChatTemplate":
        eos = token_text(llm, llm.token_eos())
        bos = token_text(llm, llm.token_bos())
        # The end-of-turn token, where the family has one apart from end-of-text (Llama 3's <|eot_id|>).
        eot = ""
        try:
            eot = token_text(llm, llm._model.token_eot())
        except Exception:
            pass
        return cls(template, bos, eos, (eot,))

    # -- rendering -------------------------------------------------------------------------
    def render(self, messages: list[dict]) -> Rendered:
        if self.problem:
            raise TemplateProblem(self.problem)
        prompt = self._render_with_system(messages)
        if not prompt.strip():
            raise TemplateProblem(f"This model's chat template wrote an empty prompt. {FALLBACK_HINT}")
        last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        if last_user.strip() and last_user.strip() not in prompt:
            raise TemplateProblem(f"This model's chat template left the message out of the prompt. {FALLBACK_HINT}")
        return Rendered(prompt, list(self.stops), prompt.rstrip().endswith(THINK_OPEN))

    def _render_with_system(self, messages: list[dict]) -> str:
        system = "\n".join(m["content"] for m in messages if m["role"] == "system" and m["content"].strip())
        try:
            prompt = self._format(messages)
            if not system or system.strip() in prompt:
                return prompt
            problem = None  # rendered, but the template dropped the system prompt
        except TemplateProblem:
            raise  # a limit: trying again without the system role would only hit it again
        except Exception as exc:
            if not system:
                raise TemplateProblem(
                    f"This model's chat template failed while writing the prompt: {_describe(exc)}. {FALLBACK_HINT}"
                ) from None
            problem = exc
        try:
            return self._format(fold_system(messages))
        except TemplateProblem:
            raise
        except Exception as exc:
            raise TemplateProblem(
                f"This model's chat template failed while writing the prompt: {_describe(problem or exc)}. "
                f"{FALLBACK_HINT}") from None

    def _format(self, messages: list[dict]) -> str:
        """The template run on these messages within template_guard's limits, with the arguments
        llama-cpp-python's and Transformers' chat APIs give it. A limit hit makes the template
        unusable from then on (self.problem): the next render would only hit it again."""
        if self.problem:
            raise TemplateProblem(self.problem)
        compiled = self._compiled
        # A real template adds a few hundred characters per turn; megabytes more is the template's
        # doing. The same bound holds for any one value it builds (template_guard's size checks).
        compiled.environment.limit = OUTPUT_ALLOWANCE + 2 * sum(len(str(m.get("content") or ""))
                                                                        for m in messages)
        try:
            return run_limited(lambda: compiled.render(
                messages=messages, bos_token=self.bos_token, eos_token=self.eos_token,
                add_generation_prompt=True, raise_exception=_raise_exception, strftime_now=_strftime_now,
                functions=None, function_call=None, tools=None, tool_choice=None))
        except TemplateLimit as exc:
            self.problem = _stopped(exc)
            raise TemplateProblem(self.problem) from None

    def _find_end_markers(self) -> list[str]:
        """The marker the template writes after an assistant turn (<|im_end|>, <|eot_id|>,
        <end_of_turn>, </s>, <|end|>...): the model is expected to write it when it is done."""
        probe = [
            {"role": "system", "content": _PROBE_SYSTEM},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": _PROBE_ANSWER},
            {"role": "user", "content": "Thanks"},
        ]
        for messages in (probe, fold_system(probe)):
            try:
                text = self._format(messages)
            except Exception:
                continue
            at = text.find(_PROBE_ANSWER)
            if at < 0:
                continue
            after = text[at + len(_PROBE_ANSWER):].lstrip()
            m = _MARKER.match(after)
            if m and "user" not in m.group(0).lower():
                return [m.group(0)]
            return []
        return []


def _environment():
    """The environment llama-cpp-python's Jinja2ChatFormatter (and Transformers) compile chat
    templates in (trim_blocks, lstrip_blocks, loop controls, a pass-through {% generation %},
    JSON without ASCII escapes), in template_guard's GuardedEnvironment."""
    import jinja2.ext
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    env = GuardedEnvironment(loader=jinja2.BaseLoader(), trim_blocks=True, lstrip_blocks=True,
                             extensions=[Jinja2ChatFormatter.IgnoreGenerationTags, jinja2.ext.loopcontrols])
    env.filters["tojson"] = guarded_filter(Jinja2ChatFormatter.tojson, "tojson", env)  # its indent too
    return env


def _raise_exception(message: str):
    raise ValueError(message)


def _strftime_now(fmt: str) -> str:
    from datetime import datetime

    return datetime.now().strftime(fmt)


def _stopped(limit: TemplateLimit) -> str:
    return f"This model's chat template was stopped: {limit}. {FALLBACK_HINT}"


def fold_system(messages: list[dict]) -> list[dict]:
    """The system prompt put at the head of the first user turn, for templates without a system role."""
    system = "\n".join(m["content"] for m in messages if m["role"] == "system" and m["content"].strip())
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system:
        for m in rest:
            if m["role"] == "user":
                m["content"] = f"{system}\n\n{m['content']}"
                break
    return rest


def _describe(exc: Exception) -> str:
    message = str(exc).strip().rstrip(".") or type(exc).__name__
    line = getattr(exc, "lineno", None)
    return f"{message} (line {line})" if line else message


class ThinkSplitter:
    """Splits a streamed answer into reasoning (<think>…</think>) and the answer proper.

    Reasoning is only recognised where reasoning models put it: from the start (the prompt
    opened <think>, or the answer opens it before any other text). A '<think>' later in an
    answer is the answer's text. Tags split across chunks are held back until they are whole.
    feed() and finish() return (kind, text) pieces, kind 'reasoning' or 'answer'."""

    def __init__(self, opened: bool = False):
        self.state = "reasoning" if opened else "start"  # start | reasoning | answer
        self._held = ""
        self._strip_next = False  # drop the blank line between </think> and the answer

    def feed(self, text: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        buf = self._held + text
        self._held = ""
        while buf:
            if self.state == "start":
                lead = buf.lstrip()
                if not lead or (THINK_OPEN.startswith(lead) and len(lead) < len(THINK_OPEN)):
                    self._held = buf  # only whitespace or part of "<think>" so far
                    return out
                if lead.startswith(THINK_OPEN):
                    self.state, buf = "reasoning", lead[len(THINK_OPEN):]
                    continue
                self.state = "answer"
                continue
            if self.state == "reasoning":
                at = buf.find(THINK_CLOSE)
                if at >= 0:
                    if buf[:at]:
                        out.append(("reasoning", buf[:at]))
                    self.state, buf, self._strip_next = "answer", buf[at + len(THINK_CLOSE):], True
                    continue
                keep = _partial_suffix(buf, THINK_CLOSE)
                if len(buf) > keep:
                    out.append(("reasoning", buf[:len(buf) - keep]))
                self._held = buf[len(buf) - keep:]
                return out
            # answer
            if self._strip_next:
                buf = buf.lstrip()
                if not buf:
                    return out
                self._strip_next = False
            out.append(("answer", buf))
            return out
        return out

    def finish(self) -> list[tuple[str, str]]:
        held, self._held = self._held, ""
        if not held:
            return []
        if self.state == "reasoning":
            return [("reasoning", held)]
        if self._strip_next:
            held = held.lstrip()
        return [("answer", held)] if held else []


def _partial_suffix(text: str, tag: str) -> int:
    """How many characters at the end of text could be the start of tag."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0
