"""Prompt suites: a fixed set of prompts, each with a category, one or more turns and an
optional reference answer, kept as JSONL. No Qt.

One prompt a line, in ArenaDesk's shape::

    {"id": "math-1", "category": "math", "turns": ["What is 17 × 23?"], "reference": ["391"]}

FastChat's MT-bench ``question.jsonl`` is read unchanged: ``question_id`` (a number) stands
for ``id``, and ``turns``/``reference``/``category`` mean the same. A single ``prompt``
string is accepted for ``turns`` (hand-written files). ``reference`` may be a string (one
answer for the last turn) or a list (one per turn). An optional ``system`` sets a system
prompt for that item.

The user's suites live as ``<name>.jsonl`` files in the data folder's ``suites/``; the
starter suite ships in ``resources/suites/``. A run copies its suite's items into the
database, so editing a suite later never changes what a run answered.

Files come from anywhere, so reading checks everything and says which line is wrong.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import write_text_atomic
from .resources import resource
from .untrusted import storable

MAX_ITEMS = 5000
MAX_TURNS = 10
MAX_PROMPT_CHARS = 100_000
MAX_FILE_BYTES = 50 * 1024 * 1024
STARTER = "starter"
DEFAULT_CATEGORY = "general"


class SuiteError(ValueError):
    """A suite file or item that cannot be used; the message names the file and line."""


@dataclass
class SuiteItem:
    id: str
    category: str
    turns: list[str]
    reference: list[str] = field(default_factory=list)  # [] or one per turn ("" where none)
    system: str = ""

    def to_dict(self) -> dict:
        out: dict = {"id": self.id, "category": self.category, "turns": list(self.turns)}
        if any(self.reference):
            out["reference"] = list(self.reference)
        if self.system:
            out["system"] = self.system
        return out

    @classmethod
    def from_dict(cls, raw, where: str = "") -> "SuiteItem":
        at = f"{where}: " if where else ""
        if not isinstance(raw, dict):
            raise SuiteError(f"{at}expected a JSON object with id, category and turns")
        ident = raw.get("id", raw.get("question_id"))
        if isinstance(ident, bool) or not isinstance(ident, (str, int)) or str(ident).strip() == "":
            raise SuiteError(f"{at}each prompt needs an \"id\" (or FastChat's \"question_id\")")
        turns = raw.get("turns", raw.get("prompt"))
        if isinstance(turns, str):
            turns = [turns]
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
            raise SuiteError(f"{at}\"turns\" must be a list of one or more prompt strings")
        if len(turns) > MAX_TURNS:
            raise SuiteError(f"{at}{len(turns)} turns; at most {MAX_TURNS} are supported")
        if any(not t.strip() for t in turns):
            raise SuiteError(f"{at}a turn is empty")
        if any(len(t) > MAX_PROMPT_CHARS for t in turns):
            raise SuiteError(f"{at}a turn is longer than {MAX_PROMPT_CHARS:,} characters")
        category = raw.get("category", DEFAULT_CATEGORY)
        if category is None:
            category = DEFAULT_CATEGORY
        if not isinstance(category, str):
            raise SuiteError(f"{at}\"category\" must be a string")
        category = " ".join(category.split())[:60] or DEFAULT_CATEGORY
        reference = raw.get("reference") or []
        if isinstance(reference, str):
            reference = [""] * (len(turns) - 1) + [reference]
        if not isinstance(reference, list) or not all(isinstance(r, str) for r in reference):
            raise SuiteError(f"{at}\"reference\" must be a string or a list of strings")
        if len(reference) > len(turns):
            raise SuiteError(f"{at}{len(reference)} reference answers for {len(turns)} turns")
        if reference:
            reference = reference + [""] * (len(turns) - len(reference))
        system = raw.get("system") or ""
        if not isinstance(system, str):
            raise SuiteError(f"{at}\"system\" must be a string")
        # JSON may carry a lone surrogate ("\ud800"), which no database or file takes: made storable here.
        return cls(storable(str(ident).strip()), storable(category), [storable(t) for t in turns],
                   [storable(r) for r in reference], storable(system))


@dataclass
class Suite:
    name: str
    items: list[SuiteItem] = field(default_factory=list)
    path: Path | None = None

    @property
    def categories(self) -> list[str]:
        return sorted({i.category for i in self.items})

    @property
    def n_answers(self) -> int:
        """Answers one contestant gives for the whole suite (one per turn)."""
        return sum(len(i.turns) for i in self.items)

    def item(self, ident: str) -> SuiteItem:
        for i in self.items:
            if i.id == ident:
                return i
        raise KeyError(ident)

    # -- editing ----------------------------------------------------------------------------
    def put(self, item: SuiteItem) -> None:
        """Add the item, or replace the one with the same id."""
        item = SuiteItem.from_dict(item.to_dict(), f"prompt {item.id!r}")  # the same checks as a file
        for k, old in enumerate(self.items):
            if old.id == item.id:
                self.items[k] = item
                return
        if len(self.items) >= MAX_ITEMS:
            raise SuiteError(f"a suite holds at most {MAX_ITEMS} prompts")
        self.items.append(item)

    def remove(self, ident: str) -> None:
        before = len(self.items)
        self.items = [i for i in self.items if i.id != ident]
        if len(self.items) == before:
            raise KeyError(ident)

    def to_jsonl(self) -> str:
        return "".join(json.dumps(i.to_dict(), ensure_ascii=False) + "\n" for i in self.items)


# -- reading and writing -------------------------------------------------------------------

def parse(text: str, name: str = "suite", where: str = "") -> Suite:
    """A suite from JSONL text (ArenaDesk's or FastChat's shape); blank lines are skipped."""
    label = where or name
    items: list[SuiteItem] = []
    seen: set[str] = set()
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except ValueError as exc:
            raise SuiteError(f"{label}, line {n}: not valid JSON ({exc.msg})") from None
        item = SuiteItem.from_dict(raw, f"{label}, line {n}")
        if item.id in seen:
            raise SuiteError(f"{label}, line {n}: the id {item.id!r} is used twice; ids must be unique")
        seen.add(item.id)
        items.append(item)
        if len(items) > MAX_ITEMS:
            raise SuiteError(f"{label}: more than {MAX_ITEMS} prompts; split it into several suites")
    if not items:
        raise SuiteError(f"{label}: no prompts in it (one JSON object a line, with id, category and turns)")
    return Suite(name, items)


def read(path: str | os.PathLike, name: str | None = None) -> Suite:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SuiteError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MB; is it really a prompt suite?")
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise SuiteError(f"{path}: not UTF-8 text; save it as UTF-8 JSONL") from None
    suite = parse(text, name or path.stem, str(path))
    suite.path = path
    return suite


def write(suite: Suite, path: str | os.PathLike) -> Path:
    """Write atomically (a temporary file renamed over the target)."""
    return write_text_atomic(path, suite.to_jsonl())


def starter() -> Suite:
    return read(resource("suites", f"{STARTER}.jsonl"), STARTER)


class SuiteLibrary:
    """The user's suites (``<folder>/<name>.jsonl``) plus the shipped starter suite."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def names(self) -> list[str]:
        mine = sorted(p.stem for p in self.folder.glob("*.jsonl")) if self.folder.is_dir() else []
        return ([STARTER] if STARTER not in mine else []) + mine

    def path(self, name: str) -> Path:
        return self.folder / f"{check_name(name)}.jsonl"

    def load(self, name: str) -> Suite:
        """A suite by name, or by the path of a JSONL file."""
        if name.endswith(".jsonl") or os.sep in name or "/" in name:
            p = Path(name).expanduser()
            if not p.is_file():
                raise SuiteError(f"no suite file {p}")
            return read(p)
        p = self.path(name)
        if p.is_file():
            return read(p, name)
        if name == STARTER:
            return starter()
        known = ", ".join(self.names())
        raise SuiteError(f"no suite named {name!r}; known suites: {known}. Import one with `arenadesk suite import FILE`")

    def save(self, suite: Suite) -> Path:
        suite.path = write(suite, self.path(suite.name))
        return suite.path

    def create(self, name: str) -> Suite:
        if self.path(name).exists():
            raise SuiteError(f"a suite named {name!r} exists already")
        return Suite(name, [])

    def import_file(self, path: str | os.PathLike, name: str | None = None) -> Suite:
        """Check a JSONL file (ArenaDesk's or FastChat's shape) and keep a copy among the user's suites."""
        suite = read(path)
        suite.name = check_name(name or _name_from(Path(path).stem))
        if self.path(suite.name).exists():
            raise SuiteError(f"a suite named {suite.name!r} exists already; import it under another name")
        self.save(suite)
        return suite

    def export(self, name: str, out: str | os.PathLike) -> int:
        suite = self.load(name)
        write(suite, out)
        return len(suite.items)

    def delete(self, name: str) -> None:
        self.path(name).unlink()


_NAME_OK = re.compile(r"^[\w][\w .-]{0,63}$")


def check_name(name: str) -> str:
    if not _NAME_OK.match(name or "") or name.endswith("."):
        raise SuiteError(f"{name!r} is not a usable suite name: use letters, digits, spaces, '-', '_' or '.' "
                         "(up to 64 characters)")
    return name


def _name_from(stem: str) -> str:
    cleaned = re.sub(r"[^\w .-]+", "-", stem).strip(" .-")[:64]
    return cleaned or "imported"
