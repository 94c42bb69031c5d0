"""The models on this machine: the embedded one, every .gguf under the models
folder, and files imported from elsewhere; plus import, delete and "set as
default".

What each file's header says is cached in the `local_models` table, keyed by
path and checked against size and mtime, so listing is fast after the first
time (reading a header takes tens of milliseconds; hashing a 5 GB file takes
seconds and happens only on import or download, never while listing).

Import registers a file *in place* by default: GGUF files are gigabytes, people
keep them on other disks and share them with llama.cpp, LM Studio or Ollama,
and a second copy would double the disk use for nothing. `copy=True` copies it
into the models folder for those who want one self-contained library (or are
importing from a removable disk). Deleting an in-place import removes it from
the library and leaves the user's file alone; deleting a file under the models
folder deletes the file.
"""
from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..engines.registry import ModelChoice
from ..names import BUILT_IN_LABEL, distinct_names, model_file_name
from .splits import split_part

if TYPE_CHECKING:
    from .gguf_info import GGUFInfo

# gguf_info (the gguf package, numpy) is imported only where a header must be read: listing the
# models with an up-to-date header cache, as the window does while it starts, reads none.



@dataclass(frozen=True)
class InstalledModel:
    path: Path
    name: str
    size: int
    quant: str | None
    architecture: str | None
    parameters: int | None
    context_length: int | None
    chat_template: bool
    sha256: str | None
    source: str | None  # a repo id, "imported", or "built in"
    embedded: bool
    managed: bool  # under the models folder: deleting it deletes the file
    choice: ModelChoice
    is_default: bool = False
    error: str | None = None  # the file is missing or its header cannot be read
    found_in: str | None = None  # another tool's folder it was found in (discover.py): "Ollama", "LM Studio"…
    kind: str = "model"  # for found files: model | projector | adapter | partial | incomplete split | unreadable
    also: tuple[str, ...] = ()  # found: where else the same file was seen

    @property
    def available(self) -> bool:
        return self.error is None

    @property
    def display_name(self) -> str:
        """What a model picker shows: a found model says where it came from ("from Ollama: llama3.2:3b")."""
        name = self.source if self.found_in else self.name
        return name if self.available else f"{name} (unavailable)"

    def where(self) -> str:
        """Where the file comes from, in a few words: "from LM Studio", "imported in place",
        "from bartowski/…" (the repository it was downloaded from)."""
        if self.found_in:  # an app's name, or a folder the user added (its last part is enough here)
            folder = self.found_in.rstrip("/\\")
            return f"from …/{os.path.basename(folder)}" if os.sep in folder or "/" in folder else f"from {folder}"
        if self.embedded:
            return "built in"
        if not self.managed:
            return "imported in place"
        return f"from {self.source}" if self.source and self.source != "imported" else "imported"

    def describe(self) -> str:
        bits = [b for b in (self.architecture, self.quant) if b]
        if self.context_length:
            bits.append(f"{self.context_length:,} ctx")
        if not self.chat_template and self.available:
            bits.append("no chat template")
        return " · ".join(bits)


_COLS = "path, sha256, size, mtime, name, architecture, parameters, quant, context_length, chat_template, source, added_at"


def listed_names(models: list[InstalledModel]) -> list[str]:
    """The Installed list's names: two rows with one name (a file imported and a copy of it found in
    a folder) are told apart by quantisation, else by where each comes from."""
    return distinct_names([(m.name, [m.quant or "", m.where()]) for m in models])


def read_info(path: Path) -> "GGUFInfo":
    """The file's header (gguf_info.read_info, imported here on first use)."""
    from .gguf_info import read_info as read_header

    return read_header(path)


def _row(services, path: Path):
    rows = services.store.query(f"SELECT {_COLS} FROM local_models WHERE path = ?", (os.fspath(path),))
    return rows[0] if rows else None


def _upsert(services, path: Path, info: GGUFInfo, st: os.stat_result, *, sha256: str | None, source: str | None,
            name: str | None = None) -> None:
    with services.store.transaction() as db:
        db.execute(
            f"INSERT INTO local_models ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(path) DO UPDATE SET sha256 = COALESCE(excluded.sha256, "
            "  CASE WHEN local_models.size = excluded.size AND local_models.mtime = excluded.mtime "
            "  THEN local_models.sha256 END), size = excluded.size, mtime = excluded.mtime, name = excluded.name, "
            "architecture = excluded.architecture, parameters = excluded.parameters, quant = excluded.quant, "
            "context_length = excluded.context_length, chat_template = excluded.chat_template, "
            "source = COALESCE(excluded.source, local_models.source)",
            (os.fspath(path), sha256, st.st_size, st.st_mtime, name or path.stem, info.architecture, info.parameters,
             info.quant, info.context_length, int(info.has_chat_template), source, time.time()),
        )


def _is_under(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _entry(services, path: Path, *, embedded: bool = False, source: str | None = None) -> InstalledModel:
    """One model, from the cache when the file has not changed, else from its header."""
    folders = services.folders
    choice = ModelChoice("local", "default" if embedded else os.fspath(path))
    is_default = services.settings.default_local_model == choice.model
    managed = embedded or _is_under(path, folders.models)
    name = BUILT_IN_LABEL if embedded else model_file_name(path.name)
    embedded_sha = None
    if embedded:
        from .embedded import SHA256 as embedded_sha
    try:
        st = path.stat()
    except OSError:
        if embedded:  # not written out yet: that happens on first use (services.local_model_path)
            return InstalledModel(path, name, 0, "Q4_K_M", "gemma3", 268_098_176, 32768, False, embedded_sha,
                                  source, True, True, choice, is_default)
        row = _row(services, path)
        return InstalledModel(path, name, row[2] if row else 0, row[7] if row else None, row[5] if row else None,
                              row[6] if row else None, row[8] if row else None, bool(row[9]) if row else False,
                              row[1] if row else None, (row[10] if row else source), embedded, managed, choice,
                              is_default, error=f"{path} is missing (moved or deleted).")
    row = _row(services, path)
    if row is not None and row[2] == st.st_size and row[3] == st.st_mtime:
        return InstalledModel(path, name, st.st_size, row[7], row[5], row[6], row[8], bool(row[9]),
                              row[1] or embedded_sha, row[10] or source, embedded, managed, choice, is_default)
    from .gguf_info import GGUFError

    try:
        info = read_info(path)
    except GGUFError as exc:
        return InstalledModel(path, name, st.st_size, None, None, None, None, False, None, source, embedded, managed,
                              choice, is_default, error=str(exc))
    _upsert(services, path, info, st, sha256=embedded_sha, source=source or (row[10] if row else None))
    row = _row(services, path)
    return InstalledModel(path, name, st.st_size, info.quant, info.architecture, info.parameters,
                          info.context_length, info.has_chat_template, row[1] if row else embedded_sha,
                          (row[10] if row else None) or source, embedded, managed, choice, is_default)


def _is_extra_split_part(path: Path) -> bool:
    split = split_part(path.name)
    return split is not None and split[0] != 1


def list_installed(services, *, include_found: bool | None = None) -> list[InstalledModel]:
    """The embedded model first, then every model file under the models folder and every imported file,
    then the models found in other tools' folders (when the user chose to use them, or `include_found`)
    that are not already one of those (same file, or same SHA-256)."""
    from .embedded import NAME

    folders = services.folders
    models_dir = folders.models
    out = [_entry(services, models_dir / NAME, embedded=True, source="built in")]
    seen = {os.path.normcase(os.fspath((models_dir / NAME).resolve()))}
    found: list[Path] = []
    if models_dir.is_dir():
        for p in models_dir.rglob("*"):
            if (p.suffix.lower() == ".gguf" and not p.name.startswith(".") and p.is_file()
                    and not _is_extra_split_part(p)):
                found.append(p)
    for p in sorted(found, key=lambda p: p.name.lower()):
        key = os.path.normcase(os.fspath(p.resolve()))
        if key in seen:
            continue
        seen.add(key)
        out.append(_entry(services, p))
    # Imported in place, and rows for files under models that have gone (clean those up).
    rows = services.store.query("SELECT path, source FROM local_models ORDER BY name")
    stale = []
    for path_text, source in rows:
        p = Path(path_text)
        key = os.path.normcase(os.fspath(p.resolve()))
        if key in seen:
            continue
        if _is_under(p, models_dir):
            if not p.exists():
                stale.append(path_text)
            continue
        seen.add(key)
        out.append(_entry(services, p, source=source))
    if stale:
        with services.store.transaction() as db:
            db.executemany("DELETE FROM local_models WHERE path = ?", [(s,) for s in stale])
    if include_found is None:
        include_found = services.settings.use_found_models == "yes"
    if include_found:
        from .discover import found_entries

        out += found_entries(services, out)
    return out


class InstalledModels:
    """The installed models as last listed, kept by Services for whoever shows them (the window's
    pickers, the session asking whether a model is gone).

    Listing walks the models folder, stats every file and may write the header cache, so it is
    done once (the window does it on a worker after it is shown) and again when the library
    changes (download, import, delete, a new default: see `changed`), not each time a picker is
    filled. `current()` is None until the first read."""

    def __init__(self, services):
        self._services = services
        self._models: list[InstalledModel] | None = None
        self._lock = threading.Lock()
        self._reading = threading.Lock()  # one listing at a time: an older one never replaces a newer

    def current(self) -> list[InstalledModel] | None:
        with self._lock:
            return None if self._models is None else list(self._models)

    def known(self) -> list[InstalledModel]:
        """The kept list, or the models listed now when none is kept yet (off the GUI thread)."""
        models = self.current()
        return self.read() if models is None else models

    def read(self) -> list[InstalledModel]:
        """List the models now (any thread) and keep the list."""
        with self._reading:
            models = list_installed(self._services)
            with self._lock:
                self._models = models
        return list(models)

    def changed(self) -> None:
        """The library changed: list again if someone has listed before (else the first read will)."""
        if self.current() is not None:
            self.read()


def find(services, model: str) -> InstalledModel | None:
    """The installed model a choice's model string ("default" or a path) names."""
    for m in list_installed(services):
        if m.choice.model == model:
            return m
    return None


def record_download(services, path: Path, *, sha256: str | None, source: str | None) -> InstalledModel:
    """Record a downloaded (already verified) file with its checksum and origin."""
    path = Path(path)
    info = read_info(path)
    _upsert(services, path, info, path.stat(), sha256=sha256, source=source)
    entry = _entry(services, path, source=source)
    services.installed.changed()
    return entry


def import_file(services, path: str | os.PathLike, *, copy: bool = False, compute_sha256: bool = True) -> InstalledModel:
    """Add a local .gguf to the library. Reads its header first (GGUFError for a file that is not a usable GGUF).

    Registers it in place unless `copy` (then it is copied into the models folder). Hashing a large file
    takes seconds: call this from a worker thread.
    """
    from .gguf_info import GGUFError
    from .hashing import sha256_file

    src = Path(path).expanduser()
    if not src.is_file():
        raise GGUFError(f"{src} does not exist or is not a file.")
    read_info(src)  # refuse anything that is not a readable, complete GGUF before touching the library
    models_dir = services.folders.models
    target = src.resolve()
    if copy and not _is_under(target, models_dir):
        dest_dir = models_dir / "imported"
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / src.name
        n = 1
        while dest.exists():
            dest = dest_dir / f"{src.stem}-{n}{src.suffix}"
            n += 1
        tmp = dest.with_name(f".{dest.name}.copying")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
        target = dest
    info = read_info(target)
    sha = sha256_file(target) if compute_sha256 else None
    _upsert(services, target, info, target.stat(), sha256=sha, source="imported")
    entry = _entry(services, target, source="imported")
    services.installed.changed()
    return entry


def delete(services, model: InstalledModel) -> str:
    """Delete a model under the models folder, or forget an in-place import. Returns what was done."""
    if model.embedded:
        raise ValueError("The built-in model cannot be deleted; it is what ArenaDesk answers with offline.")
    if model.found_in:
        raise ValueError(f"{model.display_name} belongs to {model.found_in}: ArenaDesk never deletes another "
                         f"app's files. Remove it in {model.found_in}, or stop using found models "
                         "(Models → Installed).")
    services.engines.drop(model.choice)  # unload it first: an open file cannot be deleted on Windows
    what = f"Removed {model.path.name} from the library; the file itself was left where it is."
    # A symbolic link placed in the models folder (to a file kept elsewhere) is listed because it is there:
    # removing it from the library means removing the link, never the file it points to.
    link_in_library = model.path.is_symlink() and _is_under(model.path.parent, services.folders.models)
    if link_in_library:
        model.path.unlink(missing_ok=True)
        what = (f"Removed the link {model.path.name} from the models folder; the file it points to was left "
                "where it is.")
    elif model.managed:
        model.path.unlink(missing_ok=True)
        # Remove the now-empty <owner>/<repo> folders a download created.
        models_dir = services.folders.models.resolve()
        parent = model.path.parent.resolve()
        while parent != models_dir and _is_under(parent, models_dir):
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
        what = f"Deleted {model.path.name} ({model.size / 1e9:.1f} GB freed)."
    with services.store.transaction() as db:
        db.execute("DELETE FROM local_models WHERE path = ?", (os.fspath(model.path),))
    if services.settings.default_local_model == model.choice.model:
        services.settings.default_local_model = "default"
        services.save_settings()
        what += " The built-in model is the default again."
    services.installed.changed()
    return what


def set_default(services, model: InstalledModel) -> None:
    if model.error:
        raise ValueError(model.error)
    services.settings.default_local_model = model.choice.model
    services.save_settings()
    services.installed.changed()  # its "default" mark


def disk_usage(services) -> tuple[int, int]:
    """(bytes used by model files under the models folder, bytes free on its disk)."""
    models_dir = services.folders.models
    used = 0
    if models_dir.is_dir():
        for p in models_dir.rglob("*.gguf"):
            try:
                if p.is_symlink():  # a link to a file kept elsewhere uses no space here
                    continue
                used += p.stat().st_size
            except OSError:
                pass
    try:
        free = shutil.disk_usage(models_dir).free
    except OSError:
        free = 0
    return used, free
