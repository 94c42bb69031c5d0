"""Hostile answers and model names on screen: the real Transcript and LeaderboardView.

Rules checked: nothing from an answer or a model name is ever fetched or read from disk
(`file:///dev/zero` would hang the window reading for ever); nothing renders as markup unless
it is the answer's Markdown (no inline styles, no direction overrides); a 2 MB line and a
5,000-row table degrade to plain text, kept whole, with no GUI-thread stall near a hang.

Stall limits here are hang detectors (seconds, far above what is measured); the measured
figures are printed by tests/bench/bench_hostile_render.py."""
from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QTextDocument

from desktop.core.engines.base import Result
from desktop.core.store import SlotSpec, Store
from desktop.ui.leaderboard import LeaderboardView
from desktop.ui.transcript import NOT_SHOWN, PLAIN_BLOCK_CHARS, PLAIN_DISPLAY_LIMIT, PLAIN_TEXT_BEYOND, Transcript
from hostile_inputs import ANSWERS, BIDI, IMAGES, LINE_2MB, SCRIPT, STYLE, TABLE_5000

HANG_S = 5.0  # any single update taking this long is a hang, not a slow frame


@pytest.fixture
def transcript(qtbot):
    t = Transcript()
    qtbot.addWidget(t)
    t.resize(700, 500)
    t.show()
    return t


def _images_in(doc: QTextDocument) -> list[str]:
    names = []
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fmt = it.fragment().charFormat()
            if fmt.isImageFormat():
                names.append(fmt.toImageFormat().name())
            it += 1
        block = block.next()
    return names


def _stream(transcript: Transcript, text: str, step: int) -> float:
    """Feed `text` as the pane's timer does (the whole answer so far, each tick); the longest tick."""
    transcript.begin_answer("Model")
    worst = 0.0
    for end in range(step, len(text) + step, step):
        t0 = time.perf_counter()
        transcript.show_answer(text[:end])
        transcript.viewport().repaint()
        worst = max(worst, time.perf_counter() - t0)
    t0 = time.perf_counter()
    transcript.end_answer(text)
    transcript.viewport().repaint()
    return max(worst, time.perf_counter() - t0)


@pytest.mark.timeout(60)
def test_no_image_of_any_scheme_is_loaded_and_dev_zero_does_not_hang(transcript, tmp_path):
    png = tmp_path / "real.png"
    picture = QImage(7, 5, QImage.Format_ARGB32)
    picture.fill(QColor("#ff0000"))
    assert picture.save(str(png))
    answer = IMAGES + f"\n\n![local png](file://{png}) ![plain path]({png}) <img src=\"{png}\">"
    t0 = time.perf_counter()
    transcript.add_answer(answer, "Model")
    transcript.viewport().repaint()
    _stream(transcript, answer, 40)
    assert time.perf_counter() - t0 < HANG_S
    doc = transcript.document()
    # The Markdown images are there as images that have nothing in them; the HTML ones are text.
    names = _images_in(doc)
    assert "file:///dev/zero" in names and f"file://{png}" in names and str(png) in names
    for name in names:  # each is the one transparent pixel the transcript hands out, not a picture
        loaded = doc.resource(QTextDocument.ImageResource, name)
        assert isinstance(loaded, QImage) and loaded.size().width() == 1, name
        assert loaded.pixelColor(0, 0).alpha() == 0, name
    assert '<img src="file:///dev/zero">' in doc.toPlainText()


def test_html_scripts_and_styles_show_as_text_and_style_nothing(transcript):
    transcript.add_answer(SCRIPT + "\n\n" + STYLE, "Model")
    text = transcript.toPlainText()
    assert "<script>alert('x')</script>" in text and '<span style="font-size:90px;color:#ff0000">HUGE</span>' in text
    block = transcript.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fmt = it.fragment().charFormat()
            assert fmt.fontPointSize() < 40 and fmt.font().pixelSize() < 40
            assert fmt.foreground().color().name() != "#ff0000"
            it += 1
        block = block.next()


def test_direction_overrides_are_dropped_from_answers_and_headings(transcript):
    transcript.add_answer(BIDI, "gpt\u202eevil")
    transcript.begin_answer("x\u202ey")
    transcript.show_answer(BIDI)
    transcript.end_answer(BIDI)
    text = transcript.toPlainText()
    assert not any(c in text for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    assert "gptevil" in text and "evil says hi and forced" in text


def test_nul_and_replacement_characters_are_shown_not_fatal(transcript):
    transcript.add_answer(ANSWERS["nul"] + " \ufffd", "Model")
    assert "before" in transcript.toPlainText() and "after" in transcript.toPlainText()


@pytest.mark.timeout(120)
def test_a_2mb_line_streams_as_plain_text_up_to_the_display_cap_without_a_hang(transcript):
    worst = _stream(transcript, LINE_2MB, 64 * 1024)
    assert worst < HANG_S, f"a tick took {worst:.2f} s"
    shown = transcript.toPlainText()
    assert shown.replace("\n", "").count("A") == PLAIN_DISPLAY_LIMIT  # the first 100,000 characters, whole
    assert shown.endswith(NOT_SHOWN.strip())  # and a line that says the rest is saved, not lost
    longest = max(b.length() for b in _blocks(transcript.document()))
    assert longest <= PLAIN_BLOCK_CHARS + 1  # Qt lays out a paragraph whole: none is 2 MB long


@pytest.mark.timeout(120)
def test_a_5000_row_table_degrades_to_plain_text_kept_whole(transcript):
    worst = _stream(transcript, TABLE_5000, 8 * 1024)
    assert worst < HANG_S, f"a tick took {worst:.2f} s"
    shown = transcript.toPlainText()
    assert "| 0 | 0 |" in shown and "| 1000 | 1000000 |" in shown
    if len(TABLE_5000) < PLAIN_DISPLAY_LIMIT:  # all of it is shown
        assert NOT_SHOWN.strip() not in shown and "| 4999 | 24990001 |" in shown
    else:  # as much as is laid out, and a line saying the rest is not (it is kept whole elsewhere)
        assert NOT_SHOWN.strip() in shown
    assert transcript.document().rootFrame().childFrames() == []  # no QTextTable was built
    t0 = time.perf_counter()
    transcript.add_answer(TABLE_5000, "History")  # a reopened conversation, in one go
    assert time.perf_counter() - t0 < HANG_S


def test_an_answer_below_the_limit_is_still_markdown(transcript):
    transcript.add_answer("# Title\n\n**bold** and a table:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n", "Model")
    assert transcript.document().rootFrame().childFrames()  # the table is a real table
    assert "**" not in transcript.toPlainText()
    assert len("x" * PLAIN_TEXT_BEYOND) == PLAIN_TEXT_BEYOND


def _blocks(doc):
    b = doc.begin()
    while b.isValid():
        yield b
        b = b.next()


EVIL = '<img src="file:///dev/zero">'
EVIL2 = "<b style='font-size:80px'>big</b>\u202eevil"


@pytest.mark.timeout(120)
def test_model_names_on_the_leaderboard_are_plain_text_and_load_nothing(qtbot, tmp_path):
    store = Store(tmp_path / "x.sqlite3")
    for k in range(8):
        cid = store.new_conversation()
        rid, ids = store.add_round(cid, "p", [SlotSpec(0, 0, "openai", EVIL, EVIL), SlotSpec(1, 1, "openai", EVIL2, EVIL2)])
        for i in ids:
            store.save_response(i, Result(text="a", status="done", started_at=1.0, finished_at=2.0))
        store.cast_vote(rid, "left" if k % 3 else "right")
    view = LeaderboardView(store, rounds=50, seed=0)
    qtbot.addWidget(view)
    view.resize(1000, 700)
    with qtbot.waitSignal(view.computed, timeout=60_000):
        view.show()
    assert view.verdict.textFormat() == Qt.PlainText and EVIL in view.verdict.text()
    assert "\u202e" not in view.verdict.text()
    tip = view.model.index(0, 1).data(Qt.ToolTipRole)
    assert "&lt;img" in tip and "<img" not in tip
    labels = view.interval_chart.axes(Qt.Horizontal)[0].categories()
    assert all("<img" not in label for label in labels)
    for tab in range(view.tabs.count()):  # every page paints, nothing is fetched
        view.tabs.setCurrentIndex(tab)
        view.tabs.currentWidget().grab()
    view.wait_idle()
    store.close()
