"""Named OpenAI-compatible connections: presets, the "Test connection" verdict and model
lists (what the pickers offer of them is `contestants.Contestants`).

A connection is a `settings.Connection` (base URL, headers, timeout, concurrency
limit, its last fetched model list); its key is in the keychain under
`secrets.connection_key_name(id)`. Services turns a connection and a model into
an engine; this module holds what the window, the settings dialog and the
command line share about connections, with no Qt.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from .engines.registry import ModelChoice
from .secrets import Secret, Source, connection_key_name, without_credentials
from .settings import Connection, Settings

if TYPE_CHECKING:
    from .services import Services


class Preset(NamedTuple):
    """A known service, a row of PRESETS. A named tuple, not a frozen dataclass: Python compiles a
    dataclass's generated methods when the module is imported, on the way to the first frame."""

    id: str
    name: str
    base_url: str
    key_env: str  # environment variable read when no key is stored ("" for none)
    key_help: str  # where a key comes from, in the user's words
    needs_key: bool = True
    suggested: tuple[str, ...] = ()  # offered in the picker until the model list is fetched


PRESETS: tuple[Preset, ...] = (
    Preset("openai", "OpenAI", "https://api.openai.com/v1", "OPENAI_API_KEY",
           "Create a key at platform.openai.com → API keys (needs billing set up).",
           suggested=("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1", "gpt-5-mini", "gpt-5")),
    Preset("anthropic", "Anthropic", "https://api.anthropic.com/v1/", "ANTHROPIC_API_KEY",
           "Create a key at console.anthropic.com → Settings → API keys (Anthropic's OpenAI-compatible endpoint).",
           suggested=("claude-sonnet-4-5", "claude-haiku-4-5")),
    Preset("gemini", "Google Gemini", "https://generativelanguage.googleapis.com/v1beta/openai/", "GEMINI_API_KEY",
           "Create a key at aistudio.google.com → Get API key (Gemini's OpenAI-compatible endpoint).",
           suggested=("gemini-2.5-flash", "gemini-2.5-pro")),
    Preset("openrouter", "OpenRouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY",
           "Create a key at openrouter.ai → Keys; one key reaches many providers' models."),
    Preset("groq", "Groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY",
           "Create a key at console.groq.com → API Keys."),
    Preset("mistral", "Mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY",
           "Create a key at console.mistral.ai → API Keys."),
    Preset("deepseek", "DeepSeek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY",
           "Create a key at platform.deepseek.com → API keys."),
    Preset("together", "Together", "https://api.together.xyz/v1", "TOGETHER_API_KEY",
           "Create a key at api.together.ai → Settings → API keys."),
    Preset("ollama", "Ollama", "http://localhost:11434/v1", "",
           "No key: Ollama on this machine needs none. Start it with `ollama serve` and pull a model "
           "(`ollama pull llama3.2`).", needs_key=False),
    Preset("lmstudio", "LM Studio", "http://localhost:1234/v1", "",
           "No key: start the server in LM Studio's Developer tab (Status: Running) and load a model.",
           needs_key=False),
    Preset("vllm", "vLLM", "http://localhost:8000/v1", "",
           "No key unless the server was started with --api-key VALUE; then store that VALUE here. "
           "Start it with `vllm serve MODEL` (see the README's scale-out section).", needs_key=False),
    Preset("llamacpp", "llama.cpp server", "http://localhost:8080/v1", "",
           "No key unless llama-server was started with --api-key VALUE; then store that VALUE here. "
           "Start it with `llama-server -m MODEL.gguf --port 8080`.", needs_key=False),
    Preset("custom", "Other OpenAI-compatible server", "", "",
           "Whatever the server asks for; leave the key empty for a server that needs none.", needs_key=False),
)


def preset(preset_id: str) -> Preset:
    return next((p for p in PRESETS if p.id == preset_id), PRESETS[-1])


def slug(text: str) -> str:
    """A connection id from its name: lower case, letters, digits, '.', '_' and '-' only."""
    out = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")
    return out or "connection"


def new_connection(settings: Settings, preset_id: str, name: str | None = None, base_url: str | None = None) -> Connection:
    """A connection filled from a preset, with a name and id no other connection has. Not added."""
    p = preset(preset_id)
    base = (name or p.name).strip() or p.name
    taken_names = {c.name.lower() for c in settings.connections}
    taken_ids = {c.id for c in settings.connections}
    display, n = base, 2
    while display.lower() in taken_names or slug(display) in taken_ids:
        display, n = f"{base} {n}", n + 1
    return Connection(id=slug(display), name=display, base_url=(base_url or p.base_url).strip(), preset=p.id,
                      needs_key=p.needs_key, key_env=p.key_env, timeout_s=60.0,
                      max_concurrent=2 if not p.needs_key else 4)  # a local server answers one or two at a time


def check_base_url(url: str) -> str | None:
    """Why this base URL cannot be used, or None."""
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # The message is shown and printed: a URL's user:password@ stays out of it.
        return (f"{without_credentials(url)!r} is not a usable base URL; give the endpoint's full address, "
                "e.g. http://127.0.0.1:8080/v1 or https://api.openai.com/v1")
    return None


def parse_headers(text: str) -> dict[str, str]:
    """'Name: value' lines into a dict; raises ValueError naming the bad line."""
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", name.strip()) or "\r" in value:
            raise ValueError(f"Header line {n} is not 'Name: value': {line.strip()[:60]!r}")
        out[name.strip()] = value.strip()
    return out


def format_headers(headers: dict[str, str]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in headers.items())


# -- keys ------------------------------------------------------------------------------------
def key_secret(services: "Services", conn: Connection) -> Secret:
    return services.secrets.get(connection_key_name(conn.id), env=conn.key_env or "")


def key_status(services: "Services", conn: Connection) -> str:
    """Where this connection's key comes from, never the key."""
    src = key_secret(services, conn).source
    if src is Source.KEYCHAIN:
        return "key in the keychain"
    if src is Source.SESSION:
        return "key for this session only"
    if src is Source.ENVIRONMENT:
        return f"key from ${conn.key_env}"
    return "no key needed" if not conn.needs_key else "no key yet"


# -- the verdict and the model list -------------------------------------------------------------
@dataclass
class Verdict:
    """What "Test connection" found: reachable, key accepted, N models, in one line."""

    connection: str
    reachable: bool
    key_accepted: bool | None  # None: not known (the server could not be reached)
    models: list[str] = field(default_factory=list)
    problem: str = ""  # what went wrong and what to do, safe to show (no key)
    kind: str = ""  # the error kind when it failed (connection, timeout, auth, no_key...)
    keyless: bool = False  # no key was sent (a local server that needs none)

    @property
    def ok(self) -> bool:
        return self.reachable and self.key_accepted is not False and not self.problem

    def summary(self) -> str:
        if self.kind in ("no_key", "input"):
            return f"Not tested. {self.problem}"
        if not self.reachable:
            return f"Not reachable. {self.problem}"
        if self.key_accepted is False:
            return f"Reachable, but the key was refused. {self.problem}"
        if self.problem:
            return f"Reachable, key accepted, but the model list failed: {self.problem}"
        n = len(self.models)
        key = "no key needed" if self.keyless else "key accepted"
        return f"Reachable · {key} · {n} model{'s' if n != 1 else ''}"


def check_connection(services: "Services", conn: Connection, timeout: float = 10.0) -> Verdict:
    """Ask the connection for its model list and say what that shows. Never raises."""
    from .engines.openai_api import OpenAIUnavailable, list_models

    problem = check_base_url(conn.base_url)
    if problem:
        return Verdict(conn.name, False, None, problem=problem, kind="input")
    from .services import KEYLESS, NeedsKey

    try:
        key = services.api_key(conn)
    except NeedsKey as exc:  # nothing to send yet
        return Verdict(conn.name, False, None, problem=str(exc), kind="no_key")
    try:
        names = list_models(key, conn.base_url, timeout=min(timeout, conn.timeout_s), headers=conn.headers)
    except OpenAIUnavailable as exc:
        if exc.kind in ("connection", "timeout"):
            return Verdict(conn.name, False, None, problem=str(exc), kind=exc.kind)
        if exc.kind == "auth":
            return Verdict(conn.name, True, False, problem=str(exc), kind=exc.kind)
        return Verdict(conn.name, True, True, problem=str(exc), kind=exc.kind)
    return Verdict(conn.name, True, True, models=names, keyless=key == KEYLESS)


def key_problem(services: "Services", choices: list[ModelChoice]) -> str | None:
    """Why one of these API contestants cannot be asked before anything starts (its connection is
    gone, or it needs a key nobody gave), or None. Each is checked on its own connection: a
    suite with an OpenRouter model needs OpenRouter's key, not OpenAI's."""
    from .services import NeedsKey, UnknownConnection

    for choice in choices:
        if choice.engine != "openai":
            continue
        try:
            conn = services.connection(choice.connection)
            problem = check_base_url(conn.base_url)
            if problem:
                return f"{choice.model} @ {conn.name}: {problem}"
            services.api_key(conn)
        except (NeedsKey, UnknownConnection) as exc:
            return str(exc)
    return None


def missing_key(services: "Services", choice: ModelChoice | None) -> str | None:
    """The name of the choice's connection when it needs a key and has none, else None (also for a
    local model, and for a connection that is gone: that is said as the model being gone)."""
    from .services import NeedsKey

    if choice is None or choice.engine != "openai":
        return None
    conn = services.settings.connection(choice.connection)
    if conn is None:
        return None
    try:
        services.api_key(conn)
    except NeedsKey:
        return conn.name
    return None


def check_all(services: "Services", connections: list[Connection] | None = None,
             timeout: float = 10.0) -> list[Verdict]:
    """Every connection tested at once (one slow server does not hold up the others)."""
    conns = list(services.settings.connections if connections is None else connections)
    if not conns:
        return []
    from concurrent.futures import ThreadPoolExecutor  # here: the window imports this module before its first frame

    with ThreadPoolExecutor(max_workers=min(8, len(conns))) as pool:
        return list(pool.map(lambda c: check_connection(services, c, timeout), conns))
