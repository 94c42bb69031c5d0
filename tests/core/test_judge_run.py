"""Running the judge as the window and the command line do (core/judge_run.py): the checks made
before any work starts say what to do, the plan counts the pairs and says what they cost, one run
calibrates then rates with one progress count, and a cancelled run keeps what it judged.
The real models run this path in tests/ui/test_judge_dialog.py and tests/integration/test_judge_cli.py."""
from __future__ import annotations

import pytest
from test_judge import ScriptedJudge, voted_store  # tests/core's scripted judge and seeded store

from desktop.core import judge, secrets
from desktop.core.engines.base import Done, Result, TextDelta
from desktop.core.engines.registry import ModelChoice
from desktop.core.judge_run import (
    JudgeRequest, JudgeSetupError, judge_engine, judge_sampling, parse_judge, plan_for,
)
from desktop.core.pricing import Prices
from desktop.core.store import SlotSpec

LOCAL = ModelChoice("local", "default")
GPT = ModelChoice("openai", "gpt-4o-mini", "openai")


def add_unvoted(store, n: int) -> None:
    cid = store.new_conversation("unvoted")
    for k in range(n):
        _rid, ids = store.add_round(cid, f"new {k}", [SlotSpec(0, 0, "local", "Local Q4", "sha256:local"),
                                                      SlotSpec(1, 1, "openai", "gpt-x", "gpt-x")], tag="coding")
        store.save_response(ids[0], Result(text=f"GOOD {k}", status="done"))
        store.save_response(ids[1], Result(text=f"POOR {k}", status="done"))


def test_the_plan_counts_pairs_and_says_what_they_cost(tmp_path):
    store = voted_store(tmp_path, 6)
    add_unvoted(store, 3)
    j = judge.Judge(store, ScriptedJudge(1.0, 0.0))
    local = plan_for(j, JudgeRequest(LOCAL, calibrate=True, rate=True))
    # six votes cannot calibrate it: the unvoted pairs wait, and are not counted
    assert (local.calibrate_pairs, local.rate_pairs, local.total) == (6, 3, 6)
    assert local.describe() == (
        "scripted-judge will judge 6 pairs you voted on (to see how often it agrees with you), each pair in both "
        "orders (12 replies). Rounds you did not vote on (3 pairs) wait: it needs 10 more of your voted rounds "
        "judged first, and 6 are left to check (vote on more rounds). Cost: free (local).")
    rate_only = plan_for(j, JudgeRequest(LOCAL, calibrate=False, rate=True))
    assert rate_only.total == 0 and rate_only.describe() == (
        "Rounds you did not vote on (3 pairs) wait: it needs 10 more of your voted rounds judged first "
        "(tick “Check it against my votes”).")

    priced = plan_for(j, JudgeRequest(GPT, calibrate=True, limit=4), Prices.load())
    assert (priced.calibrate_pairs, priced.rate_pairs) == (4, 0)
    # 4 pairs × 2 orders × (about 130 tokens in at $0.15/M + 160 out at $0.60/M): about a tenth of a cent
    assert 0.0005 < priced.cost_usd < 0.002
    assert f"Cost: at most ${priced.cost_usd:.4f}" in priced.describe()
    unknown = plan_for(j, JudgeRequest(ModelChoice("openai", "my-own-model", "openai")), Prices.load())
    assert "Cost: unknown (no price for my-own-model" in unknown.describe()

    only_writing = plan_for(j, JudgeRequest(LOCAL, tag="writing"))
    assert only_writing.calibrate_pairs == 3 and "pairs you voted on in writing" in only_writing.describe()
    store.close()


def test_a_run_calibrates_then_rates_with_one_progress_count(tmp_path):
    store = voted_store(tmp_path, judge.MIN_CALIBRATION)
    add_unvoted(store, 3)
    j = judge.Judge(store, ScriptedJudge(1.0, 0.0))
    run = plan_for(j, JudgeRequest(LOCAL, calibrate=True, rate=True))
    assert run.total == 13 and "only once 10 more of your votes have a readable verdict" in run.describe()
    seen = []
    outcome = run.run(on_progress=lambda done, total: seen.append((done, total)))
    assert seen == [(k, 13) for k in range(1, 14)]
    assert outcome.calibrated.judged == judge.MIN_CALIBRATION and outcome.rated.judged == 3
    assert outcome.line() == ("Checked against your votes: 10 pairs judged. "
                              "Rounds you did not vote on: 3 pairs judged.")
    assert plan_for(j, JudgeRequest(LOCAL, calibrate=True, rate=True)).total == 0  # nothing judged twice
    store.close()


def test_rating_before_calibration_is_refused_in_words_and_the_limit_covers_both(tmp_path):
    store = voted_store(tmp_path, 4)
    add_unvoted(store, 3)
    j = judge.Judge(store, ScriptedJudge(1.0, 0.0))
    outcome = plan_for(j, JudgeRequest(LOCAL, calibrate=True, rate=True)).run()
    assert outcome.rated is None and outcome.calibrated.judged == 4
    assert "were not rated: scripted-judge has a verdict on 4 of your votes and needs 10 first" in outcome.line()

    store2 = voted_store(tmp_path / "two", 3)
    add_unvoted(store2, 3)
    j2 = judge.Judge(store2, ScriptedJudge(1.0, 0.0))
    limited = plan_for(j2, JudgeRequest(LOCAL, calibrate=True, rate=True, limit=2))
    assert (limited.calibrate_pairs, limited.rate_pairs) == (2, 0)
    assert limited.run().calibrated.judged == 2
    assert len(store2.query("SELECT id FROM judge_votes")) == 2
    store.close()
    store2.close()


def test_a_cancelled_run_keeps_the_pairs_it_judged(tmp_path):
    store = voted_store(tmp_path, 5)
    j = judge.Judge(store, ScriptedJudge(1.0, 0.0))
    run = plan_for(j, JudgeRequest(LOCAL))

    def progress(done, total):
        if done == 2:
            run.cancel()  # as Cancel does, from another thread, while the third pair is asked

    outcome = run.run(on_progress=progress)
    assert outcome.cancelled and "2 pairs judged; stopped early." in outcome.line()
    assert len(store.query("SELECT id FROM judge_votes")) == 2
    assert judge.calibration(store, j.ref).overall.n == 2
    store.close()


def test_a_judge_that_cannot_start_says_what_to_do(tmp_path, arenadesk_home):
    from desktop.core.services import Services

    services = Services.open()
    try:
        with pytest.raises(JudgeSetupError, match="Settings"):  # no key for OpenAI yet
            judge_engine(services, GPT)
        with pytest.raises(JudgeSetupError, match="There is no connection 'gone'"):
            judge_engine(services, ModelChoice("openai", "gpt-4o", "gone"))
        not_a_model = tmp_path / "notes.gguf"
        not_a_model.write_text("hello")
        with pytest.raises(JudgeSetupError, match="is not a GGUF model file"):
            judge_engine(services, ModelChoice("local", str(not_a_model)))
        with pytest.raises(JudgeSetupError, match="Model file not found"):
            judge_engine(services, ModelChoice("local", str(tmp_path / "gone.gguf")))
        with pytest.raises(JudgeSetupError):
            parse_judge("gpt-4o")  # neither local: nor openai:
        assert parse_judge("default") == LOCAL

        services.secrets.set(secrets.OPENAI, "sk-test-judge-run-0000")
        engine = judge_engine(services, GPT)
        assert engine.info.model == "gpt-4o-mini @ OpenAI"
        assert engine is not services.engines.get(GPT)  # its own client: cancelling it stops no pane
    finally:
        services.close()


class ShortThenReadable(ScriptedJudge):
    """A judge whose replies are cut before the verdict line until it is given a longer reply length,
    as a small chat model is at a few tokens."""

    def stream(self, messages, params, cancel=None):
        if params.max_tokens < 20:
            self.calls += 1
            yield TextDelta("Reason: answer A names the right city, while answer B")
            yield Done()
            return
        yield from super().stream(messages, params, cancel)


def test_unreadable_replies_are_not_done_the_next_run_tries_them_again(tmp_path):
    store = voted_store(tmp_path, 4)
    add_unvoted(store, 2)
    engine = ShortThenReadable(1.0, 0.0)
    short = judge.Judge(store, engine, sampling=judge_sampling(8))
    first = plan_for(short, JudgeRequest(LOCAL, limit=3))
    assert first.retries == 0 and "tried again" not in first.describe()
    outcome = first.run()
    assert (outcome.calibrated.judged, outcome.calibrated.unparseable) == (0, 3)
    line = outcome.line()
    assert line.startswith("Checked against your votes: 0 pairs judged; 3 pairs got a reply that could not be read")
    assert line.endswith("One reply that could not be read (no 'Verdict: A / B / tie' line in the reply): "
                         "“Reason: answer A names the right city, while answer B”.")
    cal = judge.calibration(store, short.ref)  # the unreadable rows are kept, and are no verdicts
    assert cal.overall.n == 0 and cal.overall.unparseable == 3 and judge.battles(store, short.ref) == []

    # the same judge plans them again: the pair it never asked about first, then the 3 retries
    again = plan_for(short, JudgeRequest(LOCAL))
    assert again.calibrate_pairs == 4 and again.retries == 3
    assert again.describe() == (
        "scripted-judge will judge 4 pairs you voted on (to see how often it agrees with you), each pair in both "
        "orders (8 replies). 3 pairs whose earlier replies could not be read are tried again. Cost: free (local).")
    voted = judge.pairs_voted(store, short.ref)
    assert [p.unread_before for p in voted] == [False, True, True, True]
    assert plan_for(short, JudgeRequest(LOCAL, limit=1)).retries == 0  # a limit favours pairs never asked
    one = plan_for(short, JudgeRequest(LOCAL, limit=2))
    assert "1 pair whose earlier reply could not be read is tried again." in one.describe()

    # with a longer reply length it reads them: each retry replaces its unreadable row
    longer = judge.Judge(store, engine, sampling=judge_sampling(64))
    done = plan_for(longer, JudgeRequest(LOCAL)).run()
    assert (done.calibrated.judged, done.calibrated.unparseable) == (4, 0) and "could not be read" not in done.line()
    assert len(store.query("SELECT id FROM judge_votes")) == 4
    cal = judge.calibration(store, short.ref)
    assert cal.overall.n == 4 and cal.overall.unparseable == 0
    assert plan_for(longer, JudgeRequest(LOCAL)).describe() == (
        "scripted-judge has nothing to judge: it has judged every such pair already.")

    # the same rule for the rounds the user did not vote on
    rate = plan_for(short, JudgeRequest(LOCAL, calibrate=False, rate=True))
    assert rate.total == 0  # not calibrated (4 of 10): rating waits, retries or not
    assert [p.unread_before for p in judge.pairs_unvoted(store, short.ref)] == [False, False]
    store.close()


def test_an_unreadable_reply_is_shown_as_one_line_of_plain_text_cut_short():
    hostile = ("<b>bold</b>\u202eesrever\u200b\n\n" + "x" * 1000 + "\x1b[31m")
    summary = judge.RunSummary(unparseable=1, problems=["no 'Verdict: A / B / tie' line in the reply"],
                               unread_reply=hostile)
    shown = summary.line().split(": “", 1)[1]
    assert shown.startswith("<b>bold</b> esrever x") and shown.endswith("…”.")
    assert len(shown) == judge.REPLY_EXCERPT_CHARS + 2  # the cut text, the closing quote and the full stop
    assert not any(ch in shown for ch in "\n\u202e\u200b\x1b")
    assert judge.reply_excerpt("  a \n b  ") == "a b"


def test_the_plan_warns_of_a_judge_of_its_own_answers_and_of_a_base_model(tmp_path):
    store = voted_store(tmp_path, 3)  # every round: sha256:local against gpt-x
    outsider = plan_for(judge.Judge(store, ScriptedJudge(1.0, 0.0)), JudgeRequest(LOCAL))
    assert outsider.own_pairs == 0 and outsider.warnings() == []
    contestant = plan_for(judge.Judge(store, ScriptedJudge(1.0, 0.0), ref="sha256:local", label="Local Q4"),
                          JudgeRequest(LOCAL, limit=2))
    assert contestant.warnings() == ["Local Q4 is one of the contestants: it will judge its own answers in 2 pairs."]
    contestant.base_model = True
    assert contestant.warnings()[0] == ("Local Q4 is a base model (no chat template): it rarely gives a readable "
                                        "verdict. A chat model judges better.")
    store.close()


def test_the_default_judge_is_a_chat_model_else_an_api_model_with_a_key_else_the_built_in(services, chat_model):
    import os

    from fakes import put_in_models

    from desktop.core.contestants import Contestants
    from desktop.core.judge_run import default_judge, has_chat_template

    contestants = Contestants(services)
    # only the built-in base model, and no key stored: the built-in model (its plan warns)
    assert default_judge(services, contestants) == LOCAL
    assert has_chat_template(services, LOCAL) is False and has_chat_template(services, GPT) is None
    # a key stored: the first API model on that connection
    services.secrets.set(secrets.OPENAI, "sk-test-default-judge-0000")
    first_api = contestants.api()[0].choice
    assert default_judge(services, contestants) == first_api and first_api.connection == "openai"
    # an installed chat model beats both (the library read its header: it has a chat template)
    target = put_in_models(services, chat_model)
    services.installed.changed()
    smol = ModelChoice("local", os.fspath(target))
    assert default_judge(services, contestants) == smol and has_chat_template(services, smol) is True
    # a file named on the command line, outside the library, is read from its header
    assert has_chat_template(services, ModelChoice("local", os.fspath(chat_model))) is True
