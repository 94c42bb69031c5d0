"""Adding a .gguf to the library from the window (dropped on it, or named by a script): the
file is registered where it lies, its header read and checksum taken on a worker."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..core.services import Services
from .inbox import Inbox


def dropped_gguf_files(mime) -> list[str]:
    """The local .gguf files in a drag's data (other files and URLs are not models)."""
    return [u.toLocalFile() for u in mime.urls() if u.toLocalFile().lower().endswith(".gguf")]


class ModelImport:
    def __init__(self, services: Services, inbox: Inbox, *, on_added: Callable[[str, object], None],
                 on_failed: Callable[[str, str], None], on_status: Callable[[str], None]):
        """on_added(file name, InstalledModel); on_failed(file name, what is wrong with it);
        on_status(text) while it is read."""
        self.services = services
        self._inbox = inbox
        self._on_added, self._on_failed, self._on_status = on_added, on_failed, on_status

    def start(self, path: str) -> None:
        from ..core.library.installed import import_file

        name = Path(path).name
        self._on_status(f"Adding {name}: reading its header and checksum…")
        # GGUFError and I/O errors say what is wrong with the file.
        self._inbox.run("import", lambda: import_file(self.services, path),
                        lambda model, error: self._on_failed(name, str(error)) if error else self._on_added(name, model))
