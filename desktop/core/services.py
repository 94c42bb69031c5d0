"""The core's composition: folders, settings, store, keys, prices and engines,
built once and handed to whoever needs them (the window, the command line, tests).
"""
from __future__ import annotations

import threading
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import secrets as secret_names
from . import settings as settings_io
from .engines.registry import EnginePool, ModelChoice
from .paths import Folders, folders as default_folders
from .pricing import Prices
from .secrets import Secrets
from .settings import Connection
from .store import Store

if TYPE_CHECKING:  # only named in annotations: engines.base is imported with the first answer, not the window
    from .engines.base import Engine

KEYLESS = "no-key"


class NeedsKey(RuntimeError):
    """A connection that needs a key has none: the message says where to add one."""


class UnknownConnection(ValueError):
    """A choice names a connection that is not (or no longer) in Settings."""


@dataclass
class Services:
    folders: Folders
    settings: settings_io.Settings
    store: Store
    secrets: Secrets
    prices: Prices
    warnings: list[str] = field(default_factory=list)  # shown once by the window or printed by the CLI
    engines: EnginePool = field(init=False)

    def __post_init__(self):
        self.engines = EnginePool(self._make_engine)
        self._interrupted_marked = False
        self._interrupted_lock = threading.Lock()
        self._gates: dict[str, threading.Semaphore] = {}  # connection id -> its concurrency limit
        self._gates_lock = threading.Lock()

    @classmethod
    def open(cls, home: str | Path | None = None, *, mark_interrupted: bool = True) -> "Services":
        """mark_interrupted=False leaves `mark_interrupted()` to the caller: the window calls it on
        a worker once it is shown, so starting writes nothing on the GUI thread."""
        f = default_folders(home).ensure()
        loaded = settings_io.load(f.settings_file)
        warnings = [loaded.warning] if loaded.warning else []
        try:
            settings_io.save_upgraded(loaded, f.settings_file)
        except OSError as exc:  # a read-only folder: the upgrade is redone in memory next time
            warnings.append(f"Settings were upgraded but could not be written to {f.settings_file}: {exc}")
        store = Store(f.database)
        services = cls(f, loaded.settings, store, Secrets(), Prices.load(f.prices_file), warnings)
        if mark_interrupted:
            try:
                services.mark_interrupted()
            except Exception:
                store.close()
                raise
        return services

    def mark_interrupted(self) -> int:
        """Answers a crashed or killed run left 'streaming' are marked interrupted (a run still
        alive, e.g. a second window, keeps its own; see Store.close_interrupted). Once per start;
        returns how many were marked."""
        with self._interrupted_lock:
            if self._interrupted_marked:
                return 0
            closed = self.store.close_interrupted()
            self._interrupted_marked = True
            return closed

    def save_settings(self, reset_engines: bool = True) -> None:
        """Write the settings; unless told otherwise, engines are remade for the next answer so
        runtime and endpoint changes take effect (a fetched model list changes neither)."""
        settings_io.save(self.settings, self.folders.settings_file)
        if reset_engines:
            self.engines.reset()
            with self._gates_lock:
                self._gates.clear()  # a new limit applies to the next answers (running ones keep their gate)

    @functools.cached_property
    def installed(self):
        """The installed models, listed once and kept current (library/installed.py)."""
        from .library.installed import InstalledModels

        return InstalledModels(self)

    def installed_current(self):
        """installed.current() (None until the models are first listed), without making the kept
        list when nothing has listed yet: the window asks while it is built, before its first
        frame, and library.installed is imported with the first listing (on a worker)."""
        return self.installed.current() if "installed" in self.__dict__ else None

    @functools.cached_property
    def discovery(self):
        """Models found in other tools' folders, and the background job that identifies them."""
        from .library.discover import Discovery

        return Discovery(self)

    def close(self) -> None:
        if "discovery" in self.__dict__:
            self.discovery.stop()
        self.engines.reset()
        self.store.close()

    # -- engines --------------------------------------------------------------------------
    def local_model_path(self, model: str) -> Path:
        if model == "default":
            from .library.embedded import embedded_model_path

            return embedded_model_path(self.folders.models)
        return Path(model).expanduser()

    def local_model_ref(self, path: Path) -> str:
        from .library.embedded import NAME, REF
        from .library.hashing import sha256_file

        if path.name == NAME and path.parent == self.folders.models:
            return REF
        if not path.is_file():
            return f"file:{path.name}"
        # The library records each file's checksum when it downloads or imports it; hashing
        # a multi-gigabyte file again would take seconds to minutes.
        st = path.stat()
        rows = self.store.query("SELECT sha256 FROM local_models WHERE path = ? AND size = ? AND mtime = ?",
                                (str(path), st.st_size, st.st_mtime))
        if rows and rows[0][0]:
            return f"sha256:{rows[0][0]}"
        from .library.discover import sha256_of

        found = sha256_of(self, path)  # a model found in another app's folder (kept, or hashed once now)
        if found:
            return f"sha256:{found}"
        digest = sha256_file(path)
        with self.store.transaction() as db:
            db.execute("UPDATE local_models SET sha256 = ? WHERE path = ? AND size = ? AND mtime = ?",
                       (digest, str(path), st.st_size, st.st_mtime))
        return f"sha256:{digest}"

    def local_model_name(self, choice: ModelChoice) -> str:
        """The name answers are recorded under: a found model's own name ("llama3.2:3b", where the
        file is an Ollama blob named by its hash), else the file's name."""
        if choice.engine == "local" and choice.model != "default":
            from .library.discover import origin_of

            origin = origin_of(self, Path(os.path.expanduser(choice.model)))
            if origin:
                return origin[1]
        return choice.label

    # -- connections ----------------------------------------------------------------------
    def connection(self, connection_id: str) -> Connection:
        conn = self.settings.connection(connection_id)
        if conn is None:
            raise UnknownConnection(f"There is no connection '{connection_id}': add it in Settings → Connections, "
                                    "or pick a model on another connection.")
        return conn

    def api_key(self, conn: Connection) -> str:
        """The connection's key; for a server that needs none, a placeholder (the client insists on one)."""
        key = self.secrets.get(secret_names.connection_key_name(conn.id), env=conn.key_env or "").value
        if key:
            return key
        if not conn.needs_key:
            return KEYLESS
        env = f" (or set {conn.key_env})" if conn.key_env else ""
        raise NeedsKey(f"No {conn.name} key: add one in Settings → Connections → {conn.name}{env}.")

    def openai_key(self) -> str:
        """The key of the connection made from the old single base URL (what suites still use)."""
        return self.api_key(self.connection(settings_io.LEGACY_CONNECTION))

    def _gate(self, conn: Connection) -> threading.Semaphore | None:
        if conn.max_concurrent <= 0:
            return None
        with self._gates_lock:
            gate = self._gates.get(conn.id)
            if gate is None:
                gate = self._gates[conn.id] = threading.Semaphore(conn.max_concurrent)
            return gate

    def _make_engine(self, choice: ModelChoice) -> Engine:
        if choice.engine == "local":
            from .engines.local import LocalEngine

            path = self.local_model_path(choice.model)
            return LocalEngine(path, self.settings.runtime, ref=self.local_model_ref(path),
                               name=self.local_model_name(choice),
                               log_dir=self.folders.logs)
        from .engines.openai_api import OpenAIEngine

        conn = self.connection(choice.connection)
        return OpenAIEngine(
            choice.model,
            api_key=self.api_key(conn),
            base_url=conn.base_url,
            timeout=conn.timeout_s,
            prices=self.prices,
            headers=conn.headers,
            gate=self._gate(conn),
            label=f"{choice.model} @ {conn.name}",
            ref=choice.ref,
            connection=conn.id,
        )
