"""The streaming Markdown view: stable blocks rendered once, never fetching anything."""
import re

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QTextDocument

from desktop.ui.transcript import Transcript, stable_split


def test_stable_split_ignores_blank_lines_inside_open_code_fences():
    assert stable_split("one paragraph") == 0
    assert stable_split("para one\n\npara two") == len("para one\n\n")
    text = "intro\n\n```python\nx = 1\n\ny = 2\n"
    assert stable_split(text) == len("intro\n\n")  # the fence is still open
    closed = text + "```\n\nafter"
    assert stable_split(closed) == len(closed) - len("after")
    assert stable_split(closed, len("intro\n\n")) == len(closed) - len("after")


def test_streamed_markdown_renders_like_the_whole_answer(qtbot):
    view = Transcript()
    qtbot.addWidget(view)
    answer = "# Title\n\nSome **bold** text.\n\n```python\nprint('hi')\n\nprint('there')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- x\n- y\n"
    view.begin_answer("Model")
    for i in range(0, len(answer), 7):
        view.show_answer(answer[: i + 7])
    view.end_answer(answer)
    whole = QTextDocument()
    whole.setMarkdown(answer)
    streamed = view.toPlainText()
    for line in ("Title", "Some bold text.", "print('hi')", "print('there')", "x", "y"):
        assert line in streamed
    assert streamed.count("print('there')") == 1  # nothing rendered twice
    assert view.document().toMarkdown().count("|") >= whole.toMarkdown().count("|") - 2  # the table survives


def _shape(view):
    """What the reader sees of each non-empty block: its text, list number or bullet, nesting,
    heading level and whether it is laid out as code (the answer's heading line dropped)."""
    out, b = [], view.document().begin()
    while b.isValid():
        items, fmt = b.textList(), b.blockFormat()
        if b.text().strip() or items is not None:
            out.append((b.text(), items.itemText(b) if items else None, items.format().indent() if items else 0,
                        fmt.headingLevel(), fmt.nonBreakableLines()))
        b = b.next()
    return out[1:]


LIST_ANSWERS = [
    "Sure, here are three more:\n\n1. Avocado\n2. Banana\n3. Grapefruit",  # SmolLM2's, shown "1. 1. 2."
    "Steps:\n1. one\n2. two\n3. three\n\nDone.",  # the paragraph before the list was numbered
    "- a\n- b\n  - b1\n  - b2\n- c\n\nEnd",
    "Intro\n\n* x\n* y\n\n1. n1\n2. n2",
    "1. first\n\n2. second\n\n3. third",
    "# Title\n\nText.\n\n```python\nx = 1\ny = 2\n```\n\n> quoted\n\n| a | b |\n|---|---|\n| 1 | 2 |",
]


@pytest.mark.parametrize("answer", LIST_ANSWERS)
@pytest.mark.parametrize("piece", ["char", "word", "7"])
def test_a_streamed_answer_is_numbered_and_nested_as_the_whole_answer_is(qtbot, answer, piece):
    """However the answer arrives, the reader sees the lists the whole answer has: a streamed
    tail that began with a list item used to keep its first item in a list of its own."""
    pieces = {"char": list(answer), "word": re.findall(r"\s*\S+|\s+", answer),
              "7": [answer[i:i + 7] for i in range(0, len(answer), 7)]}[piece]
    whole, streamed = Transcript(), Transcript()
    qtbot.addWidget(whole)
    qtbot.addWidget(streamed)
    whole.add_answer(answer, "Model B")
    streamed.begin_answer("Model B")
    so_far = ""
    for p in pieces:
        so_far += p
        streamed.show_answer(so_far)
    streamed.end_answer(answer)
    assert _shape(streamed) == _shape(whole)


def test_remote_resources_are_never_loaded_and_links_need_a_click(qtbot, monkeypatch):
    opened = []
    monkeypatch.setattr("desktop.ui.transcript.QDesktopServices.openUrl", lambda url: opened.append(url.toString()))
    view = Transcript()
    qtbot.addWidget(view)
    # Not None: Qt reads a local path itself when a resource comes back None or as a null image.
    blank = view.loadResource(2, QUrl("https://example.com/tracker.png"))
    assert blank.size().width() == 1 and blank.pixelColor(0, 0).alpha() == 0
    assert view.loadResource(2, QUrl("file:///etc/hostname")) == blank
    view.add_answer("![img](https://example.com/tracker.png) [site](https://example.com) [local](file:///etc/passwd)", "M")
    assert opened == []
    view.anchorClicked.emit(QUrl("https://example.com"))
    view.anchorClicked.emit(QUrl("file:///etc/passwd"))
    assert opened == ["https://example.com"]


def _blocks(view):
    b, out = view.document().begin(), {}
    while b.isValid():
        out[b.text()] = b
        b = b.next()
    return out


def test_streamed_headings_and_code_blocks_keep_their_format(qtbot):
    """Each streamed chunk starts at a block boundary; its first block must not lose its format."""
    view = Transcript()
    qtbot.addWidget(view)
    answer = "# Title\n\nText.\n\n```python\nx = 1\n```\n\nAfter the code."
    view.begin_answer("Model")
    for i in range(1, len(answer) + 1, 3):
        view.show_answer(answer[:i])
    view.end_answer(answer)
    blocks = _blocks(view)
    assert blocks["Title"].blockFormat().headingLevel() == 1
    assert blocks["x = 1"].blockFormat().nonBreakableLines()  # laid out as a code block
    assert not blocks["After the code."].blockFormat().nonBreakableLines()
    assert blocks["After the code."].blockFormat().headingLevel() == 0


def test_discard_answer_after_it_ended_replaces_it(qtbot):
    """Regenerate comes after the answer ended: the old answer, its heading and note go."""
    view = Transcript()
    qtbot.addWidget(view)
    view.add_prompt("Question")
    view.begin_answer("Old model")
    view.show_answer("old answer")
    view.end_answer("old answer", "Stopped.")
    view.discard_answer()
    view.begin_answer("New model")
    view.show_answer("new answer")
    view.end_answer("new answer")
    text = view.toPlainText()
    assert "old answer" not in text and "Old model" not in text and "Stopped." not in text
    assert text == "You\nQuestion\nNew model\nnew answer"


def test_a_long_code_block_streams_in_pieces_and_reads_as_one_block(qtbot):
    """The open tail is cut after whole lines when long (its cost would grow with it); a code
    fence cut open is closed and opened again: no fence marker shows, every line stays code."""
    from desktop.ui.transcript import MAX_OPEN_TAIL

    view = Transcript()
    qtbot.addWidget(view)
    code = "".join(f"def f{j}(x):\n    return x * {j}\n" for j in range(300))
    assert len(code) > 3 * MAX_OPEN_TAIL
    answer = f"Intro.\n\n~~~~python\n{code}~~~~\n\nAfter the code.\n\n" + "".join(f"- item {j}\n" for j in range(200))
    view.begin_answer("Model")
    for i in range(0, len(answer), 23):
        view.extend_answer(answer[i:i + 23])
    view.end_answer(answer)
    text = view.toPlainText()
    assert "~~~" not in text
    for line in ("def f0(x):", "def f299(x):", "    return x * 299", "After the code.", "item 0", "item 199"):
        assert text.count(line + "\n") == 1 or text.endswith(line), line
    blocks = _blocks(view)
    assert all(b.blockFormat().nonBreakableLines() for t, b in blocks.items() if t.startswith(("def f", "    return")))
    assert not blocks["After the code."].blockFormat().nonBreakableLines()


def test_pane_keeps_the_whole_answer_and_shows_it_at_a_bounded_pace(qtbot):
    """Many tiny deltas and a 2 MB line: the pane's answer is whole (Copy), what is shown comes
    in bounded steps, and once the answer ended all of it that is shown is on screen."""
    from PySide6.QtGui import QGuiApplication

    from desktop.core.engines.base import Result
    from desktop.ui.pane import RENDER_CHARS_PER_TICK, Pane
    from desktop.ui.transcript import NOT_SHOWN

    pane = Pane(heading=lambda choice: "some model")  # the window gives Contestants.heading
    qtbot.addWidget(pane)
    pane.resize(500, 600)
    pane.show()
    answer = "# Heading\n\n" + "".join(f"Sentence {j} of the answer.\n\n" for j in range(400))
    pane.start_answer("Question")
    for ch in answer:
        pane.append(ch)
    assert pane.answer_text() == answer
    pane.finish(Result(text=answer, status="done", finish_reason="stop"))
    qtbot.waitUntil(lambda: "Sentence 399 of the answer." in pane.view.toPlainText(), timeout=10_000)
    shown = pane.view.toPlainText()
    assert "# Heading" not in shown and "Heading\n" in shown  # rendered as Markdown
    assert shown.count("Sentence 17 of the answer.") == 1

    big = "A" * 2_000_000
    pane.start_answer("Again")
    for k in range(0, len(big), 2048):
        pane.append(big[k:k + 2048])
    pane._render()
    assert 0 < pane.view.toPlainText().split("Again", 1)[1].count("A") <= RENDER_CHARS_PER_TICK  # one step, not all
    pane.finish(Result(text=big, status="done", finish_reason="stop"))
    qtbot.waitUntil(lambda: NOT_SHOWN.strip() in pane.view.toPlainText(), timeout=30_000)
    pane.copy_answer()
    assert QGuiApplication.clipboard().text() == big  # kept whole


def test_reasoning_opened_and_closed_mid_answer_leaves_the_streaming_answer_whole(qtbot):
    """Opening the reasoning inserts text above the live answer, closing it removes it: the
    answer's place moves with it, so what streams next lands after what came before, once."""
    view = Transcript()
    qtbot.addWidget(view)
    view.begin_answer("Model")
    view.extend_reasoning("I think the answer is two.")
    view.show_answer("Part one.\n\n")
    view.toggle_reasoning()  # open: the reasoning's text goes in above the answer
    view.show_answer("Part one.\n\nPart two.\n\n")
    view.extend_reasoning(" Or three.")  # more thinking, also above the answer
    view.show_answer("Part one.\n\nPart two.\n\nPart three")
    text = view.toPlainText()
    assert text.index("Reasoning (") < text.index("I think the answer is two. Or three.") < text.index("Part one.")
    view.toggle_reasoning()  # closed again: the text above goes
    view.end_answer("Part one.\n\nPart two.\n\nPart three.")
    text = view.toPlainText()
    assert "I think" not in text and "▸ Reasoning (8 words)" in text
    assert text.index("Reasoning (") < text.index("Part one.") < text.index("Part two.") < text.index("Part three.")
    assert [text.count(p) for p in ("Part one.", "Part two.", "Part three.")] == [1, 1, 1]


def test_a_streamed_answer_turns_plain_exactly_where_the_whole_text_check_says(qtbot):
    """The live answer's size checks are counted as it grows (not the whole answer read again each
    update): whatever the pieces, it stays Markdown (a real table) while the whole text so far would
    be, and turns plain text (no table built) at the same piece the whole-text check says."""
    from desktop.ui.transcript import MAX_MARKDOWN_LINE, MAX_TABLE_ROWS, PLAIN_TEXT_BEYOND, too_big_for_markdown

    table = "Rows:\n\n| n | sq |\n|---|---|\n" + "".join(f"  | {k} | {k * k} |\n" for k in range(MAX_TABLE_ROWS + 5))
    long_line = "Intro.\n\n" + "word " * (MAX_MARKDOWN_LINE // 5 + 10)
    long_text = "A paragraph of prose.\n\n" * (PLAIN_TEXT_BEYOND // 23 + 5)
    view = Transcript()
    qtbot.addWidget(view)
    for answer, steps in ((table, (1, 7, 97)), (long_line, (7, 97)), (long_text, (97, 1000))):
        for step in steps:
            view.clear_all()
            view.begin_answer("Model")
            for end in range(step, len(answer) + step, step):
                view.show_answer(answer[:end])
                assert (view._markdown is None) == too_big_for_markdown(answer[:end]), (answer[:20], step, end)
            assert not view.document().rootFrame().childFrames()  # it went plain: no table laid out
    view.clear_all()
    view.begin_answer("Model")
    small_table = "| n | sq |\n|---|---|\n" + "".join(f"  | {k} | {k * k} |\n" for k in range(MAX_TABLE_ROWS - 2))
    for end in range(13, len(small_table) + 13, 13):
        view.show_answer(small_table[:end])
    view.end_answer(small_table)
    assert view.document().rootFrame().childFrames()  # below the limit: a real table


def test_the_colour_role_written_out_is_qts_first_user_property():
    """transcript.py writes the value out, so the window is built without making QTextFormat."""
    from PySide6.QtGui import QTextFormat

    from desktop.ui.transcript import COLOR_ROLE

    assert COLOR_ROLE == QTextFormat.UserProperty + 1
