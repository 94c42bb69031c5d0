"""One answer pane: model picker, the conversation, the live answer, its figures and stars."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import (
    QDoubleSpinBox, QFormLayout, QFrame, QHBoxLayout, QLabel, QMenu, QSpinBox, QToolButton,
    QVBoxLayout, QWidget, QWidgetAction,
)

from .model_picker import ModelPicker
from .transcript import Transcript

if TYPE_CHECKING:  # a finished answer's figures and notes come from these, imported with the first one
    from ..core.engines.base import Result

# Below this width (four panes on a 1280-pixel screen) answer again / copy / remove fold into
# one "⋯" menu, so the model picker gets the header's room and its name stays readable.
COMPACT_WIDTH = 330
RENDER_INTERVAL_MS = 66  # at most ~15 re-renders a second, however fast tokens arrive
# At most this much new text goes on screen per render: Qt lays out what was added at the next
# paint, so a server that sends 100 KB between two renders would otherwise stall the window for
# as long as laying all of it out takes (0.4 s a pane on a loaded 2-core machine). The rest
# waits for the next renders; the answer itself is whole in the pane from the start.
RENDER_CHARS_PER_TICK = 2_000
# ... and fewer while an update takes longer than this (Markdown with tables and code costs more
# per character than plain text, and a loaded machine more than an idle one): halved each time,
# down to RENDER_CHARS_MIN, doubled back when updates are quick again.
RENDER_SLOW_S = 0.030
RENDER_CHARS_MIN = 250
# All streaming panes render from one clock, each tick until this much GUI time is spent (the
# next tick starts with the panes left out): four panes of hostile text never add up to a stall.
RENDER_BUDGET_S = 0.040


class RenderClock(QObject):
    """The one timer that puts streaming panes' new text on screen, in turns, within a budget."""

    _instance: "RenderClock | None" = None

    @classmethod
    def shared(cls) -> "RenderClock":
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def __init__(self):
        super().__init__()
        self._panes: list[Pane] = []
        self._next = 0
        self._timer = QTimer(self)
        self._timer.setInterval(RENDER_INTERVAL_MS)
        self._timer.timeout.connect(self.tick)

    def add(self, pane: "Pane") -> None:
        if pane not in self._panes:
            self._panes.append(pane)
        if not self._timer.isActive():
            self._timer.start()

    def remove(self, pane: "Pane") -> None:
        if pane in self._panes:
            self._panes.remove(pane)
        if not self._panes:
            self._timer.stop()

    def tick(self) -> None:
        deadline = time.perf_counter() + RENDER_BUDGET_S
        order = self._panes[self._next:] + self._panes[:self._next]
        for n, pane in enumerate(order):
            if not shiboken6.isValid(pane):  # its window closed while it streamed
                self.remove(pane)
                continue
            pane._render()
            if time.perf_counter() > deadline:
                # The panes after this one go first next time.
                self._next = (self._next + n + 1) % max(len(self._panes), 1)
                break
LETTERS = "ABCD"


class StarRating(QWidget):
    changed = Signal(object)  # int 1-5, or None when cleared

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("stars")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        self.value: int | None = None
        self.buttons = []
        for n in range(1, 6):
            b = QToolButton(self)
            b.setAutoRaise(True)
            b.setToolTip(f"{n} star{'s' if n > 1 else ''} (click again to clear)")
            b.setAccessibleName(f"{n} stars")
            b.clicked.connect(lambda _=False, n=n: self.set_value(None if self.value == n else n, emit=True))
            lay.addWidget(b)
            self.buttons.append(b)
        self.set_value(None)

    def set_value(self, value: int | None, emit: bool = False) -> None:
        self.value = value
        for n, b in enumerate(self.buttons, start=1):
            b.setText("★" if value and n <= value else "☆")
        if emit:
            self.changed.emit(value)


class Pane(QFrame):
    """Displays one pane of the comparison session; the session owns its model, overrides and
    memory (the pane reports changes through signals and keeps none of it)."""

    choiceChanged = Signal()
    overrideChanged = Signal(str, object)  # sampling field, value (None: back to the shared setting)
    stopRequested = Signal()
    regenerateRequested = Signal()
    removeRequested = Signal()
    starsChanged = Signal(object)
    addKeyRequested = Signal()

    def __init__(self, parent=None, *, heading: Callable[[str], str],
                 shared_sampling: Callable[[], object] | None = None):
        """heading: who gave an answer, from its choice string ("gpt-4o @ OpenAI"): the core
        names models (Contestants.heading), never this widget from the picker's labels.
        shared_sampling: the Settings' sampling now, whose values the ⚙ menu shows as "shared (40)"."""
        super().__init__(parent)
        self.setObjectName("pane")
        self._heading = heading
        self._shared_sampling = shared_sampling
        self.setFrameShape(QFrame.StyledPanel)
        self.position = 0
        self.hidden_name = False
        # The answer shown in this pane, in the pieces it arrived in: `+=` on one string would copy
        # the whole answer on every delta (2.2 s of GUI time over a 2 MB answer in 2 KB pieces).
        self._chunks: list[str] = []
        self._unshown: list[str] = []  # the pieces not yet handed to the transcript
        self._handed = 0  # characters of the answer handed to the transcript
        self._tick_chars = RENDER_CHARS_PER_TICK  # how many go on screen per render now (see RENDER_SLOW_S)
        self._finished: tuple[str, str, str] | None = None  # an ended answer still going on screen: text, note, reasoning
        # A reasoning model's thinking as it streams: not yet shown, and its words counted as
        # they come (counting the whole of it every render would grow with it).
        self._reasoning_unshown: list[str] = []
        self._reasoning_words = 0
        self._reasoning_mid_word = False
        self._streaming = False

        self.title = QLabel(self)
        self.title.setObjectName("paneTitle")
        self.picker = ModelPicker(self)
        self.picker.currentIndexChanged.connect(lambda _i: self.choiceChanged.emit())

        self.tune = QToolButton(self)
        self.tune.setText("⚙")
        self.tune.setToolTip("Sampling for this pane only")
        self.tune.setPopupMode(QToolButton.InstantPopup)
        self.tune.setMenu(QMenu(self.tune))
        self.tune.menu().aboutToShow.connect(self._fill_overrides_menu)  # built when first opened
        self._override_fields = {}
        self.regen = self._tool("view-refresh", "⟳", "Answer the last prompt again (Ctrl+R: every pane)",
                                self.regenerateRequested)
        self.stop = self._tool("process-stop", "■", "Stop this answer", self.stopRequested)
        self.copy = self._tool("edit-copy", "❐", "Copy this answer", None)
        self.copy.clicked.connect(self.copy_answer)
        self.remove = self._tool("window-close", "✕", "Remove this pane", self.removeRequested)
        self.more = QToolButton(self)
        self.more.setText("⋯")
        self.more.setToolTip("Answer again, copy the answer or remove this pane")
        self.more.setAutoRaise(True)
        self.more.setPopupMode(QToolButton.InstantPopup)
        self.more.setMenu(QMenu(self.more))
        self.more.menu().aboutToShow.connect(self._fill_more_menu)
        # The menus' arrows take a picker's worth of room from four narrow headers; "⚙" and "⋯"
        # say they open menus.
        for b in (self.tune, self.more):
            b.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")
        self._compact = False
        self._removable = True

        head = QHBoxLayout()
        head.setSpacing(2)  # four panes share a 1280-pixel screen
        head.addWidget(self.title)
        head.addWidget(self.picker, 1)
        for b in (self.tune, self.regen, self.stop, self.copy, self.remove, self.more):
            head.addWidget(b)

        self.view = Transcript(self)
        self.notice = QLabel(self)
        self.notice.setObjectName("paneNotice")
        self.notice.setWordWrap(True)
        # Qt.RichText and Qt.TextSelectableByMouse by their names: the window is built without
        # PySide6's Qt enums (see actions.build).
        self.notice.setProperty("textFormat", "RichText")
        self.notice.linkActivated.connect(lambda _l: self.addKeyRequested.emit())
        self.notice.hide()

        self.metrics = QLabel(self)
        self.metrics.setObjectName("paneMetrics")
        self.metrics.setProperty("textInteractionFlags", "TextSelectableByMouse")
        # Wrapped, so a long line of figures never makes the pane (and the window) wider.
        self.metrics.setWordWrap(True)
        self.stars = StarRating(self)
        self.stars.changed.connect(self.starsChanged)
        # The figures get the pane's whole width (a narrow pane wraps them at " · ", not
        # word by word beside the stars); the stars sit under them on the right.
        foot = QVBoxLayout()
        foot.setSpacing(0)
        foot.addWidget(self.metrics)
        stars_row = QHBoxLayout()
        stars_row.addStretch()
        stars_row.addWidget(self.stars)
        foot.addLayout(stars_row)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 6)
        lay.addLayout(head)
        lay.addWidget(self.notice)
        lay.addWidget(self.view, 1)
        lay.addLayout(foot)

        self._clock = RenderClock.shared()
        self.set_streaming(False)
        self.stars.setEnabled(False)

    # -- a narrow pane's header ------------------------------------------------------------
    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        compact = self.width() < COMPACT_WIDTH
        if compact != self._compact:
            self._compact = compact
            self._show_tools()

    def is_compact(self) -> bool:
        return self._compact

    def _show_tools(self) -> None:
        """Stop while answering, answer again after; in a narrow pane answer again, copy and
        remove are in the ⋯ menu (stop stays a button: it is needed at once)."""
        self.stop.setVisible(self._streaming)
        self.regen.setVisible(not self._streaming and not self._compact)
        self.copy.setVisible(not self._compact)
        self.remove.setVisible(self._removable and not self._compact)
        self.more.setVisible(self._compact)

    def set_removable(self, removable: bool) -> None:
        """Whether this pane may be removed now (the window keeps at least two)."""
        self._removable = removable
        self._show_tools()

    def _fill_more_menu(self) -> None:
        menu = self.more.menu()
        menu.clear()
        tools = [(self.regen, "Answer again"), (self.copy, "Copy answer")]
        if self._removable:
            tools.append((self.remove, "Remove pane"))
        for button, text in tools:
            act = menu.addAction(text, button.click)
            act.setToolTip(button.toolTip())
            act.setEnabled(button.isEnabled() and not (button is self.regen and self._streaming))

    def _tool(self, icon_name, text, tip, signal):
        b = QToolButton(self)
        b.setText(text)  # the icon theme's icon where there is one, else this text
        icon = QIcon.fromTheme(icon_name)
        if not icon.isNull():
            b.setIcon(icon)
        b.setToolTip(tip)
        b.setAutoRaise(True)
        if signal is not None:
            b.clicked.connect(signal)
        return b

    # -- model choice ---------------------------------------------------------------------
    def set_choices(self, items: list[tuple[str, str]], prefer: str | None = None, gone: str = "") -> None:
        """items: (label, choice string); keeps the current choice when it is still offered. A
        choice not offered stays selected, marked gone (`gone` says why), never replaced."""
        self.picker.set_items(items, prefer or self.choice(), gone)
        self.update_title()

    def choice(self) -> str | None:
        return self.picker.currentData()

    def model_label(self) -> str:
        return self.picker.currentText()

    def set_position(self, position: int, hidden: bool) -> None:
        revealed = self.hidden_name and not hidden
        self.position, self.hidden_name = position, hidden
        if revealed:
            # Every answer headed "Model A" is named: the last and, reopened or sent again before
            # a vote, earlier ones, each by the model that gave it.
            for heading, choice in self.view.take_blind_headings():
                self.view.rename_heading(heading, self.label_for(choice) if choice else self.answer_label())
        # Reasoning is held back with the names (a trace tells model families apart; the vote
        # judges the answers) and shown with them, each line in its place above its answer.
        self.view.set_reasoning_held(hidden)
        self.picker.setVisible(not hidden)
        self.update_title()

    def update_title(self) -> None:
        letter = LETTERS[self.position] if self.position < len(LETTERS) else str(self.position + 1)
        self.title.setText(f"Model {letter}" if self.hidden_name else f"{letter}")
        self.title.setToolTip("Blind: the name shows after you vote" if self.hidden_name else self.model_label())
        self.title.setAccessibleName(self.title.text())

    def label_for(self, choice: str) -> str:
        """The heading of an answer `choice` gave (who answered, named as in the leaderboard)."""
        return self._heading(choice)

    def answer_label(self) -> str:
        if self.hidden_name:
            return f"Model {LETTERS[self.position]}"
        return self._heading(self.choice() or "")

    # -- sampling overrides ---------------------------------------------------------------
    def _fill_overrides_menu(self) -> None:
        """The pane's own sampling fields, made the first time the menu opens: four spin boxes
        per pane that nobody sees while the window starts."""
        menu = self.tune.menu()
        if self._override_fields:
            self._show_shared_values()  # Settings may have changed since it was last open
            return
        box = QWidget(menu)
        form = QFormLayout(box)
        for name, widget in (
            ("temperature", QDoubleSpinBox(box, decimals=2, minimum=-0.01, maximum=2.0, singleStep=0.1)),
            ("top_p", QDoubleSpinBox(box, decimals=2, minimum=-0.01, maximum=1.0, singleStep=0.05)),
            ("max_tokens", QSpinBox(box, minimum=0, maximum=32768, singleStep=64)),
            ("seed", QSpinBox(box, minimum=-2, maximum=2**31 - 1)),
        ):
            widget.setSpecialValueText("shared")  # the minimum means "use the shared setting"
            widget.setValue(widget.minimum())
            widget.valueChanged.connect(lambda v, n=name, w=widget: self._set_override(n, v, w))
            form.addRow(name.replace("_", " "), widget)
            self._override_fields[name] = widget
        act = QWidgetAction(menu)
        act.setDefaultWidget(box)
        menu.addAction(act)
        self._show_shared_values()

    def _show_shared_values(self) -> None:
        """"shared (40)": what an unset field means, without a trip to Settings."""
        shared = self._shared_sampling() if self._shared_sampling is not None else None
        for name, widget in self._override_fields.items():
            value = getattr(shared, name, None)
            if value is None:
                text = "shared"
            elif name == "seed" and value < 0:
                text = "shared (random)"
            else:
                text = f"shared ({value:g})"
            widget.setSpecialValueText(text)

    def _set_override(self, name, value, widget) -> None:
        self.overrideChanged.emit(name, None if value == widget.minimum() else value)
        changed = any(w.value() != w.minimum() for w in self._override_fields.values())
        self.tune.setText("⚙*" if changed else "⚙")

    # -- streaming ------------------------------------------------------------------------
    def set_streaming(self, on: bool) -> None:
        self._streaming = on
        self.stop.setEnabled(on)
        # One place for both: stop while answering, regenerate after (narrow panes keep their name).
        self._show_tools()
        if on:
            self.regen.setEnabled(False)  # enabled again by the window once the whole round is in
        self.picker.setEnabled(not on)
        self.remove.setEnabled(not on)

    def start_answer(self, prompt: str | None, choice: str | None = None) -> None:
        """A new answer begins; `prompt` is None when regenerating the last one. `choice`: the
        model answering when it is not the picker's (regenerate after a change)."""
        self._flush()
        self.notice.hide()
        if prompt is None:
            self.view.discard_answer()  # the old answer, heading and all: the model may have changed
        else:
            self.view.add_prompt(prompt)
        choice = choice or self.choice() or ""
        self.view.begin_answer(self.answer_label() if self.hidden_name else self.label_for(choice),
                               blind_choice=choice if self.hidden_name else None)
        self._set_text("")
        self.metrics.setText("waiting for the first token…")
        self.stars.set_value(None)
        self.stars.setEnabled(False)
        self.set_streaming(True)
        self._clock.add(self)

    def show_turn(self, waiting: bool) -> None:
        """The answer waits for its turn (local models answer one at a time), or its turn began."""
        if self._streaming and not self._chunks:
            self.metrics.setText("waiting for its turn…" if waiting else "waiting for the first token…")

    def append(self, text: str) -> None:
        if not text:
            return
        if not self._chunks:
            self.metrics.setText("streaming…")
        self._chunks.append(text)
        self._unshown.append(text)

    def append_reasoning(self, text: str) -> None:
        """A piece of the model's reasoning (before or beside its answer)."""
        if not text:
            return
        if not self._chunks and not self._reasoning_words and not self.hidden_name:
            self.metrics.setText("reasoning…")  # not while blind: only some models reason
        n = len(text.split())
        if n and self._reasoning_mid_word and not text[0].isspace():
            n -= 1  # the first word continues the last piece's
        self._reasoning_words += n
        self._reasoning_mid_word = not text[-1].isspace()
        self._reasoning_unshown.append(text)

    def _render(self) -> None:
        """Every RENDER_INTERVAL_MS: what arrived since goes on screen, up to RENDER_CHARS_PER_TICK."""
        if self._reasoning_unshown:
            new = "".join(self._reasoning_unshown)
            self._reasoning_unshown = []
            self.view.extend_reasoning(new, self._reasoning_words)
        if not self._unshown:
            if self._finished is not None:
                self._end_answer()
            return
        new = "".join(self._unshown) if len(self._unshown) > 1 else self._unshown[0]
        if self.view.showing_all_of_answer():
            new, rest = new[:self._tick_chars], new[self._tick_chars:]
        else:
            rest = ""  # past the display cap: the rest is only counted, however long
        self._unshown = [rest] if rest else []
        self._handed += len(new)
        started = time.perf_counter()
        self.view.extend_answer(new)
        spent = time.perf_counter() - started
        if spent > RENDER_SLOW_S:
            self._tick_chars = max(RENDER_CHARS_MIN, self._tick_chars // 2)
        elif spent < RENDER_SLOW_S / 4:
            self._tick_chars = min(RENDER_CHARS_PER_TICK, self._tick_chars * 2)
        if not rest and self._finished is not None:
            self._end_answer()

    def _end_answer(self) -> None:
        """The ended answer is all on screen: its note and reasoning follow it."""
        text, note, reasoning = self._finished
        self._finished = None
        self._clock.remove(self)
        self.view.end_answer(text, note, reasoning=reasoning)

    def answer_text(self) -> str:
        """The whole answer in this pane (streaming or not), whatever part of it is on screen."""
        if len(self._chunks) > 1:
            self._chunks[:] = ["".join(self._chunks)]
        return self._chunks[0] if self._chunks else ""

    _text = property(answer_text)  # the name tests have long read

    def _flush(self) -> None:
        """Anything else is about to change the transcript: an ended answer still going on screen
        is completed at once."""
        if self._finished is not None:
            self._end_answer()

    def _set_text(self, text: str) -> None:
        self._chunks = [text] if text else []
        self._unshown = []
        self._handed = 0
        self._reasoning_unshown = []
        self._reasoning_words, self._reasoning_mid_word = 0, False

    def finish(self, result: Result, note: str | None = None, figures: str | None = None) -> None:
        """The answer ended. `note` and `figures`, when given, are said instead of the result's own
        (a blind round's wording, from the session)."""
        # Imported here, not with the pane: the panes are built before the window's first frame.
        from ..core.arena import format_metrics
        from ..core.engines.base import cut_off_note

        if note is None:
            note = ""
            if result.status == "error":
                note = result.error or "The answer failed."
            elif result.status == "cancelled":
                note = "Stopped."
            elif result.cut_off:
                note = f"[{cut_off_note(result.finish_reason, result.max_tokens)}]"
        # What the transcript has not shown yet goes on at the usual pace (a fast server's last
        # 100 KB laid out at once would stall the window); then the note and reasoning.
        text, handed = result.text, self._handed
        self._chunks = [text] if text else []
        self._reasoning_unshown = []  # the whole reasoning comes with the end
        self._finished = (text, note, result.reasoning)
        if len(text) - handed > self._tick_chars and self.view.showing_all_of_answer():
            self._unshown = [text[handed:]]
            self._clock.add(self)
        else:
            self._unshown = []
            self._end_answer()
        if figures is None:
            parts = format_metrics(result)
            if result.load_s:
                parts.append(f"model loaded in {result.load_s:.1f} s")
            figures = " · ".join(parts) or result.status
        self.metrics.setText(figures)
        self.set_streaming(False)

    def reveal(self, figures: str, note: str) -> None:
        """A blind round's vote: the figures and note held back are said. An answer still going on
        screen gets its note after the whole of it (when it is all there)."""
        self.metrics.setText(figures)
        if self._finished is not None:
            text, _blind_note, reasoning = self._finished
            self._finished = (text, note, reasoning)
        else:
            self.view.replace_last_note(note)

    def copy_answer(self) -> None:
        QGuiApplication.clipboard().setText(self.answer_text())

    def show_history(self, turns: list[tuple[str, str, str]], last_note: str | None = None,
                     reasonings: list[str] | None = None, choices: list[str] | None = None) -> None:
        """Reopened conversation: (prompt, answer, note) per turn, each turn's reasoning ("" for
        none) and the model that answered it (headed by its name; the picker's when unknown);
        `last_note` replaces the last turn's note (a blind round's failure is not explained
        before the vote)."""
        self._finished = None
        self.view.clear_all()
        self.notice.hide()
        self.metrics.setText("")
        reasonings, choices = reasonings or [], choices or []
        for n, (prompt, answer, note) in enumerate(turns):
            reasoning = reasonings[n] if n < len(reasonings) else ""
            choice = choices[n] if n < len(choices) else ""
            heading = self.label_for(choice) if choice and not self.hidden_name else self.answer_label()
            blind_choice = choice if self.hidden_name else None  # named on the reveal
            self.view.add_prompt(prompt)
            if n == len(turns) - 1:
                self.view.begin_answer(heading, blind_choice=blind_choice)
                self.view.end_answer(answer, note if last_note is None else last_note, reasoning=reasoning)
            else:
                self.view.add_answer(answer, heading, note, reasoning=reasoning, blind_choice=blind_choice)
        self._set_text(turns[-1][1] if turns else "")

    def show_notice(self, html: str) -> None:
        self.notice.setText(html)
        self.notice.show()

    def reset(self) -> None:
        self._finished = None
        self._clock.remove(self)
        self._set_text("")
        self.view.clear_all()
        self.metrics.setText("")
        self.stars.set_value(None)
        self.stars.setEnabled(False)
        self.set_streaming(False)
