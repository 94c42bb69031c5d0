"""Exports (CSV, JSONL, FastChat, preference pairs) and JSONL import, on real SQLite stores."""
from __future__ import annotations

import csv
import json

import pytest

from desktop.core import exports, ratings
from desktop.core.engines.base import Result
from desktop.core.store import SlotSpec, Store

GEMMA = SlotSpec(0, 0, "local", "gemma-3-270m-q4_k_m.gguf", "sha256:" + "a" * 64,
                 {"temperature": 0.7, "max_tokens": 64, "api_key": "sk-should-never-appear"})
GPT = SlotSpec(1, 1, "openai", "gpt-4o-mini", "gpt-4o-mini", {"temperature": 0.7, "max_tokens": 64})
QWEN = SlotSpec(2, 2, "local", "@qwen.gguf", "sha256:" + "b" * 64, {"temperature": 0.2})
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def answer(store, response_id, text, t=1000.0, tokens_out=None):
    store.save_response(response_id, Result(text=text, status="done", started_at=t, first_token_at=t + 0.25,
                                            finished_at=t + 2.0, tokens_in=9, tokens_out=tokens_out,
                                            cost_usd=0.0001))


def two_pane(store, prompt, texts, outcome, *, blind=False, tag=None, conv=None, slots=(GEMMA, GPT), note="",
             positions=None):
    cid = conv or store.new_conversation()
    specs = [SlotSpec(s.slot, p, s.engine, s.model, s.model_ref, s.params)
             for s, p in zip(slots, positions or [s.position for s in slots])]
    rid, ids = store.add_round(cid, prompt, specs, blind=blind, tag=tag, system_prompt="Be brief.")
    for i, text in zip(ids, texts):
        answer(store, i, text, tokens_out=len(text.split()))
    if outcome:
        store.cast_vote(rid, outcome, note=note, **({"best_position": 0} if outcome == "best" else {}))
    return cid, rid


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "source.sqlite3")
    fill(s)
    yield s
    s.close()


def fill(s: Store) -> None:
    """A mix: multi-turn, blind with swapped sides, tags, ties, both bad, a three-pane 'best',
    an unvoted round, and text that spreadsheets would run as formulas."""
    cid, _ = two_pane(s, "=HYPERLINK(\"http://x\",\"click\")", ["+1 is the answer", "-1 maybe"], "right",
                      note="@note -2+3", tag="math")
    two_pane(s, "And in French?", ["Paris, bien sûr.", "Paris."], "left", conv=cid, tag="math")
    for k in range(6):
        two_pane(s, f"Blind question {k}", [f"gemma says {k}", f"gpt says {k}"], "right" if k % 3 else "left",
                 blind=True, positions=[1, 0] if k % 2 else [0, 1], tag="blind")
    two_pane(s, "A tie?", ["same", "same-ish"], "tie")
    two_pane(s, "Both bad?", ["no", "nope"], "both_bad")
    two_pane(s, "Three panes", ["one", "two", "three"], "best", slots=(GEMMA, GPT, QWEN))
    two_pane(s, "Not voted yet", ["x", "y"], None)


def table_counts(s: Store) -> dict[str, int]:
    return {t: s.query(f"SELECT COUNT(*) FROM {t}")[0][0]
            for t in ("conversations", "rounds", "responses", "votes", "battles")}


def board_key(board):
    return [(r.ref, r.label, round(r.rating, 9), round(r.lower, 9), round(r.upper, 9), r.rank, r.battles)
            for r in board.rows]


# -- CSV -------------------------------------------------------------------------------------

def test_csv_one_row_per_vote_and_formula_safe(store, tmp_path):
    out = tmp_path / "votes.csv"
    n = exports.export(store, "csv", out)
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert n == len(rows) == store.query("SELECT COUNT(*) FROM votes")[0][0] == 11
    for row in rows:
        for key, cell in row.items():
            assert not str(key).startswith(FORMULA)
            assert cell is None or not cell.startswith(FORMULA), (key, cell)
    first = rows[0]
    assert first["prompt"] == "'=HYPERLINK(\"http://x\",\"click\")"
    assert first["left_answer"] == "'+1 is the answer" and first["right_answer"] == "'-1 maybe"
    assert first["note"] == "'@note -2+3"
    assert first["outcome"] == "right" and first["winner"] == "gpt-4o-mini"
    assert first["left_model"] == "gemma-3-270m-q4_k_m" and first["left_model_ref"] == "sha256:" + "a" * 64
    assert first["tag"] == "math" and first["turn"] == "0"
    assert float(first["left_ttft_s"]) == pytest.approx(0.25)
    three = next(r for r in rows if r["outcome"] == "best")
    assert three["pane3_model"] == "'@qwen" and three["winner"] == "gemma-3-270m-q4_k_m"
    assert exports.safe_cell("\tx") == "'\tx" and exports.safe_cell(3) == "3" and exports.safe_cell(None) == ""


def test_csv_filters(store, tmp_path):
    out = tmp_path / "blind.csv"
    assert exports.export(store, "csv", out, blind_only=True) == 6
    assert exports.export(store, "csv", out, tag="math") == 2
    assert exports.export(store, "csv", out, since=4e9) == 0
    with pytest.raises(ValueError, match="unknown export format"):
        exports.export(store, "xlsx", out)


# -- JSONL round trip ----------------------------------------------------------------------------

def test_jsonl_roundtrip_gives_the_identical_leaderboard(store, tmp_path):
    out = tmp_path / "all.jsonl"
    n = exports.export(store, "jsonl", out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == n + 1
    header = json.loads(lines[0])
    assert header["type"] == "arenadesk-export" and header["version"] == 1
    kinds = [json.loads(line)["type"] for line in lines[1:]]
    counts = table_counts(store)
    assert kinds.count("conversation") == counts["conversations"]
    assert kinds.count("response") == counts["responses"]
    assert kinds.count("vote") == counts["votes"]
    response = next(json.loads(line) for line in lines[1:] if '"response"' in line and "sha256:aaaa" in line)
    assert response["params"] == {"max_tokens": 64, "temperature": 0.7}  # no api_key
    assert response["tokens_out"] is not None and response["first_token_at"] == 1000.25
    assert "sk-should-never-appear" not in out.read_text(encoding="utf-8")

    empty = Store(tmp_path / "other-machine.sqlite3")
    summary = exports.import_jsonl(empty, out)
    assert "Imported all.jsonl" in summary and "11 votes" in summary
    assert table_counts(empty) == counts
    for kw in ({}, {"blind_only": True}, {"tag": "math"}):
        assert board_key(ratings.leaderboard(empty.battles(**kw), seed=3)) == \
               board_key(ratings.leaderboard(store.battles(**kw), seed=3))
    assert [(b.model_a, b.model_b, b.winner, b.blind, b.position_a, b.position_b, b.tstamp, b.tag)
            for b in empty.battles()] == \
           [(b.model_a, b.model_b, b.winner, b.blind, b.position_a, b.position_b, b.tstamp, b.tag)
            for b in store.battles()]
    # conversations come back whole: turns, texts, metrics, stars, notes
    src = {c.uid: store.conversation(c.id) for c in store.conversations()}
    dst = {c.uid: empty.conversation(c.id) for c in empty.conversations()}
    assert src.keys() == dst.keys()
    for uid, conv in src.items():
        other = dst[uid]
        assert conv.title == other.title and len(conv.rounds) == len(other.rounds)
        for r1, r2 in zip(conv.rounds, other.rounds):
            assert (r1.uid, r1.prompt, r1.system_prompt, r1.tag, r1.turn) == (r2.uid, r2.prompt, r2.system_prompt,
                                                                              r2.tag, r2.turn)
            assert [(p.uid, p.text, p.model_ref, p.tokens_out, p.started_at, p.cost_usd) for p in r1.responses] == \
                   [(p.uid, p.text, p.model_ref, p.tokens_out, p.started_at, p.cost_usd) for p in r2.responses]
            assert (r1.vote is None) == (r2.vote is None)
            if r1.vote:
                assert (r1.vote.uid, r1.vote.outcome, r1.vote.note, r1.vote.created_at) == \
                       (r2.vote.uid, r2.vote.outcome, r2.vote.note, r2.vote.created_at)
    empty.close()


def test_import_twice_adds_nothing_the_second_time(store, tmp_path):
    out = tmp_path / "all.jsonl"
    exports.export(store, "jsonl", out)
    target = Store(tmp_path / "target.sqlite3")
    exports.import_jsonl(target, out)
    once = table_counts(target)
    summary = exports.import_jsonl(target, out)
    assert table_counts(target) == once
    assert "0 new conversations" in summary and "already here" in summary
    # importing into the very store it came from adds nothing either
    before = table_counts(store)
    exports.import_jsonl(store, out)
    assert table_counts(store) == before
    target.close()


def test_import_merges_with_local_data_and_newer_votes_win(store, tmp_path):
    out = tmp_path / "a.jsonl"
    exports.export(store, "jsonl", out)
    other = Store(tmp_path / "b.sqlite3")
    two_pane(other, "Local only", ["mine", "theirs"], "left")
    local = table_counts(other)
    exports.import_jsonl(other, out)
    merged = table_counts(other)
    source = table_counts(store)
    assert all(merged[t] == local[t] + source[t] for t in merged)

    # the user changes their mind on one round at home; the newer vote wins on the other machine
    (rid,) = [r[0] for r in store.query("SELECT id FROM rounds WHERE prompt = 'A tie?'")]
    store.cast_vote(rid, "left", note="changed my mind")
    exports.export(store, "jsonl", out)
    summary = exports.import_jsonl(other, out)
    assert "1 votes updated" in summary
    assert table_counts(other) == merged
    (row,) = other.query("SELECT v.outcome, v.note FROM votes v JOIN rounds r ON r.id = v.round_id "
                         "WHERE r.prompt = 'A tie?'")
    assert row == ("left", "changed my mind")
    assert [b.winner for b in other.battles() if b.round_id == other.query(
        "SELECT id FROM rounds WHERE prompt = 'A tie?'")[0][0]] == ["a"]
    other.close()


def test_import_rejects_files_that_are_not_exports(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"model_a": "x"}\n')
    s = Store(tmp_path / "s.sqlite3")
    with pytest.raises(ValueError, match="not an ArenaDesk JSONL export"):
        exports.import_jsonl(s, bad)
    newer = tmp_path / "newer.jsonl"
    newer.write_text('{"type": "arenadesk-export", "version": 99}\n')
    with pytest.raises(ValueError, match="newer ArenaDesk"):
        exports.import_jsonl(s, newer)
    s.close()


def test_jsonl_filters_export_whole_conversations(store, tmp_path):
    out = tmp_path / "math.jsonl"
    exports.export(store, "jsonl", out, tag="math")
    recs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()[1:]]
    assert [r["type"] for r in recs].count("conversation") == 1
    assert [r["type"] for r in recs].count("round") == 2
    assert [r["type"] for r in recs].count("vote") == 2


# -- FastChat --------------------------------------------------------------------------------

def test_fastchat_clean_battle_format(store, tmp_path):
    out = tmp_path / "clean_battle.json"
    n = exports.export(store, "fastchat", out)
    battles = json.loads(out.read_text(encoding="utf-8"))
    assert isinstance(battles, list) and len(battles) == n == len(store.battles())
    fields = {"question_id", "model_a", "model_b", "winner", "judge", "conversation_a", "conversation_b", "turn",
              "anony", "language", "tstamp"}
    for b in battles:
        assert fields <= b.keys()
        assert b["winner"] in ("model_a", "model_b", "tie", "tie (bothbad)")
        for side in ("conversation_a", "conversation_b"):
            assert [m["role"] for m in b[side]] == ["user", "assistant"] * b["turn"]
            assert all(isinstance(m["content"], str) and isinstance(m["num_tokens"], int) for m in b[side])
        assert b["model_a"] != b["model_b"]
    assert [b["tstamp"] for b in battles] == sorted(b["tstamp"] for b in battles)
    winners = {b["winner"] for b in battles}
    assert winners == {"model_a", "model_b", "tie", "tie (bothbad)"}
    first = battles[0]
    assert first["model_a"] == "gemma-3-270m-q4_k_m" and first["model_b"] == "gpt-4o-mini"
    assert first["winner"] == "model_b" and first["anony"] is False and first["turn"] == 1
    second = battles[1]
    assert second["turn"] == 2 and second["winner"] == "model_a"
    assert [m["content"] for m in second["conversation_a"]] == [
        "=HYPERLINK(\"http://x\",\"click\")", "+1 is the answer", "And in French?", "Paris, bien sûr."]
    assert second["conversation_b"][1]["content"] == "-1 maybe"
    assert second["conversation_a"][3]["num_tokens"] == 3  # the engine's count for answers
    assert sum(b["anony"] for b in battles) == 6
    # a blind round with the sides swapped: model_a is whoever was shown on the left
    swapped = next(b for b in battles if b["conversation_a"][0]["content"] == "Blind question 1")
    assert swapped["model_a"] == "gpt-4o-mini" and swapped["conversation_a"][1]["content"] == "gpt says 1"


# -- preference pairs ----------------------------------------------------------------------------

def test_preference_pairs(store, tmp_path):
    out = tmp_path / "pairs.jsonl"
    n = exports.export(store, "pairs", out)
    pairs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    decisive = [b for b in store.battles() if b.winner in ("a", "b")]
    assert n == len(pairs) == len(decisive) == 1 + 1 + 6 + 2
    for p in pairs:
        assert set(p) == {"prompt", "chosen", "rejected"}
        assert p["prompt"][0] == {"role": "system", "content": "Be brief."}
        assert p["prompt"][-1]["role"] == "user"
        assert p["chosen"][0]["role"] == p["rejected"][0]["role"] == "assistant"
        assert p["chosen"][0]["content"] != p["rejected"][0]["content"]
    assert pairs[0]["chosen"][0]["content"] == "-1 maybe" and pairs[0]["rejected"][0]["content"] == "+1 is the answer"
    # multi-turn: the prompt is the message list the chosen answer saw
    assert [m["content"] for m in pairs[1]["prompt"]] == [
        "Be brief.", "=HYPERLINK(\"http://x\",\"click\")", "+1 is the answer", "And in French?"]
    assert pairs[1]["chosen"][0]["content"] == "Paris, bien sûr."
    best = [p for p in pairs if p["prompt"][-1]["content"] == "Three panes"]
    assert len(best) == 2 and all(p["chosen"][0]["content"] == "one" for p in best)


# -- the command line ----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", exports.FORMATS)
def test_cli_export(fmt, tmp_path, capsys):
    from desktop.cli import run
    from desktop.core.paths import folders

    s = Store(folders().ensure().database)
    fill(s)
    s.close()
    out = tmp_path / f"export.{fmt}"
    assert run(["export", "--format", fmt, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"records to {out}" in printed
    assert out.stat().st_size > 0
    assert not out.with_name(out.name + ".part").exists()
    if fmt == "jsonl":
        assert run(["import", str(out)]) == 0
        assert "already here" in capsys.readouterr().out
    assert run(["leaderboard", "--blind-only"]) == 0
    table = capsys.readouterr().out
    assert "gpt-4o-mini" in table and "95% CI" in table


def test_exports_hold_no_keys(store, tmp_path, memory_keyring):
    from desktop.core import secrets

    secrets.Secrets().set(secrets.OPENAI, "sk-test-SECRET-123")
    for fmt in exports.FORMATS:
        out = tmp_path / f"x.{fmt}"
        exports.export(store, fmt, out)
        text = out.read_text(encoding="utf-8-sig")
        assert "sk-test-SECRET-123" not in text and "sk-should-never-appear" not in text


def test_csv_tokens_per_second_match_the_window(tmp_path):
    """The CSV's rate runs to the last token shown, as the pane's footer does (not to the end)."""
    import csv as _csv

    from desktop.core import exports
    from desktop.core.engines.base import Result
    from desktop.core.store import SlotSpec, Store

    store = Store(tmp_path / "a.sqlite3")
    conv = store.new_conversation()
    rid, (a, b) = store.add_round(conv, "p", [SlotSpec(0, 0, "local", "m1", "m1"), SlotSpec(1, 1, "local", "m2", "m2")])
    shown = Result(text="x", status="done", started_at=0.5, first_token_at=1.0, last_token_at=2.0, finished_at=5.0,
                   tokens_out=11)
    store.save_response(a, shown)
    store.save_response(b, shown)
    store.cast_vote(rid, "left")
    out = tmp_path / "v.csv"
    exports.export(store, "csv", out)
    (row,) = _csv.DictReader(out.open(encoding="utf-8-sig"))
    assert float(row["left_tokens_per_s"]) == shown.tokens_per_s == 10.0


def test_a_page_of_records_is_redacted_as_the_records_one_by_one():
    """The JSONL export looks for what to redact in a page of records at once: the same records
    come out changed as when each is checked alone, markers at either end of a record, several
    in one, split by the newline between two records, escaped as JSON writes them, in the last."""
    import json
    import random

    from desktop.core.secrets import Redaction

    secret, password = "sk-live-ABCDEFGH1234", "p\u00e4ss\"word"  # the password's JSON form differs
    pieces = [secret, "ABCDEFGH1234", password, "https://user:pw@host/x", "sk-something-else", "plain words",
              "\u00e4", "://", "http", "sk", "-", "\n", "answer text " * 3]
    rng = random.Random(3)
    lines = []
    for k in range(400):
        words = [rng.choice(pieces) for _ in range(rng.randint(0, 4))]
        lines.append(json.dumps({"type": "response", "uid": f"u{k}", "text": "".join(words),
                                 "params": {"note": rng.choice(pieces)}}, ensure_ascii=False))
    lines[0] = json.dumps({"text": secret + " first"})
    lines[-1] = json.dumps({"text": "last " + password}, ensure_ascii=False)
    lines[10] = json.dumps({"text": "ends with sk"})
    lines[11] = json.dumps({"text": "-live record"})
    for redaction in (Redaction(secrets=(secret,), passwords=(password,)), Redaction()):
        expected = "\n".join(exports._redacted_line(line, redaction) for line in lines)
        assert exports._redacted_page(list(lines), redaction) == expected
        assert secret not in expected and "https://user:pw@" in expected  # an answer's own URL is kept
    assert exports._redacted_page(["{}", '{"a":1}'], Redaction()) == '{}\n{"a":1}'
