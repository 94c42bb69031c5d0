"""GPT (and any OpenAI-compatible endpoint) through the `openai` client, streamed.

Why the HTTP work runs in a thread of its own: a blocked socket read cannot be
interrupted from another thread, so a generator that read the socket itself
could only notice `cancel()` when the next chunk (or the timeout) arrived. The
worker feeds a queue; `stream()` watches the queue and the cancel flag, so
cancel ends the stream at once, and the worker shuts the socket so the server
stops generating (and billing) too.

Why retries are done here and not by the client: the client sleeps with
`time.sleep` (cancel could not cut a 30 s Retry-After short) and it would also
retry `insufficient_quota`, which no amount of waiting fixes.
"""
from __future__ import annotations

import email.utils
import math
import queue
import random
import socket
import threading
import time
from typing import Iterator

import openai

from ..pricing import Prices
from ..secrets import redact, url_secrets, without_credentials
from ..untrusted import storable
from ..settings import Sampling
from .base import CancelToken, Done, Error, Event, ModelInfo, ReasoningDelta, Reported, Started, TextDelta, Usage
from .chat_template import ThinkSplitter

DEFAULT_ENDPOINT = "https://api.openai.com/v1"
MAX_RETRY_WAIT_S = 60.0  # a server asking for a longer pause gets an error now, not a frozen pane
POLL_S = 0.05  # how often stream() looks at the cancel flag while no event arrives

# Names that mark models the chat completions API cannot use (embeddings, audio, images...).
_NOT_CHAT = ("embedding", "whisper", "tts", "dall-e", "moderation", "davinci", "babbage", "transcribe",
             "realtime", "audio", "image", "sora", "computer-use", "codex-mini")


class OpenAIUnavailable(RuntimeError):
    """A request to the API failed; `kind` is one of Error's kinds, the message says what to do."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


class _Run:
    """One stream's shared state between stream() (the consumer) and the HTTP worker."""

    def __init__(self):
        self.events: queue.Queue[Event | None] = queue.Queue()
        self.cancelled = threading.Event()
        self.response = None  # the live HTTP response, once the headers arrived
        self._gate: threading.Semaphore | None = None  # the connection's slot this answer holds
        self._gate_lock = threading.Lock()

    def stop(self) -> None:
        self.cancelled.set()
        _shut(self.response)

    def hold(self, gate: threading.Semaphore) -> None:
        with self._gate_lock:
            self._gate = gate

    def release(self) -> None:
        """Give the connection's slot back, once: when the answer ends or the pane stops it, even
        if the worker still waits for a server that does not answer (it may wait for the timeout)."""
        with self._gate_lock:
            gate, self._gate = self._gate, None
        if gate is not None:
            gate.release()


class OpenAIEngine:
    """One model on one connection. `gate` is the connection's concurrency limit, shared by
    every engine on it: a stream waits there (cancellable) before it sends its request."""

    def __init__(self, model: str, *, api_key: str, base_url: str | None = None, timeout: float = 60.0,
                 prices: Prices | None = None, max_retries: int = 3, headers: dict | None = None,
                 gate: threading.Semaphore | None = None, label: str | None = None, ref: str | None = None,
                 connection: str = ""):
        self.info = ModelInfo("openai", label or model, ref or model)
        self.model = model
        self.connection = connection
        self.prices = prices
        self.max_retries = max(0, int(max_retries))
        self.timeout = float(timeout)
        self.gate = gate
        self._key = api_key
        self._passwords = url_secrets(base_url)  # a base URL's user:password@ never reaches a message
        self._client = _client(api_key, base_url, timeout, headers=headers)
        self.endpoint = without_credentials(str(self._client.base_url)).rstrip("/")
        self._runs: set[_Run] = set()  # one engine may serve two panes at once (same model twice)
        self._lock = threading.Lock()

    # -- the contract ---------------------------------------------------------------------
    def stream(self, messages: list[dict], params: Sampling | None = None,
               cancel: CancelToken | None = None) -> Iterator[Event]:
        if cancel is not None and cancel.cancelled:  # stopped before it began: no (billed) request
            yield Done("cancelled")
            return
        run = _Run()
        with self._lock:
            self._runs.add(run)
        worker = threading.Thread(target=self._pump, args=(run, messages, params or Sampling()), daemon=True,
                                  name=f"arenadesk-openai-{self.model}")
        worker.start()
        try:
            while True:
                if cancel is not None and cancel.cancelled and not run.cancelled.is_set():
                    run.stop()  # this answer's own stop: the worker ends its request as for cancel()
                if run.cancelled.is_set():
                    yield Done("cancelled")
                    return
                try:
                    event = run.events.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                if event is None:  # the worker ended without a final event: that happens only after cancel
                    yield Done("cancelled") if run.cancelled.is_set() else Error("The answer ended early.", "dropped")
                    return
                yield event
                if isinstance(event, (Done, Error)):
                    return
        finally:
            run.stop()  # also when the consumer walks away early: the worker must not stream on
            run.release()
            with self._lock:
                self._runs.discard(run)

    def cancel(self) -> None:
        with self._lock:
            runs = list(self._runs)
        for run in runs:
            run.stop()

    def close(self) -> None:
        self.cancel()
        self._client.close()

    def cost(self, tokens_in: int | None, tokens_out: int | None) -> float | None:
        return self.prices.cost(self.model, tokens_in, tokens_out, self.connection) if self.prices else None

    # -- the worker -----------------------------------------------------------------------
    def _pump(self, run: _Run, messages: list[dict], params: Sampling) -> None:
        if self.gate is not None:
            # The connection's other answers fill its limit: wait for one to end (or for cancel).
            while not self.gate.acquire(timeout=POLL_S):
                if run.cancelled.is_set():
                    run.events.put(None)
                    return
            run.hold(self.gate)
            if run.cancelled.is_set():  # stopped meanwhile: its stream() may have released already
                run.release()
                run.events.put(None)
                return
            run.events.put(Started())  # the wait for the connection's slot is not the model's time
        events = self._events(run, messages, params)
        try:
            for event in events:
                if run.cancelled.is_set():
                    return
                run.events.put(event)
        except Exception as exc:  # a bug here must end the pane's stream, not hang it
            run.events.put(self._fail("crash", f"Unexpected failure talking to {self.endpoint}: "
                                               f"{type(exc).__name__}: {exc}"))
        finally:
            events.close()  # after cancel: closes the HTTP response now, not whenever it is collected
            run.release()
            run.events.put(None)

    def _events(self, run: _Run, messages: list[dict], params: Sampling) -> Iterator[Event]:
        request = dict(model=self.model, messages=messages, stream=True,
                       stream_options={"include_usage": True}, **request_params(params))
        retries = 0
        while True:
            try:
                stream = self._client.chat.completions.create(**request)
                break
            except openai.BadRequestError as exc:
                if not _adapt(request, exc):  # e.g. a reasoning model that wants max_completion_tokens
                    yield self._error(exc)
                    return
            except openai.APIStatusError as exc:
                wait = self._retry_wait(exc, retries)
                if wait is None:
                    yield self._error(exc, retries)
                    return
                retries += 1
                if run.cancelled.wait(wait):
                    return
            except openai.OpenAIError as exc:  # timeout, no connection
                yield self._error(exc)
                return
            if run.cancelled.is_set():
                return

        run.response = stream.response
        if run.cancelled.is_set():  # cancel came while the headers were on their way
            stream.close()
            return
        chunks = chars = 0
        usage = finish = reported = None
        # Reasoning comes apart (reasoning_content: DeepSeek, vLLM, llama.cpp's server; reasoning:
        # OpenRouter, Ollama) or inside the content as <think>…</think> (servers that pass it through).
        splitter = ThinkSplitter()
        try:
            for chunk in stream:
                if getattr(chunk, "usage", None):
                    usage = chunk.usage
                served = getattr(chunk, "model", None)
                if reported is None and isinstance(served, str) and served.strip():
                    reported = storable(served.strip()[:200])  # a hostile server's name must not bloat every row
                    yield Reported(reported)
                for choice in chunk.choices[:1]:
                    delta = choice.delta
                    thought = (getattr(delta, "reasoning_content", None) or getattr(delta, "reasoning", None)
                               if delta else None)
                    if isinstance(thought, str) and thought:
                        chunks += 1
                        chars += len(thought)
                        yield ReasoningDelta(thought)
                    text = delta.content if delta else None
                    if text:
                        text = storable(text)  # JSON may carry a lone surrogate ("\ud800"); no file or terminal takes one
                        chunks += 1
                        chars += len(text)
                        yield from _split(splitter.feed(text))
                    if choice.finish_reason:
                        finish = choice.finish_reason
        except Exception as exc:
            if run.cancelled.is_set():
                return
            if finish is None:  # a failure after the last token (before [DONE]) loses nothing
                yield self._broken(exc, chunks)
                return
        finally:
            run.response = None  # from here on the connection may go back to the pool: cancel must not shut it
            stream.close()
        if finish is None:
            # The body ended cleanly but the answer never did: the connection was closed on us.
            yield self._broken(None, chunks)
            return
        yield from _split(splitter.finish())
        if usage is not None and usage.completion_tokens is not None:
            yield Usage(usage.prompt_tokens or 0, usage.completion_tokens)
        else:  # llama_cpp.server and some proxies send no usage chunk
            yield Usage(estimate_prompt_tokens(messages), max(chunks, math.ceil(chars / 4)), estimated=True)
        yield Done(finish if finish in ("length", "content_filter") else "stop", params.max_tokens)

    # -- retries and errors ---------------------------------------------------------------
    def _retry_wait(self, exc: openai.APIStatusError, retries: int) -> float | None:
        """Seconds to wait before trying again, or None when retrying cannot help."""
        if exc.status_code != 429 and exc.status_code < 500:
            return None
        if _code(exc) == "insufficient_quota" or retries >= self.max_retries:
            return None
        asked = retry_after(exc.response.headers)
        if asked is not None:
            return asked if asked <= MAX_RETRY_WAIT_S else None
        return min(0.5 * 2 ** retries, 8.0) * random.uniform(0.75, 1.0)  # back-off with jitter

    def _error(self, exc: Exception, retries: int = 0) -> Error:
        kind, message = describe(exc, self.endpoint, self.model, self.timeout, retries)
        return self._fail(kind, message)

    def _broken(self, exc: Exception | None, chunks: int) -> Error:
        kept = "; the text so far is kept" if chunks else ""
        if _undecodable(exc):
            return self._fail("server", f"{self.endpoint} sent text that is not valid UTF-8 in the middle of the "
                                        f"answer{kept}. The server or the model is broken; try another.")
        if isinstance(exc, openai.APITimeoutError) or "timeout" in type(exc).__name__.lower():
            return self._fail("timeout", f"{self.endpoint} stopped sending for {self.timeout:g} s in the middle "
                                         f"of the answer{kept}. Send again, or raise the timeout in Settings.")
        if isinstance(exc, openai.APIError) and not isinstance(exc, openai.APIConnectionError):
            return self._fail("server", f"{self.endpoint} reported an error in the middle of the answer "
                                        f"({_server_message(exc)}){kept}. Send again.")
        where = "in the middle of the answer" if chunks else "before the answer began"
        return self._fail("dropped", f"The connection to {self.endpoint} was cut {where}{kept}. Send again to retry.")

    def _fail(self, kind: str, message: str) -> Error:
        return Error(redact(message, self._key, passwords=self._passwords), kind)


def describe(exc: Exception, endpoint: str, model: str | None = None, timeout: float | None = None,
             retries: int = 0) -> tuple[str, str]:
    """(kind, message) for a failed request, worded so the user knows what to do. Not yet redacted."""
    after = f" after {retries} {'retry' if retries == 1 else 'retries'}" if retries else ""
    if isinstance(exc, openai.APITimeoutError):
        within = f" within {timeout:g} s" if timeout else ""
        return "timeout", (f"No answer from {endpoint}{within}: the service may be overloaded. "
                           "Try again, or raise the timeout in Settings.")
    if isinstance(exc, openai.APIConnectionError):
        return "connection", (f"Could not connect to {endpoint} ({_cause(exc)}): check the network connection, "
                              "or the base URL in Settings.")
    if not isinstance(exc, openai.APIStatusError):
        return "error", f"The request to {endpoint} failed: {exc}"
    status, code, said = exc.status_code, _code(exc), _server_message(exc)
    if status == 401:
        # The server's own text is left out: OpenAI's quotes part of the key.
        who = "OpenAI" if endpoint == DEFAULT_ENDPOINT else f"The server at {endpoint}"
        return "auth", f"{who} rejected the API key: check it in Settings → Connections."
    if status == 403:
        return "auth", (f"{endpoint} refused this API key access ({said}). Check the key's project and "
                        "permissions in Settings → Connections.")
    if status == 404 and (model is None or (code != "model_not_found" and "model" not in said.lower())):
        return "connection", (f"{endpoint} has no such API (HTTP 404): check the base URL in Settings "
                              "(it usually ends in /v1).")
    if status == 404:
        return "model", (f"The model '{model}' is not available at {endpoint}: it does not exist or this key "
                         "has no access to it. Pick another model.")
    if status == 429 and code == "insufficient_quota":
        return "quota", ("The OpenAI account has no quota left (insufficient_quota): add credit or check the plan "
                         "at platform.openai.com → Billing, then try again.")
    if status == 429:
        asked = retry_after(exc.response.headers)
        pause = f" It asked for a pause of {asked:g} s." if asked else ""
        return "rate_limit", (f"{endpoint} is rate-limiting requests (HTTP 429){after}.{pause} "
                              "Wait a minute and try again.")
    if status >= 500:
        return "server", (f"{endpoint} failed with HTTP {status}{after} ({said}). The service has a problem; "
                          "try again later.")
    if status in (400, 413, 422):
        return "input", f"{endpoint} refused the request (HTTP {status}): {said}"
    return "server", f"{endpoint} answered HTTP {status}: {said}"


def request_params(params: Sampling) -> dict:
    """Sampling settings the chat API knows; top_k and repeat_penalty are llama.cpp's own."""
    out = {"temperature": params.temperature, "top_p": params.top_p}
    if params.max_tokens and params.max_tokens > 0:
        out["max_tokens"] = params.max_tokens
    if params.seed is not None and params.seed >= 0:
        out["seed"] = params.seed
    if params.stop:
        out["stop"] = list(params.stop)[:4]  # the API takes at most four
    return out


def estimate_prompt_tokens(messages: list[dict]) -> int:
    """About 4 characters a token, plus the few tokens each message's role markers cost."""
    chars = sum(len(m.get("content") or "") if isinstance(m.get("content"), str) else 0 for m in messages)
    return math.ceil(chars / 4) + 4 * len(messages) + 3


def retry_after(headers) -> float | None:
    """Seconds a 429/503 asks us to wait: retry-after-ms, Retry-After in seconds, or as an HTTP date."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    date = headers.get("retry-after")
    parsed = email.utils.parsedate_tz(date) if date else None
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - time.time())


def is_chat_model(name: str) -> bool:
    low = name.lower()
    return not any(marker in low for marker in _NOT_CHAT)


def list_models(api_key: str, base_url: str | None = None, timeout: float = 15.0,
                headers: dict | None = None) -> list[str]:
    """The endpoint's models, sorted, chat models first. Raises OpenAIUnavailable with a clear message."""
    client = _client(api_key, base_url, timeout, max_retries=1, headers=headers)
    endpoint = without_credentials(str(client.base_url)).rstrip("/")
    try:
        ids = {m.id for m in client.models.list() if isinstance(getattr(m, "id", None), str) and m.id.strip()}
    except openai.OpenAIError as exc:
        kind, message = describe(exc, endpoint, timeout=timeout)
        # no chained text that might hold the key
        raise OpenAIUnavailable(redact(message, api_key, passwords=url_secrets(base_url)), kind) from None
    finally:
        client.close()
    return sorted(ids, key=lambda name: (not is_chat_model(name), name))


# -- helpers -------------------------------------------------------------------------------
def _client(api_key: str, base_url: str | None, timeout: float, max_retries: int = 0,
            headers: dict | None = None) -> openai.OpenAI:
    if not api_key:
        raise OpenAIUnavailable("No OpenAI key: add one in Settings → Connections (or set OPENAI_API_KEY). "
                                "A local server that needs none accepts any text.", "auth")
    # Connecting should never take long; the read timeout is the pause allowed between chunks.
    limit = openai.Timeout(float(timeout), connect=min(float(timeout), 10.0))
    return openai.OpenAI(api_key=api_key, base_url=base_url or None, timeout=limit, max_retries=max_retries,
                         default_headers=dict(headers) if headers else None)


def _adapt(request: dict, exc: openai.BadRequestError) -> bool:
    """Fix a request a model refuses for a parameter it does not take; False when there is nothing to fix.

    Newer OpenAI models want max_completion_tokens and a fixed temperature, while
    compatible servers often know only max_tokens, so we send the common form and adapt."""
    param = getattr(exc, "param", None)
    if param == "max_tokens" and "max_tokens" in request:
        request["max_completion_tokens"] = request.pop("max_tokens")
        return True
    if param in ("temperature", "top_p", "seed", "stream_options") and param in request:
        request.pop(param)
        return True
    return False


def _code(exc: openai.APIStatusError) -> str | None:
    code = getattr(exc, "code", None)
    if code is None and isinstance(exc.body, dict):
        err = exc.body.get("error", exc.body)
        code = err.get("code") or err.get("type") if isinstance(err, dict) else None
    return code


def _server_message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"][:300]
        if isinstance(err, str):
            return err[:300]
    return str(getattr(exc, "message", "") or exc)[:300] or type(exc).__name__


def _cause(exc: Exception) -> str:
    """The underlying reason (refused, DNS failure...), not the client's generic 'Connection error.'."""
    inner = exc.__cause__ or exc.__context__
    while inner is not None and (inner.__cause__ or inner.__context__) is not None and not str(inner):
        inner = inner.__cause__ or inner.__context__
    return str(inner) if inner is not None and str(inner) else "connection error"


def _undecodable(exc: BaseException | None) -> bool:
    """The stream failed because its bytes are not UTF-8 (the client decodes each line strictly)."""
    while exc is not None:
        if isinstance(exc, UnicodeDecodeError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _shut(response) -> None:
    """Shut the socket under a streaming response so a read blocked in another thread returns now."""
    if response is None:
        return
    try:
        sock = response.extensions["network_stream"].get_extra_info("socket")
        sock.shutdown(socket.SHUT_RDWR)
    except Exception:  # HTTP/2, already closed, another transport: the worker closes it on its next read
        pass


def _split(pieces) -> Iterator[Event]:
    for kind, text in pieces:
        yield ReasoningDelta(text) if kind == "reasoning" else TextDelta(text)
