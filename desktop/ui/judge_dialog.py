"""Run the LLM judge from the window: pick the judge model (the panes' list), what it judges,
see what that will do and cost, run it with a progress count and a Cancel.

Widgets only: the judge, its pairs and its cost are the core's (core/judge_run.py, shared with
`arenadesk judge`). Counting the pairs and the run itself go to workers through an Inbox; the
run's progress comes back through it too. Every pair is saved as it is judged, so Cancel (or
closing the dialog) keeps what was done.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QFormLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSpinBox,
    QVBoxLayout,
)

from ..core import judge
from ..core.engines.registry import ModelChoice
from ..core.judge_run import JudgeOutcome, JudgePlan, JudgeRequest, JudgeSetupError, default_judge, plan
from .inbox import Inbox

ALL_CATEGORIES = "All categories"


def _plain(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.PlainText)  # model names and errors from servers: never HTML
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    return label


class JudgeDialog(QDialog):
    """The judge's settings, what they will do, and the run.

    progressed(str): "12 / 40 pairs" while it runs; runFinished(str): the outcome's line once a
    run ended (cancelled or not)."""

    progressed = Signal(str)
    runFinished = Signal(str)

    def __init__(self, services, contestants, *, tags: list[str], tag: str | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Run the LLM judge — ArenaDesk")
        self.services, self.contestants = services, contestants
        self._inbox = Inbox(self)
        self._generation = 0  # a plan counted for older settings is dropped
        self._plan: JudgePlan | None = None
        self._running: JudgePlan | None = None
        self._picked = False  # the user (or choose()) picked a judge: the default found later does not replace it
        self._defaulting = True  # the default judge is being found (on a worker): nothing is counted before
        self._stopping = False  # Cancel was pressed; the run ends after the pair being judged
        self._count = (0, 0)  # pairs done, of how many, in the last run

        root = QVBoxLayout(self)
        intro = _plain("A model judges pairs of answers, each pair in both orders. Check it against your own "
                       "votes first: only then may it rate the rounds you did not vote on. Its verdicts are kept "
                       "apart from your votes.")
        root.addWidget(intro)
        form = QFormLayout()
        self.model = QComboBox()
        self.model.setAccessibleName("Judge model")
        self.reload_models()
        form.addRow("Judge model:", self.model)
        self.calibrate = QCheckBox("Check it against my votes (calibrate)")
        self.calibrate.setChecked(True)
        self.rate = QCheckBox("Rate the rounds I did not vote on")
        form.addRow("", self.calibrate)
        form.addRow("", self.rate)
        self.category = QComboBox()
        self.reload_categories(tags, tag)
        form.addRow("Category:", self.category)
        self.limit = QSpinBox()
        self.limit.setRange(0, 100_000)
        self.limit.setSpecialValueText("No limit")
        self.limit.setSuffix(" pairs")
        self.limit.setToolTip("Judge at most this many pairs this time; the rest wait for the next run")
        form.addRow("At most:", self.limit)
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(8, 4096)
        self.max_tokens.setValue(judge.JUDGE_SAMPLING.max_tokens)
        self.max_tokens.setSuffix(" tokens")
        self.max_tokens.setToolTip("The longest reply the judge may give (it needs two short lines)")
        form.addRow("Reply length:", self.max_tokens)
        root.addLayout(form)

        self.plan_text = _plain("")
        self.plan_text.setObjectName("judgePlan")
        root.addWidget(self.plan_text)
        self.warning_text = _plain("")  # a base-model judge; a judge judging its own answers
        self.warning_text.setObjectName("judgeWarning")
        self.warning_text.setVisible(False)
        root.addWidget(self.warning_text)
        progress_row = QHBoxLayout()
        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(False)
        self.progress_text = QLabel("")
        self.progress_text.setObjectName("judgeProgress")
        progress_row.addWidget(self.progress_bar, 1)
        progress_row.addWidget(self.progress_text)
        root.addLayout(progress_row)
        self.result_text = _plain("")
        self.result_text.setObjectName("judgeResult")
        root.addWidget(self.result_text)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.run_button = QPushButton("Run")
        self.run_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the pair being judged; the pairs judged so far are kept")
        self.close_button = QPushButton("Close")
        for b in (self.run_button, self.cancel_button, self.close_button):
            buttons.addWidget(b)
        root.addLayout(buttons)
        self._show_running(False)

        self.run_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)
        self.model.currentIndexChanged.connect(self._settings_changed)
        self.model.activated.connect(self._user_picked)
        self.calibrate.toggled.connect(self._settings_changed)
        self.rate.toggled.connect(self._settings_changed)
        self.category.currentIndexChanged.connect(self._settings_changed)
        self.limit.valueChanged.connect(self._settings_changed)
        self.max_tokens.valueChanged.connect(self._settings_changed)
        self.resize(560, 360)
        self.plan_text.setText("Choosing a judge…")
        self._inbox.run("judge-default", lambda: default_judge(services, contestants), self._defaulted)

    def _user_picked(self, _index: int = 0) -> None:
        self._picked = True
        self.replan()  # when the default judge is still being found

    def _defaulted(self, choice: ModelChoice | None, error: Exception | None) -> None:
        """The default judge was found (a chat model, else an API model with its key, else the
        built-in one): start on it unless the user picked one meanwhile."""
        if not self._picked and error is None and choice is not None and self.model.findData(str(choice)) >= 0:
            self.model.blockSignals(True)
            self.model.setCurrentIndex(self.model.findData(str(choice)))
            self.model.blockSignals(False)
        self._defaulting = False
        self.replan()

    def reload_models(self) -> None:
        """The models the panes offer now (the list is read on a worker after the window shows)."""
        chosen = self.model.currentData()
        self.model.blockSignals(True)
        self.model.clear()
        for c in self.contestants.local() + self.contestants.api():
            self.model.addItem(c.label, str(c.choice))
        self.model.setCurrentIndex(max(0, self.model.findData(chosen)))
        self.model.blockSignals(False)

    def reload_categories(self, tags: list[str], tag: str | None = None) -> None:
        """The categories there are now, on `tag` (the leaderboard's filter when it opens this)."""
        self.category.blockSignals(True)
        self.category.clear()
        self.category.addItem(ALL_CATEGORIES, None)
        for t in tags:
            self.category.addItem(t, t)
        self.category.setCurrentIndex(max(0, self.category.findData(tag)) if tag else 0)
        self.category.blockSignals(False)

    # -- what it will do ----------------------------------------------------------------
    def request(self) -> JudgeRequest | None:
        data = self.model.currentData()
        if not data:
            return None
        return JudgeRequest(ModelChoice.parse(data), calibrate=self.calibrate.isChecked(), rate=self.rate.isChecked(),
                            tag=self.category.currentData(), limit=self.limit.value() or None,
                            max_tokens=self.max_tokens.value())

    def choose(self, choice: ModelChoice | str) -> None:
        """Pick the judge model (for scripts and tests; a user picks it in the list)."""
        i = self.model.findData(str(choice))
        if i < 0:
            raise ValueError(f"{choice} is not in the judge model list")
        self._picked = True
        if i == self.model.currentIndex():
            self.replan()  # no change of index to count it (the default judge may still be being found)
        else:
            self.model.setCurrentIndex(i)

    def _settings_changed(self) -> None:
        """Another judge or other settings: the last run's count was for the old ones."""
        self.clear_progress()
        self.replan()

    def clear_progress(self) -> None:
        """No count and no bar (not while a run goes on: its count is the one to see)."""
        if self._running is not None:
            return
        self.progress_text.setText("")
        self.progress_bar.reset()
        self.progress_bar.setVisible(False)

    def replan(self) -> None:
        """Count the pairs and the cost for the current settings, on a worker."""
        if self._running is not None or (self._defaulting and not self._picked):
            return
        self._generation += 1
        self._plan = None
        self.run_button.setEnabled(False)
        self._show_warnings([])
        req = self.request()
        if req is None:
            self.plan_text.setText("No model to judge with: add one in the library or in Settings → Connections.")
            return
        if not (req.calibrate or req.rate):
            self.plan_text.setText("Choose what the judge should do: check it against your votes, rate the "
                                   "rounds you did not vote on, or both.")
            return
        self.plan_text.setText("Counting the pairs…")
        generation, services = self._generation, self.services
        self._inbox.run("judge-plan", lambda: plan(services, req),
                        lambda result, error: self._planned(generation, result, error), lane="judge-plan")

    def _planned(self, generation: int, result: JudgePlan | None, error: Exception | None) -> None:
        if generation != self._generation or self._running is not None:
            return  # the settings changed meanwhile: a newer count is on its way
        if isinstance(error, JudgeSetupError):
            self.plan_text.setText(str(error))
            return
        if error is not None:
            self.plan_text.setText(f"The judge cannot start ({type(error).__name__}: {error}). Pick another model, "
                                   "or check it in the library or Settings → Connections.")
            return
        self._plan = result
        self.plan_text.setText(result.describe())
        self._show_warnings(result.warnings())
        self.run_button.setEnabled(result.total > 0)

    def _show_warnings(self, lines: list[str]) -> None:
        self.warning_text.setText("\n".join(lines))
        self.warning_text.setVisible(bool(lines))
        self._fit()

    def _fit(self) -> None:
        """Grow to show every line of the plan, warnings and result at the present width (wrapped
        labels do not grow a dialog by themselves: the form's rows would be squeezed instead)."""
        layout = self.layout()
        need = layout.heightForWidth(self.width()) if layout.hasHeightForWidth() else layout.sizeHint().height()
        if need > self.height():
            self.resize(self.width(), need)

    # -- running ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._running is not None

    def start(self) -> None:
        if self._plan is None or self._running is not None:
            return
        self._running = run = self._plan
        self._plan = None
        self._stopping = False
        self.result_text.setText("")
        self._progress(0, run.total)
        self._show_running(True)
        post = self._inbox.post
        self._inbox.run("judge", lambda: run.run(on_progress=lambda done, total: post(self._progress, done, total)),
                        self._ran)

    def cancel(self) -> None:
        """Stop after the pair being judged; what was judged is saved already."""
        if self._running is None:
            return
        self._running.cancel()
        self._stopping = True
        self.cancel_button.setEnabled(False)
        self._show_count("stopping…")

    def _progress(self, done: int, total: int) -> None:
        if self._running is None:
            return
        self.progress_bar.setRange(0, max(1, total))
        self.progress_bar.setValue(done)
        self._count = (done, total)
        text = self._show_count("stopping…" if self._stopping else "")
        self.progressed.emit(text)

    def _show_count(self, state: str) -> str:
        done, total = self._count
        text = f"{done} / {total} pairs" + (f" — {state}" if state else "")
        # As wide as the longest count this run can show from the start, so the bar beside it keeps
        # its width when "— stopping…" is added (it used to shrink to make room).
        widest = f"{total} / {total} pairs — stopping…"
        self.progress_text.setMinimumWidth(self.progress_text.fontMetrics().horizontalAdvance(widest) + 4)
        self.progress_text.setText(text)
        return text

    def _ran(self, outcome: JudgeOutcome | None, error: Exception | None) -> None:
        self._running = None
        if self._stopping or error is not None:  # "stopping…" would stay on after the run ended
            self._show_count("stopped")
        self._stopping = False
        self._show_running(False)
        if error is not None:
            line = (f"The judge stopped: {type(error).__name__}: {error}. The pairs judged before it stopped "
                    "are kept.")
        else:
            line = outcome.line()
            if outcome.failed_only:
                line += (" Nothing was judged: check that the model still loads (the library) or that the "
                         "server answers and its key is set (Settings → Connections).")
            elif outcome.unparseable:
                line += (" Those pairs are tried again by the next run: a longer reply length or a chat model "
                         "as judge may help.")
        self.result_text.setText(line)
        self._fit()
        self.runFinished.emit(line)
        self.replan()  # what is left to judge now

    def _show_running(self, on: bool) -> None:
        for w in (self.model, self.calibrate, self.rate, self.category, self.limit, self.max_tokens):
            w.setEnabled(not on)
        self.run_button.setEnabled(False if on else self._plan is not None)
        self.cancel_button.setEnabled(on)
        self.progress_bar.setVisible(on or bool(self.progress_text.text()))

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Block until the workers end (for shutdown and tests)."""
        return self._inbox.wait_idle(timeout_s)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self.clear_progress()  # opened again: the last run's count is history (the tab keeps its line)
        super().showEvent(event)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self.cancel()  # a run does not go on unseen; what it judged is kept
        super().closeEvent(event)

    def reject(self) -> None:  # Escape
        self.cancel()
        super().reject()
