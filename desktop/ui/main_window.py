"""The comparison window: panes side by side, one prompt box, the rating bar, history.

Layout and wiring only: rounds, storage and engines are the core's (Services,
Round); long work runs on worker threads and comes back as signals.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QMainWindow, QMenu,
    QMessageBox, QPlainTextEdit, QPushButton, QSplitter, QToolBar, QVBoxLayout, QWidget,
)

from ..core import connections as cx
from ..core.arena import Round, Slot, pane_records, shuffled_positions
from ..core.engines.base import ModelInfo, Unavailable
from ..core.engines.registry import ModelChoice
from ..core.services import NeedsKey, Services
from .confirm import confirm
from .inbox import Inbox
from .pane import Pane
from .rating_bar import RatingBar
from .round_runner import RoundRunner

MAX_PANES = 4
NO_KEY_NOTICE = (
    "<b>No {name} key yet.</b> <a href='settings'>Add one in Settings → Connections</a>, or pick a model on "
    "another connection (a local server needs no key). The local pane works without it."
)


@dataclass
class OpenRound:
    """The round the rating bar acts on: live, or the last one of a reopened conversation."""

    round_id: int
    response_ids: list[int]  # by pane
    positions: list[int]  # by pane
    blind: bool
    runner: RoundRunner | None = None
    voted: bool = False
    base_history: list[list[dict]] = field(default_factory=list)  # each pane's turns before this round
    revealed: bool = False  # names were shown (a blind round's vote, or reopened after it)

    @property
    def hidden(self) -> bool:
        """Names stay hidden: a blind round nobody has voted on yet. This is also whether a vote
        is blind: one cast (or changed) once the names are known is not."""
        return self.blind and not self.revealed


class MainWindow(QMainWindow):
    def __init__(self, services: Services, parent=None):
        super().__init__(parent)
        self.services = services
        self.setWindowTitle("ArenaDesk")
        self.resize(1280, 820)
        self.conversation_id: int | None = None
        self.current: OpenRound | None = None
        self.api_models: dict[str, list[str]] = {}  # connection id -> the models it listed this session
        self._inbox = Inbox(self, interval_ms=100)  # results of background jobs (model list, warm-up)
        self._dialogs: dict[str, QWidget] = {}
        self._warming: set[str] = set()  # local models loading in the background

        self._build_actions()
        self._build_layout()
        self.setAcceptDrops(True)  # drop a .gguf file to add it
        for _ in range(2):
            self.add_pane()
        self.refresh_models()
        defaults = ["local:" + services.settings.default_local_model, "openai:" + services.settings.default_remote_model]
        for pane, choice in zip(self.panes, defaults):
            pane.set_choices(self._model_items(), prefer=choice)
        self.refresh_history()
        self._update_key_notice()
        self._fetch_api_models()
        self._warm_local_models()
        from .found_offer import FoundModelsOffer

        self.found_offer = FoundModelsOffer(self, services, self._inbox, self.refresh_models)
        for w in services.warnings:
            QTimer.singleShot(0, lambda w=w: QMessageBox.warning(self, "ArenaDesk", w))

    # -- construction ---------------------------------------------------------------------
    def _action(self, text, shortcut, slot, tip="", checkable=False) -> QAction:
        a = QAction(text, self)
        if shortcut:
            a.setShortcuts(shortcut if isinstance(shortcut, list) else [QKeySequence(shortcut)])
        a.setToolTip(f"{tip or text} ({a.shortcut().toString(QKeySequence.NativeText)})" if shortcut else tip or text)
        a.setCheckable(checkable)
        a.triggered.connect(slot)
        self.addAction(a)
        return a

    def _build_actions(self) -> None:
        self.act_new = self._action("New chat", QKeySequence.New, self.new_chat, "Start a new comparison")
        self.act_send = self._action("Send", [QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")], self.send,
                                     "Send the prompt to every pane")
        self.act_stop = self._action("Stop", QKeySequence(Qt.Key_Escape), self.stop_all, "Stop every answer")
        self.act_regen = self._action("Regenerate", QKeySequence("Ctrl+R"), self.regenerate_all,
                                      "Answer the last prompt again in every pane")
        self.act_add = self._action("Add pane", QKeySequence("Ctrl+T"), self.add_pane, "Add a model (up to four)")
        self.act_blind = self._action("Blind", QKeySequence("Ctrl+B"), self._toggle_blind,
                                      "Hide model names and shuffle sides until you vote", checkable=True)
        self.act_blind.setChecked(self.services.settings.blind)
        self.act_library = self._action("Models", QKeySequence("Ctrl+M"), self.open_library,
                                        "Find, download and manage local models")
        self.act_board = self._action("Leaderboard", QKeySequence("Ctrl+L"), self.open_leaderboard,
                                      "Your personal leaderboard and exports")
        self.act_settings = self._action("Settings", QKeySequence("Ctrl+,"), self.open_settings, "Settings")
        self.act_about = self._action("About ArenaDesk", None, self.open_about)
        self.act_keys = self._action("Keyboard shortcuts", QKeySequence.HelpContents, self.show_shortcuts)
        self.act_quit = self._action("Quit", QKeySequence.Quit, self.close)
        self.act_search = self._action("Search history", QKeySequence.Find, lambda: self.search.setFocus())

        bar = QToolBar("Main", self)
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonTextOnly)
        for a in (self.act_new, self.act_add, self.act_blind, None, self.act_library, self.act_board, self.act_settings):
            bar.addSeparator() if a is None else bar.addAction(a)
        self.addToolBar(bar)

        menu = self.menuBar()
        m = menu.addMenu("&File")
        for a in (self.act_new, self.act_search, None, self.act_quit):
            m.addSeparator() if a is None else m.addAction(a)
        m = menu.addMenu("&Compare")
        for a in (self.act_send, self.act_stop, self.act_regen, None, self.act_add, self.act_blind):
            m.addSeparator() if a is None else m.addAction(a)
        m = menu.addMenu("&Tools")
        for a in (self.act_library, self.act_board, self.act_settings):
            m.addAction(a)
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.act_keys)
        help_menu.addAction(self.act_about)

    def _build_layout(self) -> None:
        # History sidebar
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search history")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _t: self._history_timer.start())
        self._history_timer = QTimer(self, singleShot=True, interval=200)
        self._history_timer.timeout.connect(self.refresh_history)
        self.history = QListWidget(self)
        self.history.setObjectName("history")
        self.history.setWordWrap(True)  # two-line items: title, then date · rounds · to rate
        self.history.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.history.setTextElideMode(Qt.ElideRight)
        self.history.itemActivated.connect(self._on_history_item)
        self.history.itemClicked.connect(self._on_history_item)
        self.history.setContextMenuPolicy(Qt.CustomContextMenu)
        self.history.customContextMenuRequested.connect(self._history_menu)
        self.history.installEventFilter(self)
        side = QWidget(self)
        side.setObjectName("sidebar")
        side.setMinimumWidth(150)
        sl = QVBoxLayout(side)
        sl.setContentsMargins(8, 8, 4, 8)
        title = QLabel("History", side)
        title.setObjectName("sideTitle")
        sl.addWidget(title)
        sl.addWidget(self.search)
        self.history_empty = QLabel(side)
        self.history_empty.setObjectName("historyEmpty")
        self.history_empty.setWordWrap(True)
        sl.addWidget(self.history_empty)
        sl.addWidget(self.history, 1)

        # Panes, rating bar, prompt
        self.panes: list[Pane] = []
        self.pane_splitter = QSplitter(Qt.Horizontal, self)
        self.pane_splitter.setChildrenCollapsible(False)
        self.rating = RatingBar(self)
        self.rating.voted.connect(self._on_vote)
        self.rating.noteEdited.connect(self._on_note)
        self.rating.typedAhead.connect(self._type_into_prompt)

        self.prompt = QPlainTextEdit(self)
        self.prompt.setObjectName("prompt")
        self.prompt.setPlaceholderText("Ask every model the same thing…   Ctrl+Enter sends · Esc stops · F1 shortcuts")
        self.prompt.setFixedHeight(96)
        self.prompt.setTabChangesFocus(True)  # keyboard users can leave it; Tab is rarely wanted in a prompt
        self.tag = QComboBox(self)
        self.tag.setEditable(True)
        self.tag.setToolTip("A category for this prompt (coding, writing…), to filter the leaderboard")
        self.tag.lineEdit().setPlaceholderText("category")
        self.tag.setMinimumWidth(120)
        self.send_button = QPushButton("Send", self)
        self.send_button.setObjectName("sendButton")
        self.send_button.setToolTip("Send to every pane (Ctrl+Enter)")
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setToolTip("Stop every answer (Esc)")
        self.stop_button.clicked.connect(self.stop_all)
        buttons = QVBoxLayout()
        buttons.addWidget(self.tag)
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        prompt_row = QHBoxLayout()
        prompt_row.addWidget(self.prompt, 1)
        prompt_row.addLayout(buttons)

        center = QWidget(self)
        cl = QVBoxLayout(center)
        cl.setContentsMargins(4, 8, 8, 8)
        cl.addWidget(self.pane_splitter, 1)
        cl.addWidget(self.rating)
        cl.addLayout(prompt_row)

        split = QSplitter(Qt.Horizontal, self)
        split.addWidget(side)
        split.addWidget(center)
        split.setStretchFactor(1, 1)
        split.setSizes([230, 1050])
        self.setCentralWidget(split)
        self._set_running(False)
        self.statusBar().showMessage("Ready. Your ratings stay on this machine.")

    # -- panes ----------------------------------------------------------------------------
    def add_pane(self) -> Pane | None:
        if len(self.panes) >= MAX_PANES or self._running():
            return None
        pane = Pane(self)
        pane.set_choices(self._model_items(), prefer=self._unused_choice())
        pane.set_position(len(self.panes), self.act_blind.isChecked())
        pane.stopRequested.connect(lambda p=pane: self._stop_pane(p))
        pane.regenerateRequested.connect(lambda p=pane: self.regenerate(p))
        pane.removeRequested.connect(lambda p=pane: self.remove_pane(p))
        pane.starsChanged.connect(lambda v, p=pane: self._on_stars(p, v))
        pane.addKeyRequested.connect(self.open_settings)
        pane.choiceChanged.connect(self._on_choice_changed)
        if self.conversation_id is not None:
            pane.show_notice("This pane joins from the next prompt; it starts without the earlier turns.")
        self.panes.append(pane)
        self.pane_splitter.addWidget(pane)
        self._after_panes_changed()
        return pane

    def _unused_choice(self) -> str | None:
        """For a new pane: the first model no pane shows yet (else the last pane's)."""
        used = {p.choice() for p in self.panes}
        fresh = [c for _label, c in self._model_items() if c != "-" and c not in used]
        return fresh[0] if fresh else (self.panes[-1].choice() if self.panes else None)

    def remove_pane(self, pane: Pane) -> None:
        if len(self.panes) <= 1 or self._running():
            return
        self.panes.remove(pane)
        pane.setParent(None)
        pane.deleteLater()
        for i, p in enumerate(self.panes):
            p.set_position(i, p.hidden_name)
        self.current = None  # the open round no longer matches the panes
        self._after_panes_changed()
        self.rating.reset()

    def _after_panes_changed(self) -> None:
        for p in self.panes:
            p.remove.setVisible(len(self.panes) > 2)
        cur = self.current
        # A pane added after a round joins from the next prompt: the finished round stays votable
        # with the answers it had (its vote is stored by position, for those panes only).
        n = len(cur.response_ids) if cur is not None else len(self.panes)
        if n != self.rating.panes or cur is None:
            outcome = self.rating.outcome
            self.rating.set_panes(n)
            if cur is not None and cur.voted and outcome:
                self.rating.show_vote(outcome[0], outcome[1], self.rating.note.text())
        self.rating.set_open(cur is not None and not self._running())
        self._update_key_notice()
        self._set_running(self._running())
        self._fix_tab_order()

    def _fix_tab_order(self) -> None:
        """Tab goes the way the eye does: history, the panes left to right, the vote, the prompt."""
        chain = [self.search, self.history]
        for p in sorted(self.panes, key=lambda p: p.position):
            chain += [p.picker, p.tune, p.regen, p.stop, p.copy, p.remove, p.view, *p.stars.buttons]
        chain += [*self.rating.buttons.values(), self.rating.note, self.prompt, self.tag, self.send_button,
                  self.stop_button]
        for a, b in zip(chain, chain[1:]):
            QWidget.setTabOrder(a, b)

    def _on_choice_changed(self) -> None:
        for p in self.panes:
            p.update_title()
        self._update_key_notice()
        self._warm_local_models()

    # -- models ---------------------------------------------------------------------------
    def _model_items(self) -> list[tuple[str, str]]:
        """The picker's entries: local files, then each connection's models, with a separator between groups."""
        items: list[tuple[str, str]] = []
        for group in cx.contestant_groups(self.services, self.api_models):
            if items and group.contestants:
                items.append(("-", "-"))
            items += [(c.label, c.choice) for c in group.contestants]
        return items

    def _local_models(self) -> list[tuple[str, ModelChoice]]:
        return cx.local_contestants(self.services)

    def refresh_models(self) -> None:
        items = self._model_items()
        for p in self.panes:
            p.set_choices(items)

    def _fetch_api_models(self) -> None:
        conns = list(self.services.settings.connections)
        # Every connection at once; one that is offline or refuses keeps the list it had.
        self._inbox.run("api-models", lambda: cx.check_all(self.services, conns, timeout=10),
                        lambda verdicts, error: error is None and self._on_api_models(conns, verdicts))

    def _on_api_models(self, conns, verdicts) -> None:
        fetched = {c.id: v.models for c, v in zip(conns, verdicts) if v.ok and v.models}
        if not fetched:
            return
        self.api_models.update(fetched)
        for conn in self.services.settings.connections:
            if conn.id in fetched:
                conn.models = list(fetched[conn.id])
        self.services.save_settings(reset_engines=False)  # the lists are kept for the next start, offline too
        self.refresh_models()

    def _warm_local_models(self) -> None:
        """Make and load the chosen local models in the background, so neither the first answer
        nor the window waits (writing out the built-in model, hashing a new file, loading)."""
        for p in self.panes:
            choice = p.choice()
            if not choice or not choice.startswith("local:") or choice in self._warming:
                continue
            self._warming.add(choice)
            self._inbox.run("warm", lambda choice=choice: self._warm(choice),
                            lambda result, error, choice=choice: self._on_warmed(choice, result, error))

    def _warm(self, choice: str):
        """Worker thread: make the engine and load its model; (load error or None, load info)."""
        engine = self.services.engines.get(ModelChoice.parse(choice))
        error = None if getattr(engine, "loaded", True) else engine.warm()
        return error, getattr(engine, "load_info", None)

    def _on_warmed(self, choice: str, result, failure) -> None:
        self._warming.discard(choice)
        label = ModelChoice.parse(choice).label
        error, info = result if failure is None else (str(failure), None)  # the pane says more on send
        if error:
            self.statusBar().showMessage(f"{label}: {error}")
            return
        info = info or {}
        gpu = ("GPU: " + (f"{info['gpu_layers_offloaded']}/{info['layers'] + 1} layers offloaded"
                          if info.get("gpu_offload_supported") else "not in this llama.cpp build, running on CPU"))
        self.statusBar().showMessage(f"{label} loaded · {info.get('threads')} threads · {gpu}", 15000)

    def _update_key_notice(self) -> None:
        for p in self.panes:
            missing = self._missing_key(p.choice())
            if missing:
                p.show_notice(NO_KEY_NOTICE.format(name=missing))
            elif p.notice.text().startswith(NO_KEY_NOTICE.split("{")[0]):
                p.notice.hide()

    def _missing_key(self, choice: str | None) -> str | None:
        """The name of the pane's connection when it needs a key and has none."""
        if not choice or not choice.startswith("openai:"):
            return None
        conn = self.services.settings.connection(ModelChoice.parse(choice).connection)
        if conn is None:
            return None
        try:
            self.services.api_key(conn)
        except NeedsKey:
            return conn.name
        return None

    def _keys(self) -> dict[str, str | None]:
        return {c.id: cx.key_secret(self.services, c).value for c in self.services.settings.connections}

    def _engine(self, choice: ModelChoice, pane: int = 0):
        try:
            return self.services.engines.get(choice, instance=pane)
        except NeedsKey as exc:
            return Unavailable(ModelInfo(choice.engine, cx.contestant_label(self.services, choice),
                                         choice.ref or choice.model), str(exc), "auth")
        except Exception as exc:
            return Unavailable(ModelInfo(choice.engine, cx.contestant_label(self.services, choice),
                                         choice.ref or choice.model), str(exc), "input")

    # -- sending --------------------------------------------------------------------------
    def _running(self) -> bool:
        return bool(self.current and self.current.runner and self.current.runner.running)

    def _set_running(self, on: bool) -> None:
        self.send_button.setEnabled(not on)
        self.stop_button.setEnabled(on)
        self.act_stop.setEnabled(on)
        can_regen = not on and self.current is not None and self.current.runner is not None
        self.act_regen.setEnabled(can_regen)
        self.act_add.setEnabled(not on and len(self.panes) < MAX_PANES)
        self.act_new.setEnabled(not on)
        n = len(self.current.response_ids) if self.current is not None else 0
        for i, p in enumerate(self.panes):
            p.regen.setEnabled(can_regen and i < n)  # a pane added after the round has nothing to redo
            p.remove.setEnabled(not on)

    def send(self) -> None:
        text = self.prompt.toPlainText().strip()
        if self._running():
            return
        if not text:
            self.statusBar().showMessage("Type a prompt first.", 4000)
            self.prompt.setFocus()
            return
        settings = self.services.settings
        blind = self.act_blind.isChecked()
        choices = [ModelChoice.parse(p.choice()) for p in self.panes]
        if self.conversation_id is None:
            self.conversation_id = self.services.store.new_conversation(blind=blind)
        positions = shuffled_positions(len(self.panes)) if blind else list(range(len(self.panes)))
        self._arrange(positions, hidden=blind)
        slots = [Slot(c, self._engine(c, i), p.params(settings.sampling), history=list(p.history))
                 for i, (c, p) in enumerate(zip(choices, self.panes))]
        rnd = Round(self.services.store, self.services.prices, self.conversation_id, text, slots,
                    system_prompt=settings.system_prompt, blind=blind, tag=self.tag.currentText().strip() or None,
                    positions=positions)
        runner = RoundRunner(rnd, self)
        runner.delta.connect(lambda i, t: self.panes[i].append(t) if i < len(self.panes) else None)
        runner.finished.connect(self._on_answer)
        runner.allFinished.connect(self._on_round_done)
        self.current = OpenRound(rnd.round_id, rnd.response_ids, positions, blind, runner,
                                 base_history=[list(p.history) for p in self.panes])
        self.rating.set_panes(len(self.panes))
        self.rating.reset()
        self.rating.set_open(False)
        for p in self.panes:
            p.start_answer(text)
        self.prompt.clear()
        self._set_running(True)
        self.statusBar().showMessage(
            f"Sent to {len(self.panes)} models{' (blind: names hidden until you vote)' if blind else ''}. "
            "Esc stops.")
        runner.start()
        self.refresh_history()

    def _arrange(self, positions: list[int], hidden: bool) -> None:
        """Put pane i at positions[i] (blind mode shuffles the sides every round)."""
        for pane, pos in zip(self.panes, positions):
            pane.set_position(pos, hidden)
        for pane in sorted(self.panes, key=lambda p: p.position):
            self.pane_splitter.insertWidget(pane.position, pane)
        self._fix_tab_order()

    def _on_answer(self, slot: int, result) -> None:
        if slot >= len(self.panes) or self.current is None or self.current.runner is None:
            return
        pane = self.panes[slot]
        pane.finish(result)
        pane.history = list(self.current.runner.round.slots[slot].history)
        pane.stars.setEnabled(True)

    def _on_round_done(self) -> None:
        self._set_running(False)
        self.rating.set_open(True)
        if not (self.prompt.hasFocus() and self.prompt.toPlainText().strip()):
            self.rating.setFocus()  # 1-4 and arrows vote; never taken from a follow-up being typed
        results = [r for r in self.current.runner.round.results if r]
        n_err = sum(r.status == "error" for r in results)
        if results and all(r.status == "cancelled" for r in results):
            message = "Stopped. What arrived is kept; you can still vote, or send again."
        elif n_err:
            message = f"{n_err} pane(s) failed; the others' answers are kept. You can still vote."
        else:
            message = "Answers are in: which was better? (1-4, or ←/→)"
        self.statusBar().showMessage(message, 8000)

    def stop_all(self) -> None:
        if self._running():
            self.current.runner.cancel()

    def _stop_pane(self, pane: Pane) -> None:
        if self._running():
            self.current.runner.cancel(self.panes.index(pane))

    def regenerate(self, pane: Pane) -> None:
        self._regenerate([pane])

    def regenerate_all(self) -> None:
        self._regenerate(list(self.panes))

    def _regenerate(self, panes: list[Pane]) -> None:
        cur = self.current
        if cur is None or cur.runner is None or self._running():
            return
        slots = cur.runner.round.slots
        todo = [(self.panes.index(p), p) for p in panes if self.panes.index(p) < len(slots)]
        if not todo:
            return
        self.rating.reset()
        self.rating.set_open(False)
        cur.voted = False  # the store drops the round's vote: the answer it judged is gone
        for i, pane in todo:
            slot = slots[i]
            # The answer being replaced leaves this pane's memory; the earlier turns stay
            # (even when the replaced answer failed and so added none).
            slot.history = list(cur.base_history[i]) if i < len(cur.base_history) else slot.history
            pane.history = list(slot.history)
            slot.params = pane.params(self.services.settings.sampling)
            # The round's model answers again even if the picker changed since (the new pick
            # answers from the next prompt); the heading says which one it is.
            label = None if pane.hidden_name or pane.choice() == str(slot.choice) else pane.label_for(str(slot.choice))
            pane.start_answer(None, label=label)
        self._set_running(True)
        for i, _pane in todo:
            cur.runner.regenerate(i)

    # -- rating ---------------------------------------------------------------------------
    def _on_vote(self, outcome: str, best) -> None:
        cur = self.current
        if cur is None:
            return
        stars = {cur.response_ids[i]: p.stars.value for i, p in enumerate(self.panes) if i < len(cur.response_ids)}
        self.services.store.cast_vote(cur.round_id, outcome, best_position=best, stars=stars,
                                      note=self.rating.note.text(), blind=cur.hidden)
        cur.voted = True
        was_hidden, cur.revealed = cur.hidden, True
        board = self._dialogs.get("leaderboard")
        if board is not None and board.isVisible():
            board.view.refresh()
        if was_hidden:
            for p in self.panes:
                p.set_position(p.position, hidden=False)
            names = ", ".join(f"{'ABCD'[p.position]} = {p.model_label()}" for p in sorted(self.panes, key=lambda p: p.position))
            self.statusBar().showMessage(f"Vote saved. Revealed: {names}", 15000)
        else:
            self.statusBar().showMessage("Vote saved; 1-4 change it. Start typing for the next prompt.", 6000)
        self.rating.setFocus()  # a vote key pressed again changes the vote; other keys go to the prompt

    def _type_into_prompt(self, text: str) -> None:
        self.prompt.setFocus()
        if text:
            self.prompt.insertPlainText(text)

    def _on_note(self, note: str) -> None:
        if self.current is not None and self.current.voted:
            self.services.store.set_note(self.current.round_id, note)

    def _on_stars(self, pane: Pane, value) -> None:
        cur = self.current
        i = self.panes.index(pane)
        if cur is not None and i < len(cur.response_ids):
            self.services.store.set_stars(cur.response_ids[i], value)

    def _toggle_blind(self, on: bool) -> None:
        """Takes effect from the next prompt. The round on screen keeps its state: a blind round
        nobody voted on stays hidden (showing names now would make its blind vote a lie), and
        names already seen are not hidden again."""
        self.services.settings.blind = on
        pending = self.current is not None and self.current.hidden
        if on:
            msg = "Blind mode on: from the next prompt, names are hidden and sides shuffled until you vote."
        elif pending:
            msg = "Blind mode off from the next prompt; this round's names show when you vote."
        else:
            msg = "Blind mode off."
        self.statusBar().showMessage(msg, 6000)

    # -- conversations --------------------------------------------------------------------
    def new_chat(self) -> None:
        if self._running():
            return
        self.conversation_id = None
        self.current = None
        for i, p in enumerate(self.panes):
            p.reset()
        # Pick the contenders freely; blind mode hides which is which from the first prompt on.
        self._arrange(list(range(len(self.panes))), hidden=False)
        self.rating.set_panes(len(self.panes))
        self.rating.reset()
        self.rating.set_open(False)
        self.history.clearSelection()
        self._update_key_notice()
        self._set_running(False)
        self.prompt.setFocus()

    def refresh_history(self) -> None:
        # The categories used so far, offered in the prompt's category box (the text typed stays).
        typed = self.tag.currentText()
        self.tag.blockSignals(True)
        self.tag.clear()
        self.tag.addItems(self.services.store.tags())
        self.tag.setEditText(typed)
        self.tag.blockSignals(False)
        self.history.clear()
        import datetime as dt

        for conv in self.services.store.conversations(self.search.text().strip()):
            when = dt.datetime.fromtimestamp(conv.created_at).strftime("%b %d, %H:%M")
            facts = [when, f"{conv.n_rounds} round{'s' if conv.n_rounds != 1 else ''}"]
            if conv.n_unrated:
                facts.append(f"{conv.n_unrated} to rate")
            if conv.blind:
                facts.append("blind")
            item = QListWidgetItem(f"{conv.title or '(untitled)'}\n{' · '.join(facts)}")
            item.setData(Qt.UserRole, conv.id)
            item.setToolTip(conv.title)
            self.history.addItem(item)
            if conv.id == self.conversation_id:
                item.setSelected(True)
        searching = bool(self.search.text().strip())
        self.history_empty.setText("Nothing matches." if searching else
                                   "Your comparisons appear here: every prompt, answer and vote is kept.")
        self.history_empty.setVisible(self.history.count() == 0)

    def _on_history_item(self, item: QListWidgetItem) -> None:
        cid = item.data(Qt.UserRole)
        if cid != self.conversation_id:
            self.open_conversation(cid)

    def open_conversation(self, conversation_id: int) -> None:
        if self._running():
            self.statusBar().showMessage("Wait for the answers (or press Esc) before opening another comparison.", 5000)
            return
        conv = self.services.store.conversation(conversation_id)
        if not conv.rounds:
            return
        records = pane_records(conv)
        n = len(records)
        while len(self.panes) < n:
            self.add_pane()
        while len(self.panes) > n:
            self.remove_pane(self.panes[-1])
        last = conv.rounds[-1]
        hidden = last.blind and last.vote is None  # an unvoted blind round stays blind
        self.current = None
        for pane, rec in zip(self.panes, records):
            if rec.choice:
                pane.set_choices(self._model_items(), prefer=rec.choice)
            pane.set_position(rec.position, hidden=hidden)
            pane.show_history(rec.turns)
            pane.history = rec.history
            pane.stars.set_value(rec.stars)
            pane.stars.setEnabled(True)
        self._arrange([p.position for p in self.panes], hidden=hidden)
        self.conversation_id = conv.id
        resp_ids = [rec.last_response_id if rec.last_response_id is not None else -1 for rec in records]
        self.current = OpenRound(last.id, resp_ids, [p.position for p in self.panes], last.blind,
                                 voted=last.vote is not None, revealed=not hidden)
        self.rating.set_panes(n)
        self.rating.set_open(True)
        if last.vote:
            self.rating.show_vote(last.vote.outcome, last.vote.best_position, last.vote.note)
        else:
            self.rating.reset()
        self._set_running(False)
        self.statusBar().showMessage(f"Reopened “{conv.title}”: {len(conv.rounds)} round(s). Type to continue it.", 6000)

    def delete_conversation(self, conversation_id: int) -> None:
        if conversation_id == self.conversation_id and self._running():
            self.statusBar().showMessage("This comparison is still answering: stop it (Esc) before deleting it.", 6000)
            return
        conv = self.services.store.conversation(conversation_id)
        if not confirm(self, "Delete comparison",
                       f"Delete “{conv.title or 'untitled'}” with its {len(conv.rounds)} round(s) and votes?\n"
                       "Its votes leave the leaderboard. This cannot be undone.", "Delete"):
            return
        self.services.store.delete_conversation(conversation_id)
        if conversation_id == self.conversation_id:
            self.new_chat()
        self.refresh_history()

    def rename_conversation(self, conversation_id: int) -> None:
        from PySide6.QtWidgets import QInputDialog

        conv = self.services.store.conversation(conversation_id)
        title, ok = QInputDialog.getText(self, "Rename comparison", "Title:", text=conv.title)
        if ok and title.strip():
            self.services.store.rename_conversation(conversation_id, title.strip())
            self.refresh_history()

    def _history_menu(self, pos) -> None:
        item = self.history.itemAt(pos)
        if item is None:
            return
        menu = QMenu(self)
        menu.addAction("Open", lambda: self.open_conversation(item.data(Qt.UserRole)))
        menu.addAction("Rename…", lambda: self.rename_conversation(item.data(Qt.UserRole)))
        menu.addAction("Delete…", lambda: self.delete_conversation(item.data(Qt.UserRole)))
        menu.exec(self.history.mapToGlobal(pos))

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt override)
        if obj is self.history and event.type() == QEvent.KeyPress and event.key() in (Qt.Key_Delete, Qt.Key_Backspace):
            item = self.history.currentItem()
            if item is not None:
                self.delete_conversation(item.data(Qt.UserRole))
                return True
        return super().eventFilter(obj, event)

    # -- importing by drag and drop -------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if any(u.toLocalFile().lower().endswith(".gguf") for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt override)
        for url in event.mimeData().urls():
            if url.toLocalFile().lower().endswith(".gguf"):
                self.import_model(url.toLocalFile())
        event.acceptProposedAction()

    def import_model(self, path: str) -> None:
        """Add a .gguf to the library where it lies (header read and checksum taken on a worker)."""
        from pathlib import Path

        from ..core.library.installed import import_file

        name = Path(path).name
        self.statusBar().showMessage(f"Adding {name}: reading its header and checksum…")
        # GGUFError and I/O errors say what is wrong with the file.
        self._inbox.run("import", lambda: import_file(self.services, path),
                        lambda model, error: self._on_imported(name, model, error))

    def _on_imported(self, name: str, model, error) -> None:
        if error:
            QMessageBox.warning(self, "Model not added", str(error))
            self.statusBar().clearMessage()
            return
        self.refresh_models()
        idle = next((p for p in self.panes if (p.choice() or "").startswith("local:")), self.panes[0])
        if not self._running():
            idle.set_choices(self._model_items(), prefer=str(model.choice))
            self._on_choice_changed()
        self.statusBar().showMessage(f"Added {name} to your models.", 8000)

    # -- dialogs --------------------------------------------------------------------------
    def _dialog(self, name: str, make) -> QWidget:
        d = self._dialogs.get(name)
        if d is None:
            d = self._dialogs[name] = make()
        d.show()
        d.raise_()
        d.activateWindow()
        return d

    def open_settings(self) -> None:
        from .settings_dialog import SettingsDialog

        keys_before = self._keys()
        dialog = SettingsDialog(self.services, self)
        accepted = dialog.exec()
        key_changed = self._keys() != keys_before
        if key_changed and not accepted:  # saved or removed in the dialog, then Cancel: still takes effect
            for p in self.panes:
                if (p.choice() or "").startswith("openai:"):
                    self.services.engines.drop(ModelChoice.parse(p.choice()))
        if accepted or key_changed:
            self._update_key_notice()
            self._fetch_api_models()
            self.refresh_models()

    def open_library(self) -> None:
        from .library_dialog import LibraryDialog

        def make():
            d = LibraryDialog(self.services, self)
            d.modelsChanged.connect(self.refresh_models)
            return d

        self._dialog("library", make)

    def open_leaderboard(self) -> None:
        from PySide6.QtWidgets import QDialog

        from .leaderboard import LeaderboardView

        def make():
            d = QDialog(self)
            d.setWindowTitle("Your leaderboard — ArenaDesk")
            d.resize(1100, 760)
            lay = QVBoxLayout(d)
            d.view = LeaderboardView(self.services.store, d)
            d.view.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
            lay.addWidget(d.view)
            return d

        d = self._dialog("leaderboard", make)
        d.view.refresh()

    def show_shortcuts(self) -> None:
        rows = [
            ("Ctrl+Enter", "send the prompt to every pane"), ("Esc", "stop every answer"),
            ("Ctrl+R", "regenerate every pane's last answer"), ("Ctrl+N", "new comparison"),
            ("Ctrl+T", "add a pane (up to four)"), ("Ctrl+B", "blind mode"),
            ("1 or ←", "left better"), ("2 or →", "right better"), ("3", "tie"), ("4", "both bad"),
            ("1–4, T, X", "with more panes: best answer, tie, all bad"),
            ("Ctrl+F", "search history"), ("Del", "delete the selected comparison"),
            ("Ctrl+M", "models"), ("Ctrl+L", "leaderboard"), ("Ctrl+,", "settings"),
        ]
        html = "<table cellpadding=3>" + "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows)
        QMessageBox.information(self, "Keyboard shortcuts", html + "</table>")

    def open_about(self) -> None:
        from .about import AboutDialog

        AboutDialog(self.services, self).exec()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self._inbox.close()  # background jobs finishing after this find no window to report to
        if self._running():
            self.current.runner.cancel()
            self.current.runner.round.wait(timeout=2.0)
        try:
            from ..core import settings as settings_io

            settings_io.save(self.services.settings, self.services.folders.settings_file)
        except OSError:
            pass
        super().closeEvent(event)
