"""The personal leaderboard: filters, the ratings table, an interval chart, the win-rate
heatmap, rating over time, position bias, a plain-words verdict, exports and import.

Layout and wiring only. The numbers come from `core.ratings` and the files from
`core.exports`; both run off the GUI thread, one job at a time in order (the Inbox's
"leaderboard" lane, ui/inbox.py, the one way workers report back) because a 1,000-round
bootstrap over many votes takes longer than a frame. No SQL here: the store's own methods
are called.

Model names come from other machines' exports and from servers, so they are untrusted text:
labels are set as plain text, tooltips and chart labels (which Qt renders as HTML when they
look like it) are escaped, and explicit direction controls are dropped (see core/untrusted.py).
"""
from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCharts import (
    QBarCategoryAxis,
    QBoxPlotSeries,
    QBoxSet,
    QChart,
    QChartView,
    QDateTimeAxis,
    QLineSeries,
    QValueAxis,
)
from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QDate,
    QDateTime,
    QModelIndex,
    QSize,
    Qt,
    QTime,
    QTimer,
    Signal,
    Slot,
)
from PySide6 import QtGui
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QTabWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core import exports, judge, ratings, verdict
from ..core.names import short_names
from ..core.untrusted import as_html, without_bidi_overrides
from .inbox import Inbox


def shown(text: str) -> str:
    """Untrusted text (a model name) as a plain-text widget shows it."""
    return without_bidi_overrides(text)


def tooltip(text: str) -> str:
    """A tooltip that shows `text` as it is. Qt renders a tooltip as HTML when it looks like
    HTML, so such text is escaped inside markup of our own, its line breaks kept."""
    text = shown(text)
    if not QtGui.Qt.mightBeRichText(text):  # the Qt namespace of QtGui holds this one
        return text
    return f"<p style='white-space:pre-wrap'>{as_html(text)}</p>"

ALL_TAGS = "All prompts"
MAX_HISTORY_LINES = 10  # the rating-over-time chart shows the top models only
EXPORTS = [
    ("csv", "CSV…", "CSV (*.csv)", "arenadesk-votes.csv", "One row per vote, safe to open in a spreadsheet"),
    ("jsonl", "JSONL…", "JSON Lines (*.jsonl)", "arenadesk-export.jsonl",
     "Everything (conversations, answers, metrics, votes), to import on another machine"),
    ("fastchat", "FastChat…", "JSON (*.json)", "clean_battle_arenadesk.json",
     "FastChat's clean-battle JSON, for the public arena's analysis scripts"),
    ("pairs", "Preference pairs…", "JSON Lines (*.jsonl)", "arenadesk-preference-pairs.jsonl",
     "prompt / chosen / rejected pairs for DPO fine-tuning (decisive votes only)"),
]


@dataclass(frozen=True)
class Filters:
    since: float | None = None  # unix seconds, inclusive
    until: float | None = None  # exclusive
    blind_only: bool = False
    tag: str | None = None
    include_ties: bool = True
    with_judge: bool = False  # the judge's verdicts on rounds you did not vote on join the board

    def store_filters(self) -> dict:
        return {"since": self.since, "until": self.until, "blind_only": self.blind_only, "tag": self.tag}

    def describe(self) -> str:
        """The filters in words, for a verdict that says when they matched nothing."""
        parts = [f"tag {self.tag!r}"] if self.tag else []
        if self.blind_only:
            parts.append("blind only")
        if self.since is not None or self.until is not None:
            parts.append("the chosen dates")
        return ", ".join(parts)


@dataclass
class JudgePanel:
    """What the "Judge & switch" tab shows, computed off the GUI thread with the board."""

    contestants: list[verdict.Contestant]
    switch: verdict.SwitchVerdict | None
    switch_problem: str  # why there is no verdict (plain words), when there is none
    calibration: judge.Calibration | None
    judge_board: ratings.Board | None
    judged_in_board: int  # the judge's verdicts counted in the main board (0 unless switched on)


def judge_panel(store, *, local_ref: str | None, api_ref: str | None, energy: verdict.Energy, rounds: int,
                seed: int, with_judge: bool, judged_in_board: int = 0, mine=None,
                board: ratings.Board | None = None) -> JudgePanel:
    """The verdict for the chosen pair (or the pair with most votes) and the judge's series.
    mine: every vote of the user's as store.battle_columns() gives it, when the caller has read
    it; board: the leaderboard of those votes (with the judge's when with_judge), ties counted."""
    mine = store.battle_columns() if mine is None else mine
    people = verdict.contestants(store, mine)
    switch, problem = None, ""
    try:
        battles = judge.with_judge(mine, store) if with_judge else mine
        switch = verdict.switch_verdict(store, local_ref, api_ref, energy=energy, battles=battles, rounds=rounds,
                                        seed=seed, people=people, board=board)
    except ValueError as exc:
        problem = str(exc)
    ref = judge.latest_judge(store)
    cal = judge.calibration(store, ref) if ref else None
    jb = ratings.leaderboard(judge.battles(store, ref), rounds=rounds, seed=seed) if ref else None
    return JudgePanel(people, switch, problem, cal, jb, judged_in_board)


# -- models ------------------------------------------------------------------------------------

class LeaderboardModel(QAbstractTableModel):
    """The ratings table: Rank, Model, Rating, 95% CI, Battles (Qt.UserRole gives the ModelRating)."""

    HEADERS = ("Rank", "Model", "Rating", "95% CI", "Battles")

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[ratings.ModelRating] = []

    def set_rows(self, rows: list[ratings.ModelRating]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[ratings.ModelRating]:
        return list(self._rows)

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):  # noqa: N802
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        r = self._rows[index.row()]
        col = index.column()
        if role == Qt.DisplayRole:
            return [str(r.rank), shown(r.label), f"{r.rating:.0f}", ratings.format_ci(r), str(r.battles)][col]
        if role == Qt.ToolTipRole:
            if col == 3 and math.isfinite(r.lower):
                return (f"95% interval {r.lower:.0f}–{r.upper:.0f} "
                        f"({r.lower - r.rating:+.0f} / {r.upper - r.rating:+.0f})")
            few = (f"\nOnly {r.battles} battles: a rough guess" if r.battles < ratings.MIN_BATTLES_PER_MODEL else "")
            return tooltip(f"{r.label}\n{r.ref}{few}")
        if role == Qt.TextAlignmentRole:
            return int(Qt.AlignVCenter | (Qt.AlignLeft if col == 1 else Qt.AlignRight))
        if role == Qt.ForegroundRole and r.battles < ratings.MIN_BATTLES_PER_MODEL:
            # Too few battles: a rough guess, shown dimmer, in the theme's own dim colour (a fixed
            # grey was unreadable on the dark theme's base).
            return QApplication.palette().color(QPalette.PlaceholderText)
        if role == Qt.UserRole:
            return r
        return None


class WinRateModel(QAbstractTableModel):
    """The win-rate matrix as a heatmap: cell (i, j) = share of i's battles against j that i won."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.labels: list[str] = []
        self.rates = None
        self.counts = None

    def set_board(self, board: ratings.Board | None) -> None:
        self.beginResetModel()
        if board is None or not board.rows:
            self.labels, self.rates, self.counts = [], None, None
        else:
            self.labels, self.rates, self.counts = board.labels, board.win_rate, board.battle_counts
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.labels)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.labels)

    def headerData(self, section, orientation, role=Qt.DisplayRole):  # noqa: N802
        if role in (Qt.DisplayRole, Qt.ToolTipRole):
            label = shown(self.labels[section])
            if role == Qt.ToolTipRole:
                return tooltip(label)
            return short_names([shown(t) for t in self.labels], lambda t: len(t) <= HEADER_CHARS)[section]
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or self.rates is None:
            return None
        i, j = index.row(), index.column()
        rate = self.rates[i, j]
        known = not math.isnan(rate)
        if role == Qt.DisplayRole:
            return f"{rate:.0%}" if known else ""
        if role == Qt.BackgroundRole:
            return heat_colour(rate) if known else QColor("#f2f2f2")
        if role == Qt.ForegroundRole:
            return QColor("#111111")
        if role == Qt.TextAlignmentRole:
            return int(Qt.AlignCenter)
        if role == Qt.ToolTipRole:
            if i == j:
                return None
            n = int(round(self.counts[i, j]))
            if not known:
                return tooltip(f"{self.labels[i]} has not met {self.labels[j]}")
            return tooltip(f"{self.labels[i]} won {rate:.0%} of {n} battles against {self.labels[j]} (ties count half)")
        return None


SWITCH_HEADERS = ("Category", "Local ≥ API (95% CI)", "Head to head", "Cost per answer (local / API)",
                  "Saving a month", "Verdict")
SWITCH_WORDS = {"yes": "Yes: switch", "no": "No: the API model is better", "close": "About as good",
                "unsure": "Not clear yet", "too_few": "Too few votes"}


def _usd(x: float | None) -> str:
    if x is None:
        return "unknown"
    return "$0" if x == 0 else f"${x:.3g}"


def _plain_label(text: str) -> QLabel:
    """A wrapping label that never reads its text as HTML (model names and replies are model text)."""
    label = QLabel(text)
    label.setTextFormat(Qt.PlainText)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    return label


def heat_colour(rate: float) -> QColor:
    """Red (0%) through white (50%) to blue (100%), as FastChat's RdBu heatmap."""
    rate = min(1.0, max(0.0, rate))
    red, white, blue = (214, 96, 77), (247, 247, 247), (67, 147, 195)
    lo, hi, t = (red, white, rate * 2) if rate < 0.5 else (white, blue, (rate - 0.5) * 2)
    return QColor(*(int(a + (b - a) * t) for a, b in zip(lo, hi)))


# -- figures -----------------------------------------------------------------------------------

class PositionBiasBar(QWidget):
    """Share of blind two-pane votes with a winner won by the left side, with its 95% interval, against 50%."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.bias: ratings.PositionBias | None = None
        self.setMinimumHeight(64)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(420, 64)

    def set_bias(self, bias: ratings.PositionBias | None) -> None:
        self.bias = bias
        self.setToolTip(tooltip(bias.verdict) if bias else "")
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        pal = self.palette()
        m = 16
        w = self.width() - 2 * m
        y = self.height() // 2
        x_of = lambda share: m + share * w  # noqa: E731
        p.setPen(QPen(pal.mid().color(), 6, Qt.SolidLine, Qt.RoundCap))
        p.drawLine(m, y, m + w, y)
        p.setPen(QPen(pal.text().color(), 1, Qt.DashLine))
        p.drawLine(int(x_of(0.5)), y - 14, int(x_of(0.5)), y + 14)
        p.setPen(pal.text().color())
        p.drawText(m, y + 28, "right side always")
        p.drawText(int(x_of(0.5)) - p.fontMetrics().horizontalAdvance("50%") // 2, y + 28, "50%")
        text = "left side always"
        p.drawText(m + w - p.fontMetrics().horizontalAdvance(text), y + 28, text)
        b = self.bias
        if b and b.share is not None:
            colour = QColor("#c0392b") if (b.decisive >= ratings.MIN_POSITION_BATTLES and
                                          (b.lower > 0.5 or b.upper < 0.5)) else QColor("#2e86c1")
            p.setPen(QPen(colour, 3, Qt.SolidLine, Qt.RoundCap))
            p.drawLine(int(x_of(b.lower)), y, int(x_of(b.upper)), y)
            p.drawLine(int(x_of(b.lower)), y - 6, int(x_of(b.lower)), y + 6)
            p.drawLine(int(x_of(b.upper)), y - 6, int(x_of(b.upper)), y + 6)
            p.setBrush(colour)
            p.drawEllipse(int(x_of(b.share)) - 5, y - 5, 10, 10)
            p.setPen(pal.text().color())
            p.drawText(int(x_of(b.share)) - 20, y - 12, f"{b.share:.0%} left")
        p.end()


def _new_chart(title: str) -> QChart:
    chart = QChart()
    chart.setTitle(title)
    chart.legend().setVisible(False)
    chart.setAnimationOptions(QChart.NoAnimation)
    return chart


def _clear(chart: QChart) -> None:
    chart.removeAllSeries()
    for axis in chart.axes():
        chart.removeAxis(axis)


HEADER_CHARS = 20  # a win-rate header's room, in characters
BOX_LEGEND = "Box: the middle 50% of the bootstrap's ratings · whiskers: the 95% interval · line: the rating"


def style_chart(chart: QChart, palette: QPalette) -> None:
    """The chart in the window's scheme: Qt's dark theme on a dark palette, on the palette's own
    base, so it is not a white panel in a dark window."""
    dark = palette.color(QPalette.Window).lightness() < 128
    chart.setTheme(QChart.ChartThemeDark if dark else QChart.ChartThemeLight)
    chart.setBackgroundBrush(palette.base())
    chart.setTitleBrush(palette.text())
    chart.legend().setLabelBrush(palette.text())


def fit_axis_labels(chart: QChart, labels: list[str]) -> list[str]:
    """Model names for the interval chart's axis, each shortened by the core's rule to the width
    its category has (Qt would otherwise cut the end off whatever it is given: "Gemma 3 27… (bui…"
    read as Gemma 3 27B). Long lists are set at an angle, which gives each name more room."""
    axes = [a for a in chart.axes(Qt.Horizontal) if isinstance(a, QBarCategoryAxis)]
    if not labels or not axes:
        return labels
    fm = QFontMetrics(axes[0].labelsFont())
    plot = chart.plotArea().width() or chart.size().width() * 0.8
    # Qt gives a horizontal label the axis's width over its label count (the categories and the
    # two ends), less its padding both sides and the text's margins (qtcharts' HorizontalAxis::
    # updateGeometry); measured on Xvfb: "SmolLM2-135M…Q4_1" was cut at plot / (n + 1).
    room = 150 if len(labels) > 4 else max(plot / (len(labels) + 2) - 14, 30)
    return short_names(labels, lambda t: fm.horizontalAdvance(t) <= room)


def _nice_axis(axis: QValueAxis, lo: float, hi: float, ticks: int = 6) -> None:
    """A range padded out to round numbers, ticks on them (10, 20, 25, 50, 100 … apart)."""
    span = max(hi - lo, 20.0)
    raw = span / (ticks - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start, stop = math.floor(lo / step) * step, math.ceil(hi / step) * step
    if stop - start < step:
        stop = start + step
    axis.setRange(start, stop)
    axis.setTickCount(int(round((stop - start) / step)) + 1)


def fill_interval_chart(chart: QChart, board: ratings.Board | None) -> None:
    """Each model as a box: whiskers = 95% interval, box = middle 50% of the bootstrap, line = rating."""
    _clear(chart)
    if board is None or not board.rows:
        return
    series = QBoxPlotSeries()
    series.setBoxWidth(0.35)
    boot = board.bootstrap
    import numpy as np

    lo_all, hi_all = [], []
    for k, r in enumerate(board.rows):
        lower = r.lower if math.isfinite(r.lower) else r.rating
        upper = r.upper if math.isfinite(r.upper) else r.rating
        if boot is not None and np.isfinite(boot[:, k]).any():
            q1, q3 = np.nanpercentile(boot[:, k], [25, 75])
        else:
            q1 = q3 = r.rating
        q1, q3 = min(q1, r.rating), max(q3, r.rating)
        series.append(QBoxSet(lower, q1, r.rating, q3, upper, as_html(r.label)))
        lo_all.append(lower)
        hi_all.append(upper)
    chart.addSeries(series)
    x = QBarCategoryAxis()
    if len(board.rows) > 4:
        x.setLabelsAngle(-40)
    y = QValueAxis()
    _nice_axis(y, min(lo_all), max(hi_all))
    y.setTitleText("Rating (95% interval)")
    y.setLabelFormat("%.0f")
    chart.addAxis(x, Qt.AlignBottom)
    chart.addAxis(y, Qt.AlignLeft)
    series.attachAxis(x)
    series.attachAxis(y)
    set_axis_names(chart, [shown(r.label) for r in board.rows])


def set_axis_names(chart: QChart, labels: list[str]) -> None:
    """(Again, after a resize.) Axis labels are rendered as HTML: a name like
    <img src="file:///dev/zero"> must stay text."""
    axes = [a for a in chart.axes(Qt.Horizontal) if isinstance(a, QBarCategoryAxis)]
    if axes:
        axes[0].setCategories([as_html(t) for t in fit_axis_labels(chart, labels)])


def axis_names(chart: QChart) -> list[str]:
    """The interval chart's axis labels as plain text (as the user reads them)."""
    axes = [a for a in chart.axes(Qt.Horizontal) if isinstance(a, QBarCategoryAxis)]
    return [html.unescape(t) for t in axes[0].categories()] if axes else []


def fill_history_chart(chart: QChart, board: ratings.Board | None) -> None:
    """Online Elo after each battle, one line per model (the top few)."""
    _clear(chart)
    if board is None or not board.rows or board.history.shape[0] == 0:
        chart.legend().setVisible(False)
        return
    t_ms = [t * 1000.0 for t in board.history_t]
    x = QDateTimeAxis()
    span = board.history_t[-1] - board.history_t[0] if len(t_ms) > 1 else 0
    x.setFormat("hh:mm:ss" if span < 3600 else "MMM d hh:mm" if span < 3 * 86400 else "yyyy-MM-dd")
    x.setTitleText("Vote time")
    y = QValueAxis()
    y.setTitleText(f"Online Elo (K = {board.elo_k:g})")
    y.setLabelFormat("%.0f")
    chart.addAxis(x, Qt.AlignBottom)
    chart.addAxis(y, Qt.AlignLeft)
    lo, hi = math.inf, -math.inf
    for k, r in enumerate(board.rows[:MAX_HISTORY_LINES]):
        s = QLineSeries()
        s.setName(as_html(r.label))
        for t, v in zip(t_ms, board.history[:, k]):
            if not math.isnan(v):
                s.append(t, float(v))
                lo, hi = min(lo, v), max(hi, v)
        chart.addSeries(s)
        s.attachAxis(x)
        s.attachAxis(y)
    first = QDateTime.fromMSecsSinceEpoch(int(t_ms[0]))
    last = QDateTime.fromMSecsSinceEpoch(int(t_ms[-1]))
    if first == last:
        first, last = first.addSecs(-60), last.addSecs(60)
    x.setRange(first, last)
    if math.isfinite(lo):
        _nice_axis(y, lo, hi)
    chart.legend().setVisible(True)
    chart.legend().setAlignment(Qt.AlignRight)


# -- the view ----------------------------------------------------------------------------------

class LeaderboardView(QWidget):
    """The leaderboard window's content. Call `refresh()` after votes change.

    For tests and the main window: `computed(Board)` fires once the view shows a new
    board; `busyChanged(bool)`; `message(str)` after an export or import (or an error);
    `rows()` gives the ratings shown (best first); `model` is the table's model.
    """

    computed = Signal(object)
    busyChanged = Signal(bool)
    message = Signal(str)

    def __init__(self, store, parent=None, *, rounds: int = 1000, seed: int = 0, judging=None, export_dir=None,
                 services=None, contestants=None):
        super().__init__(parent)
        self.store = store
        # The window's services and model list (core.contestants) let the judge run from here
        # ("Run judge…"); without them (a view on a store alone) the tab only shows its results.
        self.services, self.contestants = services, contestants
        self.judge_dialog = None  # made on first use, then kept (a run goes on while it is hidden)
        # settings.Judging (energy estimate, whether judge verdicts count): the window may hand it over
        self.energy = verdict.Energy(judging.local_watts, judging.usd_per_kwh) if judging else verdict.Energy()
        self.panel: JudgePanel | None = None
        # The export and import dialogs open here (not in whatever folder the app started in).
        self.export_dir = Path(export_dir) if export_dir is not None else Path.home()
        self.rounds, self.seed = rounds, seed
        self.board: ratings.Board | None = None
        self._inbox = Inbox(self)  # background jobs, and their results back on the GUI thread
        self._generation = 0
        self._shown_generation = -1
        self._computing = False
        self._refreshed_once = False
        self._build()
        if judging is not None and judging.count_in_leaderboard:
            self.judge_switch.setChecked(True)

    # -- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)

        bar = QHBoxLayout()
        self.date_range = QCheckBox("Votes from")
        self.date_from = QDateEdit(QDate.currentDate().addMonths(-1))
        self.date_to = QDateEdit(QDate.currentDate())
        for d in (self.date_from, self.date_to):
            d.setCalendarPopup(True)
            d.setDisplayFormat("yyyy-MM-dd")
            d.setEnabled(False)
        self.blind_only = QCheckBox("Blind votes only")
        self.blind_only.setToolTip("Count only rounds where you did not know which model was which")
        self.tag = QComboBox()
        self.tag.setToolTip("Only prompts with this tag")
        self.tag.addItem(ALL_TAGS, None)
        self.include_ties = QCheckBox("Count ties")
        self.include_ties.setChecked(True)
        self.include_ties.setToolTip("Ties count half a win each way and 'both bad' counts as a tie; "
                                     "uncheck to leave both out")
        self.refresh_button = QPushButton("Refresh")
        self.status = QLabel("")
        self.status.setTextFormat(Qt.PlainText)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        for w in (self.date_range, self.date_from, QLabel("to"), self.date_to, self.blind_only, QLabel("Tag:"),
                  self.tag, self.include_ties, self.refresh_button):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.status)
        root.addLayout(bar)

        self.verdict = QLabel("")
        self.verdict.setTextFormat(Qt.PlainText)  # it names models: never rendered as HTML
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.verdict.setObjectName("leaderboardVerdict")
        root.addWidget(self.verdict)

        self.tabs = QTabWidget()
        self.model = LeaderboardModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QTableView.SelectRows)
        self.table.setEditTriggers(QTableView.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        for col in range(len(LeaderboardModel.HEADERS)):
            header.setSectionResizeMode(col, QHeaderView.Stretch if col == 1 else QHeaderView.ResizeToContents)
        self.table.setAccessibleName("Leaderboard table")
        self.interval_chart = _new_chart("Ratings with 95% intervals")
        self.interval_view = QChartView(self.interval_chart)
        self.interval_view.setRenderHint(QPainter.Antialiasing)
        self.box_legend = QLabel(BOX_LEGEND)
        self.box_legend.setObjectName("boxLegend")
        self.box_legend.setWordWrap(True)
        chart_page = QWidget()
        chart_lay = QVBoxLayout(chart_page)
        chart_lay.setContentsMargins(0, 0, 0, 0)
        chart_lay.addWidget(self.interval_view, 1)
        chart_lay.addWidget(self.box_legend)
        self.interval_view.installEventFilter(self)  # a resize gives the axis names new room
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.table)
        split.addWidget(chart_page)
        split.setSizes([460, 600])
        self.tabs.addTab(split, "Leaderboard")

        self.heat_model = WinRateModel(self)
        self.heatmap = QTableView()
        self.heatmap.setModel(self.heat_model)
        self.heatmap.setEditTriggers(QTableView.NoEditTriggers)
        self.heatmap.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.heatmap.setAccessibleName("Win-rate matrix")
        heat_page = QWidget()
        heat_lay = QVBoxLayout(heat_page)
        heat_lay.addWidget(QLabel("How often the row's model beat the column's model (ties count half)."))
        heat_lay.addWidget(self.heatmap)
        self.tabs.addTab(heat_page, "Win rates")

        self.history_chart = _new_chart("Rating over time (online Elo)")
        self.history_view = QChartView(self.history_chart)
        self.history_view.setRenderHint(QPainter.Antialiasing)
        self.tabs.addTab(self.history_view, "Over time")
        self._style_charts()

        bias_page = QWidget()
        bias_lay = QVBoxLayout(bias_page)
        bias_lay.addWidget(QLabel("In blind two-pane rounds, how often did the answer shown on the left win? "
                                  "Near 50% means the side did not sway your votes."))
        self.bias_bar = PositionBiasBar()
        bias_lay.addWidget(self.bias_bar)
        self.bias_text = QLabel("")
        self.bias_text.setTextFormat(Qt.PlainText)
        self.bias_text.setWordWrap(True)
        bias_lay.addWidget(self.bias_text)
        bias_lay.addStretch(1)
        self.tabs.addTab(bias_page, "Position bias")
        self.tabs.addTab(self._build_judge_page(), "Can I switch? · Judge")
        root.addWidget(self.tabs, 1)

        actions = QHBoxLayout()
        actions.addWidget(QLabel("Export the votes matching the filters:"))
        self.export_buttons: dict[str, QPushButton] = {}
        for fmt, text, _flt, _name, tip in EXPORTS:
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(lambda _=False, f=fmt: self.export_as(f))
            actions.addWidget(b)
            self.export_buttons[fmt] = b
        actions.addStretch(1)
        self.import_button = QPushButton("Import JSONL…")
        self.import_button.setToolTip("Merge an ArenaDesk JSONL export from another machine (no duplicates)")
        self.import_button.clicked.connect(lambda: self.import_from())
        actions.addWidget(self.import_button)
        root.addLayout(actions)

        self.date_range.toggled.connect(self.date_from.setEnabled)
        self.date_range.toggled.connect(self.date_to.setEnabled)
        self.date_range.toggled.connect(self.refresh)
        self.date_from.dateChanged.connect(self._date_changed)
        self.date_to.dateChanged.connect(self._date_changed)
        self.blind_only.toggled.connect(self.refresh)
        self.include_ties.toggled.connect(self.refresh)
        self.tag.activated.connect(self.refresh)
        self.refresh_button.clicked.connect(self.refresh)

    def _style_charts(self) -> None:
        for chart in (self.interval_chart, self.history_chart):
            style_chart(chart, self.palette())

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().changeEvent(event)
        if event.type() == QEvent.PaletteChange:  # the theme changed while the leaderboard is open
            self._style_charts()

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt override)
        if obj is self.interval_view and event.type() == QEvent.Resize and self.board is not None:
            QTimer.singleShot(0, self._fit_axis_names)  # after the chart has laid its plot out
        return super().eventFilter(obj, event)

    def _fit_axis_names(self) -> None:
        if self.board is not None and self.board.rows:
            set_axis_names(self.interval_chart, [shown(r.label) for r in self.board.rows])

    def axis_names(self) -> list[str]:
        """The interval chart's model names as the user reads them."""
        return axis_names(self.interval_chart)

    def _build_judge_page(self) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        pick = QHBoxLayout()
        pick.addWidget(QLabel("Can I switch from"))
        self.switch_api = QComboBox()
        self.switch_api.setToolTip("The API model you use now")
        self.switch_api.setPlaceholderText("no API model voted on yet")
        self.switch_api.setSizeAdjustPolicy(QComboBox.AdjustToContents)  # the placeholder reads whole
        pick.addWidget(self.switch_api)
        pick.addWidget(QLabel("to"))
        self.switch_local = QComboBox()
        self.switch_local.setToolTip("The local model you could run instead")
        pick.addWidget(self.switch_local)
        pick.addStretch(1)
        lay.addLayout(pick)
        self.switch_summary = _plain_label("")
        self.switch_summary.setObjectName("switchVerdict")
        lay.addWidget(self.switch_summary)
        self.switch_table = QTableWidget(0, len(SWITCH_HEADERS))
        self.switch_table.setHorizontalHeaderLabels(SWITCH_HEADERS)
        self.switch_table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.switch_table.verticalHeader().setVisible(False)
        self.switch_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.switch_table.horizontalHeader().setStretchLastSection(True)
        self.switch_table.setAccessibleName("Can I switch, per category")
        lay.addWidget(self.switch_table, 1)

        self.judge_switch = QCheckBox("Count the judge's verdicts in my leaderboard (rounds I did not vote on)")
        self.judge_switch.setToolTip("Off: your leaderboard holds your votes only. The judge's own ratings are "
                                     "always shown below, as a separate series.")
        judge_row = QHBoxLayout()
        judge_row.addWidget(self.judge_switch)
        judge_row.addStretch(1)
        self.run_judge_button = QPushButton("Run judge…")
        self.run_judge_button.setToolTip("Let a model judge pairs of answers: first the rounds you voted on (to "
                                         "see how often it agrees with you), then the ones you did not")
        self.run_judge_button.setVisible(self.can_run_judge)
        self.run_judge_button.clicked.connect(self.open_judge)
        judge_row.addWidget(self.run_judge_button)
        lay.addLayout(judge_row)
        self.judge_run_status = _plain_label("")
        self.judge_run_status.setObjectName("judgeRunStatus")
        self.judge_run_status.setVisible(False)
        lay.addWidget(self.judge_run_status)
        self.judge_text = _plain_label("")
        self.judge_text.setObjectName("judgeCalibration")
        lay.addWidget(self.judge_text)
        self.judge_model = LeaderboardModel(self)
        self.judge_table = QTableView()
        self.judge_table.setModel(self.judge_model)
        self.judge_table.setEditTriggers(QTableView.NoEditTriggers)
        self.judge_table.verticalHeader().setVisible(False)
        self.judge_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.Stretch)
        self.judge_table.setAccessibleName("The judge's leaderboard")
        lay.addWidget(self.judge_table, 1)

        self.switch_api.activated.connect(self.refresh)
        self.switch_local.activated.connect(self.refresh)
        self.judge_switch.toggled.connect(self.refresh)
        return page

    # -- filters ------------------------------------------------------------------------
    def filters(self) -> Filters:
        since = until = None
        if self.date_range.isChecked():
            since = QDateTime(self.date_from.date(), QTime(0, 0)).toSecsSinceEpoch()
            until = QDateTime(self.date_to.date().addDays(1), QTime(0, 0)).toSecsSinceEpoch()
        return Filters(since=since, until=until, blind_only=self.blind_only.isChecked(),
                       tag=self.tag.currentData(), include_ties=self.include_ties.isChecked(),
                       with_judge=self.judge_switch.isChecked())

    def set_filters(self, f: Filters) -> None:
        """Set every filter at once (one refresh); also handy for tests and the main window."""
        widgets = (self.date_range, self.date_from, self.date_to, self.blind_only, self.include_ties, self.tag,
                   self.judge_switch)
        for w in widgets:
            w.blockSignals(True)
        try:
            self.date_range.setChecked(f.since is not None or f.until is not None)
            self.date_from.setEnabled(self.date_range.isChecked())
            self.date_to.setEnabled(self.date_range.isChecked())
            if f.since is not None:
                self.date_from.setDate(QDateTime.fromSecsSinceEpoch(int(f.since)).date())
            if f.until is not None:
                self.date_to.setDate(QDateTime.fromSecsSinceEpoch(int(f.until) - 1).date())
            self.blind_only.setChecked(f.blind_only)
            self.include_ties.setChecked(f.include_ties)
            self.judge_switch.setChecked(f.with_judge)
            self._reload_tags(select=f.tag)
        finally:
            for w in widgets:
                w.blockSignals(False)
        self.refresh()

    def _date_changed(self) -> None:
        if self.date_range.isChecked():
            self.refresh()

    def _reload_tags(self, select=...) -> None:
        current = self.tag.currentData() if select is ... else select
        self.tag.blockSignals(True)
        self.tag.clear()
        self.tag.addItem(ALL_TAGS, None)
        for t in self.store.tags():
            self.tag.addItem(t, t)
        i = self.tag.findData(current) if current else 0
        self.tag.setCurrentIndex(max(0, i))
        self.tag.blockSignals(False)

    # -- computing ----------------------------------------------------------------------
    @Slot()
    def refresh(self) -> None:
        """Recompute from the store with the current filters, off the GUI thread.
        Calls while a computation runs are folded into one more run when it ends."""
        self._refreshed_once = True
        self._reload_tags()
        self._generation += 1
        if not self._computing:
            self._compute()

    @property
    def busy(self) -> bool:
        return self._computing

    def rows(self) -> list[ratings.ModelRating]:
        """The ratings shown, best first."""
        return self.model.rows()

    def _compute(self) -> None:
        generation = self._generation
        f = self.filters()
        store, rounds, seed = self.store, self.rounds, self.seed
        local_ref, api_ref, energy = self.switch_local.currentData(), self.switch_api.currentData(), self.energy

        def work():
            started = time.perf_counter()
            users = battles = store.battle_columns(**f.store_filters())  # the fast path: the battles as arrays
            if f.with_judge:
                battles = judge.with_judge(battles, store, **f.store_filters())
            board = ratings.leaderboard(battles, include_ties=f.include_ties, rounds=rounds, seed=seed,
                                        filtered=f.describe())
            board.snapshot_notes = ratings.snapshot_changes(store.reported_models())
            everything = f.since is None and f.until is None and not f.blind_only and not f.tag  # the verdict's votes
            panel = judge_panel(store, local_ref=local_ref, api_ref=api_ref, energy=energy, rounds=rounds, seed=seed,
                                with_judge=f.with_judge, judged_in_board=len(battles) - len(users),
                                mine=users if everything else None,
                                board=board if everything and f.include_ties else None)
            return generation, (board, panel), time.perf_counter() - started

        self._set_computing(True)
        self.status.setText("Computing…")
        self._run(work, self._computed, self._compute_failed)

    def _computed(self, result) -> None:
        generation, (board, panel), seconds = result
        if generation != self._generation:  # the filters or the votes changed meanwhile
            self._compute()
            return
        self._set_computing(False)
        self._show(board, seconds)
        self._show_judge_panel(panel)
        self.computed.emit(board)

    def _compute_failed(self, error: str) -> None:
        self._set_computing(False)
        self.status.setText("Could not compute the leaderboard")
        self.verdict.setText(f"The leaderboard could not be computed: {error}")

    def _set_computing(self, on: bool) -> None:
        if on != self._computing:
            self._computing = on
            self.refresh_button.setEnabled(not on)
            self.busyChanged.emit(on)

    def _run(self, fn, on_done, on_failed) -> None:
        """Run fn off the GUI thread, after the jobs before it (the store is shared); on_done(result)
        or on_failed(message) then runs on the GUI thread."""

        def done(result, error):
            if error is not None:  # shown in the view, never raised into Qt's thread
                on_failed(f"{type(error).__name__}: {error}")
            else:
                on_done(result)

        self._inbox.run("leaderboard", fn, done, lane="leaderboard")

    def wait_idle(self, msecs: int = 30_000) -> bool:
        """Block until background work ends (for shutdown); results still arrive through the inbox."""
        return self._inbox.wait_idle(msecs / 1000)

    # -- showing ------------------------------------------------------------------------
    def _show(self, board: ratings.Board, seconds: float) -> None:
        self.board = board
        self.model.set_rows(board.rows)
        self.heat_model.set_board(board)
        fill_interval_chart(self.interval_chart, board)
        QTimer.singleShot(0, self._fit_axis_names)  # once the chart has laid out its new axes
        fill_history_chart(self.history_chart, board)
        self.bias_bar.set_bias(board.position_bias)
        self.bias_text.setText(shown(board.position_bias.verdict))
        self.verdict.setText(shown("\n".join([board.verdict, *board.snapshot_notes])))  # names come from servers
        models = len(board.rows)
        self.status.setText(
            f"{board.n_battles} battles · {models} models · {board.rounds} bootstrap rounds · {seconds:.2f} s"
        )

    def _show_judge_panel(self, panel: JudgePanel) -> None:
        self.panel = panel
        if panel.judged_in_board:
            self.verdict.setText(self.verdict.text() + f"\nThis board counts {panel.judged_in_board} of the judge's "
                                 "verdicts on rounds you did not vote on (switch it off under Can I switch? · Judge).")
        for combo, engine in ((self.switch_local, "local"), (self.switch_api, "openai")):
            chosen = combo.currentData()
            if panel.switch is not None and not chosen:
                chosen = (panel.switch.local if engine == "local" else panel.switch.api).ref
            combo.blockSignals(True)
            combo.clear()
            for c in panel.contestants:
                if c.engine == engine:
                    # "battles", as the leaderboard's column counts them (core.verdict.contestants)
                    combo.addItem(f"{c.label} ({c.battles} battle{'s' if c.battles != 1 else ''})", c.ref)
            combo.setCurrentIndex(max(0, combo.findData(chosen)) if combo.count() else -1)
            combo.blockSignals(False)
        rows = [] if panel.switch is None else [panel.switch.overall] + panel.switch.categories
        self.switch_table.setRowCount(len(rows))
        for i, c in enumerate(rows):
            cells = [
                "All prompts" if c.category == verdict.ALL else c.category,
                "—" if c.p is None else f"{c.p:.0%} ({c.lower:.0%}–{c.upper:.0%})",
                str(c.head_to_head),
                f"{_usd(c.local_cost)} / {_usd(c.api_cost)}",
                "unknown" if c.monthly_saving is None else f"${c.monthly_saving:,.2f}",
                SWITCH_WORDS[c.decision] + (f" ({c.more_votes} more votes)" if c.more_votes else ""),
            ]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(c.words)
                self.switch_table.setItem(i, col, item)
        if panel.switch is None:
            self.switch_summary.setText(panel.switch_problem)
        else:
            self.switch_summary.setText("\n".join(panel.switch.lines()))
        if panel.calibration is None:
            cli = "arenadesk judge calibrate --judge local:default"
            self.judge_text.setText("No LLM judge yet (it is optional and off). To try one, " + (
                f"press Run judge… and check it against your own votes first (or on the command line: {cli})."
                if self.can_run_judge else f"check it against your own votes first: {cli}"))
            self.judge_model.set_rows([])
        else:
            lines = panel.calibration.lines()
            lines.append(f"{panel.calibration.judge_label}'s own ratings, from its verdicts only "
                         "(a separate series; your votes are not in it):")
            self.judge_text.setText("\n".join(lines))
            self.judge_model.set_rows(panel.judge_board.rows if panel.judge_board else [])

    # -- running the judge --------------------------------------------------------------
    @property
    def can_run_judge(self) -> bool:
        return self.services is not None and self.contestants is not None

    def open_judge(self):
        """The judge dialog (made once and kept), on the leaderboard's category filter."""
        if self.judge_dialog is None:
            from .judge_dialog import JudgeDialog

            self.judge_dialog = JudgeDialog(self.services, self.contestants, tags=self.store.tags(),
                                            tag=self.tag.currentData(), parent=self)
            self.judge_dialog.setWindowFlag(Qt.Window)
            self.judge_dialog.progressed.connect(self._judge_progressed)
            self.judge_dialog.runFinished.connect(self._judge_ran)
        elif not self.judge_dialog.running:
            self.judge_dialog.reload_models()
            # a category first used since, and the board's filter now
            self.judge_dialog.reload_categories(self.store.tags(), self.tag.currentData())
            self.judge_dialog.replan()  # votes and rounds may have changed since it was last open
        self.judge_dialog.show()
        self.judge_dialog.raise_()
        self.judge_dialog.activateWindow()
        return self.judge_dialog

    def _judge_progressed(self, text: str) -> None:
        self.judge_run_status.setText(f"The judge is running: {text}")
        self.judge_run_status.setVisible(True)

    def _judge_ran(self, line: str) -> None:
        """A run ended: its summary stays on the tab, which shows the new calibration and board."""
        self.judge_run_status.setText(line)
        self.judge_run_status.setVisible(True)
        self.tabs.setCurrentIndex(self.tabs.count() - 1)
        self.refresh()

    # -- exports and import -------------------------------------------------------------
    def export_as(self, fmt: str, path: str | None = None) -> None:
        """Ask for a file (unless `path` is given) and export the votes matching the filters."""
        spec = next(e for e in EXPORTS if e[0] == fmt)
        if path is None:
            self.export_dir.mkdir(parents=True, exist_ok=True)
            path, _ = QFileDialog.getSaveFileName(self, f"Export {spec[1].rstrip('…')}",
                                                  str(self.export_dir / spec[3]), spec[2])
            if not path:
                return
        store, filters = self.store, self.filters().store_filters()
        with_judge = self.judge_switch.isChecked()  # the judge's verdicts go out only when they count, marked
        self.status.setText(f"Exporting to {path}…")
        self._run(lambda: (path, exports.export(store, fmt, path, include_judge=with_judge, **filters)),
                  self._exported, self._export_failed)

    def _exported(self, result) -> None:
        path, n = result
        self._say(f"Exported {n} records to {path}")

    def _export_failed(self, error: str) -> None:
        self._say(f"Export failed: {error}")

    def import_from(self, path: str | None = None) -> None:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Import an ArenaDesk export", str(self.export_dir),
                                                  "JSON Lines (*.jsonl)")
            if not path:
                return
        store = self.store
        self.status.setText(f"Importing {path}…")
        self._run(lambda: exports.import_jsonl(store, path), self._imported, self._import_failed)

    def _imported(self, summary: str) -> None:
        self._say(summary)
        self.refresh()

    def _import_failed(self, error: str) -> None:
        self._say(f"Import failed: {error}")

    def _say(self, text: str) -> None:
        text = shown(text)
        self.status.setText(text if len(text) < 140 else text[:137] + "…")
        self.status.setToolTip(tooltip(text))
        self.message.emit(text)

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._refreshed_once:
            # deferred: a caller that shows the view and then calls refresh() computes once
            QTimer.singleShot(0, self, self._first_refresh)

    def _first_refresh(self) -> None:
        if not self._refreshed_once:
            self.refresh()
