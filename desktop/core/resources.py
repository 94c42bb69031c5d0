"""Finds files under resources/ the same way from a source checkout, an installed
wheel (where resources/ is the package `desktop.resources`) and a frozen build
(PyInstaller unpacks it beside the executable, under sys._MEIPASS)."""
from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def resources_dir() -> Path:
    candidates = []
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        candidates.append(Path(frozen) / "resources")
    here = Path(__file__).resolve()
    candidates.append(here.parents[1] / "resources")  # installed: desktop/resources
    candidates.append(here.parents[2] / "resources")  # source checkout: <repo>/resources
    for c in candidates:
        if (c / "prices.json").is_file():
            return c
    raise FileNotFoundError("ArenaDesk's resources folder is missing; looked in " + ", ".join(map(str, candidates)))


def resource(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)
