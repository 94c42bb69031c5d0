"""Downloads of model files from the hub: threads, no Qt.

One thread per download streams the file over HTTP into a partial file under
`folders.downloads`, beside a small JSON sidecar (url, expected size, sha256,
etag). Dropped connections are retried with exponential back-off and resumed
with an HTTP Range request; a manager started later (the app restarted) finds
the sidecars and resumes the same way. The SHA-256 is computed while the bytes
arrive, on a second thread, so verifying adds almost nothing at the end; only a
file whose checksum matches the published one is moved into `folders.models`.
A mismatch deletes the partial file, leaves nothing under models, and says so.

A hub and the servers it redirects to are untrusted: a download never writes more than
the published size, never starts over more than MAX_RESTARTS times (a server that ignores
Range and drops the connection would otherwise loop for ever), follows redirects only to
http(s) (never to file:, never from https down to http), installs only a file that parses
as a GGUF, and keeps the file inside the models folder whatever its name says (`..`,
`..\\..\\x.gguf`, a drive letter, a Windows device name: see `safe_filename`).

Callers get `DownloadProgress` events (state, bytes, total, speed, ETA,
message) through `on_event`, called from the download threads: a GUI must hop
to its own thread before touching widgets (the library dialog does it with a
signal).

URLs come from huggingface_hub's `hf_hub_url` with the endpoint read now from
HF_ENDPOINT; the transfer itself is plain `http.client` with 1 MiB reads: on
its own it keeps pace with curl (tests/bench/bench_download.py --diagnose); the
SHA-256 (about 1.5 GB/s per core) runs beside it on its own thread, free where
a core is spare, and the one cost curl does not pay where cores are few. The
Hugging Face token, when one is stored, goes as a Bearer header to the hub's
host only, never to the CDN a download is redirected to.
"""
from __future__ import annotations

import errno
import hashlib
import http.client
import json
import os
import queue
import random
import re
import shutil
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Callable

from huggingface_hub import hf_hub_url

from .gguf_info import GGUFError, read_info
from .hardware import fmt_bytes
from .hub import Hub, HubAccessError, HubError, HubUnreachable, access_message, not_found_message, safe_filename

MiB = 1 << 20
SIDECAR_VERSION = 1
USER_AGENT = "ArenaDesk/0.1 (model library; +https://github.com/arenadesk)"
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
MAX_RESTARTS = 3  # times one download may start over from byte 0 before it gives up


class DownloadState(str, Enum):
    QUEUED = "queued"
    RESOLVING = "resolving"  # asking the hub for size and checksum
    DOWNLOADING = "downloading"
    RETRYING = "retrying"  # waiting before the next attempt
    PAUSED = "paused"
    VERIFYING = "verifying"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (DownloadState.PAUSED, DownloadState.DONE, DownloadState.FAILED, DownloadState.CANCELLED)


@dataclass(frozen=True)
class DownloadRequest:
    repo_id: str
    filename: str
    revision: str = "main"
    sha256: str | None = None  # expected; None: the hub's LFS metadata says
    size: int | None = None
    label: str = ""

    @property
    def key(self) -> str:
        """A stable name for this download: the same after a restart."""
        raw = f"{self.repo_id}--{self.filename}" + ("" if self.revision == "main" else f"@{self.revision[:12]}")
        safe = re.sub(r"[^A-Za-z0-9._@-]+", "--", raw)
        if len(safe) > 150:
            safe = safe[:120] + "-" + hashlib.sha1(raw.encode()).hexdigest()[:12]
        return safe

    @property
    def basename(self) -> str:
        return re.split(r"[\\/]", self.filename)[-1]


@dataclass(frozen=True)
class DownloadProgress:
    key: str
    request: DownloadRequest
    state: DownloadState
    received: int = 0
    total: int | None = None
    speed: float = 0.0  # bytes per second, over the last few seconds
    eta: float | None = None  # seconds
    message: str = ""
    path: Path | None = None  # the installed file, once DONE
    sha256: str | None = None  # the verified checksum, once DONE
    resumed_from: int = 0  # bytes already on disk when this run started
    attempts: int = 0

    @property
    def fraction(self) -> float | None:
        return self.received / self.total if self.total else None


class DownloadError(RuntimeError):
    pass


class NotEnoughSpace(DownloadError):
    pass


class ChecksumMismatch(DownloadError):
    pass


class _Stop(Exception):
    """Raised inside a job when the user paused or cancelled it."""


class _Fatal(DownloadError):
    """An error that retrying will not fix (access refused, not found, no space, bad checksum)."""


class _Restart(Exception):
    """The server's file is not the one we were appending to: start from byte 0."""


@dataclass
class Sidecar:
    repo_id: str
    filename: str
    revision: str
    url: str
    size: int | None
    sha256: str | None
    etag: str | None
    label: str = ""
    received: int = 0
    created_at: float = field(default_factory=time.time)
    version: int = SIDECAR_VERSION

    def request(self) -> DownloadRequest:
        return DownloadRequest(self.repo_id, self.filename, self.revision, self.sha256, self.size, self.label)

    @classmethod
    def load(cls, path: Path) -> "Sidecar | None":
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if raw.get("version") != SIDECAR_VERSION:
                return None
            return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")
        os.replace(tmp, path)


def default_free_space(path: Path) -> int:
    return shutil.disk_usage(path).free


def _ssl_context() -> ssl.SSLContext:
    try:
        import truststore  # the operating system's trust store (installed with huggingface_hub's client)

        return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    except Exception:
        pass
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except Exception:
        return ssl.create_default_context()


class _Hasher(threading.Thread):
    """SHA-256 of the partial file: first what is already on disk, then each chunk as it arrives."""

    def __init__(self, path: Path, prefix: int):
        super().__init__(name="arenadesk-sha256", daemon=True)
        self.path, self.prefix = path, prefix
        self.q: queue.Queue = queue.Queue(maxsize=64)
        self.h = hashlib.sha256()
        self.error: BaseException | None = None
        self._abandoned = False
        self.start()

    def run(self) -> None:
        try:
            if self.prefix:
                left = self.prefix
                with self.path.open("rb") as fh:
                    while left and not self._abandoned:
                        block = fh.read(min(8 * MiB, left))
                        if not block:
                            raise DownloadError(f"{self.path.name} shrank while it was being hashed")
                        self.h.update(block)
                        left -= len(block)
            while True:
                item = self.q.get()
                if item is None:
                    return
                if not self._abandoned:
                    self.h.update(item)
        except BaseException as exc:  # noqa: BLE001 - reported by finish()
            self.error = exc
            while self.q.get() is not None:  # keep draining so the writer never blocks
                pass

    def feed(self, data: bytes) -> None:
        self.q.put(data)

    def finish(self) -> str:
        self.q.put(None)
        self.join()
        if self.error:
            raise self.error
        return self.h.hexdigest()

    def abandon(self) -> None:
        self._abandoned = True
        self.q.put(None)


class DownloadManager:
    """Runs downloads on threads. All public methods are safe to call from any thread."""

    def __init__(
        self,
        downloads_dir: Path,
        models_dir: Path,
        *,
        token: str | Callable[[], str | None] | None = None,
        on_event: Callable[[DownloadProgress], None] | None = None,
        on_installed: Callable[[DownloadProgress], None] | None = None,
        free_space: Callable[[Path], int] = default_free_space,
        hub: Hub | None = None,
        chunk_size: int = 1 * MiB,
        retries: int = 6,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        timeout: float = 30.0,
        progress_interval: float = 0.1,
        space_margin: int = 64 * MiB,
    ):
        self.downloads_dir = Path(downloads_dir)
        self.models_dir = Path(models_dir)
        self.downloads_dir.mkdir(parents=True, exist_ok=True)
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self._token = token
        self.on_event = on_event
        self.on_installed = on_installed
        self.free_space = free_space
        self.hub = hub or Hub(token)
        self.chunk_size = chunk_size
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.progress_interval = progress_interval
        self.space_margin = space_margin
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._last: dict[str, DownloadProgress] = {}

    @classmethod
    def for_services(cls, services, on_event=None, **kw) -> "DownloadManager":
        """A manager wired to the app: its folders, the keychain's HF token, installs recorded in the store."""
        from ..secrets import HUGGINGFACE
        from .installed import record_download

        def token() -> str | None:
            return services.secrets.get(HUGGINGFACE).value

        def installed(p: DownloadProgress) -> None:
            record_download(services, p.path, sha256=p.sha256, source=p.request.repo_id)

        return cls(services.folders.downloads, services.folders.models, token=token, on_event=on_event,
                   on_installed=installed, **kw)

    # -- paths ---------------------------------------------------------------------------------
    def partial_path(self, key: str) -> Path:
        return self.downloads_dir / f"{key}.part"

    def sidecar_path(self, key: str) -> Path:
        return self.downloads_dir / f"{key}.json"

    def destination(self, request: DownloadRequest) -> Path:
        """models/<owner>/<repo>/<file>: files from different repositories never collide, and
        nothing a hub names lands outside the models folder (DownloadError when it would)."""
        name = safe_filename(request.filename)
        parts = [safe_filename(p) for p in re.split(r"[\\/]", request.repo_id) if p not in ("", ".")]
        if name is None or not name.lower().endswith(".gguf") or None in parts:
            raise DownloadError(f"The hub names the file {request.repo_id}/{request.filename!r}, which is not a safe "
                                "GGUF file name (it would leave the models folder or is not a .gguf); nothing was "
                                "downloaded.")
        dest = self.models_dir.joinpath(*parts, name)
        root = self.models_dir.resolve()
        if root not in dest.resolve().parents:
            raise DownloadError(f"{request.filename!r} would be saved outside {self.models_dir}; nothing was downloaded.")
        return dest

    def token(self) -> str | None:
        t = self._token() if callable(self._token) else self._token
        return t or None

    # -- control -------------------------------------------------------------------------------
    def start(self, request: DownloadRequest) -> str:
        """Start (or resume, when a partial file exists) a download; returns its key."""
        key = request.key
        with self._lock:
            job = self._jobs.get(key)
            # A job made by another caller but not started yet counts as running: two threads must never
            # append to the same partial file.
            if job and (job.is_alive() or not job.launched):
                return key
            job = self._jobs[key] = _Job(self, request)
        self._emit(DownloadProgress(key, request, DownloadState.QUEUED, message="Waiting to start"))
        job.start()
        job.launched = True
        return key

    def resume(self, key: str) -> str:
        """Resume a paused download, or one left by an earlier run of the app (see pending())."""
        with self._lock:
            job = self._jobs.get(key)
        if job is not None:
            return self.start(job.request)
        sidecar = Sidecar.load(self.sidecar_path(key))
        if sidecar is None:
            raise DownloadError(f"No download {key!r} to resume.")
        return self.start(sidecar.request())

    def pause(self, key: str) -> None:
        with self._lock:
            job = self._jobs.get(key)
        if job is not None:
            job.stop("pause")

    def cancel(self, key: str) -> None:
        """Stop and delete the partial file. Works on running, paused and left-over downloads."""
        with self._lock:
            job = self._jobs.get(key)
        if job is not None and job.is_alive():
            job.stop("cancel")
            return
        request = job.request if job else None
        sidecar = Sidecar.load(self.sidecar_path(key))
        if request is None and sidecar is not None:
            request = sidecar.request()
        self._remove_partial(key)
        if request is not None:
            self._emit(DownloadProgress(key, request, DownloadState.CANCELLED, message="Cancelled; partial file deleted"))

    def wait(self, key: str, timeout: float | None = None) -> DownloadProgress:
        with self._lock:
            job = self._jobs.get(key)
        if job is not None:
            job.join(timeout)
        return self.status(key)

    def status(self, key: str) -> DownloadProgress | None:
        with self._lock:
            return self._last.get(key)

    def active(self) -> list[str]:
        with self._lock:
            return [k for k, j in self._jobs.items() if j.is_alive()]

    def pending(self) -> list[DownloadProgress]:
        """Downloads with a partial file on disk and no thread running: paused, or left by an earlier run."""
        out = []
        running = set(self.active())
        for sc_path in sorted(self.downloads_dir.glob("*.json")):
            key = sc_path.name[: -len(".json")]
            if key in running:
                continue
            sc = Sidecar.load(sc_path)
            if sc is None:
                continue
            part = self.partial_path(key)
            received = part.stat().st_size if part.exists() else 0
            out.append(DownloadProgress(key, sc.request(), DownloadState.PAUSED, received, sc.size,
                                        message=f"Paused at {fmt_bytes(received)} of {fmt_bytes(sc.size)}"))
        return out

    def shutdown(self, timeout: float = 10.0) -> None:
        """Pause every running download (their partial files stay for next time) and wait for the threads."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.is_alive()]
        for j in jobs:
            j.stop("pause")
        deadline = time.monotonic() + timeout
        for j in jobs:
            j.join(max(0.0, deadline - time.monotonic()))

    # -- checks ------------------------------------------------------------------------------
    def check_space(self, request: DownloadRequest, total: int, already: int = 0) -> None:
        """Raise NotEnoughSpace unless the rest of the file (and its final copy, across disks) fits."""
        needs = [(self.downloads_dir, total - already + self.space_margin)]
        try:
            same_disk = os.stat(self.downloads_dir).st_dev == os.stat(self.models_dir).st_dev
        except OSError:
            same_disk = True
        if not same_disk:
            needs.append((self.models_dir, total + self.space_margin))
        for folder, need in needs:
            free = self.free_space(folder)
            if free < need:
                raise NotEnoughSpace(
                    f"Not enough free disk space for {request.basename}: it needs {fmt_bytes(need)} "
                    f"({fmt_bytes(total)} file{', ' + fmt_bytes(already) + ' already downloaded' if already else ''}) "
                    f"and {folder} has {fmt_bytes(free)} free. Free some space (or delete models you no longer "
                    "use in the Installed tab) and start the download again."
                )

    # -- internals -----------------------------------------------------------------------------
    def _emit(self, p: DownloadProgress) -> None:
        with self._lock:
            self._last[p.key] = p
        if self.on_event is not None:
            try:
                self.on_event(p)
            except Exception:  # a listener's bug must not kill the download
                pass

    def _remove_partial(self, key: str) -> None:
        for p in (self.partial_path(key), self.sidecar_path(key)):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
            except OSError:  # still open elsewhere (Windows): emptied instead, so nothing stale is resumed
                try:
                    p.write_bytes(b"")
                except OSError:
                    pass


class _Job(threading.Thread):
    def __init__(self, manager: DownloadManager, request: DownloadRequest):
        super().__init__(name=f"arenadesk-download-{request.basename}", daemon=True)
        self.m = manager
        self.request = request
        self.key = request.key
        self._stop_event = threading.Event()
        self._stop_kind = ""
        self._progress = DownloadProgress(self.key, request, DownloadState.QUEUED)
        self._samples: deque = deque()
        self._last_emit = 0.0
        self._response: http.client.HTTPResponse | None = None
        self._socket: socket.socket | None = None
        self.launched = False  # set by DownloadManager.start once the thread has been started

    # -- control -------------------------------------------------------------------------------
    def stop(self, kind: str) -> None:
        self._stop_kind = kind
        self._stop_event.set()
        sock = self._socket
        if sock is not None:  # unblock a read waiting on a slow or stalled server
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _check_stop(self) -> None:
        if self._stop_event.is_set():
            raise _Stop(self._stop_kind)

    def _set(self, **changes) -> DownloadProgress:
        self._progress = replace(self._progress, **changes)
        return self._progress

    def _emit(self, force: bool = True, **changes) -> None:
        p = self._set(**changes)
        now = time.monotonic()
        if force or now - self._last_emit >= self.m.progress_interval:
            self._last_emit = now
            self.m._emit(p)

    # -- the download ----------------------------------------------------------------------------
    def run(self) -> None:
        m, req, key = self.m, self.request, self.key
        part, sc_path = m.partial_path(key), m.sidecar_path(key)
        hasher: _Hasher | None = None
        fh = None
        try:
            m.destination(req)  # a name that would leave the models folder fails before any byte is fetched
            sidecar = Sidecar.load(sc_path) if part.exists() else None
            if sidecar is None:
                sidecar = self._resolve()
            already = part.stat().st_size if part.exists() else 0
            if sidecar.size is not None and already > sidecar.size:
                part.unlink()
                already = 0
            self._set(total=sidecar.size, received=already, resumed_from=already)
            if sidecar.size is not None:
                m.check_space(req, sidecar.size, already)
            sidecar.received = already
            sidecar.save(sc_path)
            self._check_stop()

            fh = part.open("ab")
            hasher = _Hasher(part, already)
            attempts = restarts = 0
            while True:
                self._check_stop()
                offset = fh.tell()
                if sidecar.size is not None and offset >= sidecar.size:
                    break
                progressed = False
                try:
                    before = offset
                    done = self._transfer(sidecar, fh, hasher, offset, sc_path)
                    progressed = fh.tell() > before
                    if done:
                        break
                    raise ConnectionError(f"the connection dropped at {fmt_bytes(fh.tell())}")
                except _Restart as why:
                    restarts += 1
                    if restarts > MAX_RESTARTS:
                        raise _Fatal(f"Downloading {req.basename} had to start over {restarts} times ({why}); the "
                                     "server does not resume downloads reliably. Try again later.") from None
                    fh.seek(0)
                    fh.truncate()
                    hasher.abandon()
                    hasher = _Hasher(part, 0)
                    self._emit(received=0, resumed_from=0, message=f"Starting over: {why}")
                    continue
                except (_Stop, _Fatal):
                    raise
                except (OSError, http.client.HTTPException, _Retryable) as exc:
                    if self._stop_event.is_set():
                        raise _Stop(self._stop_kind) from None
                    progressed = progressed or fh.tell() > offset
                    attempts = 1 if progressed else attempts + 1
                    offline = is_offline(exc)
                    if attempts > m.retries and offline:
                        # Not a fault of the file or the server: wait, paused, for the user (or the
                        # next start of the app) to resume, rather than fail or retry for ever.
                        raise _Stop("offline") from None
                    if attempts > m.retries:
                        raise _Fatal(
                            f"Downloading {req.basename} failed {attempts} times in a row ({_describe(exc)}). "
                            f"{fmt_bytes(fh.tell())} are kept; resume the download when the connection is back."
                        ) from None
                    delay = min(m.max_backoff, m.backoff * 2 ** (attempts - 1)) * (0.8 + 0.4 * random.random())
                    fh.flush()
                    sidecar.received = fh.tell()
                    sidecar.save(sc_path)
                    message = (f"{OFFLINE} (trying again in {delay:.0f} s, {attempts} of {m.retries})" if offline else
                               f"{_describe(exc)}; retrying in {delay:.1f} s (attempt {attempts + 1})")
                    self._emit(state=DownloadState.RETRYING, attempts=attempts, speed=0.0, eta=None, message=message)
                    if self._stop_event.wait(delay):
                        raise _Stop(self._stop_kind) from None

            # Complete: verify, then promote. No fsync: it would add seconds per GB on a slow disk, and a file a
            # power cut leaves short or damaged is caught by the checksum (partial) or by the header and size
            # check every listing makes (installed); curl, pip and huggingface_hub do not fsync either.
            fh.flush()
            fh.close()
            fh = None
            received = part.stat().st_size
            self._emit(state=DownloadState.VERIFYING, received=received, speed=0.0, eta=0.0,
                       message="Checking the SHA-256 checksum")
            digest = hasher.finish()
            hasher = None
            if sidecar.size is not None and received != sidecar.size:
                m._remove_partial(key)
                raise ChecksumMismatch(
                    f"{req.basename} arrived with {received:,} bytes instead of {sidecar.size:,}; it was deleted "
                    "and nothing was installed. Start the download again."
                )
            if sidecar.sha256 and digest != sidecar.sha256:
                m._remove_partial(key)
                raise ChecksumMismatch(
                    f"{req.basename} failed verification: its SHA-256 is {digest[:16]}… but the published checksum "
                    f"is {sidecar.sha256[:16]}…. The file was deleted and nothing was installed. Try again; if it "
                    "happens again the file on the hub may have been replaced, so search for the repository again."
                )
            try:  # a checksum only says the bytes are the published ones, not that they are a model
                read_info(part)
            except GGUFError as exc:
                m._remove_partial(key)
                raise DownloadError(f"{req.basename} is not a usable GGUF model file ({exc}); it was deleted and "
                                    "nothing was installed.") from None
            dest = self._promote(part, digest)
            m._remove_partial(key)
            done = self._set(state=DownloadState.DONE, path=dest, sha256=digest, received=received, eta=0.0,
                             message=f"Installed {dest.name} ({fmt_bytes(received)}, SHA-256 verified)")
            if m.on_installed is not None:
                try:
                    m.on_installed(done)
                except Exception as exc:  # the file is in place; say the library could not record it
                    done = self._set(message=done.message + f" (not recorded in the library: {exc})")
            m._emit(done)
        except _Stop as stop:
            if fh is not None:
                fh.flush()
                fh.close()
                fh = None
            if hasher is not None:
                hasher.abandon()
            if str(stop) == "cancel":
                m._remove_partial(key)
                m._emit(replace(self._progress, state=DownloadState.CANCELLED, speed=0.0, eta=None,
                                message="Cancelled; partial file deleted"))
            else:
                size = part.stat().st_size if part.exists() else 0
                sc = Sidecar.load(sc_path)
                if sc is not None:
                    sc.received = size
                    sc.save(sc_path)
                message = f"Paused at {fmt_bytes(size)}"
                if str(stop) == "offline":
                    message = (f"Offline — paused at {fmt_bytes(size)}. Press Resume when the connection is back "
                               "(the download goes on from there).")
                m._emit(replace(self._progress, state=DownloadState.PAUSED, received=size, speed=0.0, eta=None,
                                message=message))
        except (DownloadError, HubError) as exc:
            self._fail(str(exc), fh, hasher)
        except Exception as exc:  # noqa: BLE001 - a bug or an unexpected OS error: report, keep the partial
            self._fail(f"Downloading {req.basename} stopped: {_unwritable(exc) or f'{type(exc).__name__}: {exc}'}",
                       fh, hasher)

    def _fail(self, message: str, fh, hasher) -> None:
        if fh is not None:
            try:
                fh.close()
            except OSError:
                pass
        if hasher is not None:
            hasher.abandon()
        part = self.m.partial_path(self.key)
        if not part.exists() or part.stat().st_size == 0:
            self.m._remove_partial(self.key)  # nothing worth resuming: leave no trace
        self.m._emit(replace(self._progress, state=DownloadState.FAILED, speed=0.0, eta=None, message=message))

    def _resolve(self) -> Sidecar:
        """Size and checksum before any byte is fetched: the catalog's, checked against the hub's LFS metadata."""
        req = self.request
        self._emit(state=DownloadState.RESOLVING, message="Asking the hub for the file's size and checksum")
        sha, size, note = req.sha256, req.size, ""
        attempts = 0
        while True:
            try:
                meta = self.m.hub.file_metadata(req.repo_id, req.filename, revision=req.revision)
                break
            except HubAccessError as exc:
                raise _Fatal(str(exc)) from None
            except HubUnreachable as exc:
                meta = None
                if sha:
                    note = " (the hub could not be reached to confirm the catalog's checksum)"
                    break
                # Without any checksum the file could not be verified: wait for the hub, as a
                # transfer does, rather than download it unchecked.
                attempts += 1
                if attempts > self.m.retries:
                    raise _Stop("offline") from None
                delay = min(self.m.max_backoff, self.m.backoff * 2 ** (attempts - 1)) * (0.8 + 0.4 * random.random())
                self._emit(state=DownloadState.RETRYING, attempts=attempts, speed=0.0, eta=None,
                           message=f"{OFFLINE} (trying again in {delay:.0f} s, {attempts} of {self.m.retries})")
                if self._stop_event.wait(delay):
                    raise _Stop(self._stop_kind) from None
                self._emit(state=DownloadState.RESOLVING, message="Asking the hub for the file's size and checksum")
            except HubError as exc:
                meta = None
                if not sha:
                    note = f" (the hub's metadata was not available: {exc})"
                break
        if meta is not None:
            if meta.sha256 and sha and meta.sha256 != sha:
                note = (" The file on the hub was replaced since the catalog was written; it is checked against the "
                        "hub's current SHA-256.")
            sha = meta.sha256 or sha
            size = meta.size or size
        url = hf_hub_url(req.repo_id, req.filename, revision=req.revision, endpoint=self.m.hub.endpoint)
        if note:
            self._emit(message=note.strip())
        return Sidecar(req.repo_id, req.filename, req.revision, url, size, sha, None, req.label)

    # -- HTTP ----------------------------------------------------------------------------------
    def _open(self, url: str, offset: int) -> tuple[http.client.HTTPResponse, dict]:
        """GET url from `offset`, following redirects. Returns the final response and the first one's headers."""
        hub_host = urllib.parse.urlsplit(self.m.hub.endpoint).netloc
        token = self.m.token()
        first: dict | None = None
        for _hop in range(8):
            u = urllib.parse.urlsplit(url)
            headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
            if offset:
                headers["Range"] = f"bytes={offset}-"
            if token and u.netloc == hub_host:
                headers["Authorization"] = f"Bearer {token}"
            conn = _connection(u, self.m.timeout)
            path = u.path + ("?" + u.query if u.query else "")
            if getattr(conn, "_arenadesk_absolute", False):
                path = url
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            if first is None:
                first = {k.lower(): v for k, v in resp.getheaders()}
            if resp.status in (301, 302, 303, 307, 308):
                location = resp.getheader("Location")
                resp.read()
                conn.close()
                if not location:
                    raise _Retryable(f"HTTP {resp.status} without a Location")
                target = urllib.parse.urljoin(url, location)
                scheme = urllib.parse.urlsplit(target).scheme.lower()
                if scheme not in ("http", "https") or (u.scheme == "https" and scheme != "https"):
                    raise _Fatal(f"The server redirected the download of {self.request.basename} to "
                                 f"{scheme or 'an unknown'}: address, which ArenaDesk does not follow.")
                url = target
                continue
            return resp, first
        raise _Fatal(f"Too many redirects while downloading {self.request.basename}.")

    def _transfer(self, sidecar: Sidecar, fh, hasher: _Hasher, offset: int, sc_path: Path) -> bool:
        """One HTTP attempt from `offset`. True when the file is complete."""
        m, req = self.m, self.request
        resp, first = self._open(sidecar.url, offset)
        self._response = resp
        self._socket = getattr(getattr(resp.fp, "raw", None), "_sock", None)
        self._check_stop()
        try:
            status = resp.status
            if status in (401, 403):
                code = resp.getheader("X-Error-Code") or ""
                if code == "RepoNotFound" and not m.token():
                    raise _Fatal(not_found_message(req.repo_id, status))
                raise _Fatal(access_message(req.repo_id, status, has_token=bool(m.token()), hub=m.hub.endpoint))
            if status == 404:
                raise _Fatal(f"{req.filename} was not found in {req.repo_id} (HTTP 404): it may have been renamed or "
                             "removed. Search for the repository again to see its current files.")
            if status == 416:
                if sidecar.size is not None and offset >= sidecar.size:
                    return True
                raise _Restart("the server refused to resume from the bytes already downloaded")
            if status == 429 or status >= 500:
                raise _Retryable(f"HTTP {status} from the server")
            if status not in (200, 206):
                raise _Fatal(f"The server answered HTTP {status} for {req.filename}.")

            # Is this still the same file? (ETag of the hub's answer, or of the file server's.)
            etag = _clean_etag(first.get("x-linked-etag") or first.get("etag") or resp.getheader("ETag"))
            linked_size = first.get("x-linked-size")
            if sidecar.etag and etag and etag != sidecar.etag:
                sidecar.etag = etag
                if _SHA_RE.match(etag):
                    sidecar.sha256 = etag
                sidecar.size = int(linked_size) if linked_size and linked_size.isdigit() else None
                sidecar.save(sc_path)
                if offset:
                    raise _Restart("the file on the server changed since the download began")
            if etag and not sidecar.etag:
                sidecar.etag = etag
            if not sidecar.sha256 and etag and _SHA_RE.match(etag):
                sidecar.sha256 = etag  # the hub's ETag for an LFS file is its SHA-256

            if status == 206:
                m_range = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", resp.getheader("Content-Range") or "")
                if not m_range or int(m_range.group(1)) != offset:
                    raise _Restart("the server sent a different part of the file than asked for")
                total = int(m_range.group(3)) if m_range.group(3) != "*" else None
            else:
                if offset:
                    raise _Restart("the server does not support resuming")
                length = resp.getheader("Content-Length")
                total = int(length) if length and length.isdigit() else None
            if total is None and linked_size and linked_size.isdigit():
                total = int(linked_size)
            if sidecar.size is None and total is not None:
                sidecar.size = total
                m.check_space(req, total, offset)
            elif total is not None and sidecar.size != total:
                if offset:
                    raise _Restart("the file's size on the server changed")
                raise _Fatal(f"The server offers {total:,} bytes for {req.basename}, but {sidecar.size:,} are "
                             "published; nothing was installed. Try again later.")
            if sidecar.size is None:
                raise _Fatal(f"Neither the hub nor the server says how big {req.filename} is, so the download could "
                             "not be bounded; ArenaDesk only installs files it can check.")
            if not sidecar.sha256:
                raise _Fatal(f"The hub publishes no SHA-256 for {req.filename}, so it cannot be verified; "
                             "ArenaDesk only installs files it can check.")
            sidecar.received = offset
            sidecar.save(sc_path)
            self._emit(state=DownloadState.DOWNLOADING, total=sidecar.size, attempts=0,
                       message="Resuming" if offset else "Downloading")

            chunk = m.chunk_size
            received = offset
            read = resp.read
            write = fh.write
            feed = hasher.feed
            limit = sidecar.size  # never more than the published size, whatever the server says or sends
            while True:
                self._check_stop()
                data = read(chunk)
                if not data:
                    break
                if limit is not None and received + len(data) > limit:
                    fh.truncate(0)  # what came is not the published file: nothing of it is kept
                    raise _Fatal(f"The server sent more than the {limit:,} bytes published for {req.basename}; the "
                                 "download was stopped and deleted, nothing was installed.")
                try:
                    write(data)
                except OSError as exc:  # the disk, not the network: retrying will not help
                    raise _Fatal(
                        f"Could not write {req.basename} to {fh.name} ({exc.strerror or exc}). "
                        + ("The disk is full: free some space, then resume the download."
                           if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "Check the disk, then resume.")
                    ) from None
                feed(data)
                received += len(data)
                self._tick(received)
            fh.flush()
            self._check_stop()
            if sidecar.size is not None:
                return received >= sidecar.size
            return resp.length in (None, 0)  # unknown length: complete when the server ended the body cleanly
        except (OSError, ValueError, http.client.HTTPException) as exc:
            if self._stop_event.is_set():  # stop() shut the socket down under the read
                raise _Stop(self._stop_kind) from None
            if isinstance(exc, ValueError):
                raise _Retryable(str(exc)) from None
            raise
        finally:
            self._response = None
            self._socket = None
            try:
                resp.close()
            except Exception:
                pass

    def _tick(self, received: int) -> None:
        now = time.monotonic()
        s = self._samples
        s.append((now, received))
        while len(s) > 2 and now - s[0][0] > 3.0:
            s.popleft()
        if now - self._last_emit < self.m.progress_interval:
            self._progress = replace(self._progress, received=received)
            return
        t0, r0 = s[0]
        speed = (received - r0) / (now - t0) if now > t0 else 0.0
        total = self._progress.total
        eta = (total - received) / speed if speed > 0 and total else None
        self._emit(force=False, state=DownloadState.DOWNLOADING, received=received, speed=speed, eta=eta,
                   message="")

    def _promote(self, part: Path, digest: str) -> Path:
        """Move the verified file into the models folder (a copy then a rename when it is on another disk)."""
        dest = self.m.destination(self.request)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(part, dest)
        except OSError:
            tmp = dest.with_name(f".{dest.name}.copying")
            shutil.copyfile(part, tmp)
            os.replace(tmp, dest)
            part.unlink()
        return dest


class _Retryable(Exception):
    pass


OFFLINE = "Offline — will resume when the connection is back"

# Errors that say "no network here" rather than "that server misbehaved".
_OFFLINE_ERRNOS = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.ECONNREFUSED, errno.EADDRNOTAVAIL}


def is_offline(exc: BaseException) -> bool:
    """The hub cannot be reached at all: no name resolution, no route, nothing listening."""
    if isinstance(exc, socket.gaierror):
        return True
    return isinstance(exc, OSError) and exc.errno in _OFFLINE_ERRNOS


def _clean_etag(etag: str | None) -> str | None:
    if not etag:
        return None
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"') or None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, http.client.IncompleteRead):
        return "the connection dropped"
    if isinstance(exc, TimeoutError):
        return "the server stopped sending (timed out)"
    if is_offline(exc):
        return OFFLINE
    if isinstance(exc, ConnectionError):
        return str(exc) if str(exc) and not str(exc).startswith("[Errno") else "the connection dropped"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]  # no "[Errno 104]" in front of the words
    return str(exc) or type(exc).__name__


def _connection(u: urllib.parse.SplitResult, timeout: float) -> http.client.HTTPConnection:
    """A connection to u's host, through the proxy the environment names (HTTPS_PROXY / HTTP_PROXY), if any."""
    host, port = u.hostname or "", u.port
    proxies = urllib.request.getproxies()
    proxy = proxies.get(u.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        p = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if u.scheme == "https":
            conn = http.client.HTTPSConnection(p.hostname, p.port or 8080, timeout=timeout, context=_ssl_context())
            conn.set_tunnel(host, port or 443)
            return conn
        conn = http.client.HTTPConnection(p.hostname, p.port or 8080, timeout=timeout)
        conn._arenadesk_absolute = True  # type: ignore[attr-defined]
        return conn
    if u.scheme == "https":
        return http.client.HTTPSConnection(host, port or 443, timeout=timeout, context=_ssl_context())
    return http.client.HTTPConnection(host, port or 80, timeout=timeout)


__all__ = [
    "ChecksumMismatch", "DownloadError", "DownloadManager", "DownloadProgress", "DownloadRequest", "DownloadState",
    "NotEnoughSpace", "Sidecar",
]


def _unwritable(exc: BaseException) -> str | None:
    """A folder the download cannot write (read-only, no permission, full) in words with the way
    out; None for any other error."""
    if not isinstance(exc, OSError) or exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC,
                                                         errno.EDQUOT):
        return None
    where = os.path.dirname(exc.filename) if isinstance(exc.filename, str) else "a folder it needs"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{where} is full. Free some space, then start the download again."
    return (f"{where} cannot be written ({exc.strerror}). Make it writable, or start ArenaDesk with a data "
            "folder that is (--home or ARENADESK_HOME), then start the download again.")
