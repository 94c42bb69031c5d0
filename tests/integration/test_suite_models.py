"""Suite runs with the real models: the built-in base model and the real chat model (ChatML),
through the core runner, the command line, and a crash in the middle of a run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from desktop.cli import run
from desktop.core import secrets
from desktop.core.engines.registry import ModelChoice
from desktop.core.rating_queue import RatingQueue
from desktop.core.settings import Sampling
from desktop.core.store import Store
from desktop.core.store.suite_runs import SuiteRuns
from desktop.core.suite_runner import SuiteRunner, plan_run
from desktop.core.suites import Suite, SuiteItem

SMALL = Suite("small", [
    SuiteItem("capital", "geography", ["What is the capital of France?"], ["Paris"]),
    SuiteItem("count", "maths", ["Count from one to three.", "Now count backwards from three."]),
])
SAMPLING = Sampling(max_tokens=16, temperature=0.0, seed=1)


def write_suite(path, suite=SMALL):
    path.write_text(suite.to_jsonl(), encoding="utf-8")
    return path


def test_core_runner_with_the_built_in_and_the_chat_model(services, chat_model):
    choices = [ModelChoice("local", "default"), ModelChoice("local", str(chat_model))]
    run_id = plan_run(services.store, SMALL, choices, SAMPLING)
    runner = SuiteRunner(services.store, services.prices, services.engines, run_id)
    runner.start()
    assert runner.wait(300)
    p = runner.progress()
    assert (p.state, p.done, p.total, p.errors) == ("done", 6, 6, 0), SuiteRuns(services.store).answers(run_id)
    answers = SuiteRuns(services.store).answers(run_id)
    by = {(a.item, a.turn, a.contestant): a for a in answers}
    assert all(a.text.strip() for a in answers), [(a.model, a.text) for a in answers]
    assert "Paris" in by[(0, 0, 0)].text  # the built-in model knows this one at temperature 0
    assert all(a.cost_usd == 0.0 and a.tokens_out and a.finish_reason in ("stop", "length") for a in answers)
    run_row = SuiteRuns(services.store).run(run_id)
    assert run_row.contestants[0]["ref"].startswith("sha256:") and run_row.contestants[1]["ref"].startswith("sha256:")
    assert run_row.contestants[1]["label"] == chat_model.stem  # the one display name: the file without .gguf

    # the queue offers the real answers, blind; a vote lands on the leaderboard under the category tag
    q = RatingQueue(services.store, run_id, seed=4)
    pair = q.next()
    shown = {pair.turns[-1][1], pair.turns[-1][2]}
    last_turn = len(SMALL.items[pair.item].turns) - 1
    assert shown == {by[(pair.item, last_turn, 0)].text, by[(pair.item, last_turn, 1)].text}
    q.vote(pair, "left")
    (battle,) = services.store.battles()
    assert battle.tag == SMALL.items[pair.item].category and battle.blind


def cli_env(home):
    return dict(os.environ, ARENADESK_HOME=str(home), QT_QPA_PLATFORM="offscreen")


def test_cli_suite_run_list_report_with_both_models(services, chat_model, tmp_path, capsys):
    services.close()
    suite_file = write_suite(tmp_path / "small.jsonl")
    assert run(["suite", "import", str(suite_file)]) == 0
    assert "imported suite 'small': 2 prompts" in capsys.readouterr().out
    code = run(["suite", "run", "small", "--local", "default", "--local", str(chat_model), "--max-tokens", "16",
                "--temperature", "0", "--seed", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "2 prompts × 2 models = 6 answers" in out and "No API models: the run costs nothing." in out
    assert "Done: 6/6 answers" in out
    assert run(["suite", "list"]) == 0
    listing = capsys.readouterr().out
    assert "small: 2 prompts (geography, maths)" in listing and "done, 6/6 answers" in listing
    run_id = SuiteRuns(Store(services.folders.database)).runs()[0].id
    report_file = tmp_path / "report.html"
    assert run(["suite", "report", str(run_id), "--out", str(report_file)]) == 0
    page = report_file.read_text(encoding="utf-8")
    answers = SuiteRuns(Store(services.folders.database)).answers(run_id)
    import html

    assert all(html.escape(a.text, quote=True) in page for a in answers)
    assert chat_model.stem in page and "Count from one to three." in page


def test_cli_suite_against_a_server_on_a_named_connection(services, llama_server, tmp_path, capsys):
    """The built-in model against llama_cpp.server, the API side named as `ask` names it: a bare
    --remote goes to --base-url's connection, CONNECTION:MODEL to a saved one."""
    services.close()
    suite_file = write_suite(tmp_path / "one.jsonl", Suite("one", [SMALL.items[0]]))
    code = run(["suite", "run", str(suite_file), "--local", "default", "--remote", "gemma-via-api",
                "--base-url", llama_server, "--max-tokens", "8", "--temperature", "0", "--parallel", "1", "--yes"])
    out = capsys.readouterr()
    assert code == 0, out.err
    runs = SuiteRuns(Store(services.folders.database))
    (row,) = runs.runs()
    api = row.contestants[1]
    port = llama_server.split(":")[2].split("/")[0]
    assert api["engine"] == "openai" and ModelChoice.parse(api["choice"]).connection == f"127.0.0.1-{port}"
    assert api["label"].endswith(f"127.0.0.1:{port}"), api  # named after the host, as `ask` names it
    answers = runs.answers(row.id)
    assert [a.status for a in answers] == ["done", "done"] and all(a.text.strip() for a in answers)
    assert answers[1].cost_usd in (0.0, None)  # a model the price table does not know is not priced


def test_cli_refuses_what_it_cannot_run(services, capsys, tmp_path):
    services.close()
    assert run(["suite", "run", "starter", "--local", "default"]) == 2
    assert "2 to 4 models" in capsys.readouterr().err
    assert run(["suite", "run", "starter", "--local", "default", "--remote", "gpt-4o-mini"]) == 2
    assert "No OpenAI key" in capsys.readouterr().err
    services.secrets.set(secrets.OPENAI, "sk-test-0000")
    assert run(["suite", "run", "starter", "--local", "default", "--remote", "gpt-4o-mini"]) == 2
    err = capsys.readouterr().err
    assert "--yes" in err  # an API run is not started unattended without consent to its cost
    assert SuiteRuns(Store(services.folders.database)).runs() == []
    # a model on another connection needs that connection's key, not OpenAI's
    from desktop.core.connections import new_connection

    services.settings.connections.append(new_connection(services.settings, "openrouter"))
    services.save_settings()
    assert run(["suite", "run", "starter", "--local", "default", "--remote", "openrouter:meta/llama", "--yes"]) == 2
    assert "No OpenRouter key" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n')
    assert run(["suite", "import", str(bad)]) == 2
    assert "line 1" in capsys.readouterr().err
    assert run(["suite", "resume", "99"]) == 2
    assert "no suite run 99" in capsys.readouterr().err


def test_killed_mid_run_resumes_without_answering_anything_twice(services, chat_model, tmp_path):
    services.close()
    home = services.folders.data.parent
    suite = Suite("longer", [SuiteItem(f"p{k}", "misc", [f"Name a colour, number {k}."]) for k in range(4)]
                  + [SuiteItem("mt", "misc", ["Say hello.", "Say goodbye."])])
    suite_file = write_suite(tmp_path / "longer.jsonl", suite)
    cmd = [sys.executable, "-m", "desktop", "suite", "run", str(suite_file), "--local", "default",
           "--local", str(chat_model), "--max-tokens", "24", "--temperature", "0", "--seed", "1"]
    proc = subprocess.Popen(cmd, env=cli_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    store = Store(services.folders.database)
    runs = SuiteRuns(store)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            rows = runs.runs()
            if rows and runs.counts(rows[0].id).done >= 3:
                break
            assert proc.poll() is None, proc.stdout.read().decode()
            time.sleep(0.2)
        else:
            pytest.fail("the run answered nothing within 240 s")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its model processes, like a power cut
        proc.wait(30)
    run_id = runs.runs()[0].id
    before = {(a.item, a.turn, a.contestant): (a.finished_at, a.text) for a in runs.answers(run_id, status="done")}
    assert 3 <= len(before) < 12
    assert runs.run(run_id).status == "running"  # what a crash leaves behind

    out = subprocess.run([sys.executable, "-m", "desktop", "suite", "resume", str(run_id)], env=cli_env(home),
                         capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"Resuming run {run_id}: {12 - len(before)} answers to go" in out.stdout
    assert "Done: 12/12 answers" in out.stdout
    after = runs.answers(run_id)
    assert len(after) == 12 and all(a.status == "done" and a.text.strip() for a in after)
    for a in after:
        key = (a.item, a.turn, a.contestant)
        if key in before:
            assert (a.finished_at, a.text) == before[key]  # kept, not answered again
    assert runs.run(run_id).status == "done"
