"""A loopback stand-in for the Hugging Face hub endpoints ArenaDesk uses, plus
tests of the stand-in itself (so the library tests stand on something checked).

Endpoints, shaped like the hub's:
  GET  /api/models?search=&filter=gguf&sort=&limit=&expand=    repository search
  GET  /api/models/{repo}[/revision/{rev}]?blobs=True           siblings with size and lfs.sha256
  POST /api/models/{repo}/paths-info/{rev}                      one file's size and lfs.oid (sha256)
  GET  /{repo}/resolve/{rev}/{file}                             302 to /cdn/... with X-Linked-Etag/-Size
  GET  /cdn/{repo}/{file}                                       the bytes, with Range, ETag, Accept-Ranges

Knobs for the failure cases: a gated repository (401/403 with X-Error-Code:
GatedRepo unless the right Bearer token comes), a published checksum that
does not match the bytes, a connection dropped after N bytes, throttling, and
a list of statuses to answer first (503 ...). Every request is logged with its
headers. The server runs on 127.0.0.1 in a daemon thread and shuts itself down
after `max_lifetime` seconds even if a test forgets to.

A pytest plugin of tests/conftest.py: the `fake_hub` and `small_gguf` fixtures are everywhere;
tests import `FakeHub`, `make_gguf` and the download helpers (`Events`, `download_manager`) from here.
"""
from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import numpy as np
import pytest

from desktop.core.library.downloads import DownloadManager, DownloadState
from servers import QuietHTTPServer, send_json


def make_gguf(path: Path, *, arch: str = "llama", name: str = "Tiny Test", n_floats: int = 256 * 1024,
              context_length: int = 2048, chat_template: str | None = "{{ messages }}", file_type: int = 15,
              seed: int = 0) -> Path:
    """A small valid GGUF written with the gguf package: a few KV pairs and one F32 tensor of n_floats."""
    import gguf

    path.parent.mkdir(parents=True, exist_ok=True)
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(name)
    w.add_context_length(context_length)
    w.add_block_count(2)
    w.add_embedding_length(64)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_file_type(file_type)
    if chat_template:
        w.add_chat_template(chat_template)
    rng = np.random.default_rng(seed)
    w.add_tensor("token_embd.weight", rng.standard_normal(n_floats, dtype=np.float32).reshape(-1, 64))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@dataclass
class HubFileSpec:
    path: Path
    size: int
    sha256: str  # the real one
    published_sha256: str  # what the hub says (a test may make it wrong)


@dataclass
class RepoSpec:
    repo_id: str
    files: dict[str, HubFileSpec] = field(default_factory=dict)
    gated: bool = False
    downloads: int = 1000
    likes: int = 10


class FakeHub:
    def __init__(self, *, max_lifetime: float = 300.0, port: int = 0):
        self.repos: dict[str, RepoSpec] = {}
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, headers)
        self.accepted_token: str | None = None
        self.throttle_bps: float | None = None  # bytes per second for /cdn bodies
        self.drop_after: dict[str, int] = {}  # filename -> bytes to send before dropping (once)
        self.fail_next: list[int] = []  # statuses to answer the next /cdn or resolve requests with
        self.redirect = True  # resolve answers 302 to /cdn like the hub; False serves bytes directly
        self.etag_override: dict[str, str] = {}
        self.ignore_range = False  # answer 200 with the whole file even to a Range request
        self._lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                hub._handle(self, "GET")

            def do_HEAD(self):
                hub._handle(self, "HEAD")

            def do_POST(self):
                hub._handle(self, "POST")

        self.server = QuietHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="fake-hub")
        self._thread.start()
        self._deadline = threading.Timer(max_lifetime, self.stop)
        self._deadline.daemon = True
        self._deadline.start()

    # -- setup ---------------------------------------------------------------------------------
    def add_file(self, repo_id: str, filename: str, path: Path, *, published_sha256: str | None = None,
                 gated: bool = False) -> HubFileSpec:
        data_sha = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        spec = HubFileSpec(Path(path), Path(path).stat().st_size, data_sha, published_sha256 or data_sha)
        repo = self.repos.setdefault(repo_id, RepoSpec(repo_id))
        repo.gated = repo.gated or gated
        repo.files[filename] = spec
        return spec

    def stop(self) -> None:
        self._deadline.cancel()
        try:
            self.server.shutdown()
        except Exception:
            pass
        self.server.server_close()

    def range_requests(self, filename: str | None = None) -> list[str]:
        return [h.get("range") for m, p, h in self.requests
                if h.get("range") and (filename is None or p.endswith(filename))]

    def body_requests(self) -> list[str]:
        return [p for m, p, h in self.requests if "/resolve/" in p or p.startswith("/cdn/")]

    # -- serving -------------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        headers = {k.lower(): v for k, v in h.headers.items()}
        with self._lock:
            self.requests.append((method, h.path, headers))
        u = urllib.parse.urlsplit(h.path)
        path = urllib.parse.unquote(u.path)
        query = urllib.parse.parse_qs(u.query)
        try:
            if path == "/api/models" and method == "GET":
                return self._search(h, query)
            if path.startswith("/api/models/"):
                return self._api_repo(h, method, path[len("/api/models/"):])
            if path.startswith("/cdn/"):
                return self._cdn(h, method, path[len("/cdn/"):], headers)
            if "/resolve/" in path:
                return self._resolve(h, method, path.lstrip("/"), headers)
            self._json(h, 404, {"error": "not found"})
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _json(self, h, status: int, body, extra: dict | None = None) -> None:
        send_json(h, status, body, extra)

    def _search(self, h, query) -> None:
        q = (query.get("search") or [""])[0].lower()
        limit = int((query.get("limit") or ["1000"])[0])
        out = []
        for repo in self.repos.values():
            if q in repo.repo_id.lower():
                out.append({
                    "id": repo.repo_id, "modelId": repo.repo_id, "downloads": repo.downloads, "likes": repo.likes,
                    "gated": "auto" if repo.gated else False, "tags": ["gguf", "text-generation"],
                    "lastModified": "2025-01-01T00:00:00.000Z",
                    "gguf": {"total": 1_000_000, "architecture": "llama", "context_length": 2048},
                })
        out.sort(key=lambda r: -r["downloads"])
        self._json(h, 200, out[:limit])

    def _split_repo(self, rest: str) -> tuple[RepoSpec | None, str]:
        for repo_id in sorted(self.repos, key=len, reverse=True):
            if rest == repo_id or rest.startswith(repo_id + "/"):
                return self.repos[repo_id], rest[len(repo_id):].lstrip("/")
        return None, rest

    def _api_repo(self, h, method: str, rest: str) -> None:
        repo, tail = self._split_repo(rest)
        if repo is None:
            return self._json(h, 401 if "private" in rest else 404, {"error": "Repository not found"},
                              {"X-Error-Code": "RepoNotFound"})
        if method == "POST" and tail.startswith("paths-info/"):
            length = int(h.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(h.rfile.read(length).decode())
            paths = form.get("paths", [])
            out = []
            for p in paths:
                spec = repo.files.get(p)
                if spec:
                    out.append({"type": "file", "path": p, "size": spec.size, "oid": "0" * 40,
                                "lfs": {"oid": spec.published_sha256, "size": spec.size, "pointerSize": 134}})
            return self._json(h, 200, out)
        if method == "GET" and (tail == "" or tail.startswith("revision/")):
            siblings = [{"rfilename": "README.md", "size": 100, "blobId": "1" * 40}]
            for name, spec in repo.files.items():
                siblings.append({"rfilename": name, "size": spec.size, "blobId": "0" * 40,
                                 "lfs": {"size": spec.size, "sha256": spec.published_sha256, "pointerSize": 134}})
            return self._json(h, 200, {
                "id": repo.repo_id, "sha": "a" * 40, "gated": "manual" if repo.gated else False,
                "downloads": repo.downloads, "likes": repo.likes, "tags": ["gguf"], "private": False,
                "siblings": siblings,
                "gguf": {"total": 1_000_000, "architecture": "llama", "context_length": 2048},
            })
        self._json(h, 404, {"error": "not found"})

    def _gate(self, h, repo: RepoSpec, headers: dict) -> bool:
        """True when the request may go on; else answers 401/403 like the hub does for gated repositories."""
        if not repo.gated:
            return True
        auth = headers.get("authorization", "")
        if self.accepted_token and auth == f"Bearer {self.accepted_token}":
            return True
        status = 403 if auth else 401
        msg = (f"Access to model {repo.repo_id} is restricted. You must have access to it and be authenticated "
               "to access it. Please log in.")
        self._json(h, status, {"error": msg}, {"X-Error-Code": "GatedRepo", "X-Error-Message": msg})
        return False

    def _pop_failure(self, h) -> bool:
        with self._lock:
            status = self.fail_next.pop(0) if self.fail_next else None
        if status is None:
            return False
        self._json(h, status, {"error": f"injected {status}"})
        return True

    def _resolve(self, h, method: str, rest: str, headers: dict) -> None:
        repo_part, _, tail = rest.partition("/resolve/")
        repo = self.repos.get(repo_part)
        if repo is None:
            return self._json(h, 401, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
        rev, _, filename = tail.partition("/")
        spec = repo.files.get(filename)
        if spec is None:
            return self._json(h, 404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
        if not self._gate(h, repo, headers):
            return
        if self._pop_failure(h):
            return
        etag = self.etag_override.get(filename, spec.published_sha256)
        if self.redirect:
            loc = f"/cdn/{urllib.parse.quote(repo.repo_id)}/{urllib.parse.quote(filename)}"
            h.send_response(302)
            h.send_header("Location", loc)
            h.send_header("X-Linked-Etag", f'"{etag}"')
            h.send_header("X-Linked-Size", str(spec.size))
            h.send_header("ETag", '"0000000000000000000000000000000000000000"')
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        self._send_bytes(h, method, spec, filename, headers, etag)

    def _cdn(self, h, method: str, rest: str, headers: dict) -> None:
        for repo in self.repos.values():
            if rest.startswith(repo.repo_id + "/"):
                filename = rest[len(repo.repo_id) + 1:]
                spec = repo.files.get(filename)
                if spec is None:
                    break
                if self._pop_failure(h):
                    return
                etag = self.etag_override.get(filename, spec.published_sha256)
                return self._send_bytes(h, method, spec, filename, headers, etag)
        self._json(h, 404, {"error": "no such object"})

    def _send_bytes(self, h, method: str, spec: HubFileSpec, filename: str, headers: dict, etag: str) -> None:
        size = spec.size
        start, end = 0, size - 1
        rng = None if self.ignore_range else headers.get("range")
        status = 200
        if rng and rng.startswith("bytes="):
            a, _, b = rng[len("bytes="):].partition("-")
            start = int(a) if a else 0
            end = int(b) if b else size - 1
            if start >= size:
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{size}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            status = 206
        length = end - start + 1
        h.send_response(status)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Content-Length", str(length))
        h.send_header("ETag", f'"{etag}"')
        if status == 206:
            h.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        h.end_headers()
        if method == "HEAD":
            return
        with self._lock:
            drop = self.drop_after.pop(filename, None) if not rng else None
        throttle = self.throttle_bps
        with spec.path.open("rb") as fh:
            fh.seek(start)
            if drop is None and throttle is None:
                # Fast path for the benchmark: the kernel copies file to socket.
                try:
                    h.wfile.flush()
                    h.connection.sendfile(fh, offset=start, count=length)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                return
            sent = 0
            block = 64 * 1024
            t0 = time.monotonic()
            while sent < length:
                n = min(block, length - sent)
                if drop is not None:
                    n = min(n, drop - sent)
                    if n <= 0:
                        h.wfile.flush()
                        h.close_connection = True
                        h.connection.shutdown(2)  # the connection drops mid-body
                        return
                data = fh.read(n)
                h.wfile.write(data)
                sent += len(data)
                if throttle:
                    ahead = sent / throttle - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)


@pytest.fixture
def fake_hub(monkeypatch):
    hub = FakeHub()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield hub
    hub.stop()


@pytest.fixture
def small_gguf(tmp_path) -> Path:
    return make_gguf(tmp_path / "src" / "Tiny-Test-Q4_K_M.gguf")


# -- download-test helpers (core, hostile and window tests) --------------------------------------
REPO = "test/tiny-GGUF"
FILE = "Tiny-Test-Q4_K_M.gguf"


class Events:
    """Collects progress events (from the download threads) and waits for a final one."""

    def __init__(self):
        self.items = []
        self.cond = threading.Condition()

    def __call__(self, p):
        with self.cond:
            self.items.append(p)
            self.cond.notify_all()

    def wait_for(self, pred, timeout=30.0):
        with self.cond:
            ok = self.cond.wait_for(lambda: any(pred(p) for p in self.items), timeout)
        assert ok, f"timed out; events: {[(p.state.value, p.received, p.message) for p in self.items][-8:]}"
        return next(p for p in self.items if pred(p))

    def final(self, timeout=30.0):
        return self.wait_for(lambda p: p.state in (DownloadState.DONE, DownloadState.FAILED,
                                                    DownloadState.CANCELLED), timeout)

    def states(self):
        return [p.state for p in self.items]


def download_dirs(tmp_path):
    return tmp_path / "cache" / "downloads", tmp_path / "data" / "models"


def download_manager(tmp_path, events, **kw):
    downloads, models = download_dirs(tmp_path)
    kw.setdefault("backoff", 0.05)
    kw.setdefault("timeout", 10.0)
    return DownloadManager(downloads, models, on_event=events, **kw)


def download_to_end(tmp_path, request, **kw):
    """Starts one download on a fresh manager and waits for its final event: (manager, events, final)."""
    events = Events()
    manager = download_manager(tmp_path, events, **kw)
    manager.start(request)
    return manager, events, events.final()


if __name__ == "__main__":  # pragma: no cover - serve one file: python tests/fakehub.py REPO FILENAME PATH
    hub = FakeHub(max_lifetime=float(os.environ.get("FAKEHUB_LIFETIME", "3600")))
    hub.add_file(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
    print(hub.url, flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
    hub.stop()
