"""Models the user already has: GGUF files that LM Studio, Ollama, GPT4All, Jan,
the Hugging Face hub cache and llama.cpp's cache keep, and folders the user adds.

They are used where they are. Nothing here writes, moves or deletes anything in
those folders: files are opened read-only, to read a header or compute a hash.

Three steps, so the window never waits on a disk full of models:

1. `scan` walks the folders and looks only at names and at each GGUF's first
   header keys (`gguf_info.peek`): a tree of 10,000 files with 20 models takes a
   fraction of a second (tests/bench/bench_discover.py). It sorts out what is not
   a model on its own (vision projectors, LoRA adapters, partial downloads, split
   models with parts missing) so those are shown as such and never offered.
2. `record` keeps the result in the `found_models` table, keeping what was learnt
   before (hash, header) for every file whose size and mtime have not changed.
3. `identify` (a background job, with progress) reads each new model's full
   header and computes its SHA-256 once. Ollama and the hub cache name their
   blobs after the SHA-256 they verified when they downloaded them, so those
   files are not read again. The hash is the contestant's identity: the same
   file seen through two tools, or a copy of a model already installed, is one
   contestant, and its ratings go to one row of the leaderboard.
"""
from __future__ import annotations

import configparser
import hashlib
import json
import os
import plistlib
import re
import stat
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

from .gguf_info import GGUFError, peek, read_info
from .hub import split_part

OLLAMA = "Ollama"
LM_STUDIO = "LM Studio"
HF_CACHE = "Hugging Face cache"
LLAMA_CPP = "llama.cpp"
GPT4ALL = "GPT4All"
JAN = "Jan"
# When one file is seen through several tools, the first in this order names it.
TOOL_ORDER = (OLLAMA, LM_STUDIO, HF_CACHE, LLAMA_CPP, GPT4ALL, JAN)

MAX_DEPTH = 8  # below a root; a user folder such as ~ must not become a walk of the whole disk

# What a download tool leaves while a file is still coming (lower case).
_PARTIAL_SUFFIXES = (".part", ".partial", ".incomplete", ".download", ".downloadinprogress", ".tmp",
                     ".crdownload", ".aria2")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SPLIT_SUFFIX = re.compile(r"-\d{5}-of-\d{5}$", re.IGNORECASE)

PROJECTOR_NOTE = "A vision projector: it goes with a vision model and does not answer on its own."
ADAPTER_NOTE = "A LoRA adapter: it changes a model and does not answer on its own."


@dataclass(frozen=True)
class Place:
    """A folder to look in, and how it is laid out."""

    tool: str  # "Ollama", "LM Studio"… or the folder itself for one the user added
    root: Path
    layout: str = "tree"  # "tree" (any .gguf below), "ollama" (manifests → blobs), "hf-cache"
    why: str = "default folder"  # or "OLLAMA_MODELS", "from ~/.lmstudio/settings.json", "added by you"


@dataclass
class Found:
    """One model file (or split model) found in another tool's folder."""

    path: Path  # what llama.cpp opens: the file, or a split model's first part
    tool: str
    label: str  # the tool's name for it: "llama3.2:3b", "lmstudio-community/…/Qwen3-4B-Q4_K_M"
    kind: str  # "model", or why it is not offered: "projector", "adapter", "partial", "incomplete split", "unreadable"
    note: str | None  # for anything but a model: what it is, in words a user understands
    size: int  # all parts together
    mtime: float
    identity: str  # device:inode of the real file, so a link and its target are one file
    sha256: str | None = None  # named by a content-addressed store (Ollama, hub cache), which verified it
    parts: tuple[Path, ...] = ()  # a split model's files, in order
    also: list[str] = field(default_factory=list)  # where else the same file was seen: "LM Studio: x"

    @property
    def offered(self) -> bool:
        return self.kind == "model"

    @property
    def origin(self) -> str:
        return f"from {self.tool}: {self.label}"


@dataclass
class Scan:
    found: list[Found]
    problems: list[str]  # folders that could not be read, in words
    places: list[Place]  # the folders that exist and were looked in
    seconds: float

    @property
    def models(self) -> list[Found]:
        return [f for f in self.found if f.offered]


# -- where each tool keeps its models ----------------------------------------------------------

def _system() -> str:
    return {"win32": "Windows", "darwin": "Darwin"}.get(sys.platform, "Linux")


def _read_small(path: Path, limit: int = 1 << 20) -> bytes | None:
    """Another app's settings file, if it is a regular file of sane size (a pipe would block)."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        with open(path, "rb") as fh:
            return fh.read(limit)
    except OSError:
        return None


def _read_json(path: Path) -> dict:
    try:
        raw = json.loads((_read_small(path) or b"").decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return {}
    return raw if isinstance(raw, dict) else {}


def _folder_setting(value, base: Path) -> Path | None:
    """A folder named in another app's settings file, if it is a usable string."""
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        return None
    p = Path(value.strip()).expanduser()
    return p if p.is_absolute() else base / p


def default_places(home: Path | None = None, env: Mapping[str, str] | None = None, system: str | None = None,
                   root: Path = Path("/")) -> list[Place]:
    """Where the tools keep models on this system: their documented defaults, the folders their
    environment variables name, and the folders their settings files point to (where those are files).

    `home`, `env`, `system` ("Linux", "Darwin", "Windows") and `root` (for system-wide folders) are
    parameters so tests can build each platform's layout in a temporary folder.
    """
    home = Path(home) if home is not None else Path.home()
    env = os.environ if env is None else env
    system = system or _system()
    places: list[Place] = []

    def add(tool, path, layout="tree", why="default folder"):
        if path is not None:
            places.append(Place(tool, Path(path), layout, why))

    def env_path(name):
        v = env.get(name)
        return Path(v).expanduser() if v else None

    xdg_data = env_path("XDG_DATA_HOME") or home / ".local" / "share"
    xdg_config = env_path("XDG_CONFIG_HOME") or home / ".config"
    xdg_cache = env_path("XDG_CACHE_HOME") or home / ".cache"
    local_appdata = env_path("LOCALAPPDATA") or home / "AppData" / "Local"
    roaming_appdata = env_path("APPDATA") or home / "AppData" / "Roaming"
    app_support = home / "Library" / "Application Support"

    # Ollama: OLLAMA_MODELS, else ~/.ollama/models; Linux's system service keeps them under its own user.
    if env.get("OLLAMA_MODELS"):
        add(OLLAMA, env_path("OLLAMA_MODELS"), "ollama", "OLLAMA_MODELS")
    add(OLLAMA, home / ".ollama" / "models", "ollama")
    if system == "Linux":
        add(OLLAMA, root / "usr" / "share" / "ollama" / ".ollama" / "models", "ollama", "Ollama's system service")
        add(OLLAMA, root / "var" / "lib" / "ollama" / ".ollama" / "models", "ollama", "Ollama's system service")

    # LM Studio: ~/.lmstudio/models (0.3+; ~/.lmstudio-home-pointer says where that home is if it moved),
    # ~/.cache/lm-studio/models before; settings.json's downloadsFolder when the user changed it.
    lm_homes = [home / ".lmstudio"]
    try:
        pointer = (_read_small(home / ".lmstudio-home-pointer") or b"").decode("utf-8").strip()
    except UnicodeDecodeError:
        pointer = ""
    if pointer:
        moved = _folder_setting(pointer, home)
        if moved is not None:
            lm_homes.insert(0, moved)
    for lm_home in lm_homes + [home / ".cache" / "lm-studio"]:
        folder = _folder_setting(_read_json(lm_home / "settings.json").get("downloadsFolder"), lm_home)
        add(LM_STUDIO, folder, why=f"from {lm_home / 'settings.json'}")
        add(LM_STUDIO, lm_home / "models")

    # The Hugging Face hub cache: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub.
    if env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE"):
        name = "HF_HUB_CACHE" if env.get("HF_HUB_CACHE") else "HUGGINGFACE_HUB_CACHE"
        add(HF_CACHE, env_path(name), "hf-cache", name)
    elif env.get("HF_HOME"):
        add(HF_CACHE, env_path("HF_HOME") / "hub", "hf-cache", "HF_HOME")
    else:
        add(HF_CACHE, xdg_cache / "huggingface" / "hub", "hf-cache")

    # llama.cpp's own cache (llama-cli -hf …): LLAMA_CACHE, else the platform's cache folder.
    if env.get("LLAMA_CACHE"):
        add(LLAMA_CPP, env_path("LLAMA_CACHE"), why="LLAMA_CACHE")
    elif system == "Darwin":
        add(LLAMA_CPP, home / "Library" / "Caches" / "llama.cpp")
    elif system == "Windows":
        add(LLAMA_CPP, local_appdata / "llama.cpp")
    else:
        add(LLAMA_CPP, xdg_cache / "llama.cpp")

    # GPT4All: its data folder, or the modelPath its settings name (an ini file on Linux, a plist on
    # macOS; on Windows Qt keeps them in the registry, which is not read here).
    if system == "Darwin":
        gpt_default = app_support / "nomic.ai" / "GPT4All"
        try:
            prefs = plistlib.loads(_read_small(home / "Library" / "Preferences" / "com.nomic.GPT4All.plist") or b"")
        except (ValueError, plistlib.InvalidFileException):
            prefs = {}
        add(GPT4ALL, _folder_setting(prefs.get("modelPath") if isinstance(prefs, dict) else None, home),
            why="from GPT4All's preferences")
    elif system == "Windows":
        gpt_default = local_appdata / "nomic.ai" / "GPT4All"
    else:
        gpt_default = xdg_data / "nomic.ai" / "GPT4All"
        ini = xdg_config / "nomic.ai" / "GPT4All.ini"
        add(GPT4ALL, _folder_setting(_ini_value(ini, "modelPath"), home), why=f"from {ini}")
    add(GPT4ALL, gpt_default)

    # Jan: its data folder (settings.json's data_folder if moved); models under models/ (0.5) or
    # llamacpp/models/ (0.6+); ~/jan before 0.5.
    jan_config = {"Darwin": app_support / "Jan", "Windows": roaming_appdata / "Jan"}.get(system, xdg_config / "Jan")
    jan_data = [jan_config / "data", home / "jan"]
    moved = _folder_setting(_read_json(jan_config / "settings.json").get("data_folder"), home)
    if moved is not None:
        jan_data.insert(0, moved)
    for data in jan_data:
        add(JAN, data / "llamacpp" / "models")
        add(JAN, data / "models")
    return places


def _ini_value(path: Path, key: str) -> str | None:
    """A key from a Qt settings ini file (any section; Qt writes top-level keys under [General])."""
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string((_read_small(path) or b"").decode("utf-8", errors="replace"))
    except configparser.Error:
        return None
    for section in parser.sections():
        for k, v in parser.items(section):
            if k.lower() == key.lower():
                return v.strip().strip('"')
    return None


def user_places(folders: Iterable[str]) -> list[Place]:
    out = []
    for text in folders:
        if isinstance(text, str) and text.strip():
            p = Path(text).expanduser()
            out.append(Place(_tilde(p), p, "tree", "added by you"))
    return out


def _tilde(p: Path) -> str:
    try:
        return "~/" + p.relative_to(Path.home()).as_posix()
    except ValueError:
        return str(p)


def places_for(services) -> list[Place]:
    return default_places() + user_places(services.settings.model_folders)


# -- the scan -------------------------------------------------------------------------------------

def _identity(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}"


def _is_partial_name(lower: str) -> bool:
    if lower.startswith("incomplete-") and lower.endswith(".gguf"):  # GPT4All while downloading
        return True
    return any(lower.endswith(".gguf" + s) for s in _PARTIAL_SUFFIXES)


def _label_from(rel: Path) -> str:
    """An LM Studio-style name from a path under a root: publisher/repo/file without .gguf or the split suffix."""
    stem = _SPLIT_SUFFIX.sub("", rel.name[:-5] if rel.name.lower().endswith(".gguf") else rel.name)
    parent = rel.parent.as_posix()
    if stem.lower() == "model" and parent not in ("", "."):  # Jan: <id>/model.gguf
        return parent
    return stem if parent in ("", ".") else f"{parent}/{stem}"


def _examine(path: Path, *, name_says_projector: bool) -> tuple[str, str | None]:
    """(kind, note) from the name and the header's first keys."""
    if name_says_projector:
        return "projector", PROJECTOR_NOTE
    try:
        head = peek(path)
    except GGUFError as exc:
        return "unreadable", str(exc)
    if head.type == "mmproj" or head.architecture == "clip":
        return "projector", PROJECTOR_NOTE
    if head.type == "adapter" or "adapter.type" in head.metadata:
        return "adapter", ADAPTER_NOTE
    if head.type == "vocab" or head.tensor_count == 0:
        return "unreadable", f"{path.name} holds a tokenizer's vocabulary only, no weights."
    return "model", None


class _Scanner:
    def __init__(self):
        self.found: list[Found] = []
        self.by_identity: dict[str, Found] = {}
        self.problems: list[str] = []

    def problem(self, folder: Path, exc: OSError) -> None:
        why = "permission denied" if isinstance(exc, PermissionError) else (exc.strerror or str(exc))
        self.problems.append(f"Could not read {folder} ({why}); models in it are not listed. "
                             "Check its permissions, or remove it from your model folders.")

    def add(self, f: Found) -> None:
        first = self.by_identity.get(f.identity)
        if first is not None:
            first.also.append(f"{f.tool}: {f.label}")
            return
        self.by_identity[f.identity] = f
        self.found.append(f)

    # A generic tree: every .gguf below the root, split parts grouped, partial downloads noted.
    def walk(self, root: Path) -> list[tuple[Path, str]]:
        """(path, lower-case name) of every candidate file below root, in path order.

        The hot loop of a scan (it sees every file and folder): plain strings, one scandir per
        folder, a substring test per name; Path objects only for the few candidates."""
        stack = [(os.fspath(root), 0)]
        seen_dirs: set[tuple[int, int]] = set()
        try:
            st = os.stat(root)
            seen_dirs.add((st.st_dev, st.st_ino))
        except OSError:
            pass
        out = []
        while stack:
            folder, depth = stack.pop()
            try:
                with os.scandir(folder) as it:
                    for e in it:
                        name = e.name
                        if name[0] == ".":
                            continue
                        try:
                            is_dir = e.is_dir()
                        except OSError:
                            continue
                        if is_dir:
                            if depth >= MAX_DEPTH:
                                continue
                            if e.is_symlink():  # a linked folder: follow it once, never round a loop
                                try:
                                    lst = os.stat(e.path)
                                except OSError:
                                    continue
                                if (lst.st_dev, lst.st_ino) in seen_dirs:
                                    continue
                                seen_dirs.add((lst.st_dev, lst.st_ino))
                            stack.append((e.path, depth + 1))
                            continue
                        lower = name.lower()
                        if ".gguf" in lower and (lower.endswith(".gguf") or _is_partial_name(lower)):
                            out.append((e.path, lower))
            except OSError as exc:
                self.problem(Path(folder), exc)
        # Sorted so the same files are found in the same order on every scan (the first of two
        # names for one file names it).
        return [(Path(p), lower) for p, lower in sorted(out)]

    def scan_tree(self, place: Place, root: Path | None = None, label_root: Path | None = None,
                  label_prefix: str = "") -> None:
        root = root or place.root
        label_root = label_root or root
        splits: dict[tuple[Path, str, int], dict[int, Path]] = {}
        for path, lower in self.walk(root):
            try:
                rel = path.relative_to(label_root)
            except ValueError:
                rel = Path(path.name)
            label = label_prefix + _label_from(rel)
            if _is_partial_name(lower):
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                self.add(Found(path, place.tool, label.removeprefix("incomplete-"), "partial",
                               "A download that has not finished: finish it in the app that started it.",
                               st.st_size, st.st_mtime, _identity(st)))
                continue
            split = split_part(path.name)
            if split is not None:
                prefix = path.name[: -len("-00001-of-00003.gguf")]
                splits.setdefault((path.parent, prefix, split[1]), {})[split[0]] = path
                continue
            self.add_file(place, path, label, lower)
        for (folder, prefix, total), parts in splits.items():
            self.add_split(place, folder, prefix, total, parts, label_root, label_prefix)

    def add_file(self, place: Place, path: Path, label: str, lower: str, sha256: str | None = None) -> None:
        try:
            st = os.stat(path)  # follows a link (the hub cache's snapshots) to the real file
        except OSError:
            return  # a broken link, or gone since the folder was listed
        if not stat.S_ISREG(st.st_mode):
            return  # a pipe or a device named *.gguf: opening it could block the scan for ever
        if sha256 is None:
            sha256 = _store_digest(path)
        kind, note = _examine(path, name_says_projector="mmproj" in lower)
        self.add(Found(path, place.tool, label, kind, note, st.st_size, st.st_mtime, _identity(st), sha256))

    def add_split(self, place, folder, prefix, total, parts, label_root, label_prefix) -> None:
        first = parts.get(1)
        any_part = first or next(iter(parts.values()))
        try:
            rel = any_part.relative_to(label_root)
        except ValueError:
            rel = Path(any_part.name)
        label = label_prefix + _label_from(rel)
        stats = {}
        for n, p in parts.items():
            try:
                stats[n] = os.stat(p)
            except OSError:
                pass
        if not stats:
            return
        missing = [n for n in range(1, total + 1) if n not in stats]
        ordered = tuple(parts[n] for n in sorted(stats))
        size = sum(s.st_size for s in stats.values())
        mtime = max(s.st_mtime for s in stats.values())
        st0 = stats.get(1) or next(iter(stats.values()))
        if missing:
            shown = ", ".join(str(n) for n in missing[:5]) + ("…" if len(missing) > 5 else "")
            self.add(Found(first or any_part, place.tool, label, "incomplete split",
                           f"A model split into {total} files, {len(missing)} of them missing (part {shown}): "
                           "download the missing parts next to the others.", size, mtime, _identity(st0),
                           parts=ordered))
            return
        kind, note = _examine(first, name_says_projector="mmproj" in first.name.lower())
        self.add(Found(first, place.tool, label, kind, note, size, mtime, _identity(st0), parts=ordered))

    # Ollama: manifests/<host>/<namespace>/<model>/<tag> (JSON) name the blob that holds the weights.
    def scan_ollama(self, place: Place) -> None:
        manifests = place.root / "manifests"
        blobs = place.root / "blobs"
        for path, _lower in self._files(manifests):
            try:
                rel = path.relative_to(manifests).parts
            except ValueError:
                continue
            if len(rel) < 2:
                continue
            *repo, tag = rel
            if len(repo) >= 3 and repo[0] == "registry.ollama.ai":
                repo = repo[2:] if repo[1] == "library" else repo[1:]
            label = f"{'/'.join(repo)}:{tag}"
            try:
                manifest = json.loads((_read_small(path) or b"").decode("utf-8"))  # a few hundred bytes
            except (ValueError, UnicodeDecodeError):
                continue
            layers = manifest.get("layers") if isinstance(manifest, dict) else None
            if not isinstance(layers, list):
                continue
            for layer in layers:
                if not isinstance(layer, dict):
                    continue
                media = layer.get("mediaType")
                kinds = {"application/vnd.ollama.image.model": ("model", ""),
                         "application/vnd.ollama.image.projector": ("projector", " (vision projector)"),
                         "application/vnd.ollama.image.adapter": ("adapter", " (adapter)")}
                if media not in kinds:
                    continue
                digest = layer.get("digest")
                if not isinstance(digest, str) or not digest.startswith("sha256:") \
                        or not _HEX64.fullmatch(digest[7:]):
                    continue  # never build a path from anything but 64 hex digits
                hexdigest = digest[7:]
                blob = blobs / f"sha256-{hexdigest}"
                kind, suffix = kinds[media]
                try:
                    st = os.stat(blob)
                except OSError:
                    partial = blobs / f"sha256-{hexdigest}-partial"
                    if partial.exists():
                        self.add(Found(blob, place.tool, label + suffix, "partial",
                                       "Ollama has not finished downloading it: finish `ollama pull` first.",
                                       0, 0.0, f"ollama-partial:{hexdigest}"))
                    continue
                if kind == "projector":
                    note = PROJECTOR_NOTE
                elif kind == "adapter":
                    note = ADAPTER_NOTE
                else:
                    kind, note = _examine(blob, name_says_projector=False)
                    if kind == "unreadable":
                        note = (f"Ollama's {label} is not in GGUF format (an older GGML file?): "
                                "only Ollama can run it.")
                self.add(Found(blob, place.tool, label + suffix, kind, note, st.st_size, st.st_mtime,
                               _identity(st), hexdigest))

    def _files(self, root: Path) -> Iterable[tuple[Path, str]]:
        stack = [(root, 0)]
        while stack:
            folder, depth = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except FileNotFoundError:
                continue
            except OSError as exc:
                self.problem(folder, exc)
                continue
            subfolders = []
            for e in entries:
                if e.name.startswith("."):
                    continue
                try:
                    if e.is_dir(follow_symlinks=False):
                        if depth < MAX_DEPTH:
                            subfolders.append((Path(e.path), depth + 1))
                    elif e.is_file():
                        yield Path(e.path), e.name.lower()
                except OSError:
                    continue
            stack += reversed(subfolders)

    # The hub cache: models--<owner>--<repo>/snapshots/<revision>/<file> links to blobs/<sha256>.
    def scan_hf_cache(self, place: Place) -> None:
        try:
            with os.scandir(place.root) as it:
                repos = [e for e in it if e.name.startswith("models--")]
        except OSError as exc:
            self.problem(place.root, exc)
            return
        for e in sorted(repos, key=lambda e: e.name):
            repo = e.name[len("models--"):].replace("--", "/")
            repo_dir = Path(e.path)
            snapshots = repo_dir / "snapshots"
            try:
                with os.scandir(snapshots) as it:
                    revisions = sorted(r.name for r in it if r.is_dir())
            except FileNotFoundError:
                revisions = []
            except OSError as exc:
                self.problem(snapshots, exc)
                continue
            # The revision refs/main names first, so a file in several revisions is named after it.
            try:
                main = (_read_small(repo_dir / "refs" / "main") or b"").decode("utf-8").strip()
            except UnicodeDecodeError:
                main = ""
            revisions.sort(key=lambda r: r != main)
            for rev in revisions:
                self.scan_tree(place, snapshots / rev, snapshots / rev, f"{repo}/")
            # A download in progress is blobs/<sha256>.incomplete, with no snapshot link yet.
            try:
                with os.scandir(repo_dir / "blobs") as it:
                    incomplete = [b for b in it if b.name.endswith(".incomplete")]
            except OSError:
                incomplete = []
            for b in incomplete:
                path = Path(b.path)
                try:
                    st = os.stat(path)
                    if not stat.S_ISREG(st.st_mode):
                        continue
                    with path.open("rb") as fh:
                        if fh.read(4) != b"GGUF":
                            continue
                except OSError:
                    continue
                self.add(Found(path, place.tool, f"{repo} (downloading)", "partial",
                               "A download from the Hugging Face hub that has not finished.",
                               st.st_size, st.st_mtime, _identity(st)))


def _store_digest(path: Path) -> str | None:
    """The SHA-256 a content-addressed store named the file after (the hub cache's blobs/<sha256>)."""
    try:
        if not path.is_symlink():
            return None
        name = Path(os.path.realpath(path)).name
    except OSError:
        return None
    return name if _HEX64.fullmatch(name) else None


def scan(places: Iterable[Place]) -> Scan:
    """Walk the places (those that exist) and sort out what is in them. Reads names and the first
    header keys only: never hashes, never writes."""
    began = time.perf_counter()
    s = _Scanner()
    looked: list[Place] = []
    roots: set[str] = set()
    for place in places:
        try:
            if not place.root.is_dir():
                continue
            key = os.path.normcase(os.path.realpath(place.root))
        except OSError as exc:
            s.problem(place.root, exc)
            continue
        if key in roots:  # the same folder named twice (a setting pointing at the default)
            continue
        roots.add(key)
        looked.append(place)
        if place.layout == "ollama":
            s.scan_ollama(place)
        elif place.layout == "hf-cache":
            s.scan_hf_cache(place)
        else:
            s.scan_tree(place)
    return Scan(s.found, s.problems, looked, time.perf_counter() - began)


def offer_text(found_in: list[str]) -> str:
    """'Found 4 models from Ollama and LM Studio — use them?' for the first-run offer,
    from the tool each model was found in."""
    tools: list[str] = []
    for tool in found_in:
        if tool not in tools:
            tools.append(tool)
    names = tools[0] if len(tools) == 1 else ", ".join(tools[:-1]) + " and " + tools[-1]
    n = len(found_in)
    return f"Found {n} model{'s' if n != 1 else ''} from {names} — use {'them' if n != 1 else 'it'}?"


# -- what is kept: the found_models table ---------------------------------------------------------

_KEEP = "size, mtime, sha256, examined, architecture, parameters, quant, context_length, chat_template, kind, note"


def record(services, result: Scan) -> None:
    """Keep a scan's result. What was learnt about a file before (its hash, its full header) is kept
    while its size and mtime are unchanged; files no longer found are forgotten."""
    old = {row[0]: row[1:] for row in services.store.query(f"SELECT path, {_KEEP} FROM found_models")}
    now = time.time()
    rows = []
    for position, f in enumerate(result.found):
        path = os.fspath(f.path)
        prev = old.get(path)
        same = prev is not None and prev[0] == f.size and prev[1] == f.mtime
        sha = f.sha256 or (prev[2] if same else None)
        examined, arch, params, quant, ctx, template = prev[3:9] if same else (0, None, None, None, None, None)
        kind, note = f.kind, f.note
        if same and examined and f.kind == "model" and prev[9] != "model":
            kind, note = prev[9], prev[10]  # the full header showed it truncated or corrupt
        rows.append((path, f.tool, f.label, kind, note, f.size, f.mtime, f.identity,
                     json.dumps([os.fspath(p) for p in f.parts]), json.dumps(f.also), sha, examined, arch, params,
                     quant, ctx, template, position, now))
    with services.store.transaction() as db:
        db.execute("DELETE FROM found_models")
        db.executemany(
            "INSERT INTO found_models (path, tool, label, kind, note, size, mtime, identity, parts, also, sha256, "
            "examined, architecture, parameters, quant, context_length, chat_template, position, seen_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


@dataclass(frozen=True)
class IdentifyProgress:
    """Where the background job that reads headers and computes hashes is."""

    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int  # bytes still to hash when the job started
    current: str | None  # the model being read now
    finished: bool = False

    def text(self) -> str:
        from .hardware import fmt_bytes

        if self.finished:
            if not self.files_done:
                return "No found model needed identifying."
            return f"Identified {self.files_done} found model{'s' if self.files_done != 1 else ''}."
        amount = f" ({fmt_bytes(self.bytes_done)} of {fmt_bytes(self.bytes_total)})" if self.bytes_total else ""
        return (f"Identifying found models: {self.files_done} of {self.files_total}{amount}"
                + (f" — {self.current}" if self.current else ""))


def identify(services, *, on_progress: Callable[[IdentifyProgress], None] | None = None,
             stop: threading.Event | None = None, chunk: int = 4 << 20) -> IdentifyProgress:
    """Read the full header of each found model not read yet, and compute the SHA-256 of each not
    hashed yet (once: it is kept while the file's size and mtime stay the same). Slow for big files:
    run it on a worker thread; `stop` ends it between chunks, and what was finished is kept."""
    from .installed import list_installed

    # A found file that is also a model the library has (a hard link to a download, the built-in
    # model) already has its hash: take it instead of reading gigabytes again.
    known: dict[str, str] = {}
    for m in list_installed(services, include_found=False):
        try:
            if m.sha256:
                known[_identity(os.stat(m.path))] = m.sha256
        except OSError:
            pass
    if known:
        with services.store.transaction() as db:
            db.executemany("UPDATE found_models SET sha256 = ? WHERE identity = ? AND sha256 IS NULL",
                           [(sha, ident) for ident, sha in known.items()])
    rows = services.store.query(
        "SELECT path, parts, size, mtime, sha256, examined, tool, label FROM found_models "
        "WHERE kind = 'model' AND (sha256 IS NULL OR examined = 0) ORDER BY position")
    total = sum(r[2] for r in rows if r[4] is None)
    done_files = done_bytes = 0

    def report(current, finished=False):
        p = IdentifyProgress(done_files, len(rows), done_bytes, total, current, finished)
        if on_progress is not None:
            on_progress(p)
        return p

    for path_text, parts_json, size, mtime, sha, examined, tool, label in rows:
        if stop is not None and stop.is_set():
            break
        path = Path(path_text)
        report(f"{tool}: {label}")
        try:
            parts = [Path(p) for p in json.loads(parts_json)] or [path]
        except ValueError:
            parts = [path]
        if not examined:
            try:
                info = read_info(path)
                # A split model's other parts: whole, and their weights counted too.
                parameters = info.parameters + sum(read_info(p).parameters for p in parts[1:])
            except GGUFError as exc:
                if path.exists():  # gone: the next scan forgets it; otherwise say why it cannot be used
                    kind = "partial" if "truncated" in str(exc) else "unreadable"
                    with services.store.transaction() as db:
                        db.execute("UPDATE found_models SET kind = ?, note = ?, examined = 1 WHERE path = ?",
                                   (kind, str(exc), path_text))
                done_files += 1
                done_bytes += size if sha is None else 0
                continue
            with services.store.transaction() as db:
                db.execute("UPDATE found_models SET examined = 1, architecture = ?, parameters = ?, quant = ?, "
                           "context_length = ?, chat_template = ? WHERE path = ? AND size = ? AND mtime = ?",
                           (info.architecture, parameters, info.quant, info.context_length,
                            int(info.has_chat_template), path_text, size, mtime))
        if sha is None:
            def advance(n, _label=f"{tool}: {label}"):
                nonlocal done_bytes
                done_bytes += n
                report(_label)

            digest = _hash_files(parts, chunk, stop, advance)
            if digest is None:  # stopped, or the file went away: nothing kept
                if stop is not None and stop.is_set():
                    break
                done_files += 1
                continue
            with services.store.transaction() as db:  # only if the file is still the one that was read
                db.execute("UPDATE found_models SET sha256 = ? WHERE path = ? AND size = ? AND mtime = ?",
                           (digest, path_text, size, mtime))
        done_files += 1
    return report(None, finished=True)


def _hash_files(parts: list[Path], chunk: int, stop, advance) -> str | None:
    """SHA-256 of the parts read one after the other (a split model's identity), or None."""
    h = hashlib.sha256()
    try:
        for part in parts:
            with part.open("rb") as fh:
                while block := fh.read(chunk):
                    h.update(block)
                    advance(len(block))
                    if stop is not None and stop.is_set():
                        return None
    except OSError:
        return None
    return h.hexdigest()


def found_entries(services, listed: list) -> list:
    """The found models as library entries (installed.InstalledModel), in the last scan's order,
    leaving out files the library already lists (`listed`: the same file, by link or hard link, or
    the same SHA-256). Anything that cannot be loaded comes with its reason as `error`, so it is
    shown and never offered."""
    from ..engines.registry import ModelChoice
    from .installed import InstalledModel

    taken_ids: set[str] = set()
    for m in listed:
        try:
            taken_ids.add(_identity(os.stat(m.path)))
        except OSError:
            pass
    taken_shas = {m.sha256 for m in listed if m.sha256}
    out = []
    default = services.settings.default_local_model
    rows = services.store.query(
        "SELECT path, tool, label, kind, note, size, mtime, sha256, architecture, parameters, quant, "
        "context_length, chat_template, also, identity, parts FROM found_models ORDER BY position")
    for (path_text, tool, label, kind, note, size, mtime, sha, arch, params, quant, ctx, template,
         also, identity, parts) in rows:
        path = Path(path_text)
        if identity in taken_ids or (sha and sha in taken_shas):
            continue
        taken_ids.add(identity)
        if sha:
            taken_shas.add(sha)
        error = None if kind == "model" else note or kind
        if error is None:
            try:
                if _now(path, parts) != (size, mtime):
                    sha = None  # changed since it was hashed: not the file that was identified
            except OSError:
                error = (f"{path} is gone from {tool}'s folder (moved or deleted). "
                         "Scan again in Models → Installed, or pick another model.")
        choice = ModelChoice("local", path_text)
        out.append(InstalledModel(
            path, label, size, quant, arch, params, ctx, bool(template), sha, f"from {tool}: {label}",
            False, False, choice, default == path_text, error, found_in=tool, kind=kind,
            also=tuple(json.loads(also or "[]"))))
    return out


def origin_of(services, path: Path) -> tuple[str, str] | None:
    """(tool, label) when the path is a found model."""
    rows = services.store.query("SELECT tool, label FROM found_models WHERE path = ?", (os.fspath(path),))
    return (rows[0][0], rows[0][1]) if rows else None


def _now(path: Path, parts_json: str | None) -> tuple[int, float]:
    """(size, mtime) of a found model now, all parts together, as a scan records them. OSError if gone."""
    try:
        parts = [Path(p) for p in json.loads(parts_json or "[]")] or [path]
    except ValueError:
        parts = [path]
    stats = [os.stat(p) for p in parts]
    return sum(st.st_size for st in stats), max(st.st_mtime for st in stats)


def sha256_of(services, path: Path) -> str | None:
    """A found model's SHA-256 (a split model's: all its parts read in order): the kept one while
    the files are unchanged, else computed now and kept. None when the path is no found model.
    For a model picked before the background job reached it: slow for a big file (a worker's job)."""
    rows = services.store.query("SELECT sha256, size, mtime, parts FROM found_models WHERE path = ?",
                                (os.fspath(path),))
    if not rows:
        return None
    sha, size, mtime, parts_json = rows[0]
    try:
        now = _now(path, parts_json)
    except OSError:
        return None
    if sha and now == (size, mtime):
        return sha
    try:
        parts = [Path(p) for p in json.loads(parts_json or "[]")] or [path]
    except ValueError:
        parts = [path]
    digest = _hash_files(parts, 4 << 20, None, lambda n: None)
    if digest and now == (size, mtime):
        with services.store.transaction() as db:
            db.execute("UPDATE found_models SET sha256 = ? WHERE path = ? AND size = ? AND mtime = ?",
                       (digest, os.fspath(path), size, mtime))
    return digest


# -- the user's answers ------------------------------------------------------------------------------

def _save(services) -> None:
    # Written directly, not through Services.save_settings: that also unloads the loaded models
    # (runtime settings take effect that way), which this choice must not do.
    from .. import settings as settings_io

    settings_io.save(services.settings, services.folders.settings_file)


def set_use(services, use: bool) -> None:
    """The answer to the first-run offer, or the Installed tab's check box: remembered."""
    services.settings.use_found_models = "yes" if use else "no"
    _save(services)


def add_folder(services, folder: str | os.PathLike) -> Path:
    """Look in one more folder from now on. Adding one is asking for its models: they are used."""
    path = Path(folder).expanduser().resolve()
    if not path.is_dir():
        raise ValueError(f"{path} is not a folder.")
    if os.fspath(path) not in services.settings.model_folders:
        services.settings.model_folders.append(os.fspath(path))
    services.settings.use_found_models = "yes"
    _save(services)
    return path


def remove_folder(services, folder: str | os.PathLike) -> None:
    services.settings.model_folders = [f for f in services.settings.model_folders if f != os.fspath(folder)]
    _save(services)


# -- the one owner of the background work, per Services ----------------------------------------------

class Discovery:
    """Scans on request and runs one identify job at a time in the background. Listeners are
    called from the worker thread (the window hands the call to its inbox)."""

    def __init__(self, services):
        self.services = services
        self.last_scan: Scan | None = None
        self.progress: IdentifyProgress | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._listeners: list[Callable[[IdentifyProgress], None]] = []

    def places(self) -> list[Place]:
        return places_for(self.services)

    def scan(self) -> Scan:
        result = scan(self.places())
        record(self.services, result)
        self.last_scan = result
        return result

    def new_models(self) -> list:
        """Found models that can answer and that the library does not already list otherwise."""
        from .installed import list_installed

        return [m for m in list_installed(self.services, include_found=True) if m.found_in and m.available]

    def subscribe(self, listener: Callable[[IdentifyProgress], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start_identifying(self) -> bool:
        """Start the background job unless one is running. True when one was started."""
        with self._lock:
            if self.busy:
                return False
            self._stop.clear()
            self._thread = threading.Thread(target=self._identify, daemon=True, name="arenadesk-identify")
            self._thread.start()
            return True

    def _identify(self) -> None:
        last = [0.0]

        def on_progress(p: IdentifyProgress):
            now = time.monotonic()
            if now - last[0] < 0.1 and not p.finished:  # a few updates a second are plenty
                return
            last[0] = now
            self.progress = p
            with self._lock:
                listeners = list(self._listeners)
            for fn in listeners:
                fn(p)

        try:
            identify(self.services, on_progress=on_progress, stop=self._stop)
        except Exception:  # noqa: BLE001 - the store closed under us (quitting): the next start resumes
            pass

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        t = self._thread
        if t is not None:
            t.join(timeout)


# -- what `arenadesk models` shows -----------------------------------------------------------------

def _origin(m) -> str:
    if m.found_in:
        return m.source
    if m.embedded:
        return "built in"
    if m.source == "imported":
        return "imported" + ("" if m.managed else " (used in place)")
    if m.source:
        return f"downloaded from {m.source}"
    return "in the models folder"


def models_report(services, *, scan_first: bool = True) -> dict:
    """Installed and found models with where each came from: what the window's library shows."""
    result = services.discovery.scan() if scan_first else services.discovery.last_scan
    use = services.settings.use_found_models
    from .installed import list_installed

    models = []
    for m in list_installed(services, include_found=True):
        models.append({
            "name": m.name, "origin": _origin(m), "found_in": m.found_in, "choice": str(m.choice),
            "path": os.fspath(m.path), "size": m.size, "quant": m.quant, "architecture": m.architecture,
            "sha256": m.sha256, "kind": m.kind, "usable": m.available, "problem": m.error,
            "used": m.available and (m.found_in is None or use == "yes"), "also": list(m.also),
        })
    return {"models": models, "use_found_models": use,
            "looked_in": [{"tool": p.tool, "folder": os.fspath(p.root), "why": p.why} for p in result.places]
            if result else [],
            "problems": result.problems if result else [],
            "scan_seconds": round(result.seconds, 3) if result else None}


def format_report(report: dict) -> str:
    from .hardware import fmt_bytes

    lines = []
    for m in report["models"]:
        mark = "✔" if m["used"] else ("·" if m["usable"] else "✖")
        bits = [b for b in (fmt_bytes(m["size"]) if m["size"] else None, m["quant"]) if b]
        lines.append(f"{mark} {m['name']}  —  {m['origin']}" + (f"  ({', '.join(bits)})" if bits else ""))
        lines.append(f"    {m['choice']}")
        if m["problem"]:
            lines.append(f"    not usable: {m['problem']}")
        for where in m["also"]:
            lines.append(f"    also in {where}")
    found = [m for m in report["models"] if m["found_in"] and m["usable"]]
    if found and report["use_found_models"] != "yes":
        lines.append(f"{len(found)} found model{'s are' if len(found) != 1 else ' is'} not in use (·): "
                     "`arenadesk models --use yes` (or Models → Installed in the window) adds them.")
    lines += [f"warning: {p}" for p in report["problems"]]
    return "\n".join(lines)
