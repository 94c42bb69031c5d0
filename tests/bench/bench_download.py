"""Download throughput of ArenaDesk's download manager against curl, on the same
file from the same loopback hub (tests/fakehub.py).

    .venv/bin/python tests/bench/bench_download.py [--size-mb 1024] [--runs 3]

ArenaDesk's time runs from start() to the DONE event: the metadata request,
the hub's redirect, the transfer, the SHA-256 check and the move into the
models folder. curl's is the wall-clock time of `curl -sSfL -o FILE URL`
(the same redirect, no checksum). Both write to the same disk (--dir /dev/shm
takes the disk out). The target is a ratio (ArenaDesk / curl) of at least 0.9.
Not a test: run it by hand.

--diagnose adds two references: curl followed by sha256sum (the same work as
ArenaDesk: download, then verify), and ArenaDesk with the SHA-256 switched off
(the transfer loop alone). On a 2-core machine the loopback server, the
transfer and the hash compete for the cores, so the hash's CPU time (SHA-256
runs at about 1.5 GB/s per core) shows in the ratio; with a spare core it does
not.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))  # the repository root: desktop/

REPO, FILE = "bench/Bench-GGUF", "Bench-Q4_K_M.gguf"


def make_file(path: Path, size: int) -> None:
    block = os.urandom(8 << 20)
    with path.open("wb") as fh:
        left = size
        while left:
            n = min(left, len(block))
            fh.write(block[:n])
            left -= n


def run_curl(url: str, out: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["curl", "-sSfL", "-o", str(out), url], check=True)
    elapsed = time.perf_counter() - t0
    out.unlink()
    return elapsed


def run_curl_sha(url: str, out: Path) -> float:
    """curl, then sha256sum: the same work as ArenaDesk's (download and verify), done one after the other."""
    t0 = time.perf_counter()
    subprocess.run(["curl", "-sSfL", "-o", str(out), url], check=True)
    subprocess.run(["sha256sum", str(out)], check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    out.unlink()
    return elapsed


class _NoHash:
    """Diagnostic only: stands in for hashlib.sha256 to time the transfer loop without the checksum work."""

    expected = ""

    def update(self, data) -> None:
        pass

    def hexdigest(self) -> str:
        return self.expected


def run_arenadesk(work: Path, chunk: int, verify: bool = True) -> float:
    from desktop.core.library import downloads
    from desktop.core.library.downloads import DownloadManager, DownloadRequest, DownloadState

    real_sha256 = downloads.hashlib.sha256
    if not verify:
        downloads.hashlib.sha256 = _NoHash

    done = threading.Event()
    result = {}

    def on_event(p):
        if p.state in (DownloadState.DONE, DownloadState.FAILED, DownloadState.CANCELLED):
            result["p"] = p
            done.set()

    m = DownloadManager(work / "downloads", work / "models", on_event=on_event, chunk_size=chunk)
    t0 = time.perf_counter()
    m.start(DownloadRequest(REPO, FILE))
    done.wait(600)
    elapsed = time.perf_counter() - t0
    downloads.hashlib.sha256 = real_sha256
    p = result["p"]
    if p.state != DownloadState.DONE:
        raise SystemExit(f"download failed: {p.message}")
    p.path.unlink()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--chunk-kb", type=int, default=1024)
    ap.add_argument("--dir", default=None, help="where to write (default: a temporary folder)")
    ap.add_argument("--diagnose", action="store_true",
                    help="also time curl + sha256sum, and ArenaDesk with the checksum work switched off")
    args = ap.parse_args()
    if not shutil.which("curl"):
        raise SystemExit("curl is not installed (apt-get install curl)")
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        os.environ.pop(var, None)

    work = Path(tempfile.mkdtemp(prefix="arenadesk-bench-", dir=args.dir))
    try:
        size = args.size_mb << 20
        src = work / "source.bin"
        make_file(src, size)
        # The hub runs in its own process, as a remote server would: it must not share our interpreter's GIL.
        server = subprocess.Popen([sys.executable, str(HERE.parents[1] / "fakehub.py"),
                                   REPO, FILE, str(src)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        hub_url = server.stdout.readline().strip()
        os.environ["HF_ENDPOINT"] = hub_url
        url = f"{hub_url}/{REPO}/resolve/main/{FILE}"
        import hashlib

        h = hashlib.sha256()
        with src.open("rb") as fh:
            while block := fh.read(8 << 20):
                h.update(block)
        _NoHash.expected = h.hexdigest()
        # Warm the page cache and both code paths once.
        run_curl(url, work / "curl.out")
        run_arenadesk(work, args.chunk_kb << 10)

        curl_t, ours_t, sha_t, nohash_t = [], [], [], []
        chunk = args.chunk_kb << 10
        for _ in range(args.runs):  # interleaved, so drift hits all alike
            curl_t.append(run_curl(url, work / "curl.out"))
            ours_t.append(run_arenadesk(work, chunk))
            if args.diagnose:
                sha_t.append(run_curl_sha(url, work / "curl.out"))
                nohash_t.append(run_arenadesk(work, chunk, verify=False))
        server.stdin.close()
        server.wait(10)
        curl_s, ours_s = statistics.median(curl_t), statistics.median(ours_t)
        mb = size / 1e6
        print(f"file: {size / 1e6:.0f} MB from {hub_url} (loopback, hub in its own process), {args.runs} runs each, "
              f"medians; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        print(f"curl      : {mb / curl_s:8.1f} MB/s  ({curl_s:.3f} s; runs {', '.join(f'{t:.3f}' for t in curl_t)})")
        print(f"ArenaDesk : {mb / ours_s:8.1f} MB/s  ({ours_s:.3f} s; runs {', '.join(f'{t:.3f}' for t in ours_t)}; "
              "includes SHA-256 verification and the move into models/)")
        ratio = curl_s / ours_s
        print(f"ratio     : {ratio:.2f}  (target >= 0.9: {'met' if ratio >= 0.9 else 'NOT met'})")
        if args.diagnose:
            sha_s, nohash_s = statistics.median(sha_t), statistics.median(nohash_t)
            print(f"curl + sha256sum            : {mb / sha_s:8.1f} MB/s  (ArenaDesk / this: {sha_s / ours_s:.2f})")
            print(f"ArenaDesk without SHA-256   : {mb / nohash_s:8.1f} MB/s  (curl / this: {curl_s / nohash_s:.2f}; "
                  "diagnostic only: the transfer loop alone)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
