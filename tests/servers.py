"""Loopback HTTP servers for tests (OpenAI-compatible ones live here).

- `llama_server`: the real `llama_cpp.server` with the embedded model, once per session.
- `fault_server`: a small scripted server that answers the chat and models APIs the
  way broken or busy services do (401, 404, 429 + Retry-After, 500, no quota, a
  stream cut in the middle, no answer at all) and records every request.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SERVER_START_S = 180.0  # loading the model and importing the server takes a few seconds; 2 cores may be busy
FAULT_SERVER_LIFETIME_S = 600.0  # the fault server stops itself even if a test never tears it down
HANG_LIMIT_S = 30.0  # a "never answers" handler gives up after this, so no thread lives on


class QuietHTTPServer(ThreadingHTTPServer):
    """A client that hangs up on purpose (a cancel, a dropped download) is no error to print."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def send_json(handler, status: int, payload, headers: dict | None = None) -> None:
    """Answer a BaseHTTPRequestHandler's request with a JSON body."""
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.end_headers()
    handler.wfile.write(data)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the real server ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def llama_server(embedded_model: Path, tmp_path_factory) -> str:
    """`python -m llama_cpp.server` on 127.0.0.1 with the embedded model; yields its /v1 base URL."""
    yield from serve_llama(embedded_model, "vicuna", tmp_path_factory.mktemp("llama-server"))


@pytest.fixture(scope="session")
def chat_llama_server(chat_model: Path, tmp_path_factory) -> str:
    """A second, separate `llama_cpp.server` process with the chat model (its ChatML template):
    two servers on loopback stand for two machines a user reaches as two connections."""
    yield from serve_llama(chat_model, "chatml", tmp_path_factory.mktemp("chat-llama-server"))


def serve_llama(model: Path, chat_format: str, folder: Path):
    port = free_port()
    log_path = folder / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
           "--port", str(port), "--chat_format", chat_format, "--n_ctx", "2048"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}:\n{_tail(log_path)}")
            try:
                with urllib.request.urlopen(base + "/models", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer within {SERVER_START_S:.0f} s:\n{_tail(log_path)}")
            time.sleep(0.25)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "(no log)"


# -- the fault server --------------------------------------------------------------------------
@dataclass
class Seen:
    """One request as the server received it."""

    at: float  # time.monotonic() when it arrived
    method: str
    path: str
    headers: dict  # names in lower case
    body: dict | None


@dataclass
class FaultServer:
    """Answers scripted per test. `on_chat(...)` / `on_models(...)` take answers for the next
    requests, in order; the last one repeats. Answers (see `_answer_*` below):

    chat:   "stream" (a short answer, no usage chunk, like llama_cpp.server), "stream_usage"
            (with a usage chunk, like OpenAI), "unauthorized", "model_not_found",
            "rate_limited" (429 + Retry-After: `retry_after`), "quota", "server_error",
            "cut" (three chunks, then the socket is closed mid-body), "cut_clean" (three
            chunks, then a clean end without finish_reason or [DONE]), "hang" (never answers),
            "invalid_utf8" (a chunk whose bytes are not UTF-8 in the middle of the answer),
            "echo_key" (HTTP 400 whose message repeats the key whole, without its "sk-" prefix,
            and the Authorization header),
            "reasoning" (reasoning_content chunks, then the answer), "think_inline" (<think>…</think>
            inside the content), "empty" (no text, finish_reason stop), "length" (finish_reason length)
    models: "models" (the ids in `model_ids`), "unauthorized", "server_error", "hang"
    """

    host: str = "127.0.0.1"
    retry_after: str = "1"
    model_ids: list[str] = field(default_factory=lambda: ["gpt-4o-mini"])
    answer_text: tuple[str, ...] = ("Hel", "lo, ", "wor", "ld!")
    served_model: str | None = None  # the model name its chunks report (default: the one asked for)
    requests: list[Seen] = field(default_factory=list)

    def __post_init__(self):
        self._scripts = {"chat": ["stream"], "models": ["models"]}
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._httpd = QuietHTTPServer((self.host, 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://{self.host}:{self.port}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        daemon=True, name="fault-server")
        self._thread.start()
        self._watchdog = threading.Timer(FAULT_SERVER_LIFETIME_S, self.stop)
        self._watchdog.daemon = True
        self._watchdog.start()

    def on_chat(self, *answers: str) -> "FaultServer":
        self._scripts["chat"] = list(answers)
        return self

    def on_models(self, *answers: str) -> "FaultServer":
        self._scripts["models"] = list(answers)
        return self

    def chat_requests(self) -> list[Seen]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def next_answer(self, api: str) -> str:
        with self._lock:
            script = self._scripts[api]
            return script.pop(0) if len(script) > 1 else script[0]

    def stop(self) -> None:
        if self.stopping.is_set():
            return
        self.stopping.set()  # lets "hang" handlers go
        self._watchdog.cancel()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _handler_for(server: FaultServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive and chunked bodies, as real API servers use

        def log_message(self, *args):  # keep pytest's output clean
            pass

        def do_GET(self):
            self._serve(None)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            self._serve(body)

        def _serve(self, body):
            path = self.path.split("?")[0]
            headers = {k.lower(): v for k, v in self.headers.items()}
            server.requests.append(Seen(time.monotonic(), self.command, path, headers, body))
            if path.endswith("/chat/completions") and self.command == "POST":
                answer = server.next_answer("chat")
            elif path.endswith("/models") and self.command == "GET":
                answer = server.next_answer("models")
            else:
                return self._json(404, {"error": {"message": f"Unknown path {path}", "type": "invalid_request_error"}})
            getattr(self, "_answer_" + answer)(body or {})

        # -- plain answers ------------------------------------------------------------------
        def _json(self, status: int, payload: dict, headers: dict | None = None):
            send_json(self, status, payload, headers)

        def _key(self) -> str:
            return self.headers.get("Authorization", "").removeprefix("Bearer ")

        def _answer_models(self, body):
            self._json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in server.model_ids]})

        def _answer_unauthorized(self, body):
            # Echo the key the way careless servers do: the client must not pass it on.
            self._json(401, {"error": {"message": f"Incorrect API key provided: {self._key()}.",
                                       "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}})

        def _answer_model_not_found(self, body):
            self._json(404, {"error": {"message": f"The model `{body.get('model')}` does not exist or you do not "
                                                  "have access to it.",
                                       "type": "invalid_request_error", "param": None, "code": "model_not_found"}})

        def _answer_rate_limited(self, body):
            self._json(429, {"error": {"message": f"Rate limit reached for key {self._key()}.",
                                       "type": "requests", "param": None, "code": "rate_limit_exceeded"}},
                       {"Retry-After": server.retry_after})

        def _answer_quota(self, body):
            self._json(429, {"error": {"message": "You exceeded your current quota, please check your plan and "
                                                  "billing details.",
                                       "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}})

        def _answer_server_error(self, body):
            self._json(500, {"error": {"message": f"The server had an error processing key {self._key()}.",
                                       "type": "server_error", "param": None, "code": None}})

        def _answer_hang(self, body):
            server.stopping.wait(HANG_LIMIT_S)  # read the request, then say nothing
            self.close_connection = True

        # -- streams --------------------------------------------------------------------------
        def _start_stream(self, chunked: bool = True):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()

        def _event(self, payload, chunked: bool = True):
            data = b"data: " + (payload if isinstance(payload, bytes) else json.dumps(payload).encode()) + b"\n\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            self.wfile.flush()

        def _chunk(self, body, content=None, finish=None, usage=None, choices=True):
            return {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0,
                    "model": server.served_model or body.get("model", "test"),
                    "choices": [{"index": 0, "delta": {} if content is None else {"content": content},
                                 "finish_reason": finish}] if choices else [],
                    "usage": usage}

        def _answer_stream(self, body, usage=False):
            self._start_stream()
            self._event(self._chunk(body, ""))
            for piece in server.answer_text:
                self._event(self._chunk(body, piece))
            self._event(self._chunk(body, finish="stop"))
            if usage:
                self._event(self._chunk(body, usage={"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15},
                                        choices=False))
            self._event(b"[DONE]")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _answer_stream_usage(self, body):
            self._answer_stream(body, usage=True)

        def _answer_cut(self, body, chunked=True):
            self._start_stream(chunked)
            for piece in server.answer_text[:3]:
                self._event(self._chunk(body, piece), chunked)
                time.sleep(0.02)
            # Close mid-answer: with chunked encoding the body is left incomplete.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

        def _answer_cut_clean(self, body):
            self._answer_cut(body, chunked=False)

        def _answer_invalid_utf8(self, body):
            self._start_stream()
            self._event(self._chunk(body, "Fine so far. "))
            good = json.dumps(self._chunk(body, "BROKEN")).encode()
            self._event(good.replace(b"BROKEN", b"bad \xff\xfe\xc3 bytes"))
            self._event(self._chunk(body, finish="stop"))
            self._event(b"[DONE]")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _script(self, body, deltas: list[dict], finish: str):
            """A stream of the given deltas, then finish_reason, then [DONE]."""
            self._start_stream()
            for delta in deltas:
                chunk = self._chunk(body)
                chunk["choices"][0]["delta"] = delta
                self._event(chunk)
            self._event(self._chunk(body, finish=finish))
            self._event(b"[DONE]")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _answer_reasoning(self, body):  # DeepSeek, vLLM and llama.cpp's server send it apart
            self._script(body, [{"role": "assistant", "content": None, "reasoning_content": "The user "},
                                {"reasoning_content": "wants a greeting."}]
                         + [{"content": piece} for piece in server.answer_text], "stop")

        def _answer_think_inline(self, body):  # servers that pass the model's tags through
            self._script(body, [{"content": "<thi"}, {"content": "nk>Greet them.</think>\n\n"}]
                         + [{"content": piece} for piece in server.answer_text], "stop")

        def _answer_empty(self, body):
            self._script(body, [{"role": "assistant", "content": ""}], "stop")

        def _answer_length(self, body):
            self._script(body, [{"content": piece} for piece in server.answer_text[:2]], "length")

        def _answer_echo_key(self, body):
            key = self._key()
            bare = key.split("-")[-1]  # sk-proj-XXXX -> XXXX: a server that strips the prefix
            self._json(400, {"error": {"message": f"Token {bare} is not valid here (you sent {key!r}, header "
                                                  f"{self.headers.get('Authorization')!r}).",
                                       "type": "invalid_request_error", "param": None, "code": None}})

    return Handler


@pytest.fixture
def fault_server():
    server = FaultServer()
    yield server
    server.stop()
