"""The leaderboard's "Can I switch? · Judge" tab: the verdict per category in words and in a
table, the judge's calibration and its own ratings as a separate series, the switch that
lets its verdicts into the board (off by default), and model text shown as plain text."""
from __future__ import annotations

import random

import pytest
from PySide6.QtCore import Qt

from desktop.core import judge, verdict
from desktop.core.engines.base import Result
from desktop.core.settings import Judging
from desktop.core.store import SlotSpec, Store
from desktop.ui.leaderboard import LeaderboardView

WAIT_MS = 60_000
HOSTILE = "<b>Qwen</b><img src=x onerror=alert(1)>"


def fill(store: Store) -> None:
    """60 voted coding rounds where the local model wins 80%, and 8 unvoted rounds a judge rated."""
    rng = random.Random(4)
    cid = store.new_conversation("sim")
    for k in range(68):
        rid, ids = store.add_round(cid, f"code {k}", [SlotSpec(0, 0, "local", HOSTILE, "sha256:qwen"),
                                                      SlotSpec(1, 1, "openai", "gpt-4o-mini", "gpt-4o-mini")],
                                   tag="coding")
        store.save_response(ids[0], Result(text=f"local {k}", status="done", started_at=1.0, finished_at=3.0))
        store.save_response(ids[1], Result(text=f"api {k}", status="done", started_at=1.0, finished_at=2.0,
                                           cost_usd=0.001))
        if k < 60:
            store.cast_vote(rid, "left" if rng.random() < 0.8 else "right")
    for pair in judge.pairs_voted(store, "judge-ref")[:12] + judge.pairs_unvoted(store, "judge-ref"):
        agree = "a" if pair.user_winner in (None, "a") else "b"
        judge.save(store, pair, judge.PairJudgement(agree, agree, "<i>because</i>", ""), judge_ref="judge-ref",
                   judge_label="<script>Judge</script>")


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "j.sqlite3")
    yield s
    s.close()


def shown(qtbot, view):
    with qtbot.waitSignal(view.computed, timeout=WAIT_MS):
        view.refresh()
    view.tabs.setCurrentIndex(view.tabs.count() - 1)


def test_the_tab_shows_the_verdict_and_the_judge_apart(qtbot, store):
    fill(store)
    view = LeaderboardView(store, rounds=300, seed=0)
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    shown(qtbot, view)
    assert view.tabs.tabText(view.tabs.count() - 1) == "Can I switch? · Judge"

    # the verdict, in words and per category
    summary = view.switch_summary.text()
    assert f"On coding, {HOSTILE} ties or beats gpt-4o-mini on" in summary
    assert "you can switch" in summary
    # the overall verdict reuses the board's fit (no filter set): the same words as fitted apart
    alone = verdict.switch_verdict(store, "sha256:qwen", "gpt-4o-mini", rounds=300, seed=0)
    assert alone.overall.words in summary and alone.categories[0].words in summary
    cells = {view.switch_table.item(r, 0).text(): view.switch_table.item(r, 5).text()
             for r in range(view.switch_table.rowCount())}
    assert cells["coding"] == "Yes: switch"
    assert view.switch_local.currentText() == f"{HOSTILE} (60 battles)"
    assert view.switch_api.currentText() == "gpt-4o-mini (60 battles)"

    # the judge: calibration first, then its own ratings as a separate series
    text = view.judge_text.text()
    assert "<script>Judge</script> agrees with you on 100%" in text and "of your coding rounds" in text
    assert "a separate series" in text
    assert {r.battles for r in view.judge_model.rows()} == {20}  # 12 calibration + 8 unvoted pairs

    # model text is shown as text, never as markup
    for label in (view.switch_summary, view.judge_text):
        assert label.textFormat() == Qt.PlainText

    # off by default: the board holds the user's 60 votes only
    assert not view.judge_switch.isChecked()
    assert view.board.n_battles == 60
    with qtbot.waitSignal(view.computed, timeout=WAIT_MS):
        view.judge_switch.setChecked(True)
    assert view.board.n_battles == 68  # the judge's verdicts on the 8 unvoted rounds only
    alone = verdict.switch_verdict(store, "sha256:qwen", "gpt-4o-mini", rounds=300, seed=0,
                                   battles=judge.with_judge(store.battles(), store))
    assert alone.overall.battles == 68 and alone.overall.words in view.switch_summary.text()
    assert "counts 8 of the judge's verdicts" in view.verdict.text()
    view.wait_idle()


def test_no_judge_and_no_votes_say_what_to_do(qtbot, store):
    view = LeaderboardView(store, rounds=100, judging=Judging(count_in_leaderboard=False))
    qtbot.addWidget(view)
    shown(qtbot, view)
    assert "No local model has votes yet" in view.switch_summary.text()
    assert "arenadesk judge calibrate" in view.judge_text.text()
    assert view.switch_table.rowCount() == 0
    view.wait_idle()


def test_the_window_hands_the_judging_settings_to_the_leaderboard(qtbot, services):
    from desktop.core.verdict import Energy
    from desktop.ui.main_window import MainWindow

    services.settings.judging = Judging(count_in_leaderboard=True, local_watts=200.0, usd_per_kwh=0.3)
    fill(services.store)
    w = MainWindow(services)
    qtbot.addWidget(w)
    w.show()
    w.open_leaderboard()
    view = w._dialogs["leaderboard"].view
    with qtbot.waitSignal(view.computed, timeout=WAIT_MS):
        pass
    assert view.energy == Energy(200.0, 0.3)
    assert view.judge_switch.isChecked()  # the saved choice: the judge's verdicts count
    assert view.board.n_battles == 68
    assert "electricity included" in view.switch_summary.text()
    view.wait_idle()
    w.close()
