"""API keys and tokens, kept only in the operating system's keychain (keyring).

Nothing here ever writes a key to a file. Where no keychain backend exists
(a headless Linux box without a Secret Service), a key can be kept for this
session only, in memory; `OPENAI_API_KEY` / `HF_TOKEN` from the environment are
read as a last resort. Callers learn where a key came from, never print it.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import unquote, urlsplit
from enum import Enum

from .paths import APP_ID

# keyring is imported where a key is read or written: importing it and finding its backend takes
# a few hundred milliseconds, which the window's start does not wait for.

OPENAI = "openai_api_key"
HUGGINGFACE = "huggingface_token"

_ENV = {OPENAI: "OPENAI_API_KEY", HUGGINGFACE: "HF_TOKEN"}


def connection_key_name(connection_id: str) -> str:
    """The keychain entry of a connection's API key. The connection made from the old single
    base URL (id "openai") keeps the entry the OpenAI key always had, so nothing moves."""
    return OPENAI if connection_id == "openai" else f"api_key:{connection_id}"


class Source(str, Enum):
    KEYCHAIN = "keychain"
    SESSION = "session"  # in memory only, gone when the app quits
    ENVIRONMENT = "environment"
    NONE = "none"


@dataclass(frozen=True)
class Secret:
    value: str | None
    source: Source

    def __repr__(self) -> str:  # never show the value, not even in a traceback
        return f"Secret(source={self.source.value}, set={self.value is not None})"


class NoKeychain(RuntimeError):
    pass


class Secrets:
    def __init__(self, service: str = APP_ID):
        self.service = service
        self._session: dict[str, str] = {}

    def keychain_available(self) -> bool:
        """A real keychain: not keyring's fail/null backends, and not keyrings.alt's file
        backends (a plaintext or home-made encrypted file is exactly what keys must not be in)."""
        import keyring

        backend = keyring.get_keyring()
        layers = getattr(backend, "backends", None) or [backend]  # a ChainerBackend tries several
        return any(_is_keychain(b) for b in layers)

    def keychain_name(self) -> str:
        import keyring

        return type(keyring.get_keyring()).__name__

    def get(self, name: str, env: str | None = None) -> Secret:
        """env: the environment variable to read last (default: the one this name always had)."""
        if name in self._session:
            return Secret(self._session[name], Source.SESSION)
        if self.keychain_available():
            import keyring.errors

            try:
                value = keyring.get_password(self.service, name)
            except keyring.errors.KeyringError:
                value = None
            if value:
                return Secret(value, Source.KEYCHAIN)
        variable = env if env is not None else _ENV.get(name, "")
        value = os.environ.get(variable, "").strip() if variable else ""  # a pasted key's newline breaks the header
        if value:
            return Secret(value, Source.ENVIRONMENT)
        return Secret(None, Source.NONE)

    def set(self, name: str, value: str, *, session_only: bool = False, env: str | None = None) -> Source:
        """Store a key. Raises NoKeychain when there is no backend and session_only is False."""
        value = value.strip()
        if not value:
            raise ValueError("an empty key cannot be stored")
        if session_only:
            self._session[name] = value
            _SESSION_KEYS.add(value)
            return Source.SESSION
        if not self.keychain_available():
            variable = env or _ENV.get(name)
            raise NoKeychain(
                "No system keychain is available, so the key cannot be saved. Keep it for this session only"
                + (f", or set the environment variable {variable}." if variable else ".")
            )
        import keyring.errors

        try:
            keyring.set_password(self.service, name, value)
        except keyring.errors.KeyringError as exc:
            raise NoKeychain(f"The system keychain refused the key ({type(exc).__name__}).") from None
        self._session.pop(name, None)
        return Source.KEYCHAIN

    def delete(self, name: str) -> None:
        self._session.pop(name, None)
        if self.keychain_available():
            import keyring.errors

            try:
                keyring.delete_password(self.service, name)
            except keyring.errors.KeyringError:
                pass


def _is_keychain(backend) -> bool:
    module = type(backend).__module__
    if module.startswith(("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")):
        return False
    return getattr(backend, "priority", 0) > 0


_KEY_PREFIX = re.compile(r"^(?:sk-(?:proj-|svcacct-|admin-|ant-(?:api\d\d-)?)?|hf_|Bearer\s+)", re.I)
_OPENAI_KEY = re.compile(r"sk-[A-Za-z0-9_\-]{8,}")  # anything shaped like an OpenAI key
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@?#]+@")
MIN_SECRET_CHARS = 8  # shorter "keys" (a placeholder like "x" for a keyless local server) are no secret
MIN_PASSWORD_CHARS = 4  # a password from a URL is a secret even when short


def without_credentials(url: str) -> str:
    """`url` with any user:password@ taken out (what may be shown, logged or stored)."""
    return _URL_USERINFO.sub(r"\1", url or "")


def url_secrets(url: str | None) -> list[str]:
    """The password (and user name) a URL carries, in every form a server might echo them."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
        found = [parts.password, parts.username]
    except ValueError:
        return []
    out = []
    for value in found:
        if value and len(value) >= MIN_PASSWORD_CHARS:
            out += [value, unquote(value)]
    return out


def redact(text: str, *secrets: str | None, passwords: list[str] | tuple = ()) -> str:
    """Remove every given secret from text, in the forms a server echoes one: whole, without its
    prefix (sk-, sk-proj-, hf_...), percent-decoded; then any user:password@ in a URL, the
    `passwords` (from `url_secrets`, short ones too) and anything that looks like an OpenAI key."""
    if not text:
        return text
    return _without_forms(_URL_USERINFO.sub(r"\1", text), _secret_forms(secrets, passwords))


def _secret_forms(secrets, passwords=()) -> tuple[str, ...]:
    """Every form of the given secrets that `redact` removes, longest first (a prefixed key is
    replaced before its body is): each secret whole, percent-decoded and without its prefix, and
    the URL passwords as they are. Secrets under MIN_SECRET_CHARS (a placeholder "x" for a keyless
    server) are no secret; a URL's password is one from MIN_PASSWORD_CHARS."""
    forms: set[str] = set()
    for s in secrets:
        s = (s or "").strip()
        if len(s) >= MIN_SECRET_CHARS:
            forms.update(f for f in (s, unquote(s), _KEY_PREFIX.sub("", s)) if len(f) >= MIN_SECRET_CHARS)
    forms.update(p for p in passwords if p and len(p) >= MIN_PASSWORD_CHARS)
    return tuple(sorted(forms, key=len, reverse=True))


def _without_forms(text: str, forms: tuple[str, ...]) -> str:
    """text with each of `forms` (from `_secret_forms`) and anything shaped like an OpenAI key
    replaced."""
    for form in forms:
        if form in text:
            text = text.replace(form, "[redacted]")
    return _OPENAI_KEY.sub("sk-[redacted]", text) if "sk-" in text else text


# Session-only keys of every Secrets in this process: an export made without the app's own
# Secrets at hand (Redaction.for_this_machine) still knows them.
_SESSION_KEYS: set[str] = set()
_SECRET_HEADER = re.compile(r"(authori[sz]ation|api[_-]?key|token|secret|passw|cookie)", re.I)


@dataclass(frozen=True)
class Redaction:
    """What an export removes from every text it writes: the keys and tokens this machine knows
    (each connection's, the Hugging Face token, session-only ones) and the passwords in the
    connections' URLs, in every form `redact` knows. Rows stored before a server's echo was
    caught (or before a key was rotated in) may hold them; exports run every text through this.

    Two strengths: `text` for what a model or a person wrote (answers, prompts, notes) removes
    the known secrets and anything shaped like an OpenAI key, but keeps a URL's user:password@
    (an answer explaining `postgres://user:pass@host/db` is content); `error` for what a server
    or the app wrote also removes any URL's user:password@, as saving an error does."""

    secrets: tuple[str, ...] = ()
    passwords: tuple[str, ...] = ()

    @classmethod
    def known(cls, settings, secrets: "Secrets") -> "Redaction":
        passwords: list[str] = []
        values: list[str] = []
        for conn in getattr(settings, "connections", []) or []:
            values.append(secrets.get(connection_key_name(conn.id), env=conn.key_env or "").value or "")
            passwords += url_secrets(conn.base_url)
            values += [v for k, v in (conn.headers or {}).items() if isinstance(v, str) and _SECRET_HEADER.search(k)]
        values.append(secrets.get(HUGGINGFACE).value or "")
        values += list(secrets._session.values()) + list(_SESSION_KEYS)
        values += [os.environ.get(v, "") for v in _ENV.values()]
        return cls(tuple(sorted({v.strip() for v in values if v and v.strip()})), tuple(sorted(set(passwords))))

    @classmethod
    def for_this_machine(cls) -> "Redaction":
        """From the settings file and the keychain: for callers that have no Services at hand."""
        from . import settings as settings_io
        from .paths import folders

        try:
            loaded = settings_io.load(folders().settings_file).settings
        except Exception:  # an unreadable settings file must not stop an export; the keychain still counts
            loaded = None
        return cls.known(loaded, Secrets())

    def text(self, value):
        if not isinstance(value, str) or not value:
            return value
        return _without_forms(value, self._forms)

    def error(self, value):
        if not isinstance(value, str) or not value:
            return value
        return _without_forms(_URL_USERINFO.sub(r"\1", value), self._forms)

    def touches(self, raw: str) -> bool:
        """Whether `raw` (a serialized record, e.g. a JSON line) may hold anything to remove: a
        cheap test so that only such records are decoded, redacted and written again."""
        return any(marker in raw for marker in self.markers)

    @cached_property
    def markers(self) -> tuple[str, ...]:
        """What `touches` looks for: a record holding none of these (as written, or as JSON
        writes it) has nothing to remove. An export looks for them in a page of records at once.
        One that holds another is left out: wherever it is, the shorter one is found (an sk- key)."""
        found = {"sk-", "://"} | {f for form in self._forms for f in (form, _json_form(form))}
        return tuple(sorted(m for m in found if not any(o != m and o in m for o in found)))

    @cached_property
    def _forms(self) -> tuple[str, ...]:
        return _secret_forms(self.secrets, self.passwords)


def _json_form(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)[1:-1]
