"""A pane's conversation rendered as Markdown, cheap to update while an answer streams.

Re-rendering a whole answer on every token makes the window slower as the
answer grows. Here the live answer is split at its last block boundary (a
blank line outside a code fence): everything before it is rendered once and
never touched again; only the open tail is re-rendered, and at a bounded rate
(the pane's timer), so an update costs about the same at token 10 and 8,000.

An answer is written by a model, so it is untrusted input:

- nothing is ever loaded for it: every resource request (an image's `file:///dev/zero`,
  `http:` or `data:` source, a style sheet) gets an empty resource, and links open in
  the browser only when clicked;
- only its Markdown is rendered: raw HTML in it (`<span style=...>`, `<script>`, `<img>`)
  shows as the text it is (Qt's MarkdownNoHTML), and explicit direction controls (U+202E
  reverses what follows) are dropped from what is shown;
- an answer too big to lay out as Markdown in a few milliseconds (more than
  PLAIN_TEXT_BEYOND characters, a line of MAX_MARKDOWN_LINE, a table of more than
  MAX_TABLE_ROWS rows) is shown as plain text from there on (what was rendered stays),
  appended as it streams instead of re-rendered, in paragraphs of at most
  PLAIN_BLOCK_CHARS characters (Qt lays a paragraph out whole, so a 2 MB line would take
  minutes). The text is all there; only its formatting is not.
"""
from __future__ import annotations

import functools
import re
from contextlib import contextmanager
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, Signal
from PySide6.QtGui import QColor, QDesktopServices, QPalette, QTextDocument
from PySide6.QtWidgets import QTextBrowser

# The text-format types (QTextCursor, the formats, QFont, QUrl, QImage...) are imported in the functions that
# write an answer, not here: PySide6 makes each type, with its enums, at its first use (QTextFormat's
# Property alone has 116 members), and the window's first frame shows no answer (about 20 M of the
# ~1300 M instructions to it; tests/ui/test_window_start.py keeps them out of the build).
if TYPE_CHECKING:
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QTextCursor

from ..core.untrusted import without_bidi_overrides

_FENCE = re.compile(r"^ {0,3}(```|~~~)", re.M)
_TABLE_ROW = re.compile(r"^ {0,3}\|", re.M)
SAFE_SCHEMES = {"http", "https", "mailto"}
REASONING_SCHEME = "arenadesk-reasoning"  # the collapsed reasoning line's link: shows or hides it
# Text the transcript colours itself carries its role ("accent", "note", "muted"), so a change of
# light/dark theme can colour it again: a document keeps the colours it was written with.
COLOR_ROLE = 0x100000 + 1  # QTextFormat.UserProperty + 1 (see the imports)


def reasoning_summary(reasoning: str, shown: bool, words: int | None = None) -> str:
    words = len(reasoning.split()) if words is None else words
    return f"{'▾' if shown else '▸'} Reasoning ({words} word{'s' if words != 1 else ''}) — click to {'hide' if shown else 'show'}"


# Markdown, GitHub's dialect (tables, strikethrough, task lists), with no HTML: tags show as text.
MARKDOWN = QTextDocument.MarkdownDialectGitHub | QTextDocument.MarkdownNoHTML
# Limits measured with tests/bench/bench_hostile_render.py so that one update stays near or under
# 100 ms on a slow machine: Markdown costs grow with the text re-rendered each tick, a table's
# rows and, most of all, the length of one paragraph (Qt lays a paragraph out whole).
PLAIN_TEXT_BEYOND = 40_000  # characters of answer
MAX_TABLE_ROWS = 60  # a table lays out far slower than prose
MAX_MARKDOWN_LINE = 4_000  # characters in one line
# The part of a streaming Markdown answer after its last block boundary is rendered again on
# every update; beyond this many characters it is cut after its last whole line instead.
MAX_OPEN_TAIL = 3_000
PLAIN_BLOCK_CHARS = 2_000  # plain text: long lines are cut into paragraphs this long
# Beyond this many characters an answer is not laid out at all (QTextDocument re-lays out and
# repaints in proportion to the document: a 2 MB answer froze the window for seconds at a time);
# a line says so. The answer itself is whole in the pane (Copy) and in the database. A change of
# width lays out every shown character again: 100,000 took 100-180 ms a pane on a loaded 2-core
# machine (four panes: half a second per window resize), 50,000 about half that.
PLAIN_DISPLAY_LIMIT = 50_000
NOT_SHOWN = ("\n\n[… the rest of this answer is not shown here, it is too long to display; it is saved whole, "
             "and Copy takes all of it]")
_LONG_LINE = re.compile("[^\n]{%d}" % MAX_MARKDOWN_LINE)


@functools.cache
def _no_image():
    """What every image in an answer is: one transparent pixel."""
    from PySide6.QtGui import QImage

    image = QImage(1, 1, QImage.Format_ARGB32)
    image.fill(0)
    return image


def too_big_for_markdown(text: str) -> bool:
    return (len(text) > PLAIN_TEXT_BEYOND or _LONG_LINE.search(text) is not None
            or len(_TABLE_ROW.findall(text)) > MAX_TABLE_ROWS)


_FENCE_OPENER = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*", re.M)


def _open_fence(text: str) -> str:
    """The opening line of the code fence still open at the end of `text` ("" if none)."""
    opener, marker = "", ""
    for m in _FENCE_OPENER.finditer(text):
        info = m.group(0)[m.end(1) - m.start(0):]
        if not opener:
            opener, marker = m.group(0), m.group(1)
        elif m.group(1)[0] == marker[0] and len(m.group(1)) >= len(marker) and not info.strip():
            opener = ""  # its closing line: the same character, at least as many, nothing after
    return opener


def stable_split(text: str, start: int = 0) -> int:
    """Offset up to which `text` holds only complete Markdown blocks (`start` if none new).

    `start` must itself be a block boundary outside any code fence (where the last
    call left off), so only the text after it is scanned: the cost of an update does
    not grow with the length of the answer.
    """
    cut = text.rfind("\n\n", start)
    while cut >= start:
        # A blank line inside an open code fence is not a block boundary.
        if len(_FENCE.findall(text, start, cut)) % 2 == 0:
            return cut + 2
        cut = text.rfind("\n\n", start, cut)
    return start


@contextmanager
def _keeping_live_place(transcript: "Transcript"):
    """Edits above the streaming answer (its reasoning) move where it begins; nested blocks
    count once, when the outermost ends."""
    transcript._keeping += 1
    before = transcript.document().characterCount()
    try:
        yield
    finally:
        transcript._keeping -= 1
        moved = transcript.document().characterCount() - before
        if transcript._live_start is not None and not transcript._keeping:
            transcript._live_start += moved
            transcript._tail_start += moved


class Transcript(QTextBrowser):
    linkActivated = Signal("QUrl")  # by its C++ name (see the imports)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.anchorClicked.connect(self._open_link)
        self.setUndoRedoEnabled(False)
        self.document().setDocumentMargin(12)
        self._last_heading: QTextCursor | None = None  # the latest answer's heading: its reasoning line goes under it
        self._live_start: int | None = None  # where the streaming answer begins in the document
        self._tail_start = 0  # where its not-yet-stable tail begins
        self._rendered = 0  # how much of the answer's text is rendered for good
        self._answer_start: int | None = None  # where the last answer (its heading) begins: regenerate replaces it
        # A reasoning model's thinking, shown as one collapsed line under its answer's heading;
        # clicking it shows or hides the text. key (in the line's link) -> the block
        self._reasoning: dict[int, _Reasoning] = {}
        self._live_reasoning: int | None = None  # the streaming answer's reasoning block (its key)
        # While a blind round is not voted on, reasoning is held back, not shown: a trace tells
        # model families apart, and the vote judges the answers. Each held one waits with its
        # answer's heading; the reveal puts its line there.
        self._reasoning_held = False
        self._held: list[_HeldReasoning] = []
        self._live_held: _HeldReasoning | None = None  # the streaming answer's, while held
        self._last_note: QTextCursor | None = None  # the last answer's note: the reveal may say it otherwise
        # Answer headings written as "Model A" (blind) and who answered there: the reveal names them.
        self._blind_headings: list[tuple[QTextCursor, str]] = []
        self._keeping = 0  # nested _keeping_live_place blocks
        # The live answer as it arrives (extend_answer): how many characters of it came so far;
        # while it is shown as Markdown, its (filtered) text, re-rendered from `_rendered` on;
        # once it is plain text (None here), only new characters are appended.
        self._received = 0
        self._markdown: str | None = ""
        self._plain_chars = 0  # characters of it on screen as plain text (at most PLAIN_DISPLAY_LIMIT)
        self._line_start = self._table_rows = 0  # what _markdown_too_big counted of it (see _reset_live)

    # -- safety ---------------------------------------------------------------------------
    def loadResource(self, kind: int, url: QUrl):  # noqa: N802 (Qt override)
        # Never None, never an empty image: Qt takes either as "not found" and then reads the path
        # itself (QTextDocument::loadResource for None, QTextImageHandler's QImage::load for a null
        # image), so `file:///dev/zero` would hang the window and a local picture would show.
        if kind == QTextDocument.ImageResource:
            return _no_image()
        from PySide6.QtCore import QByteArray

        return QByteArray()

    def _open_link(self, url: QUrl) -> None:
        if url.scheme().lower() == REASONING_SCHEME:
            self.toggle_reasoning(int(url.path() or -1) if url.path().isdigit() else -1)
            return
        if url.scheme().lower() in SAFE_SCHEMES:
            QDesktopServices.openUrl(url)
        self.linkActivated.emit(url)

    # -- content --------------------------------------------------------------------------
    def clear_all(self) -> None:
        self._last_heading = None
        self._reasoning.clear()
        self._live_reasoning = None
        self._held.clear()
        self._live_held = None
        self._last_note = None
        self._blind_headings.clear()
        self.clear()
        self._live_start = None
        self._answer_start = None

    def add_prompt(self, text: str, label: str = "You") -> None:
        self._heading(label, "accent", top=18)
        self._append_markdown(text)

    def add_answer(self, text: str, label: str, note: str = "", reasoning: str = "",
                   blind_choice: str | None = None) -> None:
        """A finished answer (history), with its reasoning's collapsed line if it has one.
        `blind_choice`: `label` hides who answered (blind), this is who did, named on the reveal."""
        self._answer_start = self._end().position()
        heading = self._heading(label)
        if blind_choice is not None:
            self._blind_headings.append((heading, blind_choice))
        if reasoning.strip():
            if self._reasoning_held:
                self._held.append(_HeldReasoning(heading, [reasoning]))
            else:
                self._add_reasoning(heading, reasoning)
        self._append_markdown(text or "*(no answer)*")
        if note:
            self._note(note)

    def begin_answer(self, label: str, blind_choice: str | None = None) -> None:
        """`blind_choice`: as in add_answer."""
        from PySide6.QtGui import QTextBlockFormat, QTextCharFormat

        self._answer_start = self._end().position()
        self._last_heading = self._heading(label)
        if blind_choice is not None:
            self._blind_headings.append((self._last_heading, blind_choice))
        cursor = self._end()
        cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
        self._live_start = self._tail_start = cursor.position()
        self._reset_live()
        self._live_reasoning = None
        self._live_held = None
        self._last_note = None

    def _reset_live(self) -> None:
        self._rendered = self._received = self._plain_chars = 0
        self._markdown = ""
        # What _markdown_too_big has counted of it: where its last (unfinished) line begins, and
        # the table rows among the lines before.
        self._line_start = self._table_rows = 0
        self._reopen = ""  # a code fence's opening line, when a forced split cut the fence open

    def take_blind_headings(self) -> list[tuple[QTextCursor, str]]:
        """The headings written blind (cursor, who answered), for the reveal to name (rename_heading)."""
        out, self._blind_headings = self._blind_headings, []
        return out

    def rename_heading(self, heading: QTextCursor, label: str) -> None:
        # A heading is above the streaming answer: a longer name moves where that answer begins
        # ("Model A" → "gpt-4o @ OpenAI" while a long answer was still going on screen had the
        # next render overwrite the name's end and the reasoning line).
        with _keeping_live_place(self):
            _rename(heading, label)

    def discard_answer(self) -> None:
        """Remove the last answer, heading and note included (regenerate starts it over, maybe
        with another model); `begin_answer` then opens the new one."""
        from PySide6.QtGui import QTextCursor

        if self._answer_start is None:
            return
        for key in [k for k, r in self._reasoning.items() if r.line.selectionStart() >= self._answer_start]:
            del self._reasoning[key]  # its line goes with the answer
        self._held = [h for h in self._held if h.heading.selectionStart() < self._answer_start]
        self._blind_headings = [h for h in self._blind_headings if h[0].selectionStart() < self._answer_start]
        self._live_held = self._last_note = None
        c = self._end()
        c.setPosition(self._answer_start, QTextCursor.KeepAnchor)
        c.removeSelectedText()
        self._live_reasoning = None
        self._live_start = self._answer_start = None
        self._reset_live()

    def show_answer(self, text: str) -> None:
        """Bring the live answer up to `text` (the whole answer so far, which extends what was
        shown: only the characters after those already given are read)."""
        if self._live_start is None:
            return
        if len(text) < self._received:  # not an extension (cannot happen while streaming): start over
            _remove_to_end(self._end(), self._live_start)
            self._tail_start = self._live_start
            self._reset_live()
        self.extend_answer(text[self._received:])

    def showing_all_of_answer(self) -> bool:
        """False once the live answer passed the display cap: more of it is only counted."""
        return self._markdown is not None or self._plain_chars < PLAIN_DISPLAY_LIMIT

    def extend_answer(self, new: str) -> None:
        """The live answer grew by `new`. An update costs what the new text and the open Markdown
        tail cost, never the whole answer: a 2 MB answer arriving in 2 KB pieces is 1,000 small
        appends, not 1,000 copies of everything so far."""
        from PySide6.QtGui import QTextBlockFormat, QTextCharFormat, QTextCursor

        if self._live_start is None or not new:
            return
        self._received += len(new)
        shown = without_bidi_overrides(new)  # dropping characters: what is shown grows only at its end
        at_bottom = self._at_bottom()
        cursor = self._end()
        cursor.beginEditBlock()
        if self._markdown is not None:
            self._markdown += shown  # bounded: beyond PLAIN_TEXT_BEYOND it is dropped below
            if self._markdown_too_big():
                # It just grew too big: what is rendered for good stays as it is (laying it all out
                # again as plain text would stall the window); the open tail and the rest are plain.
                _remove_to_end(cursor, self._tail_start)
                shown, self._plain_chars = self._markdown[self._rendered:], self._rendered
                self._markdown = None
        if self._markdown is None:  # plain text: only what is new is appended, up to the display cap
            room = PLAIN_DISPLAY_LIMIT - self._plain_chars
            if room > 0:
                self._plain_chars += _append_plain(cursor, shown, room)
            elif room == 0 and shown:  # the shown part ended exactly at the cap, and more came
                _append_not_shown(cursor)
                self._plain_chars += 1
        else:
            _remove_to_end(cursor, self._tail_start)
            # What is not rendered for good yet; a code fence cut open by the last forced split is
            # opened again in front of it.
            work = self._reopen + self._markdown[self._rendered:]
            split = stable_split(work)
            reopen = ""
            if len(work) - split > MAX_OPEN_TAIL:
                # The open tail is re-rendered on every update, so it must stay short: a long code
                # block or list with no blank line would cost more each time. Cut it after its
                # last whole line; a code fence open there is closed, and opened again after.
                cut = work.rfind("\n", split, len(work) - 1) + 1
                line = work[work.rfind("\n", 0, max(cut - 1, 0)) + 1:cut]
                # Not inside a table: its rest would lose the header (MAX_TABLE_ROWS bounds it).
                if cut > len(self._reopen) and not _TABLE_ROW.match(line):
                    fence = _open_fence(work[:cut])
                    split, reopen = cut, (fence + "\n" if fence else "")
            if split > 0:
                stable = work[:split]
                if reopen:
                    stable += _FENCE_OPENER.match(reopen).group(1) + "\n"  # the same marker closes it
                _insert_markdown(cursor, stable, self._code_background())
                self._rendered += split - len(self._reopen)
                self._reopen = reopen
                cursor.movePosition(QTextCursor.End)
                cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())  # nothing carries over (a code block's format)
                self._tail_start = cursor.position()
                work = self._reopen + self._markdown[self._rendered:]
            if work.strip() and work != self._reopen:
                _insert_markdown(cursor, work, self._code_background())
        cursor.endEditBlock()
        if at_bottom:
            self._scroll_to_bottom()

    def _markdown_too_big(self) -> bool:
        """too_big_for_markdown for the live answer, counted as it grows: each update reads the
        line it ended in and what is new, never the whole answer again (up to PLAIN_TEXT_BEYOND
        characters, every render tick)."""
        text, line = self._markdown, self._line_start
        if len(text) > PLAIN_TEXT_BEYOND or _LONG_LINE.search(text, line):
            return True
        end = text.rfind("\n", line) + 1  # the lines before it are whole; the last one may grow
        if end:
            self._table_rows += len(_TABLE_ROW.findall(text, line, end))
            self._line_start = line = end
        return self._table_rows + (_TABLE_ROW.match(text, line) is not None) > MAX_TABLE_ROWS

    def end_answer(self, text: str, note: str = "", reasoning: str = "") -> None:
        self.show_answer(text or "*(no answer)*")
        if note:
            self._last_note = self._note(note)
        if reasoning.strip() and self._reasoning_held:
            if self._live_held is not None:  # came while it streamed: now the whole of it
                self._live_held.parts[:] = [reasoning]
            elif self._last_heading is not None:
                self._held.append(_HeldReasoning(self._last_heading, [reasoning]))
        elif reasoning.strip():
            live = self._reasoning.get(self._live_reasoning) if self._live_reasoning is not None else None
            if live is not None:  # shown while it streamed: brought up to the whole of it
                self.extend_reasoning(reasoning[len(live.text()):] if reasoning.startswith(live.text()) else "")
            elif self._last_heading is not None:
                self._add_reasoning(self._last_heading, reasoning)
        self._live_start = None
        self._live_reasoning = None
        self._live_held = None

    def replace_last_note(self, note: str) -> None:
        """Say the last answer's note otherwise (the reveal explains a blind failure); a note is
        added under it if it had none. The last answer is the document's end."""
        cursor = self._last_note
        if cursor is None or not cursor.hasSelection():
            if note:
                self._last_note = self._note(note)
            return
        start, fmt = cursor.selectionStart(), cursor.charFormat()
        cursor.insertText(without_bidi_overrides(note), fmt)
        self._last_note = _select_forward(cursor, start)

    # -- blind rounds ---------------------------------------------------------------------
    def set_reasoning_held(self, held: bool) -> None:
        """Hold reasoning back (a blind round nobody voted on), or show what was held: each line
        goes in its place under its answer's heading, above the answer, which does not move."""
        was, self._reasoning_held = self._reasoning_held, held
        if held or not was:
            return
        held_back, live, self._held, self._live_held = self._held, self._live_held, [], None
        for entry in sorted(held_back, key=lambda h: h.heading.selectionStart()):
            key = self._add_reasoning(entry.heading, entry.text())
            if entry is live and self._live_start is not None:
                self._live_reasoning = key  # still going on screen: its end brings the line up to date

    # -- reasoning ------------------------------------------------------------------------
    def extend_reasoning(self, new: str, words: int | None = None) -> None:
        """The live answer's reasoning grew by `new` (`words`: how many words it has now, when the
        caller counts them as they come; else they are counted here). Its collapsed line shows
        from the first piece on and counts the words; opened, the text grows in it."""
        if self._last_heading is None or not new:
            return
        if self._reasoning_held:
            if self._live_held is None:
                self._live_held = _HeldReasoning(self._last_heading, [])
                self._held.append(self._live_held)
            self._live_held.parts.append(new)
            return
        with _keeping_live_place(self):
            entry = self._reasoning.get(self._live_reasoning) if self._live_reasoning is not None else None
            if entry is None:
                self._live_reasoning = self._add_reasoning(self._last_heading, new, words)
                return
            entry.parts.append(new)
            entry.words = words if words is not None else len(entry.text().split())
            if entry.body is not None:
                entry.append_shown(new, self._muted())
            entry.relabel()

    def _add_reasoning(self, heading: QTextCursor, reasoning: str, words: int | None = None) -> int:
        """One collapsed line right under the answer's heading, apart from the answer; its key."""
        from PySide6.QtGui import QTextBlockFormat, QTextCharFormat, QTextCursor

        key = len(self._reasoning)
        c = QTextCursor(heading)
        c.setKeepPositionOnInsert(False)  # the heading's cursor stays put on inserts; this one moves on
        c.clearSelection()
        c.movePosition(QTextCursor.EndOfBlock)
        char = QTextCharFormat()
        char.setProperty(COLOR_ROLE, "muted")
        char.setForeground(self._muted())
        char.setFontItalic(True)
        char.setAnchor(True)
        char.setAnchorHref(f"{REASONING_SCHEME}:{key}")
        entry = _Reasoning(c, [reasoning], len(reasoning.split()) if words is None else words)
        entry.format = char
        with _keeping_live_place(self):
            c.insertBlock(QTextBlockFormat(), char)
            start = c.position()
            c.insertText(entry.summary(), char)
            c.setPosition(start, QTextCursor.KeepAnchor)
        self._reasoning[key] = entry
        return key

    def reasoning_shown(self, key: int = -1) -> bool:
        entry = self._reasoning.get(key if key >= 0 else len(self._reasoning) - 1)
        return bool(entry and entry.body is not None)

    def toggle_reasoning(self, key: int = -1) -> None:
        """Show or hide a reasoning block (the last one by default)."""
        from PySide6.QtGui import QTextBlockFormat, QTextCharFormat, QTextCursor

        key = key if key >= 0 else len(self._reasoning) - 1
        entry = self._reasoning.get(key)
        if entry is None:
            return
        with _keeping_live_place(self):
            if entry.body is not None:
                # From the end of the summary line to the end of the text: the text's block goes too.
                c = QTextCursor(entry.line)
                c.clearSelection()
                c.movePosition(QTextCursor.EndOfBlock)
                c.setPosition(entry.body.selectionEnd(), QTextCursor.KeepAnchor)
                c.removeSelectedText()
                entry.body = None
            else:
                c = QTextCursor(entry.line)
                c.clearSelection()
                c.movePosition(QTextCursor.EndOfBlock)
                block = QTextBlockFormat()
                block.setLeftMargin(14)
                c.insertBlock(block, QTextCharFormat())
                c.setPosition(c.position())
                entry.body, entry.shown_chars = c, 0
                entry.append_shown(entry.text().lstrip(), self._muted())
            entry.relabel()

    # -- helpers --------------------------------------------------------------------------
    def _end(self) -> QTextCursor:
        from PySide6.QtGui import QTextCursor

        c = QTextCursor(self.document())
        c.movePosition(QTextCursor.End)
        return c

    def _append_markdown(self, text: str) -> None:
        from PySide6.QtGui import QTextBlockFormat, QTextCharFormat

        text = without_bidi_overrides(text)
        c = self._end()
        c.insertBlock(QTextBlockFormat(), QTextCharFormat())
        if too_big_for_markdown(text):
            _append_plain(c, text, PLAIN_DISPLAY_LIMIT)
        else:
            _insert_markdown(c, text, self._code_background())
        self._scroll_to_bottom()

    def _heading(self, label: str, role: str | None = None, top: int = 10) -> QTextCursor:
        """Adds a bold heading line; returns a cursor selecting its text (it follows later edits)."""
        from PySide6.QtGui import QFont, QTextBlockFormat, QTextCharFormat

        block = QTextBlockFormat()
        block.setTopMargin(0 if self.document().isEmpty() else top)
        block.setBottomMargin(2)
        char = QTextCharFormat()
        char.setFontWeight(QFont.Bold)
        if role is not None:
            char.setProperty(COLOR_ROLE, role)
            char.setForeground(self._role_color(role))
        c = self._end()
        if self.document().isEmpty():
            c.setBlockFormat(block)
        else:
            c.insertBlock(block, char)
        start = c.position()
        label = without_bidi_overrides(label)
        c.insertText(label, char)
        return _select_forward(c, start)

    def _note(self, text: str) -> QTextCursor:
        """Adds a note line; returns a cursor selecting its text."""
        from PySide6.QtGui import QTextBlockFormat, QTextCharFormat

        char = QTextCharFormat()
        char.setProperty(COLOR_ROLE, "note")
        char.setForeground(self._role_color("note"))
        c = self._end()
        c.insertBlock(QTextBlockFormat(), char)
        start = c.position()
        c.insertText(without_bidi_overrides(text), char)
        self._scroll_to_bottom()
        return _select_forward(c, start)

    def _role_color(self, role: str) -> QColor:
        if role == "accent":
            return self._accent()
        if role == "note":
            return QColor("#ff8a80") if self._dark() else QColor("#b03a2e")
        return self._muted()

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().changeEvent(event)
        if event.type() == QEvent.PaletteChange:
            self.recolor()

    def recolor(self) -> None:
        """Colour what is already written for the current palette (a theme change): headings,
        notes, reasoning, links and code blocks' shade."""
        doc = self.document()
        if doc.isEmpty():  # nothing written yet (the window being built): nothing to import either
            return
        from PySide6.QtGui import QTextCharFormat, QTextCursor, QTextFormat

        code, link = self._code_background(), self.palette().color(QPalette.Link)
        blocks, spans = [], []
        b = doc.begin()
        while b.isValid():
            fmt = b.blockFormat()
            if fmt.hasProperty(QTextFormat.BlockCodeFence) or fmt.nonBreakableLines():
                blocks.append(b)
            it = b.begin()
            while not it.atEnd():
                frag = it.fragment()
                char = frag.charFormat()
                role = char.property(COLOR_ROLE)
                if role:
                    spans.append((frag.position(), frag.length(), self._role_color(role)))
                elif char.isAnchor():
                    spans.append((frag.position(), frag.length(), link))  # an answer's link
                it += 1
            b = b.next()
        c = QTextCursor(doc)
        c.beginEditBlock()
        for b in blocks:
            fmt = b.blockFormat()
            fmt.setBackground(code)
            QTextCursor(b).setBlockFormat(fmt)
        for start, length, color in spans:
            c.setPosition(start)
            c.setPosition(start + length, QTextCursor.KeepAnchor)
            fmt = QTextCharFormat()
            fmt.setForeground(color)
            c.mergeCharFormat(fmt)
        c.endEditBlock()
        for entry in self._reasoning.values():  # what they write next
            entry.format.setForeground(self._muted())

    def _muted(self) -> QColor:
        return QColor("#9aa0a6") if self._dark() else QColor("#5f6368")

    def _dark(self) -> bool:
        return self.palette().color(QPalette.Base).lightness() < 128

    def _accent(self) -> QColor:
        """The "You" heading: readable on the light and the dark scheme alike."""
        return QColor("#8ab4ff") if self._dark() else QColor("#2f5fc4")

    def _at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - 4

    def _code_background(self) -> QColor:
        """A shade off the page, so code blocks stand out in light and dark themes alike."""
        base = self.palette().color(QPalette.Base)
        return base.darker(106) if base.lightness() > 128 else base.lighter(135)

    def _scroll_to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())



def _rename(heading: QTextCursor, label: str) -> None:
    """Replace the text `heading` selects, keeping its format and the selection."""
    if heading.hasSelection():
        fmt = heading.charFormat()
        start = heading.selectionStart()
        heading.insertText(without_bidi_overrides(label), fmt)
        _select_forward(heading, start)


def _select_forward(cursor: QTextCursor, start: int) -> QTextCursor:
    """Select from `start` to the cursor, with the cursor (not the anchor) at the end and kept
    there when text is inserted after it: the answer written after a heading must not join
    the heading's selection (a rename would otherwise replace the answer too)."""
    from PySide6.QtGui import QTextCursor

    end = cursor.position()
    cursor.setPosition(start)
    cursor.setPosition(end, QTextCursor.KeepAnchor)
    cursor.setKeepPositionOnInsert(True)
    return cursor


def _append_plain(cursor: QTextCursor, text: str, room: int) -> int:
    """Append `text` at the end as unformatted text, no paragraph longer than PLAIN_BLOCK_CHARS,
    at most `room` characters of it (then the NOT_SHOWN line); returns how many it counts for.

    One insertText call (it turns each \n into a new paragraph itself); a line longer than the
    limit gets extra paragraph breaks, counting what the last paragraph already holds."""
    from PySide6.QtGui import QTextCharFormat, QTextCursor

    cut = len(text) > room
    text = text[:room]
    taken = len(text)
    cursor.movePosition(QTextCursor.End)
    used = cursor.block().length() - 1
    lines = text.split("\n")
    for i, line in enumerate(lines):
        room = PLAIN_BLOCK_CHARS - (used if i == 0 else 0)
        if len(line) > room:
            room = max(room, 0)
            pieces = [line[:room]] + [line[k:k + PLAIN_BLOCK_CHARS] for k in range(room, len(line), PLAIN_BLOCK_CHARS)]
            lines[i] = "\n".join(pieces)
    cursor.insertText("\n".join(lines), QTextCharFormat())
    if cut:
        _append_not_shown(cursor)
        return taken + 1  # the cap is reached: nothing more is appended
    return taken


def _append_not_shown(cursor: QTextCursor) -> None:
    from PySide6.QtGui import QTextCharFormat

    note = QTextCharFormat()
    note.setFontItalic(True)
    cursor.insertText(NOT_SHOWN, note)


def _remove_to_end(cursor: QTextCursor, start: int) -> None:
    """Removes from `start` to the cursor (the document's end), leaving an empty plain block.

    The block `start` is in survives the removal with its format and its list: a streamed tail
    that began with a list item would leave it in that list, and the next render's first item
    (insertMarkdown merges its first block into this one) would stay in the old list while the
    rest start a new one: "1. a, 1. b, 2. c", or the paragraph before the list numbered."""
    from PySide6.QtGui import QTextBlockFormat, QTextCursor

    cursor.setPosition(start, QTextCursor.KeepAnchor)
    cursor.removeSelectedText()
    block = cursor.block()
    if block.textList() is not None:
        block.textList().remove(block)
    cursor.setBlockFormat(QTextBlockFormat())


def _insert_markdown(cursor: QTextCursor, text: str, code_background: QColor | None = None) -> None:
    """insertMarkdown at the start of an empty block, keeping the first block's own format.

    QTextCursor.insertMarkdown merges the fragment's first block into the block it lands in,
    so a chunk that starts with a heading or a code fence (every streamed chunk starts at a
    block boundary) would lose its heading level or code-block layout; put them back.
    """
    from PySide6.QtGui import QTextCursor, QTextFormat

    block = cursor.block()
    cursor.insertMarkdown(text, MARKDOWN)
    # Parented to the transcript's document, whose owner answers every resource request with
    # nothing; this copy is only read for its first block's format and never laid out anyway.
    parsed = QTextDocument(cursor.document())
    parsed.setMarkdown(text, MARKDOWN)
    first = parsed.begin()
    if first.textList() is None and block.isValid() and block.textList() is None:
        fmt = first.blockFormat()
        fmt.clearProperty(QTextFormat.ObjectIndex)
        QTextCursor(block).setBlockFormat(fmt)
    if code_background is not None:
        # Code blocks get a shaded background (Qt's Markdown import only changes their font).
        b, end = block, cursor.block()
        while b.isValid():
            fmt = b.blockFormat()
            if fmt.hasProperty(QTextFormat.BlockCodeFence) or fmt.nonBreakableLines():
                fmt.setBackground(code_background)
                QTextCursor(b).setBlockFormat(fmt)
            if b == end:
                break
            b = b.next()
    parsed.setParent(None)  # freed with the Python object, now


class _HeldReasoning:
    """A reasoning not shown yet (blind round): the heading it goes under and its text."""

    def __init__(self, heading: QTextCursor, parts: list[str]):
        self.heading, self.parts = heading, parts

    def text(self) -> str:
        return "".join(self.parts)


class _Reasoning:
    """A reasoning block: its summary line (selected by `line`), its text (in the pieces it came
    in), and while open, the shown text (selected by `body`, at most PLAIN_DISPLAY_LIMIT of it)."""

    def __init__(self, line: QTextCursor, parts: list[str], words: int):
        from PySide6.QtGui import QTextCharFormat

        self.line, self.parts, self.words = line, parts, words
        self.body: QTextCursor | None = None
        self.shown_chars = 0
        self.format = QTextCharFormat()  # the line's: muted, italic, its link

    def text(self) -> str:
        if len(self.parts) > 1:
            self.parts[:] = ["".join(self.parts)]
        return self.parts[0] if self.parts else ""

    def summary(self) -> str:
        return reasoning_summary("", shown=self.body is not None, words=self.words)

    def relabel(self) -> None:
        """Say the summary again (words, open or not). The line is its block, from where it starts
        (text inserted right after it, the opened text's block, may have joined the selection)."""
        from PySide6.QtGui import QTextCursor

        c = self.line
        start = c.selectionStart()
        fmt = self.format
        c.setPosition(start)
        c.movePosition(QTextCursor.EndOfBlock, QTextCursor.KeepAnchor)
        summary = self.summary()
        c.insertText(summary, fmt)
        c.setPosition(start, QTextCursor.KeepAnchor)

    def append_shown(self, new: str, color: QColor) -> None:
        from PySide6.QtGui import QTextCharFormat, QTextCursor

        body = QTextCharFormat()
        body.setProperty(COLOR_ROLE, "muted")
        body.setForeground(color)
        c = QTextCursor(self.body)
        start = c.selectionStart()
        c.setPosition(c.selectionEnd())
        room = PLAIN_DISPLAY_LIMIT - self.shown_chars
        if room > 0:
            piece = without_bidi_overrides(new[:room])
            c.insertText(piece, body)
            self.shown_chars += len(piece)
            if len(new) > room:
                c.insertText(NOT_SHOWN, body)
                self.shown_chars = PLAIN_DISPLAY_LIMIT + 1
        end = c.position()
        self.body.setPosition(start)
        self.body.setPosition(end, QTextCursor.KeepAnchor)
