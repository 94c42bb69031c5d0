"""Suites in the window: run a suite against 2–4 models (progress, ETA, pause), rate the
answers blind in a queue, and read the leaderboard per category.

Widgets only: suites, runs, the queue and the ratings are the core's (suites.py,
suite_runner.py, rating_queue.py, ratings.py). The runner's callbacks arrive on worker
threads and reach the widgets through an Inbox; nothing here touches a widget from a worker.
"""
from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QGridLayout, QHBoxLayout, QLabel,
    QMessageBox, QPlainTextEdit, QProgressBar, QPushButton, QSpinBox, QTableView, QTableWidget, QTableWidgetItem,
    QVBoxLayout, QWidget,
)

from typing import TYPE_CHECKING

from ..core.engines.registry import ModelChoice
from ..core.services import Services
from ..core.store.suite_runs import SuiteRuns
from ..core.suite_runner import (
    API_LIMIT, MAX_CONTESTANTS, Progress, RunBusy, SuiteRunner, estimate_cost, estimate_plan_cost, plan_run,
)
from ..core.suites import SuiteError, SuiteLibrary, parse
from .inbox import Inbox
from .rating_bar import RatingBar

if TYPE_CHECKING:
    from ..core import ratings
    from ..core.rating_queue import QueuePair, RatingQueue

# ratings, the rating queue and the leaderboard model (numpy, QtCharts), and the report writer
# are imported where they are used, so opening one dialog does not pay for the others. The
# window's Tools entries are built by suite_menu.py, which imports this module on first use.

NOBODY = "—"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def suite_library(services: Services) -> SuiteLibrary:
    return SuiteLibrary(services.folders.data / "suites")


def run_title(runs: SuiteRuns, run) -> str:
    c = runs.counts(run.id)
    who = " vs ".join(p["label"] for p in run.contestants)
    return f"Run {run.id}: {run.suite} — {who} ({c.finished}/{c.total}, {run.status})"


# -- running a suite -------------------------------------------------------------------------

class SuiteRunDialog(QDialog):
    """Pick a suite and 2–4 models, see the cost estimate, run with a progress bar and ETA."""

    runFinished = Signal(int)  # run id

    def __init__(self, services: Services, model_items: list[tuple[str, str]], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Run a prompt suite — ArenaDesk")
        self.resize(720, 460)
        self.services = services
        self.library = suite_library(services)
        self.runs = SuiteRuns(services.store)
        self.runner: SuiteRunner | None = None
        self._inbox = Inbox(self, interval_ms=100)

        root = QVBoxLayout(self)
        form = QFormLayout()
        row = QHBoxLayout()
        self.suite = QComboBox(self)
        self.suite.setObjectName("suitePicker")
        self.suite.currentIndexChanged.connect(self._describe_suite)
        row.addWidget(self.suite, 1)
        for text, slot in (("Edit…", self.edit_suite), ("Import…", self.import_suite), ("Export…", self.export_suite)):
            b = QPushButton(text, self)
            b.clicked.connect(slot)
            row.addWidget(b)
        form.addRow("Suite:", row)
        self.suite_info = QLabel(self)
        self.suite_info.setWordWrap(True)
        form.addRow("", self.suite_info)
        self.pickers: list[QComboBox] = []
        for n in range(MAX_CONTESTANTS):
            box = QComboBox(self)
            box.setObjectName(f"contestant{n}")
            if n >= 2:
                box.addItem(NOBODY, None)
            for label, choice in model_items:
                if choice != "-":
                    box.addItem(label, choice)
            if n < 2 and box.count() > n:
                box.setCurrentIndex(n)
            box.currentIndexChanged.connect(self._estimate)
            self.pickers.append(box)
            form.addRow(f"Model {n + 1}:" if n < 2 else f"Model {n + 1} (optional):", box)
        self.parallel = QSpinBox(self)
        self.parallel.setObjectName("suiteParallel")
        self.parallel.setRange(1, 16)
        self.parallel.setValue(API_LIMIT)
        self.parallel.setToolTip("API requests in flight at once. A local OpenAI-compatible server such as "
                                 "llama_cpp.server answers one at a time (a new request cuts the one it is "
                                 "answering): set 1 for those.")
        form.addRow("API requests at once:", self.parallel)
        self.estimate = QLabel(self)
        self.estimate.setObjectName("suiteEstimate")
        self.estimate.setWordWrap(True)
        form.addRow("Cost:", self.estimate)
        root.addLayout(form)

        self.previous = QComboBox(self)
        self.previous.setObjectName("previousRuns")
        prev_row = QHBoxLayout()
        prev_row.addWidget(QLabel("Or carry on a run:", self))
        prev_row.addWidget(self.previous, 1)
        self.resume_button = QPushButton("Resume", self)
        self.resume_button.clicked.connect(self.resume_selected)
        prev_row.addWidget(self.resume_button)
        self.report_button = QPushButton("Report…", self)
        self.report_button.clicked.connect(self.export_report)
        prev_row.addWidget(self.report_button)
        root.addLayout(prev_row)

        self.bar = QProgressBar(self)
        self.bar.setObjectName("suiteProgress")
        root.addWidget(self.bar)
        self.status = QLabel("Pick a suite and two to four models, then Start.", self)
        self.status.setObjectName("suiteStatus")
        self.status.setWordWrap(True)
        root.addWidget(self.status)
        self.current = QLabel(self)
        self.current.setWordWrap(True)
        self.current.setStyleSheet("color: palette(mid);")
        root.addWidget(self.current)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start", self)
        self.start_button.setObjectName("startSuite")
        self.start_button.clicked.connect(self.start)
        self.pause_button = QPushButton("Pause", self)
        self.pause_button.setObjectName("pauseSuite")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.clicked.connect(self.stop)
        for b in (self.start_button, self.pause_button, self.stop_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        close = QPushButton("Close", self)
        close.clicked.connect(self.hide)
        buttons.addWidget(close)
        root.addLayout(buttons)
        self.reload()
        self._set_running(False)

    # -- lists -----------------------------------------------------------------------------------
    def reload(self, select: str | None = None) -> None:
        current = select or self.suite.currentText()
        self.suite.blockSignals(True)
        self.suite.clear()
        self.suite.addItems(self.library.names())
        if current and self.suite.findText(current) >= 0:
            self.suite.setCurrentIndex(self.suite.findText(current))
        self.suite.blockSignals(False)
        self._describe_suite()
        self.previous.clear()
        for run in self.runs.runs():
            self.previous.addItem(run_title(self.runs, run), run.id)
        self.resume_button.setEnabled(self.previous.count() > 0)
        self.report_button.setEnabled(self.previous.count() > 0)

    def _describe_suite(self) -> None:
        name = self.suite.currentText()
        if not name:
            self.suite_info.setText("")
            return
        try:
            s = self.library.load(name)
        except SuiteError as exc:
            self.suite_info.setText(f"This suite cannot be read: {exc}")
            return
        self.suite_info.setText(f"{plural(len(s.items), 'prompt')} ({plural(s.n_answers, 'answer')} per model); "
                                f"categories: {', '.join(s.categories)}")
        self._estimate()

    def choices(self) -> list[ModelChoice]:
        out = []
        for box in self.pickers:
            value = box.currentData()
            if value:
                out.append(ModelChoice.parse(value))
        return out

    def _estimate(self) -> None:
        try:
            suite = self.library.load(self.suite.currentText())
        except SuiteError:
            return
        self.estimate.setText(estimate_plan_cost(suite, self.choices(), self.services.prices,
                                                 self.services.settings.sampling,
                                                 self.services.settings.system_prompt).describe())

    # -- suite files -----------------------------------------------------------------------------
    def edit_suite(self) -> None:
        name = self.suite.currentText()
        try:
            suite = self.library.load(name)
        except SuiteError as exc:
            QMessageBox.warning(self, "ArenaDesk", str(exc))
            return
        editor = SuiteEditor(suite.name if name != "starter" else "my suite", suite.to_jsonl(), self)
        if editor.exec() != QDialog.Accepted or editor.suite is None:
            return
        try:
            self.library.save(editor.suite)
        except (SuiteError, OSError) as exc:
            QMessageBox.warning(self, "ArenaDesk", f"The suite was not saved: {exc}")
            return
        self.reload(select=editor.suite.name)

    def import_suite(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a prompt suite", "", "JSONL suites (*.jsonl);;All files (*)")
        if not path:
            return
        try:
            suite = self.library.import_file(path)
        except (SuiteError, OSError) as exc:
            QMessageBox.warning(self, "ArenaDesk", f"The suite was not imported: {exc}")
            return
        self.reload(select=suite.name)
        self.status.setText(f"Imported {suite.name!r}: {len(suite.items)} prompts.")

    def export_suite(self) -> None:
        name = self.suite.currentText()
        path, _ = QFileDialog.getSaveFileName(self, "Export the suite", f"{name}.jsonl", "JSONL (*.jsonl)")
        if not path:
            return
        try:
            n = self.library.export(name, path)
        except (SuiteError, OSError) as exc:
            QMessageBox.warning(self, "ArenaDesk", f"The suite was not exported: {exc}")
            return
        self.status.setText(f"Exported {n} prompts to {path}.")

    def export_report(self) -> None:
        run_id = self.previous.currentData()
        if run_id is None:
            return
        path, kind = QFileDialog.getSaveFileName(self, "Export a report", f"suite-run-{run_id}.html",
                                                 "Web page (*.html);;Markdown (*.md)")
        if not path:
            return
        fmt = "md" if path.endswith(".md") or kind.startswith("Markdown") else "html"
        try:
            from ..core import report

            report.write(report.run_report(self.services.store, run_id), fmt, path)
        except OSError as exc:
            QMessageBox.warning(self, "ArenaDesk", f"The report was not written: {exc.strerror or exc}")
            return
        self.status.setText(f"Report written to {path}.")

    # -- running ---------------------------------------------------------------------------------
    def start(self) -> None:
        choices = self.choices()
        if len(choices) < 2:
            QMessageBox.information(self, "ArenaDesk", "Pick at least two models.")
            return
        if len(set(choices)) != len(choices):
            QMessageBox.information(self, "ArenaDesk", "Pick each model once.")
            return
        from ..core.connections import key_problem

        problem = key_problem(self.services, choices)
        if problem:
            QMessageBox.information(self, "ArenaDesk", problem)
            return
        try:
            suite = self.library.load(self.suite.currentText())
            run_id = plan_run(self.services.store, suite, choices, self.services.settings.sampling,
                              self.services.settings.system_prompt)
        except (SuiteError, ValueError) as exc:
            QMessageBox.warning(self, "ArenaDesk", str(exc))
            return
        cost = estimate_cost(self.runs.run(run_id), self.services.prices)
        if cost.api_answers and not self._confirm_cost(cost.describe()):
            self.runs.delete(run_id)
            return
        self.run(run_id)

    def _confirm_cost(self, text: str) -> bool:
        answer = QMessageBox.question(self, "Start the run?", text + "\n\nStart the run?")
        return answer == QMessageBox.Yes

    def resume_selected(self) -> None:
        run_id = self.previous.currentData()
        if run_id is not None:
            self.run(run_id)

    def run(self, run_id: int) -> None:
        if self.runner is not None and self.runner.running:
            QMessageBox.information(self, "ArenaDesk", "A run is in progress; stop it first.")
            return
        self.runner = SuiteRunner(self.services.store, self.services.prices, self.services.engines, run_id,
                                  api_limit=self.parallel.value(), on_change=lambda p: self._inbox.post(self._show, p))
        try:
            self.runner.start()
        except RunBusy as exc:
            QMessageBox.information(self, "ArenaDesk", str(exc))
            self.runner = None
            return
        self._set_running(True)

    def toggle_pause(self) -> None:
        if self.runner is None:
            return
        if self.runner.state == "paused":
            self.runner.resume()
        else:
            self.runner.pause()

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()

    def shutdown(self) -> None:
        """The app is closing: stop the run (it resumes next time) and wait briefly for its answers."""
        if self.runner is not None and self.runner.running:
            self.runner.stop()
            self.runner.wait(10)
        self._inbox.close()

    def _set_running(self, on: bool) -> None:
        self.start_button.setEnabled(not on)
        self.resume_button.setEnabled(not on and self.previous.count() > 0)
        self.pause_button.setEnabled(on)
        self.stop_button.setEnabled(on)
        self.pause_button.setText("Pause")

    def _show(self, p: Progress) -> None:
        if self.runner is None or p.run_id != self.runner.run_id:
            return
        self.bar.setRange(0, max(1, p.total))
        self.bar.setValue(p.finished)
        self.status.setText(p.describe())
        self.current.setText(("Answering: " + "; ".join(p.current)) if p.current and p.state == "running" else "")
        self.pause_button.setText("Resume" if p.state == "paused" else "Pause")
        if p.state in ("done", "stopped"):
            self._set_running(False)
            if p.state == "done":
                self.status.setText(p.describe() + ". Rate the answers in Tools → Rating queue.")
            self.reload()
            self.runFinished.emit(p.run_id)


class SuiteEditor(QDialog):
    """Edit a suite as JSONL text; it is checked (and the wrong line named) before saving."""

    def __init__(self, name: str, text: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Edit suite — ArenaDesk")
        self.resize(820, 560)
        self.suite = None
        root = QVBoxLayout(self)
        form = QFormLayout()
        from PySide6.QtWidgets import QLineEdit

        self.name = QLineEdit(name, self)
        form.addRow("Name:", self.name)
        root.addLayout(form)
        root.addWidget(QLabel('One prompt a line: {"id": "…", "category": "…", "turns": ["…"], "reference": ["…"]}', self))
        self.text = QPlainTextEdit(text, self)
        self.text.setLineWrapMode(QPlainTextEdit.NoWrap)
        root.addWidget(self.text, 1)
        self.error = QLabel(self)
        self.error.setStyleSheet("color: #b00;")
        self.error.setWordWrap(True)
        root.addWidget(self.error)
        box = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel, self)
        box.accepted.connect(self._save)
        box.rejected.connect(self.reject)
        root.addWidget(box)

    def _save(self) -> None:
        from ..core.suites import check_name

        try:
            name = check_name(self.name.text().strip())
            self.suite = parse(self.text.toPlainText(), name)
        except SuiteError as exc:
            self.error.setText(str(exc))
            return
        self.accept()


# -- the rating queue ------------------------------------------------------------------------

class RatingQueueDialog(QDialog):
    """Two answers at a time, blind, sides shuffled; the window's keys (1/← left, 2/→ right,
    3 tie, 4 both bad), S skip, Ctrl+Z undo. The next pair is the least certain comparison."""

    def __init__(self, services: Services, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Rating queue — ArenaDesk")
        self.resize(1100, 720)
        self.services = services
        self.runs = SuiteRuns(services.store)
        self.queue: RatingQueue | None = None
        self.pair: QueuePair | None = None

        root = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Run:", self))
        self.run_picker = QComboBox(self)
        self.run_picker.setObjectName("queueRun")
        self.run_picker.currentIndexChanged.connect(self._pick_run)
        top.addWidget(self.run_picker, 1)
        self.progress = QLabel(self)
        self.progress.setObjectName("queueProgress")
        top.addWidget(self.progress)
        root.addLayout(top)
        self.heading = QLabel(self)
        self.heading.setObjectName("queueHeading")
        self.heading.setWordWrap(True)
        root.addWidget(self.heading)
        self.turns = QWidget(self)
        self.grid = QGridLayout(self.turns)
        self.grid.setContentsMargins(0, 0, 0, 0)
        root.addWidget(self.turns, 1)
        self.bar = RatingBar(self)
        self.bar.note.setClearButtonEnabled(True)
        self.bar.set_panes(2)
        self.bar.voted.connect(self._voted)
        root.addWidget(self.bar)
        row = QHBoxLayout()
        self.skip_button = QPushButton("Skip (S)", self)
        self.skip_button.clicked.connect(self.skip)
        self.undo_button = QPushButton("Undo (Ctrl+Z)", self)
        self.undo_button.clicked.connect(self.undo)
        row.addWidget(self.skip_button)
        row.addWidget(self.undo_button)
        self.status = QLabel(self)
        self.status.setObjectName("queueStatus")
        self.status.setWordWrap(True)
        row.addWidget(self.status, 1)
        root.addLayout(row)
        for key, slot in (("S", self.skip), (QKeySequence.Undo, self.undo)):
            QShortcut(QKeySequence(key), self, context=Qt.WindowShortcut).activated.connect(slot)
        self.answers: list[QPlainTextEdit] = []
        self.reload()

    def reload(self) -> None:
        keep = self.run_picker.currentData()
        self.run_picker.blockSignals(True)
        self.run_picker.clear()
        for run in self.runs.runs():
            self.run_picker.addItem(run_title(self.runs, run), run.id)
        if keep is not None and self.run_picker.findData(keep) >= 0:
            self.run_picker.setCurrentIndex(self.run_picker.findData(keep))
        self.run_picker.blockSignals(False)
        self._pick_run()

    def _pick_run(self) -> None:
        run_id = self.run_picker.currentData()
        if run_id is None:
            self.queue = None
            self._show(None)
            self.heading.setText("No suite runs yet: run a suite first (Tools → Run a suite…).")
            return
        if self.queue is None or self.queue.run_id != run_id:
            from ..core.rating_queue import RatingQueue

            self.queue = RatingQueue(self.services.store, run_id)
        self._show(self.queue.next())

    def _show(self, pair: QueuePair | None) -> None:
        self.pair = pair
        for w in self.answers:
            w.deleteLater()
        self.answers = []
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self.bar.reset()
        self.bar.set_open(pair is not None)
        self.skip_button.setEnabled(pair is not None)
        self.undo_button.setEnabled(bool(self.queue and self.queue.can_undo))
        if self.queue is not None:
            rated, total = self.queue.counts()
            self.progress.setText(f"{rated} of {total} pairs rated")
        if pair is None:
            if self.queue is not None:
                self.heading.setText("Nothing left to rate in this run. The votes are on your leaderboard "
                                     "(Tools → Leaderboard, and per category).")
            return
        self.heading.setText(f"Prompt {pair.item_id} · {pair.category}: which answer is better? "
                             "(1 or ← left, 2 or → right, 3 tie, 4 both bad, S skip)")
        for t, (prompt, left, right) in enumerate(pair.turns):
            label = QLabel(("Turn %d: " % (t + 1) if len(pair.turns) > 1 else "") + prompt, self.turns)
            label.setWordWrap(True)
            label.setTextFormat(Qt.PlainText)  # prompts come from files: never rendered as HTML
            label.setObjectName("queuePrompt")
            self.grid.addWidget(label, 2 * t, 0, 1, 2)
            for col, (title, text) in enumerate((("Answer A (left)", left), ("Answer B (right)", right))):
                box = QPlainTextEdit(self.turns)
                box.setReadOnly(True)
                box.setPlainText(text)
                box.setObjectName("queueAnswer")
                box.setToolTip(title)
                box.setFocusPolicy(Qt.NoFocus)  # keys stay with the dialog's shortcuts
                self.grid.addWidget(box, 2 * t + 1, col)
                self.answers.append(box)

    def _voted(self, outcome: str, _best) -> None:
        if self.pair is None or self.queue is None:
            return
        pair = self.pair
        self.queue.vote(pair, outcome, note=self.bar.note.text())
        names = {c: p["label"] for c, p in enumerate(self.runs.run(pair.run_id).contestants)}
        self.status.setText(f"Saved. Left was {names[pair.left]}, right was {names[pair.right]}.")
        self._show(self.queue.next())

    def skip(self) -> None:
        if self.pair is not None and self.queue is not None:
            self.queue.skip(self.pair)
            self.status.setText("Skipped; it comes back when the rest are rated.")
            self._show(self.queue.next())

    def undo(self) -> None:
        if self.queue is None:
            return
        pair = self.queue.undo()
        if pair is not None:
            self.status.setText("Vote taken back.")
            self._show(pair)


# -- per-category leaderboard ----------------------------------------------------------------

class CategoryBoardDialog(QDialog):
    """A category selector with that category's leaderboard, and a table of every model's
    rating (95% interval) per category."""

    ALL = "All categories"

    def __init__(self, services: Services, parent=None, rounds: int = 1000):
        super().__init__(parent)
        self.setWindowTitle("Leaderboard by category — ArenaDesk")
        self.resize(900, 620)
        self.services, self.rounds = services, rounds
        self.boards: dict[str, ratings.Board] = {}
        self._inbox = Inbox(self, interval_ms=50)
        root = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(QLabel("Category:", self))
        self.category = QComboBox(self)
        self.category.setObjectName("categoryPicker")
        self.category.currentIndexChanged.connect(self._show_category)
        row.addWidget(self.category, 1)
        root.addLayout(row)
        from .leaderboard import LeaderboardModel

        self.model = LeaderboardModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.horizontalHeader().setStretchLastSection(True)
        root.addWidget(self.table, 1)
        self.verdict = QLabel(self)
        self.verdict.setWordWrap(True)
        self.verdict.setTextFormat(Qt.PlainText)  # model names are the user's and the servers'
        root.addWidget(self.verdict)
        root.addWidget(QLabel("Each model's rating per category (95% interval):", self))
        self.matrix = QTableWidget(self)
        self.matrix.setObjectName("categoryMatrix")
        self.matrix.setEditTriggers(QTableWidget.NoEditTriggers)
        root.addWidget(self.matrix, 1)
        self.status = QLabel(self)
        root.addWidget(self.status)

    def refresh(self) -> None:
        self.status.setText("Computing…")
        store, rounds = self.services.store, self.rounds

        def work():
            from ..core import ratings

            battles = store.battle_columns()  # the fast path: the battles as arrays
            boards = {self.ALL: ratings.leaderboard(battles, rounds=rounds)}
            boards.update(ratings.by_category(battles, rounds=rounds, tagged_rounds=store.tagged_rounds()))
            return boards

        self._inbox.run("category-board", work, self._computed)

    def _computed(self, boards, error) -> None:
        if error is not None:
            self.status.setText(f"The leaderboard could not be computed: {error}")
            return
        self.boards = boards
        keep = self.category.currentText()
        self.category.blockSignals(True)
        self.category.clear()
        self.category.addItems(list(boards))
        if keep and self.category.findText(keep) >= 0:
            self.category.setCurrentIndex(self.category.findText(keep))
        self.category.blockSignals(False)
        self._show_category()
        from ..core import ratings

        per_category = {k: v for k, v in boards.items() if k != self.ALL}
        labels, categories, cells = ratings.category_matrix(per_category)
        self.matrix.clear()
        self.matrix.setRowCount(len(labels))
        self.matrix.setColumnCount(len(categories))
        self.matrix.setHorizontalHeaderLabels(categories)
        self.matrix.setVerticalHeaderLabels(labels)
        for i, label in enumerate(labels):
            for j, cat in enumerate(categories):
                r = cells.get((label, cat))
                text = "" if r is None else (
                    f"{r.rating:.0f} ({ratings.format_ci(r)})" if math.isfinite(r.lower) else f"{r.rating:.0f}")
                item = QTableWidgetItem(text)
                if r is not None:
                    item.setToolTip(f"{label} in {cat}: {r.battles} battles")
                self.matrix.setItem(i, j, item)
        self.matrix.resizeColumnsToContents()
        self.status.setText("" if per_category else "No votes yet.")

    def _show_category(self) -> None:
        board = self.boards.get(self.category.currentText())
        self.model.set_rows(board.rows if board else [])
        self.verdict.setText(board.verdict if board else "")
        self.table.resizeColumnsToContents()
