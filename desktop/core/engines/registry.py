"""From "which model" (what a picker or the command line names) to an engine.

A choice is `local:<path>` (or `local:default`, the embedded model) or an API
model on a connection: `openai:<model>@<connection id>`. Plain `openai:<model>`
(what every choice was before connections existed, and what old rows and
scripts hold) means the model on the connection with id "openai", the one the
old single base URL became. The pool keeps one engine per choice, so a local
model stays loaded between rounds and is unloaded when it is no longer wanted.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..names import BUILT_IN_LABEL, model_file_name

if TYPE_CHECKING:  # only named in annotations: engines.base is imported with the first answer, not the window
    from .base import Engine

LEGACY_CONNECTION = "openai"
CONNECTION_ID = re.compile(r"[a-z0-9][a-z0-9._-]*")


@dataclass(frozen=True)
class ModelChoice:
    engine: str  # "local" | "openai" (any OpenAI-compatible API)
    model: str  # a GGUF path, "default", or an API model name
    connection: str = ""  # an API model's connection id; "" for local files

    def __post_init__(self):
        if self.engine == "openai" and not self.connection:
            object.__setattr__(self, "connection", LEGACY_CONNECTION)

    @classmethod
    def parse(cls, text: str) -> "ModelChoice":
        engine, sep, model = text.partition(":")
        if not sep or engine not in ("local", "openai") or not model:
            raise ValueError(f"{text!r} is not a model choice; use local:<file.gguf>, local:default or "
                             "openai:<model>@<connection>")
        if engine == "local":
            return cls("local", model)
        name, at, connection = model.rpartition("@")
        if at and name and CONNECTION_ID.fullmatch(connection):
            return cls("openai", name, connection)
        return cls("openai", model, LEGACY_CONNECTION)

    def __str__(self) -> str:
        if self.engine == "openai" and self.connection != LEGACY_CONNECTION:
            return f"openai:{self.model}@{self.connection}"
        return f"{self.engine}:{self.model}"

    @property
    def ref(self) -> str | None:
        """An API contestant's identity in ratings: model and connection ("gpt-4o-mini@openai").
        A local file's identity is its checksum, which only the services can compute."""
        return f"{self.model}@{self.connection}" if self.engine == "openai" else None

    @property
    def label(self) -> str:
        if self.engine == "local":
            return BUILT_IN_LABEL if self.model == "default" else model_file_name(Path(self.model).name)
        return self.model


class EnginePool:
    """Engines by choice, made on demand by `factory` (which the app composes).

    A local model is one engine whichever panes use it (its weights are in memory once;
    panes on it take turns). An API model can be asked for per pane (`instance`), so two
    panes on the same API model stream at once and stop independently.
    """

    def __init__(self, factory: Callable[[ModelChoice], Engine]):
        self._factory = factory
        self._engines: dict[tuple[ModelChoice, int], Engine] = {}
        self._making: dict[tuple[ModelChoice, int], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, choice: ModelChoice, instance: int = 0) -> Engine:
        key = (choice, instance if choice.engine != "local" else 0)
        with self._lock:
            engine = self._engines.get(key)
            if engine is not None:
                return engine
            making = self._making.setdefault(key, threading.Lock())
        # Made outside the pool's lock: writing out the built-in model or hashing a large
        # file must not hold up callers that want another, ready engine.
        with making:
            with self._lock:
                engine = self._engines.get(key)
            if engine is None:
                engine = self._factory(choice)
                with self._lock:
                    self._engines[key] = engine
            with self._lock:
                self._making.pop(key, None)
            return engine

    def made(self, choice: ModelChoice, instance: int = 0) -> Engine | None:
        """The engine already made for this choice, or None: never makes one."""
        with self._lock:
            return self._engines.get((choice, instance if choice.engine != "local" else 0))

    def drop(self, choice: ModelChoice) -> None:
        """Close every engine made for this choice."""
        with self._lock:
            keys = [k for k in self._engines if k[0] == choice]
            engines = [self._engines.pop(k) for k in keys]
        for engine in engines:
            engine.close()

    def reset(self) -> None:
        """Close every engine (settings changed, or the app quits)."""
        with self._lock:
            engines, self._engines = list(self._engines.values()), {}
        for e in engines:
            e.close()
