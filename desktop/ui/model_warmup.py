"""The models chosen in the panes, made and loaded ahead on workers, so neither the first answer
nor the window waits: a local model's file written out, hashed and loaded in its child process;
an API engine's client set up (importing `openai` and its HTTP pool took ~0.8 s, and on the GUI
thread at Send it froze the window)."""
from __future__ import annotations

from typing import Callable

from ..core.contestants import Contestants
from ..core.engines.registry import ModelChoice
from ..core.services import Services
from .inbox import Inbox


class ModelWarmup:
    def __init__(self, services: Services, contestants: Contestants, inbox: Inbox,
                 on_loaded: Callable[[str, bool], None]):
        """on_loaded(text, failed): what loading a local model found ("… loaded · 2 threads · GPU: …"),
        or why it failed."""
        self.services = services
        self.contestants = contestants
        self._inbox = inbox
        self._on_loaded = on_loaded
        self._warming: set[str] = set()  # what is being made or loaded now

    def warm(self, choices: list[ModelChoice | None]) -> None:
        """choices[i]: pane i's model. A model that cannot answer (gone) is left alone."""
        for i, choice in enumerate(choices):
            if choice is None or self.contestants.problem(choice):
                continue
            if choice.engine == "local":
                self._load_local(choice)
            else:
                self._make_api_engine(i, choice)

    def _load_local(self, choice: ModelChoice) -> None:
        key = str(choice)
        if key in self._warming:
            return
        self._warming.add(key)

        def work():  # worker thread: make the engine and load its model; (load error or None, load info)
            engine = self.services.engines.get(choice)
            error = None if getattr(engine, "loaded", True) else engine.warm()
            return error, getattr(engine, "load_info", None)

        self._inbox.run("warm", work, lambda result, failure: self._on_local_loaded(choice, result, failure))

    def _make_api_engine(self, i: int, choice: ModelChoice) -> None:
        key = f"{choice}#{i}"  # one engine per pane: two panes on one API model stream apart
        if key in self._warming:
            return
        self._warming.add(key)
        self._inbox.run("api-engine", lambda: self.services.engines.get(choice, instance=i),
                        lambda _engine, _error: self._warming.discard(key))  # a missing key is said at Send

    def _on_local_loaded(self, choice: ModelChoice, result, failure) -> None:
        self._warming.discard(str(choice))
        error, info = result if failure is None else (str(failure), None)  # the pane says more on send
        if error:
            self._on_loaded(f"{choice.label}: {error}", True)
            return
        info = info or {}
        gpu = ("GPU: " + (f"{info['gpu_layers_offloaded']}/{info['layers'] + 1} layers offloaded"
                          if info.get("gpu_offload_supported") else "not in this llama.cpp build, running on CPU"))
        self._on_loaded(f"{choice.label} loaded · {info.get('threads')} threads · {gpu}", False)
