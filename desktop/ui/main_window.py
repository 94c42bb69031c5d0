"""The comparison window: a display of the core's ComparisonSession.

The session owns the conversation (models, memory, the open round, blind
positions, the vote); this window shows it and turns the user's input into the
session's requests. Its parts live in their own modules: the history sidebar,
the model picker, the pane area, the rating bar, the prompt bar, and one table of
commands (ui/actions.py) that builds the toolbar, the menus and F1. Its jobs beside
display live in their own too: the model lists (model_lists.py), loading ahead
(model_warmup.py), adding a dropped .gguf (model_import.py), the dialogs
(window_dialogs.py) and the saved comparisons (core/history.py). The session
reports on worker threads; every report is posted to the window's Inbox, the one
way work comes back to the GUI thread.
"""
from __future__ import annotations

from functools import cached_property

from PySide6.QtCore import QEvent, QTimer, Signal
from PySide6.QtWidgets import QMainWindow, QMessageBox, QSplitter, QVBoxLayout, QWidget

from ..core import connections as cx
from ..core.contestants import Contestants, remembered_panes
from ..core.engines.registry import ModelChoice
from ..core.history import ConversationHistory, StillAnswering
from ..core.services import Services
from ..core.session import MAX_PANES, ComparisonSession, Refused
from ..core.untrusted import as_html
from . import actions
from .confirm import confirm
from .history_sidebar import HistorySidebar
from .inbox import Inbox
from .model_import import ModelImport, dropped_gguf_files
from .model_lists import ModelLists
from .model_warmup import ModelWarmup
from .pane import Pane
from .pane_area import PaneArea
from .prompt_bar import PromptBar
from .rating_bar import RatingBar
from .suite_menu import add_suite_actions
from .window_dialogs import WindowDialogs

# Why a round goes with names in blind mode (ComparisonSession.names_shown).
NAMES_SHOWN = "not blind: this conversation has already shown the names (New chat starts a blind one)."
KEY_NOTICE_MARK = " key for this pane: "  # in every no-key notice, and only there
NAME_LIMIT = 80  # characters of a connection or model name in a notice


def no_key_notice(connection: str, not_sent: bool = False) -> str:
    """A pane's notice when its connection needs a key it has not got. A round is a comparison, so
    a send is refused whole (not sent to the other panes, which would leave the round with a hole);
    `not_sent`: a send was just refused for it, which the pane keeps saying (the status bar forgets)."""
    article = "an" if connection[:1].lower() in "aeiou" else "a"
    connection = as_html(connection, NAME_LIMIT)  # a connection's name may come from an imported file
    lead = f"Not sent: this pane has no {connection} key." if not_sent else f"No {connection} key yet."
    return (f"<b>{lead}</b> Sending needs {article} {connection}{KEY_NOTICE_MARK}<a href='settings'>add one in "
            "Settings → Connections</a>, or pick a local model here (a local server needs no key).")


SIZE = (1280, 820)  # the first size, shrunk to the screen
NEVER_EXPOSED_MS = 1000  # a window shown but not on screen (started minimised) starts its background work anyway


class MainWindow(QMainWindow):
    roundFinished = Signal()  # every answer of a round (or a regenerate) is on screen
    apiModelsFetched = Signal()  # every connection has answered (or failed) a model-list fetch
    onScreen = Signal()  # the first frame is on screen (or, shown but never exposed, a second after show)

    def __init__(self, services: Services, parent=None):
        super().__init__(parent)
        self.services = services
        self.setWindowTitle("ArenaDesk")
        # The installed models are listed on a worker once the window is shown (_start_background):
        # until then the pickers offer the built-in model and the default one.
        self.contestants = Contestants(services, list_on_demand=False)
        self._inbox = Inbox(self)  # every report from a worker thread comes back through here
        self.session = ComparisonSession(
            services, contestants=self.contestants,
            on_delta=lambda i, text: self._inbox.post(self._on_delta, i, text),
            on_reasoning=lambda i, text: self._inbox.post(self._on_reasoning, i, text),
            on_turn=lambda i, waiting: self._inbox.post(self._on_turn, i, waiting),
            on_answer=lambda i, result: self._inbox.post(self._on_answer, i, result),
            on_round_done=lambda: self._inbox.post(self._on_round_done))
        self.conversations = ConversationHistory(services.store)
        self._on_screen = False  # a round is answering (until its last answer is shown)
        self._keys_known = False  # the keychain is first read on a worker (_start_background)
        self._background_started = False
        say = lambda text, ms=8000: self.statusBar().showMessage(text, ms)  # noqa: E731
        self.model_lists = ModelLists(services, self.contestants, self._inbox, on_changed=self._on_models_changed,
                                      on_fetched=self.apiModelsFetched.emit, on_message=say)
        self.warmup = ModelWarmup(services, self.contestants, self._inbox, on_loaded=self._on_model_loaded)
        self.model_import = ModelImport(services, self._inbox, on_added=self._on_imported,
                                        on_failed=self._on_import_failed, on_status=lambda text: say(text, 0))
        self.dialogs = WindowDialogs(self, services, on_models_changed=self.refresh_models, on_message=say,
                                     contestants=self.contestants, on_back=self.take_keyboard_back)
        self._dialogs = self.dialogs.kept  # tests and scripts reach the kept dialogs here
        # The commands that only open a dialog go straight to it (actions.build wires them by name).
        self.open_library, self.open_leaderboard = self.dialogs.library, self.dialogs.leaderboard
        self.open_about, self.show_shortcuts = self.dialogs.about, self.dialogs.shortcuts

        actions.build(self)
        self.act_toggle_blind.setChecked(services.settings.blind)
        add_suite_actions(self, self.menus["Tools"], services, self._model_items)
        self._build_layout()
        self.setAcceptDrops(True)  # drop a .gguf file to add it
        s = services.settings
        # The panes the window had when it last closed, else the default local model beside the default API one.
        start = remembered_panes(s)[:MAX_PANES] or [ModelChoice("local", s.default_local_model),
                                                     ModelChoice("openai", s.default_remote_model)]
        for choice in start:
            self._add_pane(choice)
        self.refresh_history()
        self._fit_screen(*SIZE)
        for w in services.warnings:
            QTimer.singleShot(0, lambda w=w: QMessageBox.warning(self, "ArenaDesk", w))

    @cached_property
    def found_offer(self):
        """The offer to use the models found in other apps' folders: a bar under the toolbar,
        hidden until a scan finds some. Made at its first use (_start_background, after the first
        frame, which does not show it), not while the window is built."""
        from .found_offer import FoundModelsOffer

        return FoundModelsOffer(self, self.services, self._inbox, self.refresh_models)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if not self._background_started:
            # The background work starts once the first frame is on screen, not at show(): the
            # window is mapped a few event-loop turns later, and work started in between (and
            # workers holding the GIL) would hold back that first frame.
            self.windowHandle().installEventFilter(self)
            QTimer.singleShot(NEVER_EXPOSED_MS, self, self._start_background)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt override)
        if obj is self.windowHandle() and event.type() == QEvent.Type.Expose and obj.isExposed():
            obj.removeEventFilter(self)
            QTimer.singleShot(0, self, self._start_background)  # after this expose paints the frame
        return super().eventFilter(obj, event)

    def _start_background(self) -> None:
        """What the window needs soon but not to appear, started once it is on screen, each on a
        worker: marking answers a crashed run left streaming as interrupted, listing the installed
        models, reading the keychain (the no-key notices), each connection's model list, loading
        the chosen local models, looking for models in other apps' folders, and importing what a
        round needs (ComparisonSession.load_rounds). Each imports or
        writes something that would keep the window from showing (keyring, gguf, numpy,
        huggingface_hub, openai; the database). Once only."""
        if self._background_started:
            return
        self._background_started = True
        self.onScreen.emit()
        # PySide6 builds the `Qt` namespace's 93 enums at its first use (about 0.1 s): now, not at
        # the first key press. The window is built without it (tests/ui/test_window_start.py).
        from PySide6.QtCore import Qt  # noqa: F401
        self._inbox.run("interrupted", self.services.mark_interrupted, self._on_interrupted_marked)
        self._inbox.run("rounds", self.session.load_rounds, lambda _none, _error: None)  # before the first Send
        self.model_lists.list_installed_in_background()
        self._inbox.run("keychain", self.services.secrets.keychain_available, lambda _ok, _error: self._on_keys_read())
        self.model_lists.fetch_api_models()
        self._warm_chosen_models()
        self.found_offer.start()

    def _on_interrupted_marked(self, closed, error) -> None:
        if error is not None:
            self.statusBar().showMessage(f"Could not mark answers an earlier run left unfinished: {error}", 10000)
        elif closed:
            self.refresh_history()

    def _on_keys_read(self) -> None:
        self._keys_known = True
        self._update_key_notice()

    # -- construction ---------------------------------------------------------------------
    def _build_layout(self) -> None:
        # Each widget is made inside the one that holds it: moving a built widget into another
        # makes Qt apply the style sheet to all of it again.
        split = QSplitter(parent=self)  # side by side, the default (parent by keyword: see PaneArea)
        split.setChildrenCollapsible(False)
        self.sidebar = HistorySidebar(split)
        self.sidebar.openRequested.connect(self._on_history_open)
        self.sidebar.renameRequested.connect(self.rename_conversation)
        self.sidebar.deleteRequested.connect(self.delete_conversation)
        self.sidebar.searchChanged.connect(lambda _q: self.refresh_history())
        self.search, self.history = self.sidebar.search, self.sidebar.list

        center = QWidget(split)
        self.pane_area = PaneArea(center)
        self.rating = RatingBar(center)
        self.rating.voted.connect(self._on_vote)
        self.rating.noteEdited.connect(self._on_note)
        self.rating.typedAhead.connect(self._type_into_prompt)

        self.prompt_bar = PromptBar(center)
        self.prompt_bar.sendRequested.connect(self.send)
        self.prompt_bar.stopRequested.connect(self.stop_all)
        self.prompt_bar.draftPaused.connect(self.session.prepare)
        bar = self.prompt_bar
        self.prompt, self.tag, self.send_button, self.stop_button = bar.prompt, bar.tag, bar.send_button, bar.stop_button

        cl = QVBoxLayout(center)
        cl.setContentsMargins(4, 8, 8, 8)
        cl.addWidget(self.pane_area, 1)
        cl.addWidget(self.rating)
        cl.addWidget(self.prompt_bar)

        split.addWidget(self.sidebar)
        split.addWidget(center)
        split.setStretchFactor(1, 1)
        split.setSizes([220, 1060])
        self.setCentralWidget(split)
        # The fields' clear buttons come once the window is on screen: Qt looks their icon up in
        # the icon theme (about 7 ms each), and they show only once something is typed.
        self.onScreen.connect(lambda: [f.setClearButtonEnabled(True) for f in (self.search, self.rating.note)])
        self._set_running(False)
        self.statusBar().showMessage("Ready. Your ratings stay on this machine.")

    def _fit_screen(self, width: int, height: int) -> None:
        """Never larger than the screen's free area (a 1280x720 laptop included)."""
        screen = self.screen().availableGeometry() if self.screen() else None
        if screen is not None:
            width, height = min(width, screen.width()), min(height, screen.height())
        self.resize(width, height)

    @property
    def panes(self) -> list[Pane]:
        return self.pane_area.panes

    # -- panes ----------------------------------------------------------------------------
    def add_pane(self) -> Pane | None:
        if self._running() or len(self.panes) >= MAX_PANES:
            return None
        # Once the keychain has been read (on a worker), an API model with its key is offered
        # before a second copy of a local one; before that, reading it here would block.
        has_key = (lambda c: cx.missing_key(self.services, c) is None) if self._keys_known else None
        pane = self._add_pane(None, has_key)
        if self.session.conversation_id is not None:
            pane.show_notice("This pane joins from the next prompt; it starts without the earlier turns.")
        return pane

    def _add_pane(self, choice: ModelChoice | None, has_key=None) -> Pane:
        i = self.session.add_pane(choice, has_key)
        pane = self._make_pane_widget()
        pane.set_choices(self._model_items(), prefer=str(self.session.panes[i].choice))
        pane.set_position(self.session.position(i), hidden=False)
        self._after_panes_changed()
        return pane

    def _make_pane_widget(self) -> Pane:
        pane = Pane(self.pane_area, heading=self.contestants.heading,  # made where it is shown (see _build_layout)
                    shared_sampling=lambda: self.services.settings.sampling)
        pane.stopRequested.connect(lambda p=pane: self.session.stop(self.panes.index(p)))
        pane.regenerateRequested.connect(lambda p=pane: self.regenerate(p))
        pane.removeRequested.connect(lambda p=pane: self.remove_pane(p))
        pane.starsChanged.connect(lambda v, p=pane: self.session.set_stars(self.panes.index(p), v))
        pane.overrideChanged.connect(lambda name, v, p=pane: self.session.set_override(self.panes.index(p), name, v))
        pane.addKeyRequested.connect(self.open_settings)
        pane.choiceChanged.connect(lambda p=pane: self._on_choice_changed(p))
        self.pane_area.add(pane)
        return pane

    def remove_pane(self, pane: Pane) -> None:
        try:
            self.session.remove_pane(self.panes.index(pane))
        except Refused as exc:
            self.statusBar().showMessage(str(exc), 5000)
            return
        self.pane_area.remove(pane)
        self.pane_area.arrange([self.session.position(i) for i in range(len(self.panes))], self.session.hidden)
        self.rating.reset()
        self._after_panes_changed()

    def _after_panes_changed(self) -> None:
        for p in self.panes:
            p.set_removable(len(self.panes) > 2)
        cur = self.session.open_round
        # A pane added after a round joins from the next prompt: the finished round stays votable
        # with the answers it had (its vote is stored by position, for those panes only).
        n = cur.panes if cur is not None else len(self.panes)
        if n != self.rating.panes or cur is None:
            self.rating.set_panes(n)
            if cur is not None and cur.vote is not None:
                self.rating.show_vote(cur.vote.outcome, cur.vote.best_position, cur.vote.note)
        self.rating.set_open(cur is not None and not self._running())
        self._update_key_notice()
        self._set_running(self._running())
        self._fix_tab_order()

    def _fix_tab_order(self) -> None:
        """Tab goes the way the eye does: history, the panes left to right, the vote, the prompt."""
        chain = [self.search, self.history]
        for p in self.pane_area.shown_order():
            chain += [p.picker, p.tune, p.regen, p.stop, p.copy, p.remove, p.view, *p.stars.buttons]
        chain += [*self.rating.buttons.values(), self.rating.note, self.prompt, self.tag, self.send_button,
                  self.stop_button]
        for a, b in zip(chain, chain[1:]):
            QWidget.setTabOrder(a, b)

    def choose_model(self, i: int, choice: str) -> None:
        """Pick a model for pane i, as choosing it in the picker does (scripts and tests)."""
        if not self.contestants.local_listed():
            self.contestants.refresh_local()  # a script may name a model before the list is read
        self.panes[i].set_choices(self._model_items(), prefer=choice)
        self._on_choice_changed(self.panes[i])

    def _on_choice_changed(self, pane: Pane) -> None:
        i = self.panes.index(pane)
        if pane.choice():
            self.session.set_choice(i, ModelChoice.parse(pane.choice()))
        pane.set_choices(self._model_items(), gone=self._gone(i))
        self._keys_known = True  # a model was picked: say now if it needs a key (reading the keychain here if need be)
        self._update_key_notice()
        self._warm_chosen_models()

    # -- models ---------------------------------------------------------------------------
    def _model_items(self) -> list[tuple[str, str]]:
        """The picker's entries: local files, then each connection's models, a separator between groups."""
        items = [(c.label, str(c.choice)) for c in self.contestants.local()]
        for group in self.contestants.groups():
            if group:
                items.append(("-", "-"))
                items += [(c.label, str(c.choice)) for c in group]
        return items

    def _local_models(self) -> list[tuple[str, ModelChoice]]:
        """(label, choice) of the local models (the settings dialog offers them as the default)."""
        return [(c.label, c.choice) for c in self.contestants.local()]

    def _gone(self, i: int) -> str:
        return self.session.problems().get(i, "")

    def refresh_models(self) -> None:
        """The library changed (a download, an import, found models taken or not): list it again."""
        self.model_lists.relist_installed()

    def _on_models_changed(self) -> None:
        """A list of models changed (listed, fetched, imported): the pickers show it, a model now
        known to be gone says so, and the chosen ones are loaded ahead."""
        items, problems = self._model_items(), self.session.problems()
        for i, p in enumerate(self.panes):
            choice = self.session.panes[i].choice
            p.set_choices(items, prefer=str(choice) if choice else None, gone=problems.get(i, ""))
        self._update_key_notice()
        self._warm_chosen_models()

    def set_api_models(self, names: list[str] | None, connection: str = "openai") -> None:
        """A connection's models (None: unknown again; every connection offers what it last listed)."""
        self.model_lists.set_api_models(names, connection)

    def _warm_chosen_models(self) -> None:
        self.warmup.warm([state.choice for state in self.session.panes])

    def _on_model_loaded(self, text: str, failed: bool) -> None:
        if self.session.hidden or self._running():
            return  # a message naming a model would say which side is which, or talk over the round
        self.statusBar().showMessage(text, 0 if failed else 15000)

    def _update_key_notice(self, not_sent: bool = False) -> None:
        """Each pane's notice: its model is gone, or its connection needs a key (neither while a
        blind round is hidden: that would name the model under "Model B", or tell an API side from
        a local one). `not_sent`: a send was refused just now; a pane that said so keeps saying it
        until it has a key or another model."""
        # every pane's, checked once (a local file's may touch the disk)
        problems = self.session.problems() if not self.session.hidden else {}
        for i, p in enumerate(self.panes):
            gone = problems.get(i, "")
            choice = self.session.panes[i].choice
            missing = cx.missing_key(self.services, choice) if self._keys_known and not self.session.hidden else None
            if gone:
                p.show_notice(f"<b>Model gone.</b> {as_html(gone, 4 * NAME_LIMIT)}")
            elif missing:
                said = KEY_NOTICE_MARK in p.notice.text() and p.notice.text().startswith("<b>Not sent")
                p.show_notice(no_key_notice(missing, not_sent=not_sent or said))
            elif KEY_NOTICE_MARK in p.notice.text() or "Model gone" in p.notice.text():
                p.notice.hide()

    # -- sending --------------------------------------------------------------------------
    def _running(self) -> bool:
        return self._on_screen

    def _set_running(self, on: bool) -> None:
        self._on_screen = on
        self.prompt_bar.set_running(on)
        self.act_stop_all.setEnabled(on)
        can_regen = [not on and self.session.can_regenerate(i) for i in range(len(self.panes))]
        self.act_regenerate_all.setEnabled(any(can_regen))
        self.act_add_pane.setEnabled(not on and len(self.panes) < MAX_PANES)
        self.act_new_chat.setEnabled(not on)
        for i, p in enumerate(self.panes):
            p.regen.setEnabled(can_regen[i])  # a pane added after the round has nothing to redo
            p.remove.setEnabled(not on)

    def send(self) -> None:
        if self._running():
            return
        text = self.prompt_bar.text()
        try:
            self.session.send(text, tag=self.prompt_bar.category())
        except Refused as exc:
            self.statusBar().showMessage(str(exc), 10000)
            if text.strip():  # a prompt was there to send: a pane without its key says it was not sent
                self._update_key_notice(not_sent=True)
            self.prompt.setFocus()
            return
        cur = self.session.open_round
        self.pane_area.arrange(cur.positions, hidden=self.session.hidden)
        self._fix_tab_order()
        self.rating.set_panes(cur.panes)
        self.rating.reset()
        self.rating.set_open(False)
        for p in self.panes:
            p.start_answer(text)
        self.prompt.clear()
        self._set_running(True)
        self._update_key_notice()
        if cur.blind:
            sent = " (blind: names hidden until you vote)."
        elif self.session.blind:  # blind mode, but this conversation has already named its models
            sent = ", " + NAMES_SHOWN
        else:
            sent = "."
        self.statusBar().showMessage(f"Sent to {cur.panes} models{sent} Esc stops.", 15000)
        self.refresh_history()

    def _on_delta(self, i: int, text: str) -> None:
        if i < len(self.panes):
            self.panes[i].append(text)

    def _on_reasoning(self, i: int, text: str) -> None:
        if i < len(self.panes):
            self.panes[i].append_reasoning(text)

    def _on_turn(self, i: int, waiting: bool) -> None:
        if i < len(self.panes):
            self.panes[i].show_turn(waiting)

    def _on_answer(self, i: int, result) -> None:
        if i >= len(self.panes):
            return
        pane = self.panes[i]
        pane.finish(result, note=self.session.note(i), figures=self.session.footer(i))
        pane.stars.setEnabled(True)

    def _on_round_done(self) -> None:
        self._set_running(False)
        self.rating.set_open(True)
        if not (self.prompt.hasFocus() and self.prompt.toPlainText().strip()):
            self.rating.setFocus()  # 1-4 and arrows vote; never taken from a follow-up being typed
        self.prompt_bar.offer_draft()  # a follow-up typed while the answers ran is read ahead now
        cur = self.session.open_round
        results = [r for r in cur.results if r] if cur is not None else []
        n_err = sum(r.status == "error" for r in results)
        if results and all(r.status == "cancelled" for r in results):
            message = "Stopped. What arrived is kept; you can still vote, or send again."
        elif n_err:
            message = f"{n_err} pane(s) failed; the others' answers are kept. You can still vote."
        elif cur is not None and cur.panes == 2:
            message = "Answers are in: which was better? (1-4, or ←/→)"
        else:
            message = "Answers are in: which was best? (1-4 picks it, T tie, X all bad)"
        if cur is not None and not cur.blind and self.session.blind:
            message += " This round is " + NAMES_SHOWN
        self.statusBar().showMessage(message, 8000)
        self.roundFinished.emit()

    def stop_all(self) -> None:
        self.session.stop()

    def regenerate(self, pane: Pane) -> None:
        self._regenerate([self.panes.index(pane)])

    def regenerate_all(self) -> None:
        self._regenerate(None)

    def _regenerate(self, which: list[int] | None) -> None:
        if self._running():
            return
        try:
            todo = self.session.regenerate(which)
        except Refused as exc:
            self.statusBar().showMessage(str(exc), 5000)
            return
        if not todo:
            return
        self.rating.reset()
        self.rating.set_open(False)
        for i in todo:
            # The round's model answers again even if the picker changed since (the new pick
            # answers from the next prompt); the heading says which one it is.
            answered_by = self.session.answered_by(i)
            self.panes[i].start_answer(None, choice=str(answered_by) if answered_by else None)
        self._set_running(True)

    # -- rating ---------------------------------------------------------------------------
    def _on_vote(self, outcome: str, best) -> None:
        try:
            revealed = self.session.vote(outcome, best, note=self.rating.note.text())
        except Refused as exc:
            self.statusBar().showMessage(str(exc), 5000)
            return
        self.dialogs.refresh_leaderboard()
        if revealed:
            self._reveal()
            self.statusBar().showMessage(f"Vote saved. Revealed: {self.session.revealed_names()}", 15000)
        else:
            self.statusBar().showMessage("Vote saved; the vote keys change it. Start typing for the next prompt.", 6000)
        self.refresh_history()  # its "to rate" count
        self.rating.setFocus()  # a vote key pressed again changes the vote; other keys go to the prompt

    def _reveal(self) -> None:
        """The names appear where the answers are; the answers stay, and the figures, notes and
        reasoning held back while blind are shown (the panes put them in place, also under an
        answer still going on screen)."""
        self.pane_area.arrange([self.session.position(i) for i in range(len(self.panes))], hidden=False)
        for i, p in enumerate(self.panes):
            if self.session.result(i) is not None:
                p.reveal(self.session.footer(i), self.session.note(i))
        self._update_key_notice()

    def _type_into_prompt(self, text: str) -> None:
        self.prompt.setFocus()
        if text:
            self.prompt.insertPlainText(text)

    def _on_note(self, note: str) -> None:
        self.session.set_note(note)

    def toggle_blind(self, on: bool) -> None:
        """Takes effect from the next prompt. The round on screen keeps its state: a blind round
        nobody voted on stays hidden (showing names now would make its blind vote a lie), and
        names already seen are not hidden again."""
        self.session.blind = on
        if on:
            msg = "Blind mode on: from the next prompt, names are hidden and sides shuffled until you vote."
        elif self.session.hidden:
            msg = "Blind mode off from the next prompt; this round's names show when you vote."
        else:
            msg = "Blind mode off."
        self.statusBar().showMessage(msg, 6000)

    # -- conversations --------------------------------------------------------------------
    def new_chat(self) -> None:
        try:
            self.session.new()
        except Refused as exc:
            self.statusBar().showMessage(str(exc), 5000)
            return
        for p in self.panes:
            p.reset()
        # Pick the contenders freely; blind mode hides which is which from the first prompt on.
        self.pane_area.arrange(list(range(len(self.panes))), hidden=False)
        self.rating.set_panes(len(self.panes))
        self.rating.reset()
        self.rating.set_open(False)
        self.tag.setEditText("")  # a category belongs to the prompts it was given for
        self.history.clearSelection()
        self._update_key_notice()
        self._set_running(False)
        self._fix_tab_order()
        self.prompt.setFocus()

    def refresh_history(self) -> None:
        self.prompt_bar.set_categories(self.conversations.categories())
        self.sidebar.show_conversations(self.conversations.listed(self.sidebar.query()), self.session.conversation_id)

    def _on_history_open(self, conversation_id: int) -> None:
        if conversation_id != self.session.conversation_id:
            self.open_conversation(conversation_id)

    def open_conversation(self, conversation_id: int) -> None:
        try:
            records = self.session.open(conversation_id)
        except Refused as exc:
            self.statusBar().showMessage(str(exc), 5000)
            return
        while len(self.panes) < len(self.session.panes):
            self._make_pane_widget()
        while len(self.panes) > len(self.session.panes):
            self.pane_area.remove(self.panes[-1])
        hidden = self.session.hidden
        items, problems = self._model_items(), self.session.problems()
        for i, (pane, rec) in enumerate(zip(self.panes, records)):
            choice = self.session.panes[i].choice
            pane.set_choices(items, prefer=str(choice) if choice else None, gone=problems.get(i, ""))
            pane.set_position(self.session.position(i), hidden=hidden)
            pane.show_history(rec.turns, last_note=self.session.note(i) or None, reasonings=rec.reasonings,
                              choices=rec.choices)
            pane.stars.set_value(rec.stars)
            pane.stars.setEnabled(True)
        self.pane_area.arrange([self.session.position(i) for i in range(len(self.panes))], hidden=hidden)
        cur = self.session.open_round
        self.rating.set_panes(cur.panes)
        if cur.vote:
            self.rating.show_vote(cur.vote.outcome, cur.vote.best_position, cur.vote.note)
        else:
            self.rating.reset()
        self._after_panes_changed()
        gone = self.session.problems()
        title = self.conversations.title(conversation_id)
        if gone and hidden:  # which one would tell the sides apart
            self.statusBar().showMessage(f"Reopened “{title}”. A model it used is gone: vote on this round to see "
                                         "which, or start a New chat.", 10000)
        elif gone:
            self.statusBar().showMessage(f"Reopened “{title}”. A model it used is gone: pick another in that pane "
                                         "to continue.", 10000)
        else:
            self.statusBar().showMessage(f"Reopened “{title}”. Type to continue it.", 6000)

    def delete_conversation(self, conversation_id: int) -> None:
        try:
            question = self.conversations.delete_question(
                conversation_id, answering=conversation_id == self.session.conversation_id and self._running())
        except StillAnswering as exc:
            self.statusBar().showMessage(str(exc), 6000)
            return
        if not confirm(self, question.title, question.text, "Delete"):
            return
        self.conversations.delete(conversation_id)
        if conversation_id == self.session.conversation_id:
            self.new_chat()
        self.refresh_history()

    def rename_conversation(self, conversation_id: int) -> None:
        from PySide6.QtWidgets import QInputDialog

        title, ok = QInputDialog.getText(self, "Rename comparison", "Title:",
                                         text=self.conversations.title(conversation_id))
        if ok and self.conversations.rename(conversation_id, title):
            self.refresh_history()

    def _selected_conversation(self) -> int | None:
        return self.sidebar.selected_id() or self.session.conversation_id

    def rename_selected(self) -> None:
        cid = self._selected_conversation()
        if cid is None:
            self.statusBar().showMessage("Select a comparison in History to rename it.", 4000)
        else:
            self.rename_conversation(cid)

    def delete_selected(self) -> None:
        cid = self._selected_conversation()
        if cid is not None:
            self.delete_conversation(cid)

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    # -- importing by drag and drop -------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if dropped_gguf_files(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt override)
        for path in dropped_gguf_files(event.mimeData()):
            self.import_model(path)
        event.acceptProposedAction()

    def import_model(self, path: str) -> None:
        """Add a .gguf to the library where it lies; once added, a local pane answers with it."""
        self.model_import.start(path)

    def _on_import_failed(self, name: str, error: str) -> None:
        QMessageBox.warning(self, "Model not added", error)
        self.statusBar().clearMessage()

    def _on_imported(self, name: str, model) -> None:
        self.refresh_models()
        local = [i for i, s in enumerate(self.session.panes) if s.choice is not None and s.choice.engine == "local"]
        if not self._running():
            self.choose_model(local[0] if local else 0, str(model.choice))
        self.statusBar().showMessage(f"Added {name} to your models.", 8000)

    # -- dialogs --------------------------------------------------------------------------
    def take_keyboard_back(self) -> None:
        """After a dialog closes: this window is active again and the widget that had the keyboard
        (else the prompt) has it, so shortcuts work without a click first."""
        self.raise_()
        self.activateWindow()
        from PySide6.QtCore import Qt

        (self.focusWidget() or self.prompt).setFocus(Qt.ActiveWindowFocusReason)

    def open_settings(self) -> None:
        changed = self.dialogs.settings([state.choice for state in self.session.panes])
        if changed is None:
            return
        if changed.endpoints:
            self.contestants.set_api_models(None)  # another endpoint: its list is fetched again
        self.refresh_models()
        self.model_lists.fetch_api_models()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self._inbox.close()  # background jobs finishing after this find no window to report to
        if self.session.running:
            self.session.stop()
            self.session.wait(timeout=2.0)
        self.services.settings.last_panes = [str(p.choice) for p in self.session.panes if p.choice]
        try:
            from ..core import settings as settings_io

            settings_io.save(self.services.settings, self.services.folders.settings_file)
        except OSError:
            pass
        super().closeEvent(event)
