"""The curated catalog (resources/catalog.json): popular open chat models in GGUF,
with each quant's file, size and SHA-256 where known, licence, context length
and whether the repository is gated.

A file whose size or checksum is null in the catalog gets them from the hub's
LFS metadata when it is downloaded (see downloads.py). Before that, a size is
estimated from the parameter count and the quant's bits per weight, and marked
as an estimate wherever it is shown.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from ..resources import resource
from .hardware import FitVerdict, MemoryInfo, fit_verdict, recommend
from .hub import bits_per_weight, endpoint, quant_from_name
from .speed import SLOW_TPS, SpeedEstimate, SpeedProfile, predict


class CatalogError(ValueError):
    pass


@dataclass(frozen=True)
class CatalogFile:
    quant: str
    filename: str
    size: int | None
    sha256: str | None

    def size_or_estimate(self, parameters: int | None) -> tuple[int | None, bool]:
        """(bytes, estimated?)."""
        if self.size:
            return self.size, False
        bpw = bits_per_weight(self.quant)
        if parameters and bpw:
            return int(parameters * bpw / 8), True
        return None, True


@dataclass(frozen=True)
class CatalogModel:
    id: str
    name: str
    family: str
    publisher: str
    repo_id: str
    revision: str
    licence: str
    context_length: int
    gated: bool
    parameters: int | None
    kv_bytes_per_token: int | None
    chat_template: bool
    description: str
    files: tuple[CatalogFile, ...] = field(default_factory=tuple)

    @property
    def page_url(self) -> str:
        return f"{endpoint()}/{self.repo_id}"

    def verdicts(self, memory: MemoryInfo, context_length: int) -> list[FitVerdict]:
        out = []
        for f in self.files:
            size, est = f.size_or_estimate(self.parameters)
            v = fit_verdict(memory, size or 0, context_length=min(context_length, self.context_length),
                            kv_bytes_per_token=self.kv_bytes_per_token, parameters=self.parameters, quant=f.quant)
            out.append(replace(v, size_estimated=est))
        return out

    def speeds(self, memory: MemoryInfo, context_length: int, profile: SpeedProfile | None,
               gpu_layers: int = 0) -> list[SpeedEstimate | None]:
        """Predicted decode speed of each file here (None until this machine's speed is measured)."""
        return [predict(profile, v, memory, gpu_layers=gpu_layers, parameters=self.parameters)
                for v in self.verdicts(memory, context_length)]

    def recommended(self, memory: MemoryInfo, context_length: int, profile: SpeedProfile | None = None,
                    gpu_layers: int = 0) -> int | None:
        """Index into `files` of the quant to suggest on this machine, or None when none fits;
        with a speed profile, one that answers at a usable speed when any does."""
        verdicts = self.verdicts(memory, context_length)
        speeds = None
        if profile is not None:
            speeds = [s.tokens_per_s if s else None
                      for s in self.speeds(memory, context_length, profile, gpu_layers)]
        return recommend(list(zip((f.quant for f in self.files), verdicts)), speeds, SLOW_TPS)


def _model(raw: dict, where: str) -> CatalogModel:
    try:
        files = []
        for f in raw["files"]:
            sha = f.get("sha256")
            if sha is not None and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
                raise CatalogError(f"{where}: {f['filename']} has a malformed sha256")
            files.append(CatalogFile(
                quant=f.get("quant") or quant_from_name(f["filename"]) or "?",
                filename=f["filename"],
                size=f.get("size"),
                sha256=sha,
            ))
        return CatalogModel(
            id=raw["id"],
            name=raw["name"],
            family=raw.get("family", ""),
            publisher=raw.get("publisher", ""),
            repo_id=raw["repo_id"],
            revision=raw.get("revision") or "main",
            licence=raw.get("licence", "unknown"),
            context_length=int(raw.get("context_length") or 4096),
            gated=bool(raw.get("gated", False)),
            parameters=raw.get("parameters"),
            kv_bytes_per_token=raw.get("kv_bytes_per_token"),
            chat_template=bool(raw.get("chat_template", True)),
            description=raw.get("description", ""),
            files=tuple(files),
        )
    except KeyError as exc:
        raise CatalogError(f"{where}: missing field {exc}") from None


def load_catalog(path: Path | str | None = None) -> list[CatalogModel]:
    """The models in the catalog, in file order. Raises CatalogError for a malformed file."""
    if path is None:
        return list(_default_catalog())
    return _read(Path(path))


@lru_cache(maxsize=1)
def _default_catalog() -> tuple[CatalogModel, ...]:
    return tuple(_read(resource("catalog.json")))


def _read(path: Path) -> list[CatalogModel]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogError(f"The model catalog {path} cannot be read: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != 1 or not isinstance(data.get("models"), list):
        raise CatalogError(f"The model catalog {path} is not a schema-1 catalog.")
    models = [_model(m, f"{path.name} model #{i}") for i, m in enumerate(data["models"])]
    ids = [m.id for m in models]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise CatalogError(f"{path.name}: duplicate model ids {sorted(dup)}")
    return models
