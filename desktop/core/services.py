"""The core's composition: folders, settings, store, keys, prices and engines,
built once and handed to whoever needs them (the window, the command line, tests).
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import secrets as secret_names
from . import settings as settings_io
from .engines.base import Engine
from .engines.registry import EnginePool, ModelChoice
from .paths import Folders, folders as default_folders
from .pricing import Prices
from .secrets import Secrets
from .store import Store


KEYLESS = "no-key"


class NeedsKey(RuntimeError):
    """No OpenAI key anywhere: the message says where to add one."""


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

    @classmethod
    def open(cls, home: str | Path | None = None) -> "Services":
        f = default_folders(home).ensure()
        loaded = settings_io.load(f.settings_file)
        warnings = [loaded.warning] if loaded.warning else []
        store = Store(f.database)
        # Answers a crashed or killed run left 'streaming' are marked interrupted now (a run still
        # alive, e.g. a second window, keeps its own); see Store.close_interrupted.
        try:
            store.close_interrupted()
        except Exception:
            store.close()
            raise
        return cls(f, loaded.settings, store, Secrets(), Prices.load(f.prices_file), warnings)

    def save_settings(self) -> None:
        settings_io.save(self.settings, self.folders.settings_file)
        self.engines.reset()  # runtime and endpoint settings take effect on the next answer

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

    def openai_key(self) -> str:
        """The stored key; with a custom base URL and no key, a placeholder (a local
        OpenAI-compatible server usually wants none, and the client insists on one)."""
        key = self.secrets.get(secret_names.OPENAI).value
        if key:
            return key
        if self.settings.openai_base_url:
            return KEYLESS
        raise NeedsKey("No OpenAI key: add one in Settings → Accounts (or set OPENAI_API_KEY).")

    def _make_engine(self, choice: ModelChoice) -> Engine:
        if choice.engine == "local":
            from .engines.local import LocalEngine

            path = self.local_model_path(choice.model)
            return LocalEngine(path, self.settings.runtime, ref=self.local_model_ref(path),
                               name=self.local_model_name(choice),
                               log_dir=self.folders.logs)
        from .engines.openai_api import OpenAIEngine

        return OpenAIEngine(
            choice.model,
            api_key=self.openai_key(),
            base_url=self.settings.openai_base_url or None,
            timeout=self.settings.request_timeout_s,
            prices=self.prices,
        )
