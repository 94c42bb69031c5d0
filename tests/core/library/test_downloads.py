"""The download manager against a loopback hub: complete and verified, a dropped
connection resumed with Range, a checksum mismatch leaving nothing installed,
free space refused before starting, a gated repository, pause/cancel, and a
restart of the manager resuming the partial file."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from desktop.core.library.downloads import DownloadManager, DownloadRequest, DownloadState
from fakehub import FILE, REPO, Events, FakeHub, download_dirs, download_manager, download_to_end, make_gguf

@pytest.fixture
def big_gguf(tmp_path) -> Path:
    # ~4 MB: large enough for several chunks and a mid-file drop.
    return make_gguf(tmp_path / "src" / FILE, n_floats=1024 * 1024)


def test_download_completes_and_is_verified(fake_hub, big_gguf, tmp_path):
    spec = fake_hub.add_file(REPO, FILE, big_gguf)
    events = Events()
    m = download_manager(tmp_path, events, chunk_size=256 * 1024)
    key = m.start(DownloadRequest(REPO, FILE))
    done = events.final()
    assert done.state == DownloadState.DONE, done.message
    _, models = download_dirs(tmp_path)
    assert done.path == models / "test" / "tiny-GGUF" / FILE
    assert done.path.read_bytes() == big_gguf.read_bytes()
    assert done.sha256 == spec.sha256
    assert "verified" in done.message
    # The order of states, and nothing left behind in the downloads folder.
    states = events.states()
    assert states[0] == DownloadState.QUEUED and DownloadState.RESOLVING in states
    assert states.index(DownloadState.DOWNLOADING) < states.index(DownloadState.VERIFYING) < states.index(DownloadState.DONE)
    assert not list(m.downloads_dir.iterdir())
    assert m.status(key).state == DownloadState.DONE
    # It went through the hub's redirect to the "CDN", and asked the hub for the checksum first.
    paths = [p for _, p, _ in fake_hub.requests]
    assert any("/paths-info/" in p for p in paths)
    assert any(p.startswith(f"/{REPO}/resolve/main/") for p in paths) and any(p.startswith("/cdn/") for p in paths)


def test_dropped_connection_resumes_with_a_range_request(fake_hub, big_gguf, tmp_path):
    spec = fake_hub.add_file(REPO, FILE, big_gguf)
    half = spec.size // 2
    fake_hub.drop_after[FILE] = half
    m, events, done = download_to_end(tmp_path, DownloadRequest(REPO, FILE))
    assert done.state == DownloadState.DONE, done.message
    assert done.path.read_bytes() == big_gguf.read_bytes()
    # The server saw a Range request starting exactly where the first connection stopped.
    assert f"bytes={half}-" in fake_hub.range_requests(FILE)
    assert any(p.state == DownloadState.RETRYING and "dropped" in p.message for p in events.items)


def test_server_errors_are_retried_with_back_off(fake_hub, small_gguf, tmp_path):
    fake_hub.add_file(REPO, FILE, small_gguf)
    fake_hub.fail_next = [503, 502]
    m, events, done = download_to_end(tmp_path, DownloadRequest(REPO, FILE))
    assert done.state == DownloadState.DONE, done.message
    retries = [p for p in events.items if p.state == DownloadState.RETRYING]
    assert [p.attempts for p in retries] == [1, 2]
    assert "HTTP 503" in retries[0].message


def test_checksum_mismatch_leaves_nothing_under_models(fake_hub, big_gguf, tmp_path):
    fake_hub.add_file(REPO, FILE, big_gguf, published_sha256="0" * 64)
    m, events, done = download_to_end(tmp_path, DownloadRequest(REPO, FILE))
    assert done.state == DownloadState.FAILED
    assert "failed verification" in done.message and "nothing was installed" in done.message
    _, models = download_dirs(tmp_path)
    assert [p for p in models.rglob("*") if p.is_file()] == []
    assert list(m.downloads_dir.iterdir()) == []  # the partial file is gone too
    assert m.pending() == []


def test_catalog_checksum_is_checked_even_when_the_hub_has_none(fake_hub, small_gguf, tmp_path, monkeypatch):
    """A pinned checksum (from the catalog) is used when the hub's metadata cannot be had."""
    fake_hub.add_file(REPO, FILE, small_gguf)
    from desktop.core.library import hub as hub_mod

    def no_metadata(self, *a, **k):
        raise hub_mod.HubError("metadata unavailable")

    monkeypatch.setattr(hub_mod.Hub, "file_metadata", no_metadata)
    fake_hub.etag_override[FILE] = "not-a-sha"
    m, events, done = download_to_end(tmp_path, DownloadRequest(REPO, FILE, sha256="1" * 64))
    assert done.state == DownloadState.FAILED and "failed verification" in done.message
    good = hashlib.sha256(small_gguf.read_bytes()).hexdigest()
    events2 = Events()
    m2 = download_manager(tmp_path, events2)
    m2.start(DownloadRequest(REPO, FILE, sha256=good))
    assert events2.final().state == DownloadState.DONE


def test_not_enough_free_space_is_refused_before_starting(fake_hub, big_gguf, tmp_path):
    spec = fake_hub.add_file(REPO, FILE, big_gguf)
    events = Events()
    seen = []

    def tiny_disk(path):
        seen.append(Path(path))
        return 1_000_000  # 1 MB free

    m = download_manager(tmp_path, events, free_space=tiny_disk)
    m.start(DownloadRequest(REPO, FILE))
    done = events.final()
    assert done.state == DownloadState.FAILED
    assert "Not enough free disk space" in done.message and "1.0 MB free" in done.message
    assert seen and seen[0] == m.downloads_dir
    assert fake_hub.body_requests() == []  # not one byte was asked for
    assert list(m.downloads_dir.iterdir()) == [] and m.pending() == []
    assert spec.size > 1_000_000


def test_gated_repository_explains_licence_and_token(fake_hub, small_gguf, tmp_path):
    fake_hub.add_file("google/gated-GGUF", FILE, small_gguf, gated=True)
    fake_hub.accepted_token = "hf_goodtoken"
    m, events, done = download_to_end(tmp_path, DownloadRequest("google/gated-GGUF", FILE))
    assert done.state == DownloadState.FAILED
    msg = done.message
    assert "gated" in msg and "HTTP 401" in msg
    assert f"{fake_hub.url}/google/gated-GGUF" in msg  # where to accept the licence
    assert "accept the licence" in msg and "token" in msg and "Settings" in msg
    assert list(m.downloads_dir.iterdir()) == []

    # With a token that has not been granted access: 403, and the message says so.
    m, events, done = download_to_end(tmp_path, DownloadRequest("google/gated-GGUF", FILE), token="hf_notyet")
    assert done.state == DownloadState.FAILED and "HTTP 403" in done.message
    assert "does not have access" in done.message

    # With the right token the download goes through, and the token never leaves the hub's host.
    events = Events()
    m = download_manager(tmp_path, events, token=lambda: "hf_goodtoken")
    m.start(DownloadRequest("google/gated-GGUF", FILE))
    assert events.final().state == DownloadState.DONE
    resolve = [h for _, p, h in fake_hub.requests if "/resolve/" in p]
    assert resolve[-1].get("authorization") == "Bearer hf_goodtoken"


def test_token_is_not_sent_to_another_host(fake_hub, small_gguf, tmp_path):
    """The hub redirects to a CDN on another host: the Authorization header must not follow."""
    fake_hub.add_file(REPO, FILE, small_gguf)
    cdn = FakeHub()
    try:
        cdn.add_file(REPO, FILE, small_gguf)
        orig = fake_hub._resolve

        def resolve_elsewhere(h, method, rest, headers):
            h.send_response(302)
            h.send_header("Location", f"{cdn.url}/cdn/{REPO}/{FILE}")
            h.send_header("X-Linked-Etag", f'"{fake_hub.repos[REPO].files[FILE].sha256}"')
            h.send_header("X-Linked-Size", str(small_gguf.stat().st_size))
            h.send_header("Content-Length", "0")
            h.end_headers()

        fake_hub._resolve = resolve_elsewhere
        events = Events()
        m = download_manager(tmp_path, events, token="hf_secret")
        m.start(DownloadRequest(REPO, FILE))
        assert events.final().state == DownloadState.DONE
        assert [h.get("authorization") for _, p, h in fake_hub.requests if "/resolve/" in p] == ["Bearer hf_secret"]
        assert all("authorization" not in h for _, _, h in cdn.requests)
        fake_hub._resolve = orig
    finally:
        cdn.stop()


def test_pause_then_cancel_and_resume_across_a_manager_restart(fake_hub, big_gguf, tmp_path):
    spec = fake_hub.add_file(REPO, FILE, big_gguf)
    fake_hub.throttle_bps = 2_000_000  # ~2 s for the whole file
    events = Events()
    m = download_manager(tmp_path, events, chunk_size=64 * 1024)
    key = m.start(DownloadRequest(REPO, FILE))
    events.wait_for(lambda p: p.state == DownloadState.DOWNLOADING and p.received > 256 * 1024)
    m.shutdown()  # the app quits mid-download
    paused = m.status(key)
    assert paused.state == DownloadState.PAUSED
    part = m.partial_path(key)
    kept = part.stat().st_size
    assert 0 < kept < spec.size
    sidecar = json.loads(m.sidecar_path(key).read_text())
    assert sidecar["sha256"] == spec.sha256 and sidecar["size"] == spec.size
    assert sidecar["url"].startswith(fake_hub.url) and sidecar["etag"]

    # A new manager (the app started again) finds it and resumes from where it stopped.
    fake_hub.throttle_bps = None
    events2 = Events()
    m2 = download_manager(tmp_path, events2)
    [pending] = m2.pending()
    assert pending.key == key and pending.received == kept and pending.total == spec.size
    m2.resume(key)
    done = events2.final()
    assert done.state == DownloadState.DONE, done.message
    assert done.resumed_from == kept
    assert done.path.read_bytes() == big_gguf.read_bytes()
    assert f"bytes={kept}-" in fake_hub.range_requests(FILE)

    # Cancel: a running download stops and its partial file is deleted.
    fake_hub.throttle_bps = 1_000_000
    done.path.unlink()
    events3 = Events()
    m3 = download_manager(tmp_path, events3, chunk_size=64 * 1024)
    key = m3.start(DownloadRequest(REPO, FILE))
    events3.wait_for(lambda p: p.state == DownloadState.DOWNLOADING and p.received > 0)
    m3.cancel(key)
    cancelled = events3.final()
    assert cancelled.state == DownloadState.CANCELLED
    m3.wait(key, 10)
    assert list(m3.downloads_dir.iterdir()) == []
    _, models = download_dirs(tmp_path)
    assert [p for p in models.rglob("*.gguf")] == []


def test_cancel_a_download_left_by_an_earlier_run(fake_hub, big_gguf, tmp_path):
    fake_hub.add_file(REPO, FILE, big_gguf)
    fake_hub.throttle_bps = 1_000_000
    events = Events()
    m = download_manager(tmp_path, events, chunk_size=64 * 1024)
    key = m.start(DownloadRequest(REPO, FILE))
    events.wait_for(lambda p: p.state == DownloadState.DOWNLOADING and p.received > 0)
    m.pause(key)
    assert m.wait(key, 10).state == DownloadState.PAUSED
    events2 = Events()
    m2 = download_manager(tmp_path, events2)
    assert [p.key for p in m2.pending()] == [key]
    m2.cancel(key)
    assert events2.final().state == DownloadState.CANCELLED
    assert list(m2.downloads_dir.iterdir()) == [] and m2.pending() == []


def test_missing_file_says_so(fake_hub, small_gguf, tmp_path):
    fake_hub.add_file(REPO, FILE, small_gguf)
    m, events, done = download_to_end(tmp_path, DownloadRequest(REPO, "Nope-Q4_K_M.gguf"))
    assert done.state == DownloadState.FAILED and "HTTP 404" in done.message and "not found" in done.message


def test_progress_reports_speed_and_eta(fake_hub, big_gguf, tmp_path):
    spec = fake_hub.add_file(REPO, FILE, big_gguf)
    fake_hub.throttle_bps = 4_000_000
    events = Events()
    m = download_manager(tmp_path, events, chunk_size=64 * 1024, progress_interval=0.05)
    m.start(DownloadRequest(REPO, FILE))
    assert events.final().state == DownloadState.DONE
    moving = [p for p in events.items if p.state == DownloadState.DOWNLOADING and p.speed > 0]
    assert len(moving) >= 5
    assert all(p.total == spec.size for p in moving)
    received = [p.received for p in moving]
    assert received == sorted(received)
    mid = moving[len(moving) // 2]
    assert 1_000_000 < mid.speed < 20_000_000  # about the throttle
    assert mid.eta is not None and 0 < mid.eta < 10


def test_manager_for_services_records_the_install(fake_hub, small_gguf, services):
    from desktop.core.library import installed
    from desktop.core.secrets import HUGGINGFACE

    spec = fake_hub.add_file("google/gated-GGUF", FILE, small_gguf, gated=True)
    fake_hub.accepted_token = "hf_fromkeychain"
    services.secrets.set(HUGGINGFACE, "hf_fromkeychain")  # the in-memory keyring of the tests
    events = Events()
    m = DownloadManager.for_services(services, on_event=events, backoff=0.05)
    m.start(DownloadRequest("google/gated-GGUF", FILE))
    done = events.final()
    assert done.state == DownloadState.DONE, done.message
    assert done.path == services.folders.models / "google" / "gated-GGUF" / FILE
    model = next(x for x in installed.list_installed(services) if x.path == done.path)
    assert model.sha256 == spec.sha256 and model.source == "google/gated-GGUF"
    assert services.folders.downloads == m.downloads_dir


def test_a_full_disk_during_the_transfer_stops_with_a_clear_message(fake_hub, big_gguf, tmp_path, monkeypatch):
    """The free-space check passed, then the disk filled up (another program wrote to it)."""
    import errno

    fake_hub.add_file(REPO, FILE, big_gguf)

    class FillingFile:
        """The real partial file, whose disk fills up after 2.5 MB."""

        def __init__(self, fh):
            self.fh, self.written = fh, 0

        def write(self, data):
            self.written += len(data)
            if self.written > 2_500_000:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.fh.write(data)

        def __getattr__(self, name):
            return getattr(self.fh, name)

    from desktop.core.library import downloads

    real_open = Path.open

    def open_part(self, mode="r", *a, **k):
        fh = real_open(self, mode, *a, **k)
        if self.suffix == ".part" and "a" in mode:
            return FillingFile(fh)
        return fh

    monkeypatch.setattr(downloads.Path, "open", open_part)
    m, events, done = download_to_end(tmp_path, DownloadRequest(REPO, FILE))
    assert done.state == DownloadState.FAILED
    assert "The disk is full" in done.message and "No space left on device" in done.message
    assert not any(p.state == DownloadState.RETRYING for p in events.items)  # not retried: pointless
    assert [p.key for p in m.pending()] == [DownloadRequest(REPO, FILE).key]  # what arrived is kept to resume


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_says_so_tries_a_few_times_then_waits_paused_and_resumes(fake_hub, small_gguf, tmp_path):
    """No server at the hub's address (a refused connection, as when offline): plain words, a finite
    number of tries with back-off, then paused; Resume, once the hub answers again, completes it."""
    from desktop.core.library.hub import Hub

    spec = fake_hub.add_file(REPO, FILE, small_gguf)
    port = _free_port()  # nothing listens here yet
    events = Events()
    m = download_manager(tmp_path, events, retries=3, hub=Hub(hub_endpoint=f"http://127.0.0.1:{port}"))
    key = m.start(DownloadRequest(REPO, FILE, sha256=spec.sha256, size=spec.size))
    paused = events.wait_for(lambda p: p.state == DownloadState.PAUSED)
    retries = [p for p in events.items if p.state == DownloadState.RETRYING]
    assert [p.attempts for p in retries] == [1, 2, 3]  # finite, then it stops trying
    assert all(p.message.startswith("Offline — will resume when the connection is back") for p in retries)
    assert "3 of 3" in retries[-1].message
    assert paused.message.startswith("Offline — paused") and "Resume" in paused.message
    assert not any("Errno" in p.message for p in events.items)
    assert m.wait(key, 5).state == DownloadState.PAUSED and not m.active()

    # The connection is back: the same address answers; one click (resume) finishes the file.
    back = FakeHub(port=port)
    try:
        back.add_file(REPO, FILE, small_gguf)
        m.resume(key)
        done = events.final()
        assert done.state == DownloadState.DONE, done.message
        assert done.sha256 == spec.sha256
    finally:
        back.stop()


def test_offline_before_any_checksum_is_known_waits_instead_of_downloading_unchecked(tmp_path, monkeypatch):
    """The hub's address does not resolve (no network): with no checksum from the catalog the
    file is not fetched unverified; it waits, paused, in plain words."""
    from desktop.core.library.hub import Hub

    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    events = Events()
    m = download_manager(tmp_path, events, retries=2, hub=Hub(hub_endpoint="http://hub.arenadesk.invalid"))
    m.start(DownloadRequest(REPO, FILE))
    paused = events.wait_for(lambda p: p.state == DownloadState.PAUSED, timeout=60)
    assert paused.message.startswith("Offline — paused")
    assert [p.attempts for p in events.items if p.state == DownloadState.RETRYING] == [1, 2]
    assert not any("Errno" in p.message or "NameResolution" in p.message for p in events.items)
    assert DownloadState.DOWNLOADING not in events.states()
