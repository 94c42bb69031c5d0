"""The leaderboard view, driven with qtbot on a real SQLite store: it computes off the GUI
thread and shows the models in order with their intervals, charts, heatmap and verdict."""
from __future__ import annotations

import json

import pytest
from PySide6.QtCharts import QBoxPlotSeries, QLineSeries
from PySide6.QtCore import Qt

from desktop.core.engines.base import Result
from desktop.core.store import SlotSpec, Store
from desktop.ui.leaderboard import Filters, LeaderboardView, heat_colour

WAIT_MS = 30_000
GPT = SlotSpec(0, 0, "openai", "gpt-4o-mini", "gpt-4o-mini", {"temperature": 0.7})
GEMMA = SlotSpec(1, 1, "local", "gemma-3-270m-q4_k_m", "sha256:" + "1" * 64, {"temperature": 0.7})
QWEN = SlotSpec(1, 1, "local", "qwen2.5-0.5b-q4_k_m.gguf", "sha256:" + "2" * 64, {"temperature": 0.7})


def vote(store, left, right, outcome, *, blind=False, tag=None, swap=False):
    """outcome as if `left` were shown on the left; swap=True shows it on the right."""
    if swap:
        outcome = {"left": "right", "right": "left"}.get(outcome, outcome)
    cid = store.new_conversation()
    a = SlotSpec(0, 1 if swap else 0, left.engine, left.model, left.model_ref, left.params)
    b = SlotSpec(1, 0 if swap else 1, right.engine, right.model, right.model_ref, right.params)
    rid, ids = store.add_round(cid, "Explain recursion briefly.", [a, b], blind=blind, tag=tag)
    for i in ids:
        store.save_response(i, Result(text=f"answer {i}", status="done", started_at=1.0, finished_at=2.0,
                                      tokens_out=2))
    store.cast_vote(rid, outcome)


def fill(store):
    """gpt-4o-mini ≫ gemma ≫ qwen: far enough apart that the intervals separate them."""
    for k in range(30):
        vote(store, GPT, GEMMA, "left" if k % 10 else "right", blind=True, tag="code", swap=k % 2 == 1)
    for k in range(30):
        vote(store, GEMMA, QWEN, "left" if k % 10 else "tie", tag="writing")
    for k in range(6):
        vote(store, GPT, QWEN, "left", tag="writing")


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "x.sqlite3")
    yield s
    s.close()


@pytest.fixture
def view(qtbot, store):
    v = LeaderboardView(store, rounds=1000, seed=0)
    qtbot.addWidget(v)
    v.resize(1100, 760)
    yield v
    v.wait_idle()


def shown(view):
    m = view.model
    return [[m.index(r, c).data() for c in range(m.columnCount())] for r in range(m.rowCount())]


def test_shows_models_in_order_with_intervals(qtbot, store, view):
    fill(store)
    with qtbot.waitSignal(view.computed, timeout=WAIT_MS) as got:
        view.show()  # the first show computes
    board = got.args[0]
    rows = shown(view)
    assert [r[1] for r in rows] == ["gpt-4o-mini", "gemma-3-270m-q4_k_m", "qwen2.5-0.5b-q4_k_m"]
    assert [r[0] for r in rows] == ["1", "2", "3"]
    ratings_shown = [int(r[2]) for r in rows]
    assert ratings_shown == sorted(ratings_shown, reverse=True)
    for (rank, _label, rating, ci, battles), r in zip(rows, view.rows()):
        lo, hi = (int(x) for x in ci.split("–"))
        assert lo <= int(rating) <= hi and hi - lo > 0
        assert (lo, hi) == (round(r.lower), round(r.upper))
        assert int(battles) == r.battles
    assert [r[4] for r in rows] == ["36", "60", "36"]
    assert view.model.index(0, 1).data(Qt.ToolTipRole).endswith("gpt-4o-mini")
    assert view.rows() == board.rows and view.board is board and not view.busy

    # the pictures: interval whiskers, heatmap, rating over time, position bias, verdict
    (boxes,) = view.interval_chart.series()
    assert isinstance(boxes, QBoxPlotSeries) and boxes.count() == 3
    first = boxes.boxSets()[0]
    assert first.label() == "gpt-4o-mini"
    assert first.at(0) == pytest.approx(board.rows[0].lower) and first.at(4) == pytest.approx(board.rows[0].upper)
    lines = view.history_chart.series()
    assert len(lines) == 3 and all(isinstance(s, QLineSeries) and s.count() > 0 for s in lines)
    heat = view.heat_model
    assert heat.rowCount() == heat.columnCount() == 3
    assert heat.index(0, 1).data() == "90%" and heat.index(1, 0).data() == "10%"
    assert heat.index(0, 0).data() == ""
    assert "won 90% of 30 battles" in heat.index(0, 1).data(Qt.ToolTipRole)
    assert view.bias_bar.bias.decisive == 30
    assert "Position bias" in view.bias_text.text()
    assert "ahead of every other model" in view.verdict.text()
    assert "66 battles" in view.status.text()
    for tab in range(view.tabs.count()):  # every page paints without error
        view.tabs.setCurrentIndex(tab)
        view.tabs.currentWidget().grab()


def test_filters_recompute_off_the_gui_thread(qtbot, store, view):
    fill(store)
    with qtbot.waitSignal(view.computed, timeout=WAIT_MS):
        view.show()
    with qtbot.waitSignal(view.computed, timeout=WAIT_MS) as got:
        qtbot.mouseClick(view.blind_only, Qt.LeftButton)
    assert view.blind_only.isChecked()
    assert got.args[0].n_battles == 30 and [r[1] for r in shown(view)] == ["gpt-4o-mini", "gemma-3-270m-q4_k_m"]

    with qtbot.waitSignal(view.computed, timeout=WAIT_MS) as got:
        view.set_filters(Filters(tag="writing", include_ties=False))
    assert view.tag.currentText() == "writing" and not view.include_ties.isChecked()
    assert got.args[0].n_battles == 36 - 3  # three ties left out
    assert [r[1] for r in shown(view)][-1] == "qwen2.5-0.5b-q4_k_m"  # lost every decisive vote

    with qtbot.waitSignal(view.computed, timeout=WAIT_MS) as got:
        view.set_filters(Filters(since=4_000_000_000))  # the future: nothing matches
    assert view.date_range.isChecked() and view.rows() == []
    assert "No votes match the chosen dates" in view.verdict.text()


def test_refresh_after_new_votes_and_bursts_of_refreshes(qtbot, store, view):
    with qtbot.waitSignal(view.computed, timeout=WAIT_MS):
        view.show()
    assert view.rows() == [] and "No votes yet" in view.verdict.text()
    fill(store)
    view.refresh()
    view.refresh()
    view.refresh()  # folded into one more run after the one in flight
    qtbot.waitUntil(lambda: not view.busy and view.board is not None and view.board.n_battles == 66,
                    timeout=WAIT_MS)
    assert len(view.rows()) == 3
    assert view.tag.findText("code") > 0 and view.tag.findText("writing") > 0


def test_export_and_import_buttons(qtbot, store, view, tmp_path):
    fill(store)
    with qtbot.waitSignal(view.computed, timeout=WAIT_MS):
        view.show()
    for fmt in ("csv", "jsonl", "fastchat", "pairs"):
        out = tmp_path / f"out.{fmt}"
        with qtbot.waitSignal(view.message, timeout=WAIT_MS) as got:
            view.export_as(fmt, str(out))
        assert got.args[0].startswith("Exported") and out.stat().st_size > 0
    assert len(json.loads((tmp_path / "out.fastchat").read_text(encoding="utf-8"))) == 66

    other_store = Store(tmp_path / "other.sqlite3")
    other = LeaderboardView(other_store)
    qtbot.addWidget(other)
    with qtbot.waitSignal(other.computed, timeout=WAIT_MS):
        other.show()
    with qtbot.waitSignal(other.message, timeout=WAIT_MS) as got:
        other.import_from(str(tmp_path / "out.jsonl"))
    assert "66 votes" in got.args[0]
    qtbot.waitUntil(lambda: not other.busy and len(other.rows()) == 3, timeout=WAIT_MS)
    assert [(r.ref, round(r.rating, 6), round(r.lower, 6)) for r in other.rows()] == \
           [(r.ref, round(r.rating, 6), round(r.lower, 6)) for r in view.rows()]

    with qtbot.waitSignal(other.message, timeout=WAIT_MS) as got:
        other.import_from(str(tmp_path / "out.csv"))
    assert got.args[0].startswith("Import failed")
    other.wait_idle()
    other_store.close()


def test_heat_colours():
    assert heat_colour(0.5).name() == "#f7f7f7"
    assert heat_colour(0.0).red() > heat_colour(0.0).blue()
    assert heat_colour(1.0).blue() > heat_colour(1.0).red()


def test_the_chart_names_read_right_and_follow_the_dark_theme(qtbot, store):
    """s20 review #7: "Gemma 3 27… (bui…" on the axis read as Gemma 3 27B; ".gguf" on some screens
    only; no word on box vs whiskers; a white chart and grey table text in the dark theme; a stray
    apostrophe in the summary."""
    from PySide6.QtWidgets import QApplication

    from desktop.core.names import shorter_forms
    from desktop.ui.theme import apply_theme

    built_in = SlotSpec(0, 0, "local", "Gemma 3 270M (built in)", "sha256:" + "3" * 64, {})
    smol = SlotSpec(1, 1, "local", "SmolLM2-135M-Instruct.Q4_1.gguf", "sha256:" + "4" * 64, {})
    for k in range(4):
        vote(store, built_in, smol, "left" if k % 2 else "right", blind=True)
        vote(store, GPT, smol, "left")
    app = QApplication.instance()
    apply_theme(app, "dark")
    try:
        v = LeaderboardView(store, rounds=200, seed=0)
        qtbot.addWidget(v)
        v.resize(1000, 640)
        with qtbot.waitSignal(v.computed, timeout=WAIT_MS):
            v.show()
        qtbot.wait(50)  # the axis names are fitted once the chart is laid out
        names = v.axis_names()
        full = ["gpt-4o-mini", "Gemma 3 270M (built in)", "SmolLM2-135M-Instruct.Q4_1"]
        # Each name whole or cut at a word by the core's rule: never "Gemma 3 27…"; no ".gguf".
        assert len(names) == 3 and len(set(names)) == 3, names
        for name in names:
            assert any(name == f or name in shorter_forms(f) for f in full), names
        # With room, family and size stay (the leaderboard as wide as a 1280-pixel screen's dialog).
        v.resize(1600, 640)
        qtbot.waitUntil(lambda: v.axis_names() != names, timeout=WAIT_MS)
        wide = v.axis_names()
        assert any(n.startswith("Gemma 3 270M") for n in wide) and any(n.startswith("SmolLM2-135M") for n in wide), wide
        table_names = [r[1] for r in shown(v)]
        assert "SmolLM2-135M-Instruct.Q4_1" in table_names and not any(".gguf" in n for n in table_names)
        assert v.box_legend.isVisible() and v.box_legend.text().startswith("Box: the middle 50%")
        assert "whiskers: the 95% interval" in v.box_legend.text()
        assert "'" not in v.verdict.text().replace("model's", ""), v.verdict.text()
        # Dark: the chart's panel is the window's dark base, and the dim "too few battles" text
        # stays readable on it.
        image = v.interval_view.grab().toImage()
        corner = image.pixelColor(6, 6)
        assert corner.lightness() < 80, corner.name()
        dim = v.model.index(0, 1).data(Qt.ForegroundRole)
        assert dim.lightness() - v.table.palette().base().color().lightness() > 90, dim.name()
    finally:
        apply_theme(app, "light")


def test_position_bias_says_it_is_measured_on_blind_two_pane_votes(qtbot, store, view):
    """s20 review #8: after blind four-pane votes it said "no blind decisive votes yet"."""
    third = SlotSpec(2, 2, "local", "qwen2.5-0.5b-q4_k_m.gguf", "sha256:" + "2" * 64, {})
    for _ in range(2):
        rid, ids = store.add_round(store.new_conversation(), "Name a fruit.", [GPT, GEMMA, third], blind=True)
        for i in ids:
            store.save_response(i, Result(text="Apple", status="done", started_at=1.0, finished_at=2.0, tokens_out=1))
        store.cast_vote(rid, "best", best_position=1)
    with qtbot.waitSignal(view.computed, timeout=WAIT_MS):
        view.show()
    page = view.tabs.widget([view.tabs.tabText(i) for i in range(view.tabs.count())].index("Position bias"))
    texts = [w.text() for w in page.findChildren(type(view.bias_text))]
    assert texts[0].startswith("In blind two-pane rounds, how often did the answer shown on the left win?")
    assert view.bias_text.text() == (
        "Position bias: no blind two-pane (left/right) vote with a winner yet. It is measured on those only: "
        "a blind vote among three or four panes picks a best, not a side.")
    vote(store, GPT, GEMMA, "left", blind=True)
    with qtbot.waitSignal(view.computed, timeout=WAIT_MS):
        view.refresh()
    assert view.bias_text.text().startswith(
        "Position bias: 100% of 1 blind two-pane vote with a winner went to the left answer"), view.bias_text.text()


def test_can_i_switch_counts_battles_as_the_table_does_and_says_when_no_api_model_has_votes(qtbot, store, view):
    """s20 review #9: the picker said "(6 votes)" where the leaderboard said 4 battles (two panes
    on one model counted), and the "from" picker was an empty box."""
    for k in range(3):
        vote(store, GEMMA, QWEN, "left" if k else "right")
    vote(store, GEMMA, GEMMA, "left")  # one model in both panes: no battle
    with qtbot.waitSignal(view.computed, timeout=WAIT_MS):
        view.show()
    table = {r[1]: r[4] for r in shown(view)}
    assert table == {"gemma-3-270m-q4_k_m": "3", "qwen2.5-0.5b-q4_k_m": "3"}
    view.tabs.setCurrentIndex(view.tabs.count() - 1)
    qtbot.wait(20)
    assert view.switch_local.currentText() == "gemma-3-270m-q4_k_m (3 battles)"
    assert [view.switch_local.itemText(i) for i in range(view.switch_local.count())] == [
        "gemma-3-270m-q4_k_m (3 battles)", "qwen2.5-0.5b-q4_k_m (3 battles)"]
    api = view.switch_api
    assert api.count() == 0 and api.currentIndex() == -1 and api.placeholderText() == "no API model voted on yet"
    assert api.width() >= api.fontMetrics().horizontalAdvance(api.placeholderText())
    assert "No API model has votes yet" in view.switch_summary.text()


def test_each_box_on_the_chart_is_named_for_its_own_model_when_names_must_be_shortened(qtbot, store):
    # Five names that shorten alike: the axis once got two identical categories, Qt dropped one,
    # and every later name moved under the box to its left (s22 review F1).
    names = ["Qwen2.5-7B-Instruct-Q4_K_M.gguf", "Qwen2.5-7B-Instruct-Q6_K.gguf",
             "Qwen2.5-7B-Instruct-1M-Q4_K_M.gguf", "Qwen2.5-7B-Base-Q4_K_M.gguf", "gpt-4o"]
    specs = [SlotSpec(i, i, "local", n, "sha256:" + str(i) * 64, {}) for i, n in enumerate(names)]
    for k in range(3):
        for a in range(5):
            for b in range(a + 1, 5):
                vote(store, specs[a], specs[b], "left" if (a + b + k) % 2 else "right")
    v = LeaderboardView(store, rounds=100, seed=0)
    qtbot.addWidget(v)
    for width in (1100, 800):
        v.resize(width, 640)
        with qtbot.waitSignal(v.computed, timeout=WAIT_MS):
            v.show() if not v.isVisible() else v.refresh()
        qtbot.wait(50)
        boxes = [b.label() for s in v.interval_chart.series() if isinstance(s, QBoxPlotSeries) for b in s.boxSets()]
        axis = v.axis_names()
        assert len(axis) == len(boxes) == 5, (width, axis)
        for shown, model in zip(axis, boxes):  # each name under the box is a form of that box's model
            head, _, tail = shown.partition("…")
            assert model.startswith(head) and model.endswith(tail), (width, shown, model)
        heads = [v.heat_model.headerData(c, Qt.Horizontal) for c in range(v.heat_model.columnCount())]
        assert len(set(heads)) == len(heads), heads
