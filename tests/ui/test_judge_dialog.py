"""Running the LLM judge from the real window: the leaderboard's "Can I switch? · Judge" tab opens
"Run judge…", which says what the run will do and cost, runs a real judge (the built-in base model,
then the real chat model) with a progress count, and the tab then shows the summary line and the
judge's calibration and board. Cancel stops a run and keeps the pairs judged so far."""
from __future__ import annotations

import re
from contextlib import contextmanager

from fakes import put_in_models
from PySide6.QtCore import Qt

from desktop.core import judge
from desktop.core.engines.base import Result
from desktop.core.engines.registry import ModelChoice
from desktop.core.library.embedded import REF as BUILT_IN
from desktop.core.store import SlotSpec
from desktop.ui.main_window import MainWindow

RUN_MS = 300_000  # a real model under a shared machine's load
WAIT_MS = 60_000
QUESTIONS = [
    ("What is the capital of France?", "The capital of France is Paris.", "The capital of France is Berlin."),
    ("What is 2 + 2?", "2 + 2 = 5.", "2 + 2 = 4."),
    ("Name a primary colour.", "Red is a primary colour.", "Green, probably."),
]


def seed(store, *, voted: int, unvoted: int) -> None:
    """Rounds of the built-in model against gpt-4o-mini, `voted` of them voted on, then `unvoted`."""
    cid = store.new_conversation("judge me")
    for k in range(voted + unvoted):
        q, local_answer, api_answer = QUESTIONS[k % len(QUESTIONS)]
        rid, ids = store.add_round(cid, q, [SlotSpec(0, 0, "local", "Gemma 3 270M (built in)", BUILT_IN),
                                            SlotSpec(1, 1, "openai", "gpt-4o-mini", "gpt-4o-mini")], tag="facts")
        store.save_response(ids[0], Result(text=local_answer, status="done"))
        store.save_response(ids[1], Result(text=api_answer, status="done", cost_usd=0.0003))
        if k < voted:
            store.cast_vote(rid, "left" if k % 2 == 0 else "right")


@contextmanager
def judge_tab(qtbot, services):
    """The real window, its leaderboard open on the judge tab, and the judge dialog opened from it;
    closed on the way out, once their workers are idle."""
    w = MainWindow(services)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(w.contestants.local_listed, timeout=WAIT_MS)
    w.open_leaderboard()
    view = w._dialogs["leaderboard"].view
    qtbot.waitUntil(lambda: view.board is not None and not view.busy, timeout=WAIT_MS)
    view.tabs.setCurrentIndex(view.tabs.count() - 1)
    assert "press Run judge…" in view.judge_text.text()  # no judge yet: the tab says how to start one
    assert view.run_judge_button.isVisible() and view.run_judge_button.text() == "Run judge…"
    qtbot.mouseClick(view.run_judge_button, Qt.LeftButton)
    dialog = view.judge_dialog
    assert dialog.isVisible()
    try:
        yield w, view, dialog
    finally:
        dialog.close()
        dialog.wait_idle()
        view.wait_idle()
        w.close()


def planned(qtbot, dialog) -> str:
    qtbot.waitUntil(lambda: dialog.plan_text.text() not in ("Choosing a judge…", "Counting the pairs…"),
                    timeout=WAIT_MS)
    return dialog.plan_text.text()


def run_to_end(qtbot, view, dialog) -> str:
    with qtbot.waitSignal(view.computed, timeout=RUN_MS):  # the tab refreshes once the run ends
        with qtbot.waitSignal(dialog.runFinished, timeout=RUN_MS):
            qtbot.mouseClick(dialog.run_button, Qt.LeftButton)
    return dialog.result_text.text()


def judged_rows(store) -> int:
    return len(store.query("SELECT id FROM judge_votes"))


def assert_the_tab_shows(view, store, line: str) -> None:
    """The summary line on the tab, and the calibration and board of what the judge said."""
    assert view.tabs.currentIndex() == view.tabs.count() - 1
    assert view.judge_run_status.isVisible() and view.judge_run_status.text() == line
    with_verdict = len(judge.battles(store))
    text = view.judge_text.text()
    if with_verdict:
        assert "agrees with you on" in text and "own ratings" in text
        assert [r.label for r in view.judge_model.rows()] and sum(r.battles for r in view.judge_model.rows()) \
            == 2 * with_verdict  # each pair is a battle for both of its models
    else:  # every reply unreadable: said so, and nothing counted
        assert "has not judged any of your rounds you voted on yet" in text
        assert "gave no readable verdict" in text or "no decisive verdicts" in text
        assert view.judge_model.rows() == []


def unreadable_reply_shown(store) -> str:
    """The start of the first unreadable reply, as the result line quotes it."""
    raw_ab, raw_ba = store.query("SELECT raw_ab, raw_ba FROM judge_votes WHERE winner IS NULL ORDER BY id")[0]
    return judge.reply_excerpt(raw_ab if judge.parse_verdict(raw_ab).choice is None else raw_ba)


def test_the_built_in_model_judges_from_the_window(qtbot, services):
    seed(services.store, voted=2, unvoted=1)
    with judge_tab(qtbot, services) as (w, view, dialog):
        # no chat model installed and no API key stored: the built-in model, with a warning
        assert dialog.calibrate.isChecked() and not dialog.rate.isChecked()
        dialog.max_tokens.setValue(8)  # too short for the two lines it is asked for
        text = planned(qtbot, dialog)
        assert dialog.model.currentText() == "Gemma 3 270M (built in) · local"
        assert text == ("Gemma 3 270M (built in) will judge 2 pairs you voted on (to see how often it agrees with "
                        "you), each pair in both orders (4 replies). Cost: free (local).")
        assert dialog.warning_text.isVisible() and dialog.warning_text.text() == (
            "Gemma 3 270M (built in) is a base model (no chat template): it rarely gives a readable verdict. "
            "A chat model judges better.\n"
            "Gemma 3 270M (built in) is one of the contestants: it will judge its own answers in 2 pairs.")
        assert dialog.run_button.isEnabled()

        line = run_to_end(qtbot, view, dialog)
        assert dialog.progress_text.text() == "2 / 2 pairs"
        assert line.startswith("Checked against your votes: 0 pairs judged; 2 pairs got a reply that could not be "
                               "read as a verdict (not counted).")
        shown = unreadable_reply_shown(services.store)
        assert (f": “{shown}”" in line) if shown else "One reply was empty" in line  # what the judge said
        assert line.endswith("Those pairs are tried again by the next run: a longer reply length or a chat model "
                             "as judge may help.")
        assert dialog.result_text.textFormat() == Qt.PlainText
        # the dialog grew for the longer text: the form's rows keep their height, nothing overlaps
        assert dialog.model.height() >= dialog.model.minimumSizeHint().height()
        assert dialog.result_text.geometry().bottom() < dialog.run_button.geometry().top()
        assert judged_rows(services.store) == 2
        assert_the_tab_shows(view, services.store, line)
        # unreadable is not done: the next run asks again, and says so
        assert planned(qtbot, dialog) == (
            "Gemma 3 270M (built in) will judge 2 pairs you voted on (to see how often it agrees with you), each "
            "pair in both orders (4 replies). 2 pairs whose earlier replies could not be read are tried again. "
            "Cost: free (local).")
        assert dialog.run_button.isEnabled()


def test_the_chat_model_is_the_default_judge_retries_short_replies_and_waits_to_rate(qtbot, services, chat_model):
    put_in_models(services, chat_model)
    seed(services.store, voted=2, unvoted=1)
    with judge_tab(qtbot, services) as (w, view, dialog):
        dialog.max_tokens.setValue(8)
        text = planned(qtbot, dialog)
        # an installed model with a chat template is the judge it starts on, without a warning
        assert dialog.model.currentText().startswith("SmolLM2") and dialog.model.currentText().endswith(" · local")
        smol = dialog.model.currentData()
        assert text.startswith("SmolLM2") and "will judge 2 pairs you voted on" in text
        assert not dialog.warning_text.isVisible() and dialog.warning_text.text() == ""

        line = run_to_end(qtbot, view, dialog)  # 8 tokens: cut before its verdict line
        assert line.startswith("Checked against your votes: 0 pairs judged; 2 pairs got a reply that could not be "
                               "read as a verdict (not counted). One reply that could not be read")
        assert f": “{unreadable_reply_shown(services.store)}”" in line
        assert_the_tab_shows(view, services.store, line)
        assert "2 pairs whose earlier replies could not be read are tried again." in planned(qtbot, dialog)
        assert dialog.run_button.isEnabled()

        dialog.max_tokens.setValue(32)
        dialog.rate.setChecked(True)
        text = planned(qtbot, dialog)
        assert text.endswith("will judge 2 pairs you voted on (to see how often it agrees with you), each pair in "
                             "both orders (4 replies). Rounds you did not vote on (1 pair) wait: it needs 10 more of "
                             "your voted rounds judged first, and 2 are left to check (vote on more rounds). "
                             "2 pairs whose earlier replies could not be read are tried again. Cost: free (local).")

        line = run_to_end(qtbot, view, dialog)
        assert dialog.progress_text.text() == "2 / 2 pairs"  # the unvoted pair waits for calibration
        assert re.match(r"Checked against your votes: \d+ pairs? judged", line)
        assert "Rounds you did not vote on were not rated:" in line and "needs 10 first" in line
        rows = services.store.query("SELECT judge_choice FROM judge_votes")
        assert len(rows) == 2 and {r[0] for r in rows} == {smol}  # each retry replaced its unreadable row
        assert_the_tab_shows(view, services.store, line)
        assert "SmolLM2" in view.judge_text.text()
        # Another judge picked: the count was the last judge's, so it goes.
        dialog.model.setCurrentIndex(dialog.model.findText("Gemma 3 270M (built in) · local"))
        assert dialog.progress_text.text() == "" and not dialog.progress_bar.isVisible()
        assert "Gemma 3 270M (built in) will judge" in planned(qtbot, dialog)


def test_a_judge_of_its_own_answers_is_said(qtbot, services, chat_model):
    """SmolLM2 judging rounds it played in: the plan says in how many it judges its own answers."""
    target = put_in_models(services, chat_model)
    smol_ref = services.local_model_ref(target)
    cid = services.store.new_conversation("smol played")
    for k, (q, good, bad) in enumerate(QUESTIONS):
        rid, ids = services.store.add_round(cid, q, [SlotSpec(0, 0, "local", "SmolLM2", smol_ref),
                                                     SlotSpec(1, 1, "openai", "gpt-4o-mini", "gpt-4o-mini")])
        services.store.save_response(ids[0], Result(text=good, status="done"))
        services.store.save_response(ids[1], Result(text=bad, status="done"))
        services.store.cast_vote(rid, "left")
    seed(services.store, voted=1, unvoted=0)  # and one round it did not play in
    with judge_tab(qtbot, services) as (w, view, dialog):
        assert "will judge 4 pairs you voted on" in planned(qtbot, dialog)
        assert dialog.model.currentText().startswith("SmolLM2")
        assert dialog.warning_text.text().endswith("is one of the contestants: it will judge its own answers in "
                                                   "3 pairs.")
        dialog.choose(ModelChoice("local", "default"))
        planned(qtbot, dialog)
        assert "it will judge its own answers in 1 pair." in dialog.warning_text.text()


def test_cancel_stops_the_run_and_keeps_the_pairs_judged(qtbot, services):
    seed(services.store, voted=3, unvoted=0)
    with judge_tab(qtbot, services) as (w, view, dialog):
        dialog.max_tokens.setValue(24)
        assert "will judge 3 pairs you voted on" in planned(qtbot, dialog)
        qtbot.mouseClick(dialog.run_button, Qt.LeftButton)
        assert not dialog.run_button.isEnabled() and dialog.cancel_button.isEnabled()
        assert not dialog.model.isEnabled()  # the settings stay as they are while it runs
        qtbot.waitUntil(lambda: dialog.progress_text.text() == "1 / 3 pairs", timeout=RUN_MS)
        assert view.judge_run_status.text() == "The judge is running: 1 / 3 pairs"
        bar_width = dialog.progress_bar.width()
        with qtbot.waitSignal(view.computed, timeout=RUN_MS):
            with qtbot.waitSignal(dialog.runFinished, timeout=RUN_MS):
                qtbot.mouseClick(dialog.cancel_button, Qt.LeftButton)
        line = dialog.result_text.text()
        assert "stopped early." in line
        kept = judged_rows(services.store)
        assert 1 <= kept < 3  # the pair judged before Cancel is kept; the one being judged is not counted
        # It has stopped, and says so: not "stopping…" once the run is over.
        assert dialog.progress_text.text() == f"{kept} / 3 pairs — stopped"
        assert dialog.progress_bar.isVisible() and dialog.progress_bar.value() == kept
        # The bar kept its width when "— stopping…" and "— stopped" were added beside it.
        assert dialog.progress_bar.width() == bar_width
        assert view.judge_run_status.text() == line
        # the rest is left for the next run, and so are the pairs whose replies could not be read
        unread = len(services.store.query("SELECT id FROM judge_votes WHERE winner IS NULL"))
        text = planned(qtbot, dialog)
        assert f"will judge {3 - kept + unread} pairs you voted on" in text
        assert ("could not be read" in text) == bool(unread)
        assert dialog.progress_text.text() == f"{kept} / 3 pairs — stopped"  # the new count does not wipe it
        assert dialog.cancel_button.isEnabled() is False and dialog.run_button.isEnabled()
        # Closed and opened again from the tab: a fresh start, no count of the last run.
        qtbot.mouseClick(dialog.close_button, Qt.LeftButton)
        assert not dialog.isVisible()
        qtbot.mouseClick(view.run_judge_button, Qt.LeftButton)
        assert view.judge_dialog is dialog and dialog.isVisible()
        assert dialog.progress_text.text() == "" and not dialog.progress_bar.isVisible()
        assert view.judge_run_status.text() == line  # the tab keeps the outcome


def test_an_api_judge_without_a_key_says_where_to_add_one(qtbot, services):
    seed(services.store, voted=2, unvoted=0)
    with judge_tab(qtbot, services) as (w, view, dialog):
        api = [dialog.model.itemData(i) for i in range(dialog.model.count())
               if dialog.model.itemData(i).startswith("openai:")]
        assert api  # the API models the panes offer are offered as judges too
        dialog.choose(api[0])
        text = planned(qtbot, dialog)
        assert "Settings" in text and "key" in text.lower()
        assert not dialog.run_button.isEnabled()


def test_an_api_judge_over_http_is_priced_runs_and_says_what_to_do_when_refused(qtbot, services, fault_server):
    """A real OpenAI-compatible server on loopback: the cost before, the verdicts through HTTP, and
    a server that refuses the key turned into failed pairs and what to check — never votes."""
    fault_server.answer_text = ("Reason: <b>B</b> is right.\n", "Verdict: B")
    services.settings.openai_base_url = fault_server.on_chat("stream_usage").url
    seed(services.store, voted=2, unvoted=0)
    with judge_tab(qtbot, services) as (w, view, dialog):
        dialog.choose(ModelChoice("openai", "gpt-4o-mini"))
        text = planned(qtbot, dialog)
        assert "gpt-4o-mini" in text and "will judge 2 pairs you voted on" in text
        assert re.search(r"Cost: at most \$0\.\d{4} at your price table's rates\.$", text), text
        line = run_to_end(qtbot, view, dialog)
        # a judge that always says B picks whichever answer is shown second: both pairs are ties
        assert line == ("Checked against your votes: 2 pairs judged; 2 of them depended on the order shown "
                        "(counted as ties).")
        assert len(fault_server.chat_requests()) == 4  # each pair in both orders
        assert_the_tab_shows(view, services.store, line)
        assert "<b>B</b>" not in view.judge_text.text()  # the judge's reasons stay in the database

        seed(services.store, voted=2, unvoted=0)
        fault_server.on_chat("unauthorized")
        dialog.replan()
        assert "will judge 2 pairs you voted on" in planned(qtbot, dialog)
        line = run_to_end(qtbot, view, dialog)
        assert "0 pairs judged; 2 failed (" in line
        assert "Nothing was judged: check that the model still loads" in line and "Settings → Connections" in line
        assert dialog.result_text.textFormat() == Qt.PlainText and view.judge_run_status.text() == line
        assert len(judge.battles(services.store)) == 2  # the failures are no verdicts


def test_the_dialog_opened_again_has_the_categories_there_are_now_on_the_boards_filter(qtbot, services):
    """The dialog is kept between openings: a category first used since must be offered, and it
    opens on the leaderboard's category filter (review s21 F9: it kept those of its first opening)."""
    seed(services.store, voted=2, unvoted=0)
    with judge_tab(qtbot, services) as (w, view, dialog):
        categories = [dialog.category.itemText(i) for i in range(dialog.category.count())]
        assert categories[1:] == ["facts"]
        dialog.close()
        store = services.store
        rid, ids = store.add_round(store.new_conversation("code"), "Reverse a list in Python.",
                                   [SlotSpec(0, 0, "local", "Gemma 3 270M (built in)", BUILT_IN),
                                    SlotSpec(1, 1, "openai", "gpt-4o-mini", "gpt-4o-mini")], tag="code")
        for i, text in zip(ids, ("xs[::-1]", "reversed(xs)")):
            store.save_response(i, Result(text=text, status="done"))
        store.cast_vote(rid, "left")
        view.refresh()
        qtbot.waitUntil(lambda: view.tag.findData("code") >= 0 and not view.busy, timeout=WAIT_MS)
        view.tag.setCurrentIndex(view.tag.findData("code"))
        qtbot.waitUntil(lambda: not view.busy, timeout=WAIT_MS)
        qtbot.mouseClick(view.run_judge_button, Qt.LeftButton)
        assert view.judge_dialog is dialog and dialog.isVisible()
        categories = [dialog.category.itemText(i) for i in range(dialog.category.count())]
        assert categories[1:] == ["code", "facts"] and dialog.category.currentText() == "code"
        planned(qtbot, dialog)
        assert dialog.request().tag == "code"
