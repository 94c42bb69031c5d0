"""Other tools' model folders, built in a temporary home for discovery tests and the benchmark.

Real model files are linked (hard links, or symbolic links where the tool itself uses them),
never copied: each layout costs a few directory entries, not hundreds of megabytes.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def link(src: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:  # another file system: a symbolic link is as good for reading
        os.symlink(src, dest)
    return dest


def tiny_gguf(path: Path, *, arch: str = "llama", general_type: str | None = "model", tensors: int = 1,
              extra: dict | None = None, split: tuple[int, int] | None = None) -> Path:
    """A small, valid GGUF file (not a model llama.cpp can run): for sorting rules, not answers."""
    import gguf

    path.parent.mkdir(parents=True, exist_ok=True)
    w = gguf.GGUFWriter(os.fspath(path), arch)
    if general_type:
        w.add_string("general.type", general_type)
    for key, value in (extra or {}).items():
        w.add_string(key, value)
    if split:
        w.add_uint16("split.no", split[0] - 1)
        w.add_uint16("split.count", split[1])
    for i in range(tensors):
        w.add_tensor(f"t{i}", np.arange(16, dtype=np.float32) + i)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def ollama(models: Path, name: str, tag: str, blob_src: Path, sha256: str, *, namespace: str = "library",
           projector: tuple[Path, str] | None = None) -> Path:
    """manifests/registry.ollama.ai/<namespace>/<name>/<tag> naming blobs/sha256-<hex>, as `ollama pull` leaves."""
    layers = [{"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{sha256}",
               "size": blob_src.stat().st_size},
              {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "0" * 64, "size": 10}]
    blob = models / "blobs" / f"sha256-{sha256}"
    if not blob.exists():
        link(blob_src, blob)
    if projector:
        layers.append({"mediaType": "application/vnd.ollama.image.projector", "digest": f"sha256:{projector[1]}",
                       "size": projector[0].stat().st_size})
        link(projector[0], models / "blobs" / f"sha256-{projector[1]}")
    manifest = models / "manifests" / "registry.ollama.ai" / namespace / name / tag
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"schemaVersion": 2, "config": {"digest": "sha256:" + "1" * 64},
                                    "layers": layers}))
    return blob


def hf_cache(hub: Path, repo: str, filename: str, blob_src: Path, sha256: str, revision: str = "a" * 40) -> Path:
    """models--<owner>--<repo>/snapshots/<revision>/<file> → ../../blobs/<sha256>, as huggingface_hub leaves."""
    repo_dir = hub / ("models--" + repo.replace("/", "--"))
    blob = repo_dir / "blobs" / sha256
    if not blob.exists():
        link(blob_src, blob)
    snap = repo_dir / "snapshots" / revision / filename
    snap.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(blob, snap.parent), snap)
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(revision)
    return snap
