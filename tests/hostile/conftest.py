"""The hostile-input suite reuses the loopback hub of tests/core (FakeHub, make_gguf) and the
download-test helpers, so that folder is importable from here."""
from __future__ import annotations

import sys
from pathlib import Path

_CORE_TESTS = str(Path(__file__).resolve().parents[1] / "core")
if _CORE_TESTS not in sys.path:
    sys.path.append(_CORE_TESTS)

from test_library_fakehub import fake_hub  # noqa: E402,F401 - the fixture, for this folder's tests
