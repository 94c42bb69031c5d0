"""A user's blind comparison, end to end, in the real window with real models: the built-in
Gemma 3 270M (base model), SmolLM2-135M-Instruct (a chat model with a ChatML template) and
llama_cpp.server on loopback reached through the OpenAI engine. Three panes, blind; vote;
change the vote; then the leaderboard and every export. What the user sees is asserted
after each step."""
from __future__ import annotations

import csv
import json

import pytest
from PySide6.QtCore import Qt

from desktop.ui.main_window import MainWindow

ROUND_TIMEOUT_MS = 180_000
BASE, API = "Gemma 3 270M (built in)", "gemma-via-api"


@pytest.fixture
def window(qtbot, services, llama_server, chat_model):
    from desktop.core.library.installed import import_file

    s = services.settings
    s.sampling.max_tokens, s.sampling.temperature, s.sampling.seed = 16, 0.0, 1
    chat = import_file(services, str(chat_model))
    w = MainWindow(services)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.apiModelsFetched, timeout=30_000):  # the start's fetch, before the endpoint changes
        w.show()
    # The endpoint is set as Settings would; its model is offered under a short name (the
    # server itself lists the file's path, and answers to any name).
    s.openai_base_url = llama_server  # a local server wants no key
    w.set_api_models([API])
    w.add_pane()
    w.choose_model(0, "local:default")
    w.choose_model(1, str(chat.choice))
    w.choose_model(2, f"openai:{API}")
    w.chat_name = chat.choice.label
    yield w
    w.close()


def first_line(text: str) -> str:
    return text.splitlines()[0][:30] if text else ""


def shown_left_to_right(w):
    return sorted(w.panes, key=lambda p: w.pane_area.indexOf(p))


def test_three_pane_blind_round_vote_change_leaderboard_and_exports(qtbot, window, services, tmp_path):
    w = window
    names = [BASE, w.chat_name, API]
    assert [p.picker.currentText().split(" · ")[0] for p in w.panes] == ["Gemma 3 270M (built in)",
                                                                        "SmolLM2-135M-Instruct.Q4_1", API]
    w.act_toggle_blind.trigger()
    w.prompt.setPlainText("What is the capital of France?")
    with qtbot.waitSignal(w.roundFinished, timeout=ROUND_TIMEOUT_MS):
        w.act_send.trigger()
    qtbot.wait(150)

    # Before the vote: three anonymous sides; nothing names a model or an engine.
    assert [p.title.text() for p in shown_left_to_right(w)] == ["Model A", "Model B", "Model C"]
    assert not any(p.picker.isVisible() for p in w.panes)
    answers = [p._text.strip() for p in w.panes]
    assert all(answers), answers  # the base model, the chat model and the API side all answered
    for p in w.panes:
        footer = p.metrics.text()
        assert "tok" in footer and not any(g in footer for g in ("free", "~", "$", "loaded", "local", "API"))
        heading_lines = [line for line in p.view.toPlainText().splitlines() if line.startswith("Model ")]
        assert heading_lines, p.view.toPlainText()
        assert not any(n in p.view.toPlainText() for n in ("SmolLM2", API, "built in"))

    # Vote: the built-in model's side is best. The answers stay; the names appear.
    best = w.panes[0]
    qtbot.keyClick(w.rating, Qt.Key_1 + best.position)
    for p, text in zip(w.panes, answers):
        view = p.view.toPlainText()
        assert first_line(text) in view, (text, view)
        assert "Model A" not in view and "Model B" not in view and "Model C" not in view
    for p, name in zip(w.panes, names):
        assert name.split(".gguf")[0] in p.view.toPlainText() and p.picker.isVisible()
    assert [p.title.text() for p in shown_left_to_right(w)] == ["A", "B", "C"]
    assert "Revealed: A = " in w.statusBar().currentMessage()
    assert "free (local)" in w.panes[0].metrics.text()  # the figures held back while blind
    assert services.store.query("SELECT outcome, best_position, blind FROM votes") == [
        ("best", best.position, 1)]

    # Change the vote (a tie), then back: still a blind vote, the answers still there.
    qtbot.keyClick(w.rating, Qt.Key_T)
    assert services.store.query("SELECT outcome, blind FROM votes") == [("tie", 1)]
    qtbot.keyClick(w.rating, Qt.Key_1 + best.position)
    assert services.store.query("SELECT outcome, best_position, blind FROM votes") == [
        ("best", best.position, 1)]
    assert all(first_line(text) in p.view.toPlainText() for p, text in zip(w.panes, answers))

    # The leaderboard names the three models, the chosen one first.
    w.open_leaderboard()
    view = w._dialogs["leaderboard"].view
    qtbot.waitUntil(lambda: not view.busy and len(view.rows()) == 3, timeout=60_000)
    labels = [r.label for r in view.rows()]
    # An API contestant is its model at its connection (the journey's server is the OpenAI connection's URL).
    assert labels[0] == BASE and set(labels) == {BASE, w.chat_name, f"{API} @ OpenAI"}

    # Every export, written from the leaderboard, names the right models (or carries their answers).
    out = {fmt: tmp_path / f"out.{fmt}" for fmt in ("csv", "jsonl", "fastchat", "pairs")}
    for fmt, path in out.items():
        with qtbot.waitSignal(view.message, timeout=30_000):
            view.export_as(fmt, str(path))
    rows = list(csv.DictReader(out["csv"].open(encoding="utf-8")))
    assert len(rows) == 1 and rows[0]["winner"] == BASE
    assert {rows[0][k] for k in rows[0] if k.endswith("model")} >= set(names)
    jsonl = out["jsonl"].read_text(encoding="utf-8")
    assert all(n in jsonl for n in names)
    battles = json.loads(out["fastchat"].read_text(encoding="utf-8"))
    assert len(battles) == 2  # the winner against each of the others
    for b in battles:
        winner = b[b["winner"]]
        assert winner == BASE and {b["model_a"], b["model_b"]} - {BASE} <= {w.chat_name, f"{API} @ OpenAI"}
    pairs = [json.loads(line) for line in out["pairs"].read_text(encoding="utf-8").splitlines()]
    assert pairs and all(p["chosen"][0]["content"].strip() == answers[0] for p in pairs)
    assert {p["rejected"][0]["content"].strip() for p in pairs} <= {answers[1], answers[2]}

