"""Review probes of the download manager: a server that ignores Range, a file replaced
upstream between two attempts, two starts of one file, and the partial file never
listed as a model."""
from __future__ import annotations

import threading

from desktop.core.library.downloads import DownloadRequest, DownloadState
from fakehub import FILE, REPO, Events, download_manager, make_gguf


def test_resume_against_a_server_that_ignores_range_starts_over_and_verifies(fake_hub, tmp_path):
    src = make_gguf(tmp_path / "src" / FILE, n_floats=1024 * 1024)
    spec = fake_hub.add_file(REPO, FILE, src)
    fake_hub.ignore_range = True
    fake_hub.drop_after[FILE] = spec.size // 3
    events = Events()
    m = download_manager(tmp_path, events, chunk_size=128 * 1024)
    m.start(DownloadRequest(REPO, FILE))
    done = events.final()
    assert done.state == DownloadState.DONE, done.message
    assert done.path.read_bytes() == src.read_bytes()  # no appended second copy of the head
    assert done.sha256 == spec.sha256


def test_file_replaced_upstream_between_attempts_installs_the_new_file(fake_hub, tmp_path):
    old = make_gguf(tmp_path / "old" / FILE, n_floats=1024 * 1024, name="Old")
    new = make_gguf(tmp_path / "new" / FILE, n_floats=900 * 1024, name="New")
    fake_hub.add_file(REPO, FILE, old)
    fake_hub.throttle_bps = 2_000_000
    events = Events()
    m = download_manager(tmp_path, events, chunk_size=64 * 1024)
    key = m.start(DownloadRequest(REPO, FILE))
    events.wait_for(lambda p: p.state == DownloadState.DOWNLOADING and p.received > 256 * 1024)
    m.pause(key)
    assert m.wait(key, 10).state == DownloadState.PAUSED
    spec = fake_hub.add_file(REPO, FILE, new)  # the repository's file changed on the hub
    fake_hub.throttle_bps = None
    events2 = Events()
    m2 = download_manager(tmp_path, events2)
    m2.resume(key)
    done = events2.final()
    assert done.state == DownloadState.DONE, done.message
    assert done.path.read_bytes() == new.read_bytes()
    assert done.sha256 == spec.sha256


def test_two_starts_of_one_file_run_one_download(fake_hub, tmp_path):
    src = make_gguf(tmp_path / "src" / FILE, n_floats=512 * 1024)
    fake_hub.add_file(REPO, FILE, src)
    fake_hub.throttle_bps = 4_000_000
    events = Events()
    m = download_manager(tmp_path, events, chunk_size=64 * 1024)
    keys = []
    barrier = threading.Barrier(8)

    def start():
        barrier.wait()
        keys.append(m.start(DownloadRequest(REPO, FILE, label="x")))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1
    with m._lock:
        jobs = list(m._jobs.values())
    assert len(jobs) == 1
    done = events.final()
    m.wait(keys[0], 20)
    assert done.state == DownloadState.DONE, done.message
    assert done.path.read_bytes() == src.read_bytes()
    assert len(fake_hub.body_requests()) == 2  # one resolve + one CDN fetch


def test_partial_file_is_never_listed_as_a_model(fake_hub, tmp_path, services):
    from desktop.core.library import installed as lib

    src = make_gguf(tmp_path / "src" / FILE, n_floats=1024 * 1024)
    fake_hub.add_file(REPO, FILE, src)
    fake_hub.throttle_bps = 1_000_000
    events = Events()
    from desktop.core.library.downloads import DownloadManager

    m = DownloadManager.for_services(services, on_event=events, backoff=0.05, chunk_size=64 * 1024)
    key = m.start(DownloadRequest(REPO, FILE))
    events.wait_for(lambda p: p.state == DownloadState.DOWNLOADING and p.received > 0)
    names = [x.path.name for x in lib.list_installed(services)]
    m.pause(key)
    m.wait(key, 10)
    assert FILE not in names and not any(n.endswith(".part") for n in names)
