"""Text written by someone else (model answers, model names, server replies, imported files),
made safe for the place it is shown or stored. No Qt here: the widgets and the CLI both use it.

- `storable`: text SQLite (and any UTF-8 file or terminal) can take. Python strings may hold
  lone surrogates (JSON's "\\ud800" decodes to one) that no UTF-8 encoder accepts; each
  becomes U+FFFD, the replacement character, so the rest of the answer is kept whole.
- `without_bidi_overrides`: Unicode's explicit direction controls (U+202A–U+202E,
  U+2066–U+2069) let a string reverse how the text after it reads ("gpt\u202eevil" shows
  as "gptlive"); they are dropped for display. Right-to-left scripts still read right to left:
  that comes from the letters themselves, not from these controls.
- `for_terminal`: what a terminal may print. Escape sequences (CSI such as ESC[2J, OSC 52
  which writes the clipboard, OSC 8 links, DCS...) are removed whole; any other control
  character left (a lone ESC, the 8-bit C1 controls, BEL, backspace, CR) becomes U+FFFD, so
  nothing a model or a server writes can drive the terminal.
"""
from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"), None)
# ESC [ ... final byte (CSI); ESC ] / P / X / ^ / _ ... ended by BEL or ESC \ (OSC, DCS, SOS, PM, APC);
# ESC and one more character (charset choices, RIS...). The C1 forms (U+009B CSI, U+009D OSC) too.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-OQ-WYZ\\`a-~]"  # ESC + one character: not one that opens a CSI/OSC/DCS/SOS/PM/APC
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_COMPLETE = re.compile(  # _ESCAPES with the string terminator required: a sequence that has ended
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[ -/]*[0-OQ-WYZ\\`a-~]"  # ESC + one character: not one that opens a CSI/OSC/DCS/SOS/PM/APC
)
_INTRODUCERS = "\x1b\x90\x98\x9b\x9d\x9e\x9f"


def storable(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD (the only characters UTF-8 cannot hold)."""
    return _SURROGATE.sub(REPLACEMENT, text) if text and _SURROGATE.search(text) else text


def has_lone_surrogates(text: str) -> bool:
    return bool(text) and _SURROGATE.search(text) is not None


def without_bidi_overrides(text: str) -> str:
    return text.translate(_BIDI)


def as_html(text: str, limit: int | None = None) -> str:
    """`text` for a place that renders HTML (a rich-text label, a chart label): its markup shown as
    text, no direction controls, and at most `limit` characters (names from an imported file can be
    any length)."""
    text = without_bidi_overrides(text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    import html  # here: its tables of entities are not needed on the way to the window's first frame

    return html.escape(text, quote=False)


def for_terminal(text: str) -> str:
    """`text` as a terminal may print it: no escape sequences, no control characters but \\n and \\t."""
    if not text:
        return text
    text = _ESCAPES.sub("", text)
    return storable(_CONTROLS.sub(REPLACEMENT, without_bidi_overrides(text)))


class TerminalStream:
    """`for_terminal` for text that arrives in pieces: an escape sequence split between two
    pieces is held back until it ends (at most HOLD characters), then removed whole, so none
    of its payload is printed either."""

    HOLD = 512

    def __init__(self):
        self._pending = ""

    def feed(self, piece: str) -> str:
        text = self._pending + piece
        self._pending = ""
        cut = max(text.rfind(c) for c in _INTRODUCERS)
        if cut >= 0 and len(text) - cut <= self.HOLD and not _COMPLETE.match(text, cut):
            text, self._pending = text[:cut], text[cut:]
        return for_terminal(text)

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return for_terminal(text)
