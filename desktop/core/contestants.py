"""The models a comparison can put in a pane, and whether a given one can still answer.

Qt-free: the window's picker shows `items()`, the session asks `problem(choice)`
before it sends, and the command line can ask the same. A model that is no longer
offered (its file is gone, or the endpoint's model list does not name it) is
reported as gone with what to do; it is never silently replaced by another.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .connections import preset
from .engines.registry import ModelChoice
from .settings import LEGACY_CONNECTION


@dataclass(frozen=True)
class Contestant:
    choice: ModelChoice
    name: str  # what the user reads: a file's model name, an API model id
    kind: str  # "local" | the connection's name ("OpenAI", "my-box")

    @property
    def label(self) -> str:
        """What the model picker shows: "gpt-4o · OpenAI", "SmolLM2 · local"."""
        return f"{self.name} · {self.kind}"

    @property
    def heading(self) -> str:
        """Who gave an answer, as the leaderboard and the exports name it: "gpt-4o @ OpenAI" for a
        model on a connection, a local model by its name."""
        return self.name if self.choice.engine == "local" else f"{self.name} @ {self.kind}"


def remembered_panes(settings) -> list[ModelChoice]:
    """The models the panes showed when the window last closed (Settings.last_panes), those that
    still read as a model choice."""
    out = []
    for text in settings.last_panes:
        try:
            out.append(ModelChoice.parse(text))
        except ValueError:
            continue  # a hand-edited file: that pane starts on a default model instead
    return out


class Contestants:
    def __init__(self, services, *, list_on_demand: bool = True):
        """list_on_demand: list the installed models the first time they are needed, on the caller's
        thread. The window passes False: it lists them on a worker once it is shown, and until then
        the built-in model, the default one and those the panes showed last time are offered."""
        self.services = services
        self.list_on_demand = list_on_demand
        self._unreadable = False  # the library could not be listed: the built-in model is offered alone
        # Each connection's own list once it has answered this session (by connection id); until
        # then the list it gave last time (or its preset's usual names) is offered, and no model
        # on it is judged gone.
        self.api_models: dict[str, list[str]] = {}

    # -- what is offered ------------------------------------------------------------------
    def refresh_local(self) -> None:
        """List the installed models now, on the caller's thread (the window does it on a worker)."""
        try:
            self.services.installed.read()
            self._unreadable = False
        except Exception:  # the library cannot be read: the built-in model still works
            self._unreadable = True

    def mark_unreadable(self) -> None:
        """Listing failed (on a worker): offer the built-in model alone, as refresh_local does."""
        self._unreadable = True

    def _installed(self) -> tuple[list[Contestant], dict[ModelChoice, str]]:
        """(the local models offered, why each unavailable one cannot answer), from the list the
        services keep. Until it is first read: the built-in model, the settings' default and the
        local models the panes showed last time, and no file that exists is judged gone."""
        installed = None if self._unreadable else self.services.installed_current()
        if installed is None and self.list_on_demand and not self._unreadable:
            self.refresh_local()
            installed = None if self._unreadable else self.services.installed_current()
        if installed is None:
            choices = [ModelChoice("local", "default")]
            if not self._unreadable:
                settings = self.services.settings
                wanted = [ModelChoice("local", settings.default_local_model or "default"),
                          *(c for c in remembered_panes(settings) if c.engine == "local")]
                choices += [c for c in dict.fromkeys(wanted) if c not in choices]
            return [Contestant(c, c.label, "local") for c in choices], {}
        return ([Contestant(m.choice, m.display_name, "local") for m in installed if m.available],
                {m.choice: m.error or "" for m in installed if not m.available})

    def set_api_models(self, names: list[str] | None, connection: str = LEGACY_CONNECTION) -> None:
        """A connection's model list; None: unknown again (the settings changed; every list is refetched)."""
        if names:
            self.api_models[connection] = list(names)
        else:
            self.api_models = {}

    def local(self) -> list[Contestant]:
        return self._installed()[0]

    def local_listed(self) -> bool:
        """Whether `local()` is the listed models, not yet the provisional few."""
        return self._unreadable or self.services.installed_current() is not None

    def groups(self) -> list[list[Contestant]]:
        """The API models by connection, in settings order: the list each gave this session, else
        the one it gave last time, else its preset's usual models (and the default API model on
        the connection made from the old settings)."""
        settings, out = self.services.settings, []
        for conn in settings.connections:
            names = list(self.api_models.get(conn.id) or conn.models)
            if not names:
                names = list(preset(conn.preset).suggested)
                if conn.id == LEGACY_CONNECTION and settings.default_remote_model:
                    names = sorted(set(names) | {settings.default_remote_model})
            out.append([Contestant(ModelChoice("openai", name, conn.id), name, conn.name) for name in names])
        return out

    def api(self) -> list[Contestant]:
        return [c for group in self.groups() for c in group]

    def all(self) -> list[Contestant]:
        return self.local() + self.api()

    def contestant(self, choice: ModelChoice) -> Contestant:
        """`choice` as offered, or, no longer offered, named from itself: a local file by its
        name, an API model by its connection's current name (its id once the connection is gone)."""
        for c in self.all():
            if c.choice == choice:
                return c
        if choice.engine == "local":
            return Contestant(choice, choice.label, "local")
        conn = self.services.settings.connection(choice.connection)
        return Contestant(choice, choice.model, conn.name if conn else choice.connection)

    def label(self, choice: ModelChoice) -> str:
        return self.contestant(choice).label

    def heading(self, choice: ModelChoice | str | None) -> str:
        """The heading of an answer `choice` gave (a choice or its string, as the store keeps it):
        "gpt-4o @ OpenAI", "Gemma 3 270M (built in)"; "(unknown model)" when nothing says who."""
        if isinstance(choice, str):
            try:
                choice = ModelChoice.parse(choice)
            except ValueError:
                choice = None
        return self.contestant(choice).heading if choice is not None else "(unknown model)"

    def first_keyed_api(self, has_key: Callable[[ModelChoice], bool],
                        taken: list[ModelChoice | None] = ()) -> ModelChoice | None:
        """The first API model not in `taken` whose connection has its key, asking `has_key` (a
        keychain read) once per connection, not once per model."""
        keyed: dict[str, bool] = {}
        for c in self.api():
            if c.choice in taken:
                continue
            if c.choice.connection not in keyed:
                keyed[c.choice.connection] = has_key(c.choice)
            if keyed[c.choice.connection]:
                return c.choice
        return None

    def for_new_pane(self, taken: list[ModelChoice | None],
                     has_key: Callable[[ModelChoice], bool] | None = None) -> ModelChoice | None:
        """The model a new pane starts on: one that answers with nothing more set up. First an
        installed model no pane shows yet; then an API model no pane shows whose key is known to
        be there (`has_key`, given once the keychain has been read: a user with a key compares
        against GPT rather than a second copy of a local model); then the built-in model again
        (panes on one local model take turns); an API model without a key only when no local
        model is installed. None when every model is in a pane."""
        local = [c.choice for c in self.local()]
        for choice in local:
            if choice not in taken:
                return choice
        unused_api = [c.choice for c in self.api() if c.choice not in taken]
        if has_key is not None:
            keyed = self.first_keyed_api(has_key, taken)
            if keyed is not None:
                return keyed
        if local:
            built_in = ModelChoice("local", "default")
            return built_in if built_in in local else local[0]
        return unused_api[0] if unused_api else None

    # -- can it answer ----------------------------------------------------------------------
    def problem(self, choice: ModelChoice) -> str | None:
        """Why this model cannot answer any more, with what to do; None when it can."""
        if choice.engine == "local":
            offered, missing = self._installed()
            if choice.model == "default" or any(c.choice == choice for c in offered):
                return None
            if choice not in missing and self.services.local_model_path(choice.model).is_file():
                return None  # a file named directly (the command line), not in the library
            why = missing.get(choice) or "its file is no longer in your models"
            return f"{choice.label} is gone ({why}): pick another model for this pane."
        conn = self.services.settings.connection(choice.connection)
        if conn is None:
            return (f"{choice.model}'s connection '{choice.connection}' is no longer in Settings → Connections: "
                    "add it again or pick another model for this pane.")
        listed = self.api_models.get(conn.id)
        if listed is not None and choice.model not in listed:
            return f"{choice.model} is not offered by {conn.name} any more: pick another model for this pane."
        return None
