"""How a model's name is shown: one rule for every screen (pickers, the Models dialog, the
leaderboard, the judge), so one model never reads as two.

Qt-free and import-free: a widget measures text, this module only decides which shorter
form to try next.
"""
from __future__ import annotations

import collections
import re
from typing import Callable

BUILT_IN_LABEL = "Gemma 3 270M (built in)"  # the model that ships inside the package

# A local model is named by its file without the extension every model file has: the pickers,
# the Models dialog and the ratings all said "SmolLM2-135M-Instruct.Q4_1" or "….Q4_1.gguf"
# depending on where the name came from.
_MODEL_SUFFIX = re.compile(r"\.gguf$", re.IGNORECASE)

# The quantisation a file name ends with ("Q4_K_M", "Q4_1", "IQ2_XXS", "F16", "BF16"): kept when
# a name is shortened, so two quantisations of one model never look the same.
_QUANT_TAIL = re.compile(r"(?<=[-_. :])(?:I?Q\d\w*|BF16|F16|F32)$", re.IGNORECASE)

# Where a name may be cut: after a word ("Gemma 3 270M"), before a separator ("SmolLM2-135M"),
# never inside a version number ("3.1" is not "3").
_CUT = re.compile(r"[ \-_:]|\.(?!\d)")

# A model's size in its name ("135M", "8B", "0.5b", "8x7B"): what a short form keeps longest.
_SIZE = re.compile(r"(?<![A-Za-z0-9])(?:\d+x)?\d+(?:\.\d+)?[BbMm](?![A-Za-z0-9])")


def model_file_name(file_name: str) -> str:
    """A local model's name from its file's name: "SmolLM2-135M-Instruct.Q4_1.gguf" →
    "SmolLM2-135M-Instruct.Q4_1"."""
    return _MODEL_SUFFIX.sub("", file_name) or file_name


def shorter_forms(name: str) -> list[str]:
    """Shorter forms of `name` for a narrow place, best first. A name is cut at word
    boundaries and its start kept; first the forms that keep the model's size ("135M", "8B")
    with the quantisation the name ends with, then those that keep the size alone, then the
    rest, longest first within each: "SmolLM2-135M-Instruct.Q4_1" → "SmolLM2-135M…Q4_1" →
    "SmolLM2-135M-Instruct…" → "SmolLM2-135M…" → "SmolLM2…Q4_1" → "SmolLM2…"."""
    tail_match = _QUANT_TAIL.search(name)
    tail = tail_match.group(0) if tail_match else ""
    head = name[: tail_match.start()] if tail_match else name
    size = _SIZE.search(head)
    forms: dict[str, tuple[int, int, int]] = {}
    for cut in {m.start() for m in _CUT.finditer(head) if m.start() > 0}:
        lead = head[:cut].rstrip(" -_.:(")
        if not lead:
            continue
        keeps_size = size is None or len(lead) >= size.end()
        for form, with_tail in ((f"{lead}…{tail}", True), (f"{lead}…", False)):
            if len(form) < len(name) and (with_tail or tail) and form not in forms:
                forms[form] = (0 if keeps_size else 1, 0 if with_tail else 1, -len(form))
    return sorted(forms, key=forms.__getitem__)


def shorten(name: str, fits: Callable[[str], bool]) -> str | None:
    """The longest form of `name` that `fits` (the name itself when it does); None when no
    word-boundary form fits and the caller must cut characters."""
    if fits(name):
        return name
    return next((form for form in shorter_forms(name) if fits(form)), None)


def short_names(names: list[str], fits: Callable[[str], bool]) -> list[str]:
    """`shorten` for names shown together (a chart's axis, a table's headers): where two would
    read the same, each keeps its best distinct form that fits, else its whole name; distinct
    names always come out distinct (a chart axis drops a repeated category, which would move every
    later name under the wrong model's box). A name with no fitting form gets its shortest one
    (the place then cuts it further)."""
    def best(name: str) -> str:
        return shorten(name, fits) or (shorter_forms(name) or [name])[-1]

    chosen = [best(n) for n in names]
    out: list[str] = []
    for i, name in enumerate(names):
        taken = set(out) | set(chosen[i + 1:])  # the forms already given, and those still to come
        if chosen[i] not in taken:
            out.append(chosen[i])
            continue
        distinct = [f for f in [name, *shorter_forms(name)] if fits(f) and f not in taken]
        out.append(distinct[0] if distinct else name)
    while len(set(out)) < len(out):  # still two alike: those read in full
        seen = collections.Counter(out)
        whole = [name if seen[form] > 1 else form for name, form in zip(names, out)]
        if whole == out:
            break  # the names themselves repeat
        out = whole
    return out


def distinct_names(entries: list[tuple[str, list[str]]]) -> list[str]:
    """Names for a list where two entries may share one (a model imported once and found again in
    a folder): the entries sharing a name all get the first kind of hint that tells each from the
    others ("… · Q4_K_M" / "… · Q8_0", else "… · imported in place" / "… · from …/models"), else
    all their hints together, else a number ("… (2)"), so no two rows read the same; a name used
    once stays as it is."""
    groups: dict[str, list[int]] = {}
    for i, (name, _hints) in enumerate(entries):
        groups.setdefault(name, []).append(i)
    out = [name for name, _hints in entries]
    for name, members in groups.items():
        if len(members) < 2:
            continue
        kinds = max(len(entries[i][1]) for i in members)
        column = lambda k: [entries[i][1][k] if k < len(entries[i][1]) else "" for i in members]  # noqa: E731
        telling = [k for k in range(kinds) if all(column(k)) and len(set(column(k))) == len(members)]
        hints = column(telling[0]) if telling else [" · ".join(h for h in entries[i][1] if h) for i in members]
        names = [f"{name} · {hint}" if hint else name for hint in hints]
        if len(set(names)) < len(members):  # the same hints too (two folders both named models)
            names = [f"{shown} ({n})" for n, shown in enumerate(names, 1)]
        for i, shown in zip(members, names):
            out[i] = shown
    return out
