"""Split GGUF files (name-00001-of-00003.gguf): which part a file name is.

Kept apart from hub.py, which imports huggingface_hub: listing the installed models
needs only this, and it runs while the window starts.
"""
from __future__ import annotations

import re

_SPLIT_RE = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


def split_part(filename: str) -> tuple[int, int] | None:
    """(part, of) for one file of a split GGUF (name-00001-of-00003.gguf), else None."""
    m = _SPLIT_RE.search(filename)
    return (int(m.group(1)), int(m.group(2))) if m else None
