"""SHA-256 of model files, remembered per (path, size, mtime) so a 4 GB file is read once per process."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

_cache: dict[tuple[str, int, float], str] = {}


def sha256_file(path: Path | str, chunk: int = 4 << 20) -> str:
    path = Path(path)
    st = path.stat()
    key = (os.fspath(path.resolve()), st.st_size, st.st_mtime)
    if key not in _cache:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
        _cache[key] = h.hexdigest()
    return _cache[key]
