"""From "which model" (what a picker or the command line names) to an engine.

A choice is `local:<path>` (or `local:default`, the embedded model) or
`openai:<model name>`. The pool keeps one engine per choice, so a local model
stays loaded between rounds and is unloaded when it is no longer wanted.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .base import Engine


@dataclass(frozen=True)
class ModelChoice:
    engine: str  # "local" | "openai"
    model: str  # a GGUF path, "default", or an API model name

    @classmethod
    def parse(cls, text: str) -> "ModelChoice":
        engine, sep, model = text.partition(":")
        if not sep or engine not in ("local", "openai") or not model:
            raise ValueError(f"{text!r} is not a model choice; use local:<file.gguf>, local:default or openai:<model>")
        return cls(engine, model)

    def __str__(self) -> str:
        return f"{self.engine}:{self.model}"

    @property
    def label(self) -> str:
        if self.engine == "local":
            return "Gemma 3 270M (built in)" if self.model == "default" else Path(self.model).name
        return self.model


class EnginePool:
    """Engines by choice, made on demand by `factory` (which the app composes)."""

    def __init__(self, factory: Callable[[ModelChoice], Engine]):
        self._factory = factory
        self._engines: dict[ModelChoice, Engine] = {}
        self._lock = threading.Lock()

    def get(self, choice: ModelChoice) -> Engine:
        with self._lock:
            engine = self._engines.get(choice)
            if engine is None:
                engine = self._engines[choice] = self._factory(choice)
            return engine

    def drop(self, choice: ModelChoice) -> None:
        with self._lock:
            engine = self._engines.pop(choice, None)
        if engine is not None:
            engine.close()

    def reset(self) -> None:
        """Close every engine (settings changed, or the app quits)."""
        with self._lock:
            engines, self._engines = list(self._engines.values()), {}
        for e in engines:
            e.close()
