"""The Hugging Face hub: search GGUF repositories, list a repository's .gguf
files with size, quant type and SHA-256, and turn a refusal (401/403) into a
message a user can act on.

Everything goes through huggingface_hub's `HfApi`, built per call with the
endpoint read *now* from HF_ENDPOINT (huggingface_hub reads it once at import),
so a mirror, an offline proxy or a test server set later still takes effect.
No Qt here; callers run these on a worker thread (they touch the network).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Callable

from huggingface_hub import HfApi
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

from .splits import split_part  # noqa: F401 (its home was here; callers still import it from hub)

DEFAULT_ENDPOINT = "https://huggingface.co"

# Windows device names, also with an extension and with spaces before it ("nul .gguf" is NUL there).
_WINDOWS_DEVICES = re.compile(r"^(con|prn|aux|nul|conin\$|conout\$|com[0-9¹²³]|lpt[0-9¹²³]) *(\..*)?$", re.I)
# Characters Windows refuses in names, control characters, and the bidi controls that make a name
# read as another ("model\u202efgg.exe" shows as "modelexe.ggf").
_BAD_NAME_CHARS = re.compile('[<>:"|?*\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]')


def safe_filename(name: str) -> str | None:
    """The last part of a hub path as a file name that is safe under Linux, macOS AND Windows
    rules, or None when there is none: `\\` separates folders on Windows, so `..\\..\\x.gguf`
    is a traversal there; `C:x`, `a:stream`, `CON`, `nul.gguf` and names ending in a dot or a
    space mean something else to Windows."""
    parts = re.split(r"[\\/]", name or "")
    last = parts[-1]
    if ".." in parts or last in ("", ".", "..") or _BAD_NAME_CHARS.search(last) or last != last.rstrip(". "):
        return None
    if _WINDOWS_DEVICES.match(last) or len(last.encode("utf-8", "replace")) > 255:
        return None
    return last


def _network_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError]
    try:  # huggingface_hub's HTTP client raises its own transport errors, not OSError
        import httpx2

        errors.append(httpx2.TransportError)
    except ImportError:
        pass
    try:
        import httpx

        errors.append(httpx.TransportError)
    except ImportError:
        pass
    return tuple(errors)


NETWORK_ERRORS = _network_errors()

# Quant names as they appear in GGUF file names, longest first so Q4_K_M wins over Q4_K.
_QUANTS = [
    "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M", "IQ4_XS", "IQ4_NL",
    "Q2_K_XL", "Q2_K_L", "Q2_K_S", "Q2_K", "Q3_K_XL", "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q4_K_XL", "Q4_K_L", "Q4_K_M",
    "Q4_K_S", "Q4_K", "Q5_K_XL", "Q5_K_L", "Q5_K_M", "Q5_K_S", "Q5_K", "Q6_K_XL", "Q6_K_L", "Q6_K", "Q8_K_XL",
    "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q8_1",
    "TQ1_0", "TQ2_0", "MXFP4", "BF16", "F16", "FP16", "F32", "FP32",
]
_QUANT_RE = re.compile(
    r"(?<![A-Za-z0-9])(" + "|".join(sorted(_QUANTS, key=len, reverse=True)) + r")(?![A-Za-z0-9])", re.IGNORECASE
)
# Approximate bits per weight of each quant (llama.cpp's quantize table); used to estimate sizes and fits.
BITS_PER_WEIGHT = {
    "IQ1_S": 1.56, "IQ1_M": 1.75, "IQ2_XXS": 2.06, "IQ2_XS": 2.31, "IQ2_S": 2.5, "IQ2_M": 2.7, "IQ3_XXS": 3.06,
    "IQ3_XS": 3.3, "IQ3_S": 3.44, "IQ3_M": 3.66, "IQ4_XS": 4.25, "IQ4_NL": 4.5, "Q2_K_S": 2.9, "Q2_K": 3.35,
    "Q2_K_L": 3.6, "Q2_K_XL": 3.6, "Q3_K_S": 3.5, "Q3_K_M": 3.9, "Q3_K_L": 4.3, "Q3_K_XL": 4.4, "Q4_0": 4.55,
    "Q4_0_4_4": 4.55, "Q4_0_4_8": 4.55, "Q4_0_8_8": 4.55, "Q4_1": 5.0, "Q4_K_S": 4.6, "Q4_K": 4.85,
    "Q4_K_M": 4.85, "Q4_K_L": 5.1, "Q4_K_XL": 5.1, "Q5_0": 5.5, "Q5_1": 6.0, "Q5_K_S": 5.55, "Q5_K": 5.7,
    "Q5_K_M": 5.7, "Q5_K_L": 5.9, "Q5_K_XL": 6.0, "Q6_K": 6.6, "Q6_K_L": 6.8, "Q6_K_XL": 6.9, "Q8_0": 8.5,
    "Q8_1": 9.0, "Q8_K_XL": 9.0, "TQ1_0": 1.69, "TQ2_0": 2.06, "MXFP4": 4.25, "F16": 16.0, "BF16": 16.0,
    "F32": 32.0,
}


def endpoint() -> str:
    """The hub to talk to: $HF_ENDPOINT now, else huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def quant_from_name(filename: str) -> str | None:
    """Q4_K_M, Q8_0, IQ3_XS, F16, BF16 ... read from a file name; None when the name carries none."""
    base = filename.rsplit("/", 1)[-1]
    matches = _QUANT_RE.findall(base)
    if not matches:
        return None
    q = matches[-1].upper()
    return {"FP16": "F16", "FP32": "F32"}.get(q, q)


def bits_per_weight(quant: str | None) -> float | None:
    return BITS_PER_WEIGHT.get((quant or "").upper())


class HubError(RuntimeError):
    """The hub could not answer; the message says what happened and what to do."""


class HubUnreachable(HubError):
    """The hub could not be reached at all (offline, no name resolution, a proxy refusing)."""


class HubAccessError(HubError):
    """401/403: a gated or private repository. `repo_id`, `status` and `gated` say which case."""

    def __init__(self, message: str, *, repo_id: str, status: int | None, gated: bool):
        super().__init__(message)
        self.repo_id, self.status, self.gated = repo_id, status, gated


def access_message(repo_id: str, status: int | None, *, has_token: bool, hub: str | None = None) -> str:
    """What to do about a 401/403 from the hub, for a gated (or private) repository."""
    hub = (hub or endpoint()).rstrip("/")
    page = f"{hub}/{repo_id}"
    if has_token:
        return (
            f"{repo_id} is a gated model and your Hugging Face token does not have access to it yet "
            f"(HTTP {status}). Open {page}, sign in with the account the token belongs to, read and accept "
            "the licence (some publishers approve requests by hand; wait for the e-mail), then try again. "
            f"If the token is old, create a new read token at {hub}/settings/tokens and replace it in "
            "Settings → Accounts → Hugging Face token."
        )
    return (
        f"{repo_id} is a gated model: Hugging Face only serves it to signed-in users who accepted its "
        f"licence (HTTP {status}). Open {page}, sign in, accept the licence, create a read token at "
        f"{hub}/settings/tokens, and add it in Settings → Accounts → Hugging Face token (it is kept in "
        "your system keychain). Then start the download again."
    )


def not_found_message(repo_id: str, status: int | None) -> str:
    """What to do about a 401 the hub gives an anonymous user for a repository that is missing, private or gated."""
    return (f"{repo_id} was not found, or it is private or gated (HTTP {status}). Check the name; if it is gated, "
            "sign in on the model page, accept the licence and add a Hugging Face token in Settings → Accounts.")


@dataclass
class HubRepo:
    repo_id: str
    downloads: int | None = None
    likes: int | None = None
    gated: bool = False
    last_modified: str | None = None
    tags: list[str] = field(default_factory=list)
    parameters: int | None = None  # from the hub's GGUF summary, when it sends one
    architecture: str | None = None
    context_length: int | None = None

    @property
    def url(self) -> str:
        return f"{endpoint()}/{self.repo_id}"


@dataclass
class HubFile:
    repo_id: str
    filename: str  # path in the repository
    size: int | None
    sha256: str | None  # from the LFS pointer; what the download is checked against
    quant: str | None
    revision: str = "main"
    split: tuple[int, int] | None = None  # (part, of) for split GGUFs
    kind: str = "model"  # model | mmproj (vision projector) | split

    @property
    def basename(self) -> str:
        return self.filename.rsplit("/", 1)[-1]


def _gated(value) -> bool:
    return bool(value) and value is not False and str(value).lower() not in ("false", "none", "")


def _gguf_summary(info) -> dict:
    """HubRepo's parameters / architecture / context_length from the hub's GGUF summary, when it sends one."""
    gg = getattr(info, "gguf", None)
    if not isinstance(gg, dict):
        gg = {}
    return {"parameters": gg.get("total"), "architecture": gg.get("architecture"),
            "context_length": gg.get("context_length")}


def _classify(filename: str) -> tuple[str, tuple[int, int] | None]:
    base = filename.rsplit("/", 1)[-1].lower()
    if "mmproj" in base:
        return "mmproj", None
    split = split_part(base)
    return ("split", split) if split else ("model", None)


class Hub:
    """A thin, testable face on HfApi. `token` may be a string or a callable returning one (or None)."""

    def __init__(self, token: str | Callable[[], str | None] | None = None, *, hub_endpoint: str | None = None,
                 timeout: float = 20.0):
        self._token = token
        self._endpoint = hub_endpoint
        self.timeout = timeout

    @property
    def endpoint(self) -> str:
        return (self._endpoint or endpoint()).rstrip("/")

    def token(self) -> str | None:
        t = self._token() if callable(self._token) else self._token
        return t or None

    def api(self) -> HfApi:
        # token=False stops huggingface_hub from picking up a token saved by other tools:
        # ArenaDesk only sends the token the user gave it (keyring, or HF_TOKEN through Secrets).
        return HfApi(endpoint=self.endpoint, token=self.token() or False)

    def check_reachable(self) -> None:
        """Fail fast when the hub cannot be reached at all (offline): huggingface_hub's search retries with
        back-off for about 20 s before giving up, which is a long wait for an answer known in milliseconds."""
        import socket
        import urllib.parse
        import urllib.request

        u = urllib.parse.urlsplit(self.endpoint)
        if urllib.request.getproxies().get(u.scheme):
            return  # through a proxy: only the proxy knows
        try:
            socket.create_connection((u.hostname, u.port or (443 if u.scheme == "https" else 80)),
                                     timeout=min(self.timeout, 5.0)).close()
        except OSError as exc:
            raise HubError(f"Could not reach {self.endpoint} ({exc.strerror or exc}). Check your connection; "
                           "the models you already have keep working offline.") from None

    # -- search --------------------------------------------------------------------------
    def search(self, query: str, *, limit: int = 40) -> list[HubRepo]:
        """GGUF repositories whose id contains `query`, most downloaded first."""
        query = query.strip()
        self.check_reachable()
        try:
            models = self.api().list_models(
                search=query or None, filter="gguf", sort="downloads", limit=limit,
                expand=["downloads", "likes", "gated", "lastModified", "tags", "gguf"],
            )
            out = []
            for m in models:
                out.append(HubRepo(
                    repo_id=m.id,
                    downloads=m.downloads,
                    likes=m.likes,
                    gated=_gated(getattr(m, "gated", None)),
                    last_modified=m.last_modified.isoformat() if getattr(m, "last_modified", None) else None,
                    tags=list(m.tags or []),
                    **_gguf_summary(m),
                ))
            return out
        except HfHubHTTPError as exc:
            raise self._translate(exc, None) from None
        except NETWORK_ERRORS as exc:
            raise HubError(f"Could not reach {self.endpoint} to search ({exc}). Check your connection.") from None

    # -- files ---------------------------------------------------------------------------
    def list_files(self, repo_id: str, *, revision: str = "main") -> tuple[HubRepo, list[HubFile]]:
        """The repository's .gguf files with size, SHA-256 (LFS) and quant, smallest first."""
        try:
            info = self.api().model_info(repo_id, revision=revision, files_metadata=True)
        except HfHubHTTPError as exc:
            raise self._translate(exc, repo_id) from None
        except NETWORK_ERRORS as exc:
            raise HubError(f"Could not reach {self.endpoint} for {repo_id} ({exc}). Check your connection.") from None
        repo = HubRepo(
            repo_id=info.id or repo_id,
            downloads=info.downloads,
            likes=info.likes,
            gated=_gated(info.gated),
            tags=list(info.tags or []),
            **_gguf_summary(info),
        )
        files = []
        for s in info.siblings or []:
            # A hub's file names are untrusted: one that is no safe file name on every system
            # (`..\\..\\x.gguf`, `nul.gguf`) is not offered at all.
            if not s.rfilename.lower().endswith(".gguf") or safe_filename(s.rfilename) is None:
                continue
            kind, split = _classify(s.rfilename)
            files.append(HubFile(
                repo_id=repo.repo_id,
                filename=s.rfilename,
                size=(s.lfs.size if s.lfs else None) or s.size,
                sha256=s.lfs.sha256 if s.lfs else None,
                quant=quant_from_name(s.rfilename),
                revision=revision,
                split=split,
                kind=kind,
            ))
        files.sort(key=lambda f: (f.kind != "model", f.size or 0, f.filename))
        return repo, files

    def file_metadata(self, repo_id: str, filename: str, *, revision: str = "main") -> HubFile | None:
        """One file's size and LFS SHA-256 (paths-info), or None when the repository has no such file."""
        try:
            infos = self.api().get_paths_info(repo_id, [filename], revision=revision)
        except HfHubHTTPError as exc:
            raise self._translate(exc, repo_id) from None
        except NETWORK_ERRORS as exc:
            raise HubUnreachable(f"Could not reach {self.endpoint} for {repo_id} ({exc}). Check your connection.") \
                from None
        for item in infos:
            if getattr(item, "path", None) == filename and hasattr(item, "size"):
                lfs = getattr(item, "lfs", None)
                sha = (lfs.get("sha256") if isinstance(lfs, dict) else getattr(lfs, "sha256", None)) if lfs else None
                size = (lfs.get("size") if isinstance(lfs, dict) else getattr(lfs, "size", None)) if lfs else None
                kind, split = _classify(filename)
                return HubFile(repo_id, filename, size or item.size, sha, quant_from_name(filename), revision,
                               split, kind)
        return None

    # -- errors --------------------------------------------------------------------------
    def _translate(self, exc: HfHubHTTPError, repo_id: str | None) -> HubError:
        status = exc.response.status_code if getattr(exc, "response", None) is not None else None
        if repo_id and (isinstance(exc, GatedRepoError) or status in (401, 403)):
            gated = isinstance(exc, GatedRepoError) or status == 403
            if not gated and isinstance(exc, RepositoryNotFoundError) and not self.token():
                # The hub answers 401 for both "private" and "does not exist" to anonymous users.
                return HubAccessError(not_found_message(repo_id, status), repo_id=repo_id, status=status, gated=False)
            return HubAccessError(access_message(repo_id, status, has_token=bool(self.token()), hub=self.endpoint),
                                  repo_id=repo_id, status=status, gated=True)
        if repo_id and (isinstance(exc, RepositoryNotFoundError) or status == 404):
            return HubError(f"{repo_id} does not exist on {self.endpoint} (HTTP 404). Check the name.")
        if status == 429:
            return HubError(f"{self.endpoint} is rate-limiting requests (HTTP 429). Wait a minute and try again.")
        return HubError(f"{self.endpoint} answered HTTP {status}: {str(exc).splitlines()[0]}")
