"""Download throughput of ArenaDesk's download manager against curl, on the same
file from the same loopback hub (tests/core/test_library_fakehub.py).

    .venv/bin/python tests/bench/bench_download.py [--size-mb 1024] [--runs 3]

ArenaDesk's time runs from start() to the DONE event: the metadata request,
the hub's redirect, the transfer, the SHA-256 check and the move into the
models folder. curl's is the wall-clock time of `curl -sSfL -o FILE URL`
(the same redirect, no checksum). Both write to the same disk. The target is a
ratio (ArenaDesk / curl) of at least 0.9. Not a test: run it by hand.
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
sys.path.insert(0, str(HERE.parents[1] / "core"))  # the loopback hub lives with the library tests

from test_library_fakehub import FakeHub  # noqa: E402

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


def run_arenadesk(work: Path, chunk: int) -> float:
    from desktop.core.library.downloads import DownloadManager, DownloadRequest, DownloadState

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
        hub = FakeHub(max_lifetime=3600)
        os.environ["HF_ENDPOINT"] = hub.url
        hub.add_file(REPO, FILE, src)
        url = f"{hub.url}/{REPO}/resolve/main/{FILE}"
        # Warm the page cache and both code paths once.
        run_curl(url, work / "curl.out")
        run_arenadesk(work, args.chunk_kb << 10)

        curl_t, ours_t = [], []
        for _ in range(args.runs):  # interleaved, so drift hits both alike
            curl_t.append(run_curl(url, work / "curl.out"))
            ours_t.append(run_arenadesk(work, args.chunk_kb << 10))
        hub.stop()
        curl_s, ours_s = statistics.median(curl_t), statistics.median(ours_t)
        mb = size / 1e6
        print(f"file: {size / 1e6:.0f} MB from {hub.url} (loopback), {args.runs} runs each, medians")
        print(f"curl      : {mb / curl_s:8.1f} MB/s  ({curl_s:.3f} s; runs {', '.join(f'{t:.3f}' for t in curl_t)})")
        print(f"ArenaDesk : {mb / ours_s:8.1f} MB/s  ({ours_s:.3f} s; runs {', '.join(f'{t:.3f}' for t in ours_t)}; "
              "includes SHA-256 verification and the move into models/)")
        ratio = curl_s / ours_s
        print(f"ratio     : {ratio:.2f}  (target >= 0.9: {'met' if ratio >= 0.9 else 'NOT met'})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
