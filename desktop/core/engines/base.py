"""One contract for everything that answers a prompt.

An engine turns a list of chat messages into a stream of events and can be
cancelled from another thread. Timing, token counting and cost are not the
engines' business: `Recorder` derives them from the stream, the same way for
every backend, so the numbers shown side by side are comparable.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Iterator, Protocol, Union

from ..settings import Sampling


WAIT_POLL_S = 0.02  # how often an answer waiting for its turn looks at its own stop


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """Text a reasoning model thinks before it answers (<think>…</think>, or an API's
    reasoning_content): shown apart from the answer, stored, never sent back as history."""

    text: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False  # True when counted here because the backend sent no usage


@dataclass(frozen=True)
class Done:
    finish_reason: str = "stop"  # stop | length | cancelled | what an API server sent (content_filter...)
    max_tokens: int | None = None  # the limit the answer ran under: "length" means it reached it
    cause: str | None = None  # for "stop": end_token (the model ended its turn) | stop_sequence


@dataclass(frozen=True)
class Loaded:
    """A local model finished loading (first use). The answer's clock starts here, so
    time to first token compares answering, not loading; the load time is kept apart."""

    seconds: float
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Waiting:
    """The answer waits for its turn: another answer on the same local model, or another local model
    on the CPU. Started follows once it begins (Done("cancelled") if it is stopped meanwhile)."""


@dataclass(frozen=True)
class Started:
    """The engine began working on this answer, after any wait for its turn (another answer on the
    same local model, the CPU taken by another local model, a connection's limit of answers at
    once). The answer's clock starts here, so time to first token is the model's, not the queue's."""


@dataclass(frozen=True)
class Reported:
    """The model name an API server says answered (`model` in its chunks), e.g. a dated
    snapshot behind an alias; stored with the answer so a silent change can be seen."""

    model: str


@dataclass(frozen=True)
class Error:
    message: str  # what happened and what to do, safe to show (no keys)
    kind: str = "error"  # auth | model | quota | rate_limit | server | timeout | connection | dropped | crash | load | input | context | unloaded | template | empty


Event = Union[Loaded, Waiting, Started, Reported, TextDelta, ReasoningDelta, Usage, Done, Error]


@dataclass(frozen=True)
class ModelInfo:
    engine: str  # "local" | "openai"
    model: str  # what the user sees: file name or API model name
    ref: str  # what identifies it in ratings: "sha256:..." of the file, or "<model>@<connection id>"


class CancelToken:
    """One answer's own stop, set from any thread. An engine can be shared (two panes and the
    judge on one local model take turns on it), so whoever stops an answer stops it by its token:
    the engine ends that answer, waiting or running, and no other."""

    def __init__(self) -> None:
        self._set = threading.Event()

    def cancel(self) -> None:
        self._set.set()

    @property
    def cancelled(self) -> bool:
        return self._set.is_set()


def acquire_unless_cancelled(lock: threading.Lock, cancel: CancelToken) -> bool:
    """Wait for `lock` (an answer's turn), looking at the answer's own stop meanwhile, so a stopped
    answer that waits ends at once: False (not held) once `cancel` is set."""
    while not lock.acquire(timeout=WAIT_POLL_S):
        if cancel.cancelled:
            return False
    return True


class Engine(Protocol):
    info: ModelInfo

    def stream(self, messages: list[dict], params: Sampling, cancel: CancelToken | None = None) -> Iterator[Event]:
        """Yield [Loaded], [Reported], (TextDelta | ReasoningDelta)*, then Usage, then Done; or Error at any
        point (and nothing after). Reported (an API server's own name for the model) comes with the first chunk.
        Once `cancel` is set, this stream (and only it) ends soon with Done('cancelled'). Streams may be
        asked for on several threads at once (two panes on one local model, the judge on it): an engine
        that serves one answer at a time queues the others itself, ending a waiting one as soon as its
        `cancel` is set."""

    def cancel(self) -> None:
        """Stop everything this engine is answering now (any thread): those streams end with
        Done('cancelled'); an API engine's close() does it first. A caller stopping one answer sets
        that answer's CancelToken instead, which is how the app stops panes, the judge and suite runs."""

    def close(self) -> None:
        """Release what the engine holds (a child process, HTTP connections)."""


class Unavailable:
    """Stands in for an engine that cannot be made (no key, a missing file): its pane
    shows why and what to do, while the other panes answer as usual."""

    def __init__(self, info: ModelInfo, message: str, kind: str = "input"):
        self.info, self.message, self.kind = info, message, kind

    def stream(self, messages, params, cancel: CancelToken | None = None) -> Iterator[Event]:
        yield Error(self.message, self.kind)

    def cancel(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class Result:
    text: str = ""
    status: str = "streaming"  # streaming | done | cancelled | error
    error: str | None = None
    error_kind: str | None = None
    started_at: float = 0.0
    first_token_at: float | None = None
    last_token_at: float | None = None
    finished_at: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    tokens_estimated: bool = False
    cost_usd: float | None = None
    finish_reason: str | None = None
    load_s: float | None = None  # time spent loading a local model before this answer
    reported_model: str | None = None  # the model name the API server reported answering
    reasoning: str = ""  # what a reasoning model thought before answering; not part of text
    first_answer_at: float | None = None  # the first token of the answer proper (after any reasoning)
    max_tokens: int | None = None  # the token limit it ran under (named when it was reached)

    @property
    def ttft_s(self) -> float | None:
        """Time to the first token of any kind (reasoning included)."""
        return None if self.first_token_at is None else self.first_token_at - self.started_at

    @property
    def first_answer_s(self) -> float | None:
        """Time to the first token of the answer proper: differs from ttft_s after reasoning."""
        return None if self.first_answer_at is None else self.first_answer_at - self.started_at

    @property
    def cut_off(self) -> bool:
        return self.finish_reason == "length" and self.status == "done"

    @property
    def tokens_per_s(self) -> float | None:
        """Generation speed between the first and the last token shown (the decode rate users
        feel); text a backend holds back while checking stop strings is not counted."""
        return decode_rate(self.tokens_out, self.first_token_at, self.last_token_at, self.finished_at)


def decode_rate(tokens_out, first_token_at, last_token_at, finished_at) -> float | None:
    """Tokens per second from the first to the last token shown (or to the end, for rows stored
    before the last token's time was kept). One rule for the window, the CLI and the exports."""
    end = last_token_at or finished_at
    if not tokens_out or tokens_out < 2 or first_token_at is None or end is None:
        return None
    span = end - first_token_at
    return (tokens_out - 1) / span if span > 0 else None


def cut_off_note(finish_reason: str | None, max_tokens: int | None) -> str:
    """The mark on an answer that ended because it reached the token limit ('' otherwise); the
    same words in the pane, the CLI and the exports."""
    if finish_reason != "length":
        return ""
    return f"stopped at the token limit (Max tokens {max_tokens})" if max_tokens else "stopped at the token limit"


def empty_answer_message(finish_reason: str | None, cause: str | None, reasoning: str, max_tokens: int | None) -> str:
    """Why an answer has no text, and what to do: an empty answer is an error, never a silent "done"."""
    limit = f" ({max_tokens})" if max_tokens else ""
    if reasoning.strip():
        if finish_reason == "length":
            return (f"No answer: the model spent all of Max tokens{limit} reasoning and did not get to an answer. "
                    "Its reasoning is kept; raise Max tokens in Settings and send again.")
        return "No answer: the model reasoned but ended its turn without answering. Its reasoning is kept."
    if finish_reason == "length":
        return (f"No answer: the model used all of Max tokens{limit} without writing any text. "
                "Raise Max tokens in Settings, or try another prompt.")
    if cause == "end_token":
        return ("No answer: the model ended its turn at once (its end-of-turn token came first). Send again or "
                "rephrase the prompt; if it happens every time, the model's chat template may not suit it.")
    if cause == "stop_sequence":
        return ("No answer: a stop sequence cut the answer before any text. Check Settings → Sampling → stop "
                "sequences, or send again.")
    if finish_reason == "content_filter":
        return "No answer: the server withheld it (finish reason content_filter)."
    return f"No answer: the model sent no text (finish reason {finish_reason or 'unknown'}). Send again."


def _appended(result: "Result", name: str, text: str) -> str:
    """getattr(result, name) + text, grown in place: `result.text += text` copies the whole answer
    on every delta while holding the GIL (2.7 s for a 2 MB answer in 2 KB pieces, stalling the
    GUI thread); with the attribute cleared first, the local string is the only reference and
    CPython appends to it where it lies."""
    whole = getattr(result, name)
    setattr(result, name, "")
    whole += text
    return whole


@dataclass
class Recorder:
    """Folds a stream of events into a Result, stamping times as events arrive."""

    result: Result = field(default_factory=Result)
    clock: callable = time.time

    def __post_init__(self):
        self.result.started_at = self.clock()

    def feed(self, event: Event) -> Result:
        r = self.result
        if isinstance(event, Loaded):
            r.load_s = event.seconds
            r.started_at = self.clock()
        elif isinstance(event, Started):
            r.started_at = self.clock()
        elif isinstance(event, Reported):
            r.reported_model = event.model
        elif isinstance(event, TextDelta):
            if event.text:
                r.last_token_at = self.clock()
                if r.first_token_at is None:
                    r.first_token_at = r.last_token_at
                if r.first_answer_at is None:
                    r.first_answer_at = r.last_token_at
            r.text = _appended(r, "text", event.text)
        elif isinstance(event, ReasoningDelta):
            if event.text:
                r.last_token_at = self.clock()
                if r.first_token_at is None:
                    r.first_token_at = r.last_token_at
            r.reasoning = _appended(r, "reasoning", event.text)
        elif isinstance(event, Usage):
            r.tokens_in, r.tokens_out, r.tokens_estimated = event.prompt_tokens, event.completion_tokens, event.estimated
        elif isinstance(event, Done):
            r.finished_at = self.clock()
            r.finish_reason = event.finish_reason
            if event.max_tokens is not None:
                r.max_tokens = event.max_tokens
            if event.finish_reason == "cancelled":
                r.status = "cancelled"  # stopped by the user: whatever it said so far, even nothing
            elif not r.text.strip():
                r.status, r.error_kind = "error", "empty"
                r.error = empty_answer_message(event.finish_reason, event.cause, r.reasoning, r.max_tokens)
            else:
                r.status = "done"
        elif isinstance(event, Error):
            r.finished_at = self.clock()
            r.status, r.error, r.error_kind = "error", event.message, event.kind
        return r
