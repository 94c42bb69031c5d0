"""A misbehaving hub: bodies with no Content-Length that run on past the file, lying
lengths, Range ignored with a dropped connection, redirects to file: and to another host,
a file that matches its published checksum but is no GGUF, and file names that try to leave
the models folder under Linux and Windows path rules.

Rules checked: a download never writes more than the published size, never loops, never
installs a file that is not a loadable GGUF, never leaves the models folder."""
from __future__ import annotations

import os
import re
import threading
import warnings
import time
from pathlib import Path, PureWindowsPath

import pytest

from desktop.core.library.downloads import MAX_RESTARTS, DownloadRequest, DownloadState
from desktop.core.library.hub import Hub, safe_filename
from fakehub import FILE, REPO, Events, FakeHub, download_dirs, download_manager, make_gguf
MiB = 1 << 20


class HostileHub(FakeHub):
    """FakeHub whose file server misbehaves as `mode` says (the API answers stay honest)."""

    def __init__(self, mode: str, **kw):
        super().__init__(**kw)
        self.mode = mode
        self.body_bytes_sent = 0
        self.location = ""

    def _cdn(self, h, method, rest, headers):
        if self.mode == "flood":  # no Content-Length: the file, then 40 MB more, then the end
            spec = next(iter(next(iter(self.repos.values())).files.values()))
            h.send_response(200)
            h.send_header("Content-Type", "application/octet-stream")
            h.send_header("Connection", "close")
            h.send_header("ETag", f'"{spec.published_sha256}"')
            h.end_headers()
            h.close_connection = True
            try:
                h.wfile.write(spec.path.read_bytes())
                for _ in range(40):
                    h.wfile.write(b"\x00" * MiB)
                    self.body_bytes_sent += MiB
            except OSError:
                pass
            return
        if self.mode == "short_ignoring_range":  # claims the published size, sends 10 bytes, drops
            spec = next(iter(next(iter(self.repos.values())).files.values()))
            h.send_response(200)  # whatever Range asked for
            h.send_header("Content-Length", str(spec.size))
            h.send_header("ETag", f'"{spec.published_sha256}"')
            h.end_headers()
            h.wfile.write(b"GGUF\x03\x00\x00\x00\x00\x00")
            h.wfile.flush()
            h.close_connection = True  # the body ends here, far short of its Content-Length
            return
        if self.mode == "claims_2gb":  # a Content-Length far beyond the published size, 10 bytes, drop
            spec = next(iter(next(iter(self.repos.values())).files.values()))
            h.send_response(200)
            h.send_header("Content-Length", str(2_000_000_000))
            h.send_header("ETag", f'"{spec.published_sha256}"')
            h.end_headers()
            h.wfile.write(b"GGUF\x03\x00\x00\x00\x00\x00")
            h.wfile.flush()
            h.close_connection = True
            return
        if self.mode == "redirect_loop":  # every answer sends the client back to where it came from
            h.send_response(302)
            h.send_header("Location", h.path)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if self.mode == "redirect":
            h.send_response(302)
            h.send_header("Location", self.location)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        return super()._cdn(h, method, rest, headers)


@pytest.fixture
def hostile_hub(monkeypatch, request):
    hub = HostileHub(request.param)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield hub
    hub.stop()


def _largest_partial(downloads: Path, stop: threading.Event, seen: list[int]) -> None:
    while not stop.is_set():
        for p in downloads.glob("*.part"):
            try:
                seen.append(p.stat().st_size)
            except OSError:
                pass
        time.sleep(0.002)


def _nothing_installed(tmp_path) -> None:
    _, models = download_dirs(tmp_path)
    assert not any(p.is_file() for p in models.rglob("*")) if models.exists() else True
    assert not [p for p in tmp_path.rglob("*.gguf") if "src" not in p.parts]


@pytest.mark.parametrize("hostile_hub", ["flood"], indirect=True)
def test_a_body_without_content_length_never_writes_past_the_published_size(hostile_hub, tmp_path):
    src = make_gguf(tmp_path / "src" / FILE, n_floats=64 * 1024)
    spec = hostile_hub.add_file(REPO, FILE, src)
    events = Events()
    m = download_manager(tmp_path, events, chunk_size=64 * 1024)
    downloads, _ = download_dirs(tmp_path)
    downloads.mkdir(parents=True, exist_ok=True)
    seen: list[int] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_largest_partial, args=(downloads, stop, seen), daemon=True)
    watcher.start()
    m.start(DownloadRequest(REPO, FILE))
    done = events.final()
    stop.set()
    watcher.join()
    assert done.state == DownloadState.FAILED
    assert "more than" in done.message and f"{spec.size:,}" in done.message
    assert max(seen, default=0) <= spec.size  # before: 300 MB for a 1 MB file
    assert not list(downloads.glob("*.part")) or all(p.stat().st_size == 0 for p in downloads.glob("*.part"))
    _nothing_installed(tmp_path)


@pytest.mark.parametrize("hostile_hub", ["short_ignoring_range"], indirect=True)
def test_a_server_that_ignores_range_and_drops_never_loops(hostile_hub, tmp_path):
    src = make_gguf(tmp_path / "src" / FILE, n_floats=64 * 1024)
    hostile_hub.add_file(REPO, FILE, src)
    events = Events()
    m = download_manager(tmp_path, events, retries=3, backoff=0.01, max_backoff=0.02)
    m.start(DownloadRequest(REPO, FILE))
    done = events.final(timeout=60)
    assert done.state == DownloadState.FAILED
    assert "start over" in done.message
    body_requests = len(hostile_hub.body_requests())
    # Each try is a redirect and a body request, twice per start-over (from 0, then a resume refused).
    assert body_requests <= 4 * (MAX_RESTARTS + 2)  # before: 590 requests in 60 s, and on for ever
    _nothing_installed(tmp_path)


@pytest.mark.parametrize("hostile_hub", ["claims_2gb"], indirect=True)
def test_a_server_that_claims_another_size_is_refused_at_once(hostile_hub, tmp_path):
    """The finding: a server claiming 2 GB, sending 10 bytes and ignoring Range made an endless
    restart loop. A size the server states that is not the published one fails the download."""
    src = make_gguf(tmp_path / "src" / FILE, n_floats=64 * 1024)
    spec = hostile_hub.add_file(REPO, FILE, src)
    events = Events()
    m = download_manager(tmp_path, events, retries=3, backoff=0.01, max_backoff=0.02)
    m.start(DownloadRequest(REPO, FILE))
    done = events.final(timeout=60)
    assert done.state == DownloadState.FAILED
    assert "2,000,000,000 bytes" in done.message and f"{spec.size:,} are published" in done.message
    assert len(hostile_hub.body_requests()) <= 2
    _nothing_installed(tmp_path)


@pytest.mark.parametrize("hostile_hub", ["redirect_loop"], indirect=True)
def test_a_redirect_loop_ends_with_a_plain_error(hostile_hub, tmp_path):
    src = make_gguf(tmp_path / "src" / FILE, n_floats=16 * 1024)
    hostile_hub.add_file(REPO, FILE, src)
    events = Events()
    m = download_manager(tmp_path, events, retries=3, backoff=0.01, max_backoff=0.02)
    m.start(DownloadRequest(REPO, FILE))
    done = events.final(timeout=60)
    assert done.state == DownloadState.FAILED and "Too many redirects" in done.message
    assert len(hostile_hub.requests) < 40  # a bounded number of hops, not a loop
    _nothing_installed(tmp_path)


def test_a_file_with_the_published_checksum_that_is_no_gguf_is_not_installed(fake_hub, tmp_path):
    src = tmp_path / "src" / FILE
    src.parent.mkdir(parents=True)
    src.write_bytes(os.urandom(300_000))  # the hub publishes this file's real SHA-256
    fake_hub.add_file(REPO, FILE, src)
    events = Events()
    m = download_manager(tmp_path, events)
    m.start(DownloadRequest(REPO, FILE))
    done = events.final()
    assert done.state == DownloadState.FAILED
    assert "not a usable GGUF" in done.message
    _nothing_installed(tmp_path)


@pytest.mark.parametrize("hostile_hub", ["redirect"], indirect=True)
@pytest.mark.parametrize("location", ["file:///etc/passwd", "FILE:///etc/passwd", "file:/etc/passwd",
                                      "ftp://127.0.0.1/x.gguf", "gopher://127.0.0.1:1/x",
                                      "data:application/octet-stream;base64,R0dVRgM=", "jar:file:///x.zip!/x.gguf"])
def test_a_redirect_to_anything_but_http_is_not_followed(hostile_hub, tmp_path, location):
    src = make_gguf(tmp_path / "src" / FILE, n_floats=16 * 1024)
    hostile_hub.add_file(REPO, FILE, src)
    hostile_hub.location = location
    events = Events()
    m = download_manager(tmp_path, events)
    m.start(DownloadRequest(REPO, FILE))
    done = events.final()
    assert done.state == DownloadState.FAILED and "does not follow" in done.message
    _nothing_installed(tmp_path)


@pytest.mark.parametrize("hostile_hub", ["redirect"], indirect=True)
def test_a_redirect_to_another_host_works_without_the_token(hostile_hub, tmp_path):
    src = make_gguf(tmp_path / "src" / FILE, n_floats=16 * 1024)
    hostile_hub.add_file(REPO, FILE, src)
    other = FakeHub()
    try:
        other.add_file(REPO, FILE, src)
        hostile_hub.location = other.url.replace("127.0.0.1", "localhost") + f"/cdn/{REPO}/{FILE}"
        events = Events()
        m = download_manager(tmp_path, events)
        m._token = "hf_SecretTokenValue123"
        m.start(DownloadRequest(REPO, FILE))
        done = events.final()
        assert done.state == DownloadState.DONE, done.message
        assert all("authorization" not in h for _m, _p, h in other.requests)
    finally:
        other.stop()


HOSTILE_NAMES = [
    "../../x.gguf", "..\\..\\x.gguf", "sub/../../x.gguf", "sub\\..\\..\\x.gguf", "..", ".", "",
    "C:x.gguf", "C:\\Windows\\x.gguf", "model.gguf:stream", "nul.gguf", "CON", "com1.gguf", "x.gguf.", "x.gguf ",
    "a\x00b.gguf", "a\nb.gguf", "a|b.gguf", "/etc/x.gguf", "\\\\server\\share\\x.gguf",
    # Windows devices it also knows: console buffers, a device name with spaces before the extension,
    # superscript digits; and a name whose bidi override shows it as another file type.
    "conin$", "CONOUT$.gguf", "nul .gguf", "LPT\u00b9.gguf", "model\u202efgg.exe", "\\\\?\\C:\\x.gguf",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_no_hub_name_leaves_the_models_folder_under_linux_or_windows_rules(name):
    safe = safe_filename(name)
    if safe is None:
        return
    for root, flavour in ((Path("/srv/models"), Path), (PureWindowsPath("C:/Users/u/models"), PureWindowsPath)):
        target = root / flavour(safe)
        assert target.parent == root and target.name == safe, (name, safe)
    assert ":" not in safe and "\\" not in safe and "/" not in safe and ".." not in safe
    with warnings.catch_warnings():  # (deprecated in 3.13 for os.path.isreserved, which has the same rule)
        warnings.simplefilter("ignore", DeprecationWarning)
        assert not PureWindowsPath(safe).is_reserved(), (name, safe)  # the standard library's Windows rule
    assert not re.search("[\u202a-\u202e\u2066-\u2069]", safe)


@pytest.mark.parametrize("name", ["..\\..\\x.gguf", "../../x.gguf", "nul.gguf", "C:x.gguf", "x.gguf."])
def test_a_download_with_a_traversal_name_fails_before_any_byte(fake_hub, tmp_path, name):
    src = make_gguf(tmp_path / "src" / "x.gguf", n_floats=16 * 1024)
    fake_hub.add_file(REPO, name, src)
    events = Events()
    m = download_manager(tmp_path, events)
    m.start(DownloadRequest(REPO, name))
    done = events.final()
    if done.state == DownloadState.DONE:  # only a name that is safe after all may arrive, inside models/
        _, models = download_dirs(tmp_path)
        assert models.resolve() in done.path.resolve().parents
    else:
        assert done.state == DownloadState.FAILED and "safe" in done.message
        assert not fake_hub.body_requests()
    assert not (tmp_path / "x.gguf").exists() and not (tmp_path.parent / "x.gguf").exists()


def test_the_hub_listing_offers_no_unsafe_file_name(fake_hub, tmp_path):
    src = make_gguf(tmp_path / "src" / "x.gguf", n_floats=16 * 1024)
    for name in ("good-Q4_K_M.gguf", "..\\..\\evil.gguf", "sub/../../evil2.gguf", "nul.gguf", "C:evil3.gguf"):
        fake_hub.add_file(REPO, name, src)
    _repo, files = Hub().list_files(REPO)
    assert [f.filename for f in files] == ["good-Q4_K_M.gguf"]


def test_a_read_only_models_folder_is_a_plain_message_with_a_way_out(fake_hub, tmp_path):
    """The read-only-folder drill for downloads: before, "stopped: OSError: [Errno 30] ..."."""
    from test_hostile_storage import _mount_tmpfs, _umount

    src = make_gguf(tmp_path / "src" / FILE, n_floats=64 * 1024)
    fake_hub.add_file(REPO, FILE, src)
    _, models = download_dirs(tmp_path)
    if not _mount_tmpfs(models, "400m", "ro"):  # roomy: the free-space check must not be what fails
        pytest.skip("needs root to mount a read-only folder")
    try:
        events = Events()
        m = download_manager(tmp_path, events)
        m.start(DownloadRequest(REPO, FILE))
        done = events.final(timeout=60)
        assert done.state == DownloadState.FAILED
        assert f"{models} cannot be written" in done.message and "--home" in done.message
        assert "Errno" not in done.message and "OSError" not in done.message
    finally:
        _umount(models)
