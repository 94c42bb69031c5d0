"""Typed, versioned settings saved atomically as JSON.

A corrupt, unreadable or future-version file never crashes the app: it gives
defaults plus a warning the window shows, and the bad file is kept aside
(settings.json.bad) so nothing the user wrote is silently destroyed.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .atomic import write_text_atomic
from urllib.parse import urlsplit

# 2: one OpenAI base URL + timeout became a list of named connections (see _upgrade).
SCHEMA_VERSION = 2
OPENAI_ENDPOINT = "https://api.openai.com/v1"
LEGACY_CONNECTION = "openai"  # the id of the connection made from version 1's single base URL

# What each number may be (the settings dialog offers the same ranges). A value outside its range
# in the file (a context length of -4096 or 10^9) keeps the default and is named in a warning,
# instead of reaching llama.cpp and failing there as "the model file may be damaged".
RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("Sampling", "temperature"): (0.0, 2.0),
    ("Sampling", "top_p"): (0.0, 1.0),
    ("Sampling", "top_k"): (0, 1000),
    ("Sampling", "repeat_penalty"): (0.5, 2.0),
    ("Sampling", "max_tokens"): (1, 32768),
    ("Sampling", "seed"): (-1, 2**31 - 1),
    ("LocalRuntime", "context_length"): (512, 262144),
    ("LocalRuntime", "gpu_layers"): (-1, 999),
    ("LocalRuntime", "threads"): (0, 256),
    ("Connection", "timeout_s"): (1.0, 3600.0),
    ("Connection", "max_concurrent"): (0, 64),
}

# What the dialog calls each number, for messages about a value outside its range.
LABELS: dict[str, str] = {
    "temperature": "Temperature", "top_p": "Top-p", "top_k": "Top-k", "repeat_penalty": "Repeat penalty",
    "max_tokens": "Max tokens", "seed": "Seed", "context_length": "Context length", "gpu_layers": "GPU layers",
    "threads": "CPU threads", "timeout_s": "Timeout", "max_concurrent": "Requests at once",
}


def out_of_range(obj, floors: dict[str, float] | None = None) -> list[str]:
    """Each number of a settings object (Sampling, LocalRuntime, Connection) outside RANGES, in
    words: "Context length -4,096 is not between 512 and 262,144". Settings read from a file are
    already checked on load; this is for values that come another way (code, a suite, a CLI).
    `floors`: lower bounds that code may go below what the settings offer (a test's 256-token
    context); the message still names the settings' range."""
    problems = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        bounds = RANGES.get((type(obj).__name__, f.name))
        if bounds is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        low, high = bounds
        if not ((floors or {}).get(f.name, low) <= value <= high):  # NaN fails this too
            problems.append(f"{LABELS.get(f.name, f.name)} {_number(value)} is not between {_number(low)} "
                            f"and {_number(high)}")
    return problems


def _number(x: float) -> str:
    return f"{int(x):,}" if isinstance(x, int) or (math.isfinite(x) and float(x).is_integer()) else f"{x:g}"


@dataclass
class Sampling:
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    repeat_penalty: float = 1.1
    max_tokens: int = 512
    seed: int = -1  # -1: a new random seed for every answer
    stop: list[str] = field(default_factory=list)  # extra stop sequences (base models ramble on)


@dataclass
class LocalRuntime:
    context_length: int = 4096
    gpu_layers: int = 0  # -1 offloads every layer when the build supports a GPU
    threads: int = 0  # 0: let ArenaDesk pick (physical cores)
    # auto: the file's own chat template (a plain transcript when it has none); transcript: always
    # the plain transcript, the way out when a file's template is broken
    prompt_format: str = "auto"


@dataclass
class Connection:
    """One OpenAI-compatible endpoint. Its key is not here: it lives in the keychain under
    a name derived from `id` (secrets.connection_key_name), never in this file."""

    id: str = ""  # stable: answers are attributed to it, so renaming keeps their identity
    name: str = ""  # what the user sees: "OpenAI", "my-box"
    base_url: str = ""
    preset: str = "custom"  # which preset filled it (connections.PRESETS)
    needs_key: bool = True  # False: a local server; a placeholder key is sent when none is stored
    key_env: str = ""  # environment variable read when no key is stored, e.g. OPENAI_API_KEY
    headers: dict = field(default_factory=dict)  # extra HTTP headers (name -> value), e.g. OpenRouter's HTTP-Referer
    timeout_s: float = 60.0  # the pause allowed between chunks
    max_concurrent: int = 4  # answers streamed at once over this connection; 0: no limit
    models: list[str] = field(default_factory=list)  # as last fetched from its /models (refreshable)
    models_fetched_at: float = 0.0


def openai_connection() -> Connection:
    return Connection(id=LEGACY_CONNECTION, name="OpenAI", base_url=OPENAI_ENDPOINT, preset="openai",
                      key_env="OPENAI_API_KEY")


@dataclass
class Judging:
    """The LLM judge and the "can I switch?" verdict (core/judge.py, core/verdict.py)."""

    count_in_leaderboard: bool = False  # a judge's verdicts join your leaderboard only when you switch this on
    local_watts: float = 0.0  # your machine's extra draw while a local model answers (0: local answers are free)
    usd_per_kwh: float = 0.0  # what your electricity costs


@dataclass
class Settings:
    version: int = SCHEMA_VERSION
    connections: list[Connection] = field(default_factory=lambda: [openai_connection()])
    default_local_model: str = "default"  # "default" is the embedded model; else a file path
    default_remote_model: str = "gpt-4o-mini"
    system_prompt: str = ""
    sampling: Sampling = field(default_factory=Sampling)
    runtime: LocalRuntime = field(default_factory=LocalRuntime)
    blind: bool = False
    theme: str = "system"  # system | light | dark
    # Models found in other tools' folders (LM Studio, Ollama…): "ask" until the first window
    # has offered them, then "yes" or "no" (Models → Installed changes it).
    use_found_models: str = "ask"
    model_folders: list[str] = field(default_factory=list)  # more folders to look for .gguf files in
    # The panes' models when the window last closed (ModelChoice strings): the next start shows them.
    last_panes: list[str] = field(default_factory=list)
    judging: Judging = field(default_factory=Judging)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict, problems: list[str] | None = None) -> "Settings":
        """Known keys of the right type and range are taken; anything else keeps its default
        (and, out of range, is named in `problems`)."""
        problems = problems if problems is not None else []
        out = _fill(cls, raw, problems)
        if isinstance(raw, dict) and isinstance(raw.get("connections"), list):
            out.connections = []
            for item in raw["connections"]:
                conn = _fill(Connection, item, problems)
                if conn.id and conn.base_url and conn.id not in {c.id for c in out.connections}:
                    out.connections.append(conn)
        return out

    @property
    def openai_base_url(self) -> str:
        """The base URL of the connection made from version 1's single URL ("" when it is OpenAI's
        own), for the code that still thinks in one endpoint (suites, tests); not saved itself."""
        conn = self.connection(LEGACY_CONNECTION)
        return "" if conn is None or conn.base_url.rstrip("/") == OPENAI_ENDPOINT else conn.base_url

    @openai_base_url.setter
    def openai_base_url(self, url: str) -> None:
        """Point that connection elsewhere, as version 1 did: a custom URL needs no key; "" is OpenAI."""
        conn = self.connection(LEGACY_CONNECTION)
        if conn is None:
            conn = openai_connection()
            self.connections.insert(0, conn)
        conn.base_url = url.strip() or OPENAI_ENDPOINT
        conn.needs_key = not url.strip()

    def connection(self, key: str) -> Connection | None:
        """The connection with this id, or else this name (case-insensitive)."""
        for c in self.connections:
            if c.id == key:
                return c
        return next((c for c in self.connections if c.name.lower() == key.lower()), None)


def _upgrade(raw: dict, version: int) -> dict:
    """Bring an older file's keys to this version's shape (the user does nothing)."""
    raw = dict(raw)
    if version < 2 and "connections" not in raw:
        # Version 1 had one base URL (empty: OpenAI) and one timeout. It becomes the connection
        # with id "openai", whose key is the keychain entry the OpenAI key always had, so the
        # key, and the answers recorded before (store migration 0006), follow it unchanged.
        conn = openai_connection()
        base = raw.get("openai_base_url")
        if isinstance(base, str) and base.strip() and base.strip().rstrip("/") != OPENAI_ENDPOINT:
            conn.base_url = base.strip()
            conn.name = urlsplit(conn.base_url).netloc or conn.base_url
            conn.preset = "custom"
            conn.needs_key = False  # version 1 sent a placeholder to a custom URL when no key was stored
        timeout = raw.get("request_timeout_s")
        if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0:
            conn.timeout_s = float(timeout)
        raw["connections"] = [asdict(conn)]
    raw.pop("openai_base_url", None)
    raw.pop("request_timeout_s", None)
    raw["version"] = SCHEMA_VERSION
    return raw


def _fill(kind, raw: dict, problems: list[str]):
    obj = kind()
    if not isinstance(raw, dict):
        return obj
    for f in fields(kind):
        if f.name not in raw:
            continue
        default = getattr(obj, f.name)
        value = raw[f.name]
        if hasattr(default, "__dataclass_fields__"):
            setattr(obj, f.name, _fill(type(default), value, problems))
        elif isinstance(default, bool):
            if isinstance(value, bool):
                setattr(obj, f.name, value)
        elif isinstance(default, (int, float)) and isinstance(value, (int, float)) and not isinstance(value, bool):
            low, high = RANGES.get((kind.__name__, f.name), (-math.inf, math.inf))
            if not (low <= value <= high) or (isinstance(value, float) and math.isnan(value)):
                problems.append(f"{f.name} = {value!r:.24} is outside {low:g}…{high:g}, so {default!r} is used")
                continue
            setattr(obj, f.name, type(default)(value))
        elif isinstance(default, str) and isinstance(value, str):
            setattr(obj, f.name, value)
        elif isinstance(default, list) and isinstance(value, list) and all(isinstance(v, str) for v in value):
            setattr(obj, f.name, list(value))
        elif isinstance(default, dict) and isinstance(value, dict):
            setattr(obj, f.name, {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)})
    return obj


@dataclass
class LoadedSettings:
    settings: Settings
    warning: str | None = None
    upgraded_from: int | None = None  # the file's older schema version, when it was brought up to date


def load(path: Path) -> LoadedSettings:
    if not path.exists():
        return LoadedSettings(Settings())
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("the file does not hold a JSON object")
    except (OSError, ValueError) as exc:
        _keep_aside(path)
        return LoadedSettings(
            Settings(),
            f"Settings file {path} could not be read ({exc}); defaults are in use and the "
            f"old file was kept as {path.name}.bad.",
        )
    # No version at all: a file the user wrote by hand; read what it names, like version 1.
    version = raw.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        _keep_aside(path)
        return LoadedSettings(
            Settings(),
            f"Settings file {path} has version {version!r}, which is not a number ArenaDesk knows; defaults "
            f"are in use and the file was kept as {path.name}.bad.",
        )
    if version > SCHEMA_VERSION:
        _keep_aside(path)
        return LoadedSettings(
            Settings(),
            f"Settings file {path} is version {version!r}, newer than this ArenaDesk understands "
            f"({SCHEMA_VERSION}); defaults are in use and the file was kept as {path.name}.bad.",
        )
    older = version if version < SCHEMA_VERSION and "version" in raw else None
    problems: list[str] = []
    settings = Settings.from_dict(_upgrade(raw, version), problems)
    warning = f"Settings file {path}: " + "; ".join(problems) + ". Fix it in Settings." if problems else None
    return LoadedSettings(settings, warning, upgraded_from=older)


def save_upgraded(loaded: LoadedSettings, path: Path) -> None:
    """Write a file read in an older schema in the new one, keeping the old file beside it
    (settings.json.v1) so going back to the older ArenaDesk loses nothing."""
    if loaded.upgraded_from is None or not path.exists():
        return
    backup = path.with_name(f"{path.name}.v{loaded.upgraded_from}")
    if not backup.exists():
        backup.write_bytes(path.read_bytes())
    save(loaded.settings, path)


def save(settings: Settings, path: Path) -> None:
    """Atomically: a crash mid-write leaves the previous settings, never half of them."""
    write_text_atomic(path, json.dumps(settings.to_dict(), indent=2, sort_keys=True))


def _keep_aside(path: Path) -> None:
    try:
        os.replace(path, path.with_name(path.name + ".bad"))
    except OSError:
        pass
