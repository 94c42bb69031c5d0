"""The models a comparison can put in a pane, and whether a given one can still answer.

Qt-free: the window's picker shows `items()`, the session asks `problem(choice)`
before it sends, and the command line can ask the same. A model that is no longer
offered (its file is gone, or the endpoint's model list does not name it) is
reported as gone with what to do; it is never silently replaced by another.
"""
from __future__ import annotations

from dataclasses import dataclass

from .engines.registry import ModelChoice

FALLBACK_API_MODELS = ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1", "gpt-5-mini", "gpt-5"]


@dataclass(frozen=True)
class Contestant:
    choice: ModelChoice
    name: str  # what the user reads: a file's model name, an API model id
    kind: str  # "local" | "API"

    @property
    def label(self) -> str:
        return f"{self.name} · {self.kind}"


class Contestants:
    def __init__(self, services):
        self.services = services
        self._local: list[Contestant] | None = None
        self._local_missing: dict[ModelChoice, str] = {}
        # The endpoint's own list once it has answered; until then (offline, no key) the
        # well-known OpenAI names are offered and no API model is judged gone.
        self.api_models: list[str] | None = None

    # -- what is offered ------------------------------------------------------------------
    def refresh_local(self) -> None:
        try:
            from .library.installed import list_installed

            installed = list_installed(self.services)
        except Exception:  # the library cannot be read: the built-in model still works
            default = ModelChoice("local", "default")
            self._local, self._local_missing = [Contestant(default, default.label, "local")], {}
            return
        self._local = [Contestant(m.choice, m.display_name, "local") for m in installed if m.available]
        self._local_missing = {m.choice: m.error or "" for m in installed if not m.available}

    def set_api_models(self, names: list[str] | None) -> None:
        """The endpoint's model list (None: unknown, e.g. the settings changed and it is being fetched)."""
        self.api_models = list(names) if names else None

    def local(self) -> list[Contestant]:
        if self._local is None:
            self.refresh_local()
        return list(self._local or [])

    def api(self) -> list[Contestant]:
        names = self.api_models or sorted(set(FALLBACK_API_MODELS + [self.services.settings.default_remote_model]))
        return [Contestant(ModelChoice("openai", n), n, "API") for n in names]

    def all(self) -> list[Contestant]:
        return self.local() + self.api()

    def label(self, choice: ModelChoice) -> str:
        for c in self.all():
            if c.choice == choice:
                return c.label
        return f"{choice.label} · {'local' if choice.engine == 'local' else 'API'}"

    def unused(self, taken: list[ModelChoice | None]) -> ModelChoice | None:
        """For a new pane: the first model no pane shows yet (else None)."""
        for c in self.all():
            if c.choice not in taken:
                return c.choice
        return None

    # -- can it answer ----------------------------------------------------------------------
    def problem(self, choice: ModelChoice) -> str | None:
        """Why this model cannot answer any more, with what to do; None when it can."""
        if choice.engine == "local":
            if choice.model == "default" or any(c.choice == choice for c in self.local()):
                return None
            if choice not in self._local_missing and self.services.local_model_path(choice.model).is_file():
                return None  # a file named directly (the command line), not in the library
            why = self._local_missing.get(choice) or "its file is no longer in your models"
            return f"{choice.label} is gone ({why}): pick another model for this pane."
        if self.api_models is not None and choice.model not in self.api_models:
            where = self.services.settings.openai_base_url or "OpenAI"
            return f"{choice.model} is not offered by {where} any more: pick another model for this pane."
        return None
