"""An LLM judge you can check: pairwise verdicts, both orders, calibrated against you. No Qt.

* **Off by default.** Nothing here runs unless asked (``arenadesk judge …``). Any
  contestant can judge: an API model or a local GGUF file, through the app's engine
  pool (``Services.engines``), with the same engine contract as an answer.
* **The prompt** (``judge_messages``) shows the user's request, the two answers
  (and the round's reference answer when there is one: a prompt suite's item's
  ``reference`` for that turn, for rounds made from a suite run, or one given on the
  command line) and asks for two lines:
  ``Reason: <one sentence>`` and ``Verdict: A``, ``B`` or ``tie``.
* **Parsing** (``parse_verdict``) is strict: a reply is counted only when it has a
  verdict line naming exactly one of A, B or tie. A reply that echoes the
  instructions ("A, B or tie"), names both, or has no verdict line is
  *unparseable*: kept (with its raw text) and reported, never counted as a vote.
* **Both orders.** Every pair is judged with a shown first and with b shown first.
  The pair's verdict is the one both orders agree on; when they disagree (the
  verdict depends on the order) it counts as a tie; when either order is
  unparseable or failed, the pair has no verdict.
* **Position bias.** Among the judge's single-order decisive verdicts, the share
  that picked the answer shown first (with a Wilson interval): 50% is no bias. Every
  pair is shown both ways round, so a judge without a position preference sits at
  50% whatever the answers are.
* **Stored apart.** Judge verdicts go to their own table (``judge_votes``, migration
  0009) and are read by their own functions here; ``Store.battles`` (the user's
  votes, which the leaderboard and exports read) never sees them. ``battles`` here
  gives them in the same shape for a separate series, and ``with_judge`` adds them to
  the user's battles only where the user switched that on.
* **Calibration before use.** ``calibration`` compares the judge's pair verdicts
  with the user's votes on the same pairs (the user's both-bad counts as a tie):
  agreement share with a Wilson 95% interval, Cohen's κ, per category (the round's
  tag). ``Judge.rate_unvoted`` refuses until at least ``MIN_CALIBRATION`` of the
  user's rounds have been judged, so the numbers are seen first.
"""
from __future__ import annotations

import math
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterable

from .engines.base import CancelToken, Recorder
from .ratings import wilson_interval
from .settings import Sampling
from .store.battles import Battle, BattleColumns

MIN_CALIBRATION = 10
"""Rounds the user voted on that the judge must have judged (with a verdict) before it may rate
unvoted rounds. Ten gives an agreement interval about ±25 points wide: enough to see a judge
that disagrees with you, not to trust one blindly; the interval says which."""

MAX_FAILURES_IN_A_ROW = 3
"""A run stops after this many pairs fail in a row (no key, a server down, a model that will not
load): the rest would fail the same way. Failed pairs are tried again by the next run."""

MAX_ANSWER_CHARS = 6000
"""Each answer shown to the judge is cut to this many characters (a small local judge has a
small context window; the cut is marked in the prompt)."""

REASON_CHARS = 300

JUDGE_SAMPLING = Sampling(temperature=0.0, top_p=1.0, top_k=1, repeat_penalty=1.0, max_tokens=160, seed=1)
"""Greedy decoding: the same pair gets the same verdict every time it is asked."""

UNTAGGED = "untagged"

JUDGE_SYSTEM = (
    "You compare two answers to the same request and say which one serves the person who asked better. "
    "Judge correctness first, then whether it does what was asked, then clarity. A longer answer is not "
    "better for being longer, and the order the answers are shown in says nothing about them. If they are "
    "equally good or equally bad, say tie.\n"
    "Reply with exactly two lines and nothing else:\n"
    "Reason: <one short sentence>\n"
    "Verdict: <A or B or tie>"
)


# -- the prompt ------------------------------------------------------------------------------

def _cut(text: str) -> str:
    text = text.strip()
    if len(text) <= MAX_ANSWER_CHARS:
        return text
    return text[:MAX_ANSWER_CHARS] + "\n[… the rest of this answer was cut for length]"


def judge_messages(prompt: str, first: str, second: str, *, reference: str | None = None,
                   system_prompt: str = "") -> list[dict]:
    """The chat messages asking a judge to compare `first` (shown as A) with `second` (B)."""
    parts = []
    if system_prompt.strip():
        parts.append(f"[The answers were written under this instruction]\n{system_prompt.strip()}")
    parts.append(f"[Request]\n{prompt.strip()}")
    if reference and reference.strip():
        parts.append(f"[Reference answer, known to be correct]\n{reference.strip()}")
    parts.append(f"[Answer A]\n{_cut(first)}")
    parts.append(f"[Answer B]\n{_cut(second)}")
    ask = "Which answer is better, A or B, or is it a tie?"
    if reference and reference.strip():
        ask += " Compare both with the reference answer."
    parts.append(ask + " Reply with the two lines: Reason: … and Verdict: …")
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


# -- parsing ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """One order's reply: choice is 'first', 'second', 'tie', or None when it cannot be read."""

    choice: str | None
    reason: str
    raw: str
    problem: str = ""  # why it could not be read (for the report)


_VERDICT_LINE = re.compile(r"^[\s*_#>`-]*(?:final\s+)?verdict[\s*_`]*[:=\-–]\s*(.*)$", re.I | re.M)
_REASON_LINE = re.compile(r"^[\s*_#>`-]*reason(?:ing)?[\s*_`]*[:=\-–]\s*(.*)$", re.I | re.M)
_BRACKETED = re.compile(r"\[\[\s*(A|B|tie)\s*\]\]", re.I)
_LETTER = re.compile(r"(?:answer\s+)?([AB])(?![\w'’])")
_TIE = re.compile(r"(?:a\s+)?(tie|draw|equal|both equally)\b", re.I)


def _read_choice(rest: str) -> str | None | bool:
    """What one verdict line says: 'first' / 'second' / 'tie', None for nothing usable,
    False for a line that names more than one (an echo of 'A or B or tie')."""
    rest = re.sub(r"[*_`\"'\[\]().:]+", " ", rest).strip()
    letters = {m.group(1) for m in re.finditer(r"(?<![\w'’])([AB])(?![\w'’])", rest)}
    tie = bool(re.search(r"\b(tie|draw|equal)\b", rest, re.I))
    if len(letters) + tie > 1:
        return False
    if letters == {"A"}:
        return "first"
    if letters == {"B"}:
        return "second"
    if tie:
        return "tie"
    return None


def parse_verdict(text: str) -> Verdict:
    """Read a judge's reply. Only an unambiguous verdict line (or MT-bench's [[A]] / [[B]] /
    [[tie]] mark) counts; anything else is unparseable and says why."""
    raw = text or ""
    reason_m = _REASON_LINE.search(raw)
    reason = reason_m.group(1).strip() if reason_m else ""
    if not reason:
        lines = [ln.strip() for ln in raw.splitlines() if ln.strip() and not _VERDICT_LINE.match(ln)]
        reason = lines[0] if lines else ""
    reason = " ".join(reason.split())
    if len(reason) > REASON_CHARS:
        reason = reason[:REASON_CHARS - 1] + "…"

    found: list[str] = []
    for m in _VERDICT_LINE.finditer(raw):
        choice = _read_choice(m.group(1))
        if choice is False:
            return Verdict(None, reason, raw, "its verdict line names more than one answer")
        if choice:
            found.append(choice)
    if not found:
        for m in _BRACKETED.finditer(raw):
            v = m.group(1).lower()
            found.append({"a": "first", "b": "second"}.get(v, "tie"))
    if not found:
        if not raw.strip():
            return Verdict(None, reason, raw, "the judge answered nothing")
        return Verdict(None, reason, raw, "no 'Verdict: A / B / tie' line in the reply")
    if len(set(found)) > 1:
        return Verdict(None, reason, raw, "the reply gives different verdicts")
    return Verdict(found[0], reason, raw)


# -- judging a pair in both orders ------------------------------------------------------------

@dataclass
class PairJudgement:
    """One pair judged both ways round, in a/b terms (a = the answer shown further left)."""

    verdict_ab: str | None  # a shown first
    verdict_ba: str | None  # b shown first
    reason_ab: str = ""
    reason_ba: str = ""
    raw_ab: str = ""
    raw_ba: str = ""
    error: str | None = None  # the engine failed (no key, a crash, a cancel)
    problems: tuple[str, ...] = ()  # why a reply could not be read

    @property
    def winner(self) -> str | None:
        return combine(self.verdict_ab, self.verdict_ba)

    @property
    def consistent(self) -> bool | None:
        if self.verdict_ab is None or self.verdict_ba is None:
            return None
        return self.verdict_ab == self.verdict_ba


def combine(verdict_ab: str | None, verdict_ba: str | None) -> str | None:
    """The pair's verdict: both orders agree → that; they disagree → tie; either unreadable → none."""
    if verdict_ab is None or verdict_ba is None:
        return None
    return verdict_ab if verdict_ab == verdict_ba else "tie"


def _as_ab(choice: str | None, a_first: bool) -> str | None:
    if choice is None or choice == "tie":
        return choice
    return "a" if (choice == "first") == a_first else "b"


def ask_once(engine, messages: list[dict], sampling: Sampling,
             cancel: CancelToken | None = None) -> tuple[str, str | None]:
    """Run the engine on the judge prompt: (reply text, error message or None). `cancel` stops this
    reply only (a local judge shares its engine with the panes on that model)."""
    rec = Recorder()
    for event in engine.stream(messages, sampling, cancel=cancel):
        rec.feed(event)
    r = rec.result
    if r.status == "error" and r.error_kind == "empty":
        return r.text, None  # a judge that says nothing gave a reply that cannot be read, not a failure to retry
    if r.status == "error":
        return r.text, r.error or "the judge failed"
    if r.status == "cancelled":
        return r.text, "cancelled"
    return r.text, None


def judge_pair(engine, prompt: str, answer_a: str, answer_b: str, *, reference: str | None = None,
               system_prompt: str = "", sampling: Sampling = JUDGE_SAMPLING,
               cancel: CancelToken | None = None) -> PairJudgement:
    """Judge a against b with a shown first, then with b shown first."""
    out = PairJudgement(None, None)
    problems = []
    for a_first in (True, False):
        first, second = (answer_a, answer_b) if a_first else (answer_b, answer_a)
        text, error = ask_once(engine, judge_messages(prompt, first, second, reference=reference,
                                                      system_prompt=system_prompt), sampling, cancel)
        v = parse_verdict(text)
        if a_first:
            out.raw_ab, out.reason_ab = text, v.reason
        else:
            out.raw_ba, out.reason_ba = text, v.reason
        if error:
            out.error = error
            break
        if v.choice is None:
            problems.append(v.problem)
        if a_first:
            out.verdict_ab = _as_ab(v.choice, True)
        else:
            out.verdict_ba = _as_ab(v.choice, False)
    out.problems = tuple(problems)
    return out


# -- what to judge ---------------------------------------------------------------------------

@dataclass
class PairToJudge:
    round_id: int
    response_a: int  # shown further left
    response_b: int
    prompt: str
    system_prompt: str
    answer_a: str
    answer_b: str
    tag: str | None
    reference: str | None = None
    user_winner: str | None = None  # a | b | tie | both_bad, for voted rounds
    model_refs: tuple[str, str] = ("", "")  # who wrote answer_a and answer_b (a judge may be one of them)
    unread_before: bool = False  # this judge was asked before and its reply could not be read: a retry


def _reference_column(store) -> str | None:
    """The rounds' reference-answer column, if this database has one (prompt suites with
    reference answers store it on the round); None where it does not exist yet."""
    cols = {r[1] for r in store.query("PRAGMA table_info(rounds)")}
    for name in ("reference", "reference_answer"):
        if name in cols:
            return name
    return None


def _tables(store) -> set[str]:
    return {r[0] for r in store.query("SELECT name FROM sqlite_master WHERE type = 'table'")}


def suite_references(store, round_ids: Iterable[int]) -> dict[int, str]:
    """round id → the reference answer its prompt-suite item gives for that turn, for rounds
    made from a suite run (a suite pair's conversation, one round per turn:
    suite_pairs → suite_runs.items[item]["reference"][turn]). Empty
    where the database has no suites or an item has no reference for that turn."""
    ids = sorted(set(round_ids))
    if not ids or "suite_pairs" not in _tables(store):
        return {}
    import json

    out: dict[int, str] = {}
    marks = ", ".join("?" * len(ids))
    for round_id, items, item, turn in store.query(
            "SELECT r.id, sr.items, sp.item, r.turn FROM suite_pairs sp JOIN suite_runs sr ON sr.id = sp.run_id "
            f"JOIN rounds r ON r.conversation_id = sp.conversation_id WHERE r.id IN ({marks})", ids):
        try:
            refs = json.loads(items)[item].get("reference") or []
        except (ValueError, TypeError, IndexError, KeyError, AttributeError):
            continue  # a damaged run record: judge without a reference rather than fail
        if isinstance(refs, str):
            refs = [refs]
        if isinstance(refs, list) and 0 <= turn < len(refs) and isinstance(refs[turn], str) and refs[turn].strip():
            out[round_id] = refs[turn]
    return out


def _with_references(store, pairs: list["PairToJudge"]) -> list["PairToJudge"]:
    refs = suite_references(store, (p.round_id for p in pairs if not p.reference))
    for p in pairs:
        if not p.reference and p.round_id in refs:
            p.reference = refs[p.round_id]
    return pairs


def _ready(sql_alias: str) -> str:
    return f"{sql_alias}.status = 'done' AND TRIM({sql_alias}.text) != ''"


_SAME_PAIR = ("((j.response_a = pa.id AND j.response_b = pb.id) OR "
              "(j.response_a = pb.id AND j.response_b = pa.id))")
# A pair is done for a judge once it has a verdict from it. A failed pair (an engine error) and a
# pair whose reply could not be read are asked again by the next run: an unreadable reply says more
# about the reply length or the judge model than about the pair, and the user may have changed
# either. The unreadable row stays until the retry replaces it (`save`): calibration reports it as
# "gave no readable verdict", never as a verdict.
_HAS_VERDICT = f"EXISTS (SELECT 1 FROM judge_votes j WHERE j.judge_ref = ? AND j.winner IS NOT NULL AND {_SAME_PAIR})"
_UNREAD_BEFORE = (f"EXISTS (SELECT 1 FROM judge_votes j WHERE j.judge_ref = ? AND j.error IS NULL "
                  f"AND j.winner IS NULL AND {_SAME_PAIR})")


def pairs_voted(store, judge_ref: str, *, tag: str | None = None, limit: int | None = None,
                rejudge: bool = False) -> list[PairToJudge]:
    """Pairs the user voted on (one per battle) that this judge has no verdict on yet: first the
    ones it was never asked about, newest first, then those whose earlier reply could not be read
    (`unread_before`), so a limit favours pairs never judged."""
    ref_col = _reference_column(store)
    sql = (
        "SELECT r.id, pa.id, pb.id, r.prompt, r.system_prompt, pa.text, pb.text, r.tag, "
        + (f"r.{ref_col}" if ref_col else "NULL") + ", b.winner, pa.position, pb.position, pa.model_ref, "
        f"pb.model_ref, {_UNREAD_BEFORE} AS unread_before "
        "FROM battles b JOIN votes v ON v.id = b.vote_id JOIN rounds r ON r.id = v.round_id "
        "JOIN responses pa ON pa.id = b.response_a JOIN responses pb ON pb.id = b.response_b "
        f"WHERE {_ready('pa')} AND {_ready('pb')} AND pa.model_ref != pb.model_ref"
    )
    args: list = [judge_ref]
    if not rejudge:
        sql += f" AND NOT {_HAS_VERDICT}"
        args.append(judge_ref)
    if tag:
        sql += " AND r.tag = ?"
        args.append(tag)
    sql += " ORDER BY unread_before, v.created_at DESC, b.id"
    if limit:
        sql += " LIMIT ?"
        args.append(int(limit))
    out = []
    for (rid, ia, ib, prompt, system, ta, tb, rtag, ref, winner, pos_a, pos_b, ma, mb,
         unread) in store.query(sql, args):
        if pos_a > pos_b:  # keep a = the one shown further left, and the user's verdict with it
            ia, ib, ta, tb, ma, mb = ib, ia, tb, ta, mb, ma
            winner = {"a": "b", "b": "a"}.get(winner, winner)
        out.append(PairToJudge(rid, ia, ib, prompt, system, ta, tb, rtag, ref, winner, (ma, mb), bool(unread)))
    return _with_references(store, out)


def pairs_unvoted(store, judge_ref: str, *, tag: str | None = None, limit: int | None = None) -> list[PairToJudge]:
    """Every pair of finished answers in rounds the user has not voted on that this judge has no
    verdict on yet (never asked first, then those whose earlier reply could not be read)."""
    ref_col = _reference_column(store)
    sql = (
        "SELECT r.id, pa.id, pb.id, r.prompt, r.system_prompt, pa.text, pb.text, r.tag, "
        + (f"r.{ref_col}" if ref_col else "NULL") + f", pa.model_ref, pb.model_ref, {_UNREAD_BEFORE} AS unread_before "
        "FROM rounds r JOIN responses pa ON pa.round_id = r.id JOIN responses pb ON pb.round_id = r.id "
        "AND pb.position > pa.position "
        f"WHERE {_ready('pa')} AND {_ready('pb')} AND pa.model_ref != pb.model_ref "
        "AND NOT EXISTS (SELECT 1 FROM votes v WHERE v.round_id = r.id) "
        f"AND NOT {_HAS_VERDICT}"
    )
    args: list = [judge_ref, judge_ref]
    if tag:
        sql += " AND r.tag = ?"
        args.append(tag)
    sql += " ORDER BY unread_before, r.created_at DESC, pa.position, pb.position"
    if limit:
        sql += " LIMIT ?"
        args.append(int(limit))
    return _with_references(store, [
        PairToJudge(*row[:9], model_refs=(row[9], row[10]), unread_before=bool(row[11]))
        for row in store.query(sql, args)])


def save(store, pair: PairToJudge, judged: PairJudgement, *, judge_ref: str, judge_label: str,
         judge_choice: str = "", created_at: float | None = None) -> int:
    """Record a judgement (replacing this judge's earlier one on the same pair)."""
    with store.transaction() as db:
        db.execute("DELETE FROM judge_votes WHERE judge_ref = ? AND ((response_a = ? AND response_b = ?) OR "
                   "(response_a = ? AND response_b = ?))",
                   (judge_ref, pair.response_a, pair.response_b, pair.response_b, pair.response_a))
        cur = db.execute(
            "INSERT INTO judge_votes (uid, round_id, response_a, response_b, judge_ref, judge_label, judge_choice, "
            "verdict_ab, verdict_ba, winner, reason_ab, reason_ba, raw_ab, raw_ba, error, reference, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (uuid.uuid4().hex, pair.round_id, pair.response_a, pair.response_b, judge_ref, judge_label,
             judge_choice, judged.verdict_ab, judged.verdict_ba, judged.winner, judged.reason_ab, judged.reason_ba,
             judged.raw_ab, judged.raw_ba, judged.error, pair.reference, created_at or time.time()),
        )
        return cur.lastrowid


# -- running a judge -------------------------------------------------------------------------

def count_pairs(n: int) -> str:
    return f"{n} pair" if n == 1 else f"{n} pairs"


@dataclass
class RunSummary:
    judged: int = 0  # pairs with a verdict
    unparseable: int = 0  # pairs where a reply could not be read: no vote
    failed: int = 0  # the engine failed
    order_dependent: int = 0  # the two orders disagreed: counted as a tie
    cancelled: bool = False
    gave_up: int = 0  # pairs left untried after too many failures in a row
    errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unread_reply: str | None = None  # the first reply that could not be read, as the judge gave it

    def line(self) -> str:
        parts = [f"{count_pairs(self.judged)} judged"]
        if self.order_dependent:
            parts.append(f"{self.order_dependent} of them depended on the order shown (counted as ties)")
        if self.unparseable:
            parts.append(f"{count_pairs(self.unparseable)} got a reply that could not be read as a verdict (not counted)")
        if self.failed:
            parts.append(f"{self.failed} failed ({self.errors[0]})")
        if self.gave_up:
            parts.append(f"stopped after {MAX_FAILURES_IN_A_ROW} failures in a row, {self.gave_up} pairs left "
                         "for the next run")
        if self.cancelled:
            parts.append("stopped early")
        text = "; ".join(parts) + "."
        if self.unparseable and self.unread_reply is not None:
            text += " " + unreadable_words(self.unread_reply, self.problems[0] if self.problems else "")
        return text


REPLY_EXCERPT_CHARS = 200


def reply_excerpt(raw: str, limit: int = REPLY_EXCERPT_CHARS) -> str:
    """The start of a judge's reply as one line of plain text: control and format characters
    (newlines, bidi overrides, zero-width marks) become spaces, runs of space one, cut to `limit`
    characters. The reply is a model's output: shown, never interpreted."""
    import unicodedata

    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in raw or "")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def unreadable_words(raw: str, problem: str = "") -> str:
    """One sentence showing what an unreadable reply said, so the user sees why it was not read."""
    excerpt = reply_excerpt(raw)
    if not excerpt:
        return "One reply was empty: the judge answered nothing."
    why = f" ({problem})" if problem and problem != "the judge answered nothing" else ""
    return f"One reply that could not be read{why}: “{excerpt}”."


class NotCalibrated(RuntimeError):
    """The judge has not been checked against enough of the user's votes yet."""


class Judge:
    """A contestant acting as judge, writing its verdicts to the store.

    engine: anything with the engine contract (Services.engines.get(choice)); its `info`
    gives the judge's identity and name unless `ref` / `label` are given."""

    def __init__(self, store, engine, *, choice: str = "", ref: str | None = None, label: str | None = None,
                 sampling: Sampling = JUDGE_SAMPLING):
        self.store, self.engine, self.choice, self.sampling = store, engine, choice, sampling
        info = getattr(engine, "info", None)
        self.ref = ref or (info.ref if info else choice)
        self.label = label or (info.model if info else choice)
        self._stop = CancelToken()  # the run's and its replies' stop: never the engine's other users'

    def cancel(self) -> None:
        self._stop.cancel()

    def run(self, pairs: Iterable[PairToJudge], on_progress: Callable[[int, int, PairJudgement], None] | None = None,
            reference: str | None = None) -> RunSummary:
        pairs = list(pairs)
        summary = RunSummary()
        failures_in_a_row = 0
        for k, pair in enumerate(pairs):
            if self._stop.cancelled:
                summary.cancelled = True
                break
            if reference is not None and not pair.reference:
                pair.reference = reference
            judged = judge_pair(self.engine, pair.prompt, pair.answer_a, pair.answer_b, reference=pair.reference,
                                system_prompt=pair.system_prompt, sampling=self.sampling, cancel=self._stop)
            if judged.error == "cancelled" or self._stop.cancelled:
                summary.cancelled = True
                break
            save(self.store, pair, judged, judge_ref=self.ref, judge_label=self.label, judge_choice=self.choice)
            failures_in_a_row = failures_in_a_row + 1 if judged.error else 0
            if judged.error:
                summary.failed += 1
                summary.errors.append(judged.error)
                if failures_in_a_row >= MAX_FAILURES_IN_A_ROW and k + 1 < len(pairs):
                    summary.gave_up = len(pairs) - k - 1
                    break
            elif judged.winner is None:
                summary.unparseable += 1
                summary.problems.extend(judged.problems)
                if summary.unread_reply is None:
                    summary.unread_reply = judged.raw_ab if judged.verdict_ab is None else judged.raw_ba
            else:
                summary.judged += 1
                summary.order_dependent += judged.consistent is False
            if on_progress:
                on_progress(k + 1, len(pairs), judged)
        return summary

    def calibrate(self, *, tag: str | None = None, limit: int | None = None, on_progress=None,
                  reference: str | None = None) -> RunSummary:
        """Judge the rounds the user voted on (not judged yet), for `calibration`."""
        return self.run(pairs_voted(self.store, self.ref, tag=tag, limit=limit), on_progress, reference)

    def rate_unvoted(self, *, tag: str | None = None, limit: int | None = None, on_progress=None,
                     min_calibration: int = MIN_CALIBRATION, reference: str | None = None) -> RunSummary:
        """Judge rounds the user has not voted on; refused until the judge is calibrated."""
        cal = calibration(self.store, self.ref)
        if cal.overall.n < min_calibration:
            raise NotCalibrated(
                f"{self.label} has been checked against {cal.overall.n} of your votes; it needs "
                f"{min_calibration} before it may rate rounds you have not voted on. "
                f"Run: arenadesk judge calibrate --judge {self.choice or self.ref}")
        return self.run(pairs_unvoted(self.store, self.ref, tag=tag, limit=limit), on_progress, reference)


# -- reading judge votes ---------------------------------------------------------------------

def judges(store) -> list[tuple[str, str, int]]:
    """(judge ref, label, pairs judged) for every judge that has verdicts, most recent first."""
    return [(r[0], r[1], r[2]) for r in store.query(
        "SELECT judge_ref, (SELECT judge_label FROM judge_votes k WHERE k.judge_ref = j.judge_ref "
        "ORDER BY k.created_at DESC LIMIT 1), COUNT(*), MAX(created_at) AS last "
        "FROM judge_votes j GROUP BY judge_ref ORDER BY last DESC")]


def latest_judge(store) -> str | None:
    found = judges(store)
    return found[0][0] if found else None


def battles(store, judge_ref: str | None = None, *, since: float | None = None, until: float | None = None,
            tag: str | None = None, unvoted_only: bool = False) -> list[Battle]:
    """A judge's verdicts as battles (the shape `ratings.leaderboard` reads), oldest first.
    Only pairs with a verdict; `judge_ref` None means the judge used most recently.
    Their `blind` is False: the user's position-bias check is about the user."""
    judge_ref = judge_ref or latest_judge(store)
    if judge_ref is None:
        return []
    sql = (
        "SELECT j.id, r.id, pa.model_ref, pb.model_ref, pa.model, pb.model, j.winner, pa.position, pb.position, "
        "j.created_at, r.tag, (SELECT COUNT(*) FROM responses n WHERE n.round_id = r.id) "
        "FROM judge_votes j JOIN rounds r ON r.id = j.round_id JOIN responses pa ON pa.id = j.response_a "
        "JOIN responses pb ON pb.id = j.response_b WHERE j.winner IS NOT NULL AND j.judge_ref = ?"
    )
    args: list = [judge_ref]
    if since is not None:
        sql += " AND j.created_at >= ?"
        args.append(since)
    if until is not None:
        sql += " AND j.created_at < ?"
        args.append(until)
    if tag:
        sql += " AND r.tag = ?"
        args.append(tag)
    if unvoted_only:
        sql += " AND NOT EXISTS (SELECT 1 FROM votes v WHERE v.round_id = r.id)"
    sql += " ORDER BY j.created_at, j.id"
    return [Battle(r[0], r[1], r[2], r[3], r[4], r[5], r[6], False, r[7], r[8], r[9], r[10], r[11])
            for r in store.query(sql, args)]


def with_judge(user_battles, store, judge_ref: str | None = None, **filters):
    """The user's battles plus the judge's on rounds the user has not voted on (where the user
    voted, the user's vote stands). Only for a leaderboard the user switched this on for.

    user_battles: Battle rows (a list back) or store.battle_columns() (columns back, the
    leaderboard's fast path). Either way the judge's follow the user's in time order, a
    judge's verdict after a vote of the same time."""
    judged = battles(store, judge_ref, unvoted_only=True, since=filters.get("since"), until=filters.get("until"),
                     tag=filters.get("tag"))
    if filters.get("blind_only"):
        judged = []  # the judge never votes blind in the user's sense: a blind-only board is the user's own
    if isinstance(user_battles, BattleColumns):
        return _joined(user_battles, BattleColumns.from_battles(judged))
    return sorted(list(user_battles) + judged, key=lambda b: b.tstamp)


def _joined(user: BattleColumns, judged: BattleColumns) -> BattleColumns:
    """Two sets of battle columns as one, in time order (stable: the user's first at equal times)."""
    import numpy as np

    if not len(judged):
        return user
    refs, labels = list(user.refs), list(user.labels)
    ref_at = {r: k for k, r in enumerate(refs)}
    label_at = {x: k for k, x in enumerate(labels)}
    ref_map = np.array([ref_at.setdefault(r, len(ref_at)) for r in judged.refs], dtype=np.int64)
    label_map = np.array([label_at.setdefault(x, len(label_at)) for x in judged.labels], dtype=np.int64)
    refs, labels = list(ref_at), list(label_at)
    # A judge's verdicts on one round stand or fall together in the bootstrap, as a vote's battles
    # do; the user's votes are numbered by vote id, so the judge's rounds take negative numbers.
    judged.vote_id = -np.abs(judged.round_id) - 1

    def cat(name, mapping=None):
        theirs = getattr(judged, name)
        return np.concatenate([getattr(user, name), theirs if mapping is None else mapping[theirs]])

    both = BattleColumns(refs, labels, cat("model_a", ref_map), cat("model_b", ref_map), cat("label_a", label_map),
                         cat("label_b", label_map), cat("winner"), cat("blind"), cat("position_a"),
                         cat("position_b"), cat("tstamp"), cat("panes"), cat("battle_id"), cat("vote_id"),
                         cat("round_id"))
    order = np.argsort(both.tstamp, kind="stable")
    for name in ("model_a", "model_b", "label_a", "label_b", "winner", "blind", "position_a", "position_b", "tstamp",
                 "panes", "battle_id", "vote_id", "round_id"):
        setattr(both, name, getattr(both, name)[order])
    return both


# -- calibration -----------------------------------------------------------------------------

@dataclass
class Agreement:
    """How often the judge's pair verdict equals the user's vote on the same pair."""

    category: str
    n: int  # pairs with both a user vote and a judge verdict
    agree: int
    share: float | None
    lower: float | None  # Wilson 95%
    upper: float | None
    kappa: float | None  # Cohen's κ over a / b / tie (None when undefined)
    unparseable: int = 0  # user-voted pairs the judge was asked about but gave no readable verdict

    def words(self, judge_label: str) -> str:
        where = "your rounds" if self.category == "all" else f"your {self.category} rounds"
        if self.n == 0:
            if self.unparseable:  # asked, but nothing readable: say so, or "not judged" reads as "never asked"
                return (f"{judge_label} has not judged any of {where} you voted on yet: {count_pairs(self.unparseable)} "
                        "gave no readable verdict (the next run asks again).")
            return f"{judge_label} has not judged any of {where} you voted on yet."
        kappa = "κ undefined (one answer only)" if self.kappa is None else f"Cohen's κ {self.kappa:.2f}"
        text = (f"{judge_label} agrees with you on {self.share:.0%} ({self.lower:.0%}–{self.upper:.0%}) of "
                f"{where} ({self.agree} of {self.n}; {kappa})")
        if self.unparseable:
            text += f"; {self.unparseable} more gave no readable verdict"
        return text + "."


@dataclass
class JudgeBias:
    """The judge's own position bias: among its single-order decisive verdicts, the share that
    picked the answer shown first."""

    decisive: int
    first: int
    share: float | None
    lower: float | None
    upper: float | None
    pairs: int  # pairs with both orders read
    order_dependent: int  # of those, how many changed with the order
    unparseable: int  # pairs without a verdict

    def words(self, judge_label: str) -> str:
        if self.decisive == 0:
            return f"Position bias of {judge_label}: no decisive verdicts yet."
        text = (f"Position bias of {judge_label}: it picked the answer shown first in {self.share:.0%} "
                f"({self.lower:.0%}–{self.upper:.0%}) of {self.decisive} decisive verdicts")
        if self.lower > 0.5:
            text += " — it favours the first answer"
        elif self.upper < 0.5:
            text += " — it favours the second answer"
        else:
            text += " — no sign of a preference for either place"
        if self.pairs:
            text += (f"; {self.order_dependent} of {self.pairs} pairs ({self.order_dependent / self.pairs:.0%}) "
                     "got a different verdict when the order was swapped (counted as ties)")
        if self.unparseable:
            text += f"; {self.unparseable} pairs had no readable verdict"
        return text + "."


@dataclass
class Calibration:
    judge_ref: str
    judge_label: str
    overall: Agreement
    by_category: list[Agreement]
    bias: JudgeBias

    @property
    def ready(self) -> bool:
        return self.overall.n >= MIN_CALIBRATION

    def lines(self) -> list[str]:
        out = [self.overall.words(self.judge_label)]
        out += [a.words(self.judge_label) for a in self.by_category if len(self.by_category) > 1 or a.n]
        out.append(self.bias.words(self.judge_label))
        if not self.ready:
            out.append(f"It needs {MIN_CALIBRATION - self.overall.n} more of your voted rounds judged before it "
                       "may rate rounds you have not voted on.")
        return out


def cohen_kappa(pairs: list[tuple[str, str]], labels=("a", "b", "tie")) -> float | None:
    """Cohen's κ between two raters' labels; None when chance agreement is 1 (one label only)."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(x == y for x, y in pairs) / n
    expected = sum((sum(x == c for x, _ in pairs) / n) * (sum(y == c for _, y in pairs) / n) for c in labels)
    if math.isclose(expected, 1.0):
        return None
    return (observed - expected) / (1.0 - expected)


def _agreement(category: str, rows: list[tuple[str, str | None]]) -> Agreement:
    scored = [(u, j) for u, j in rows if j is not None]
    n = len(scored)
    agree = sum(u == j for u, j in scored)
    unread = len(rows) - n
    if n == 0:
        return Agreement(category, 0, 0, None, None, None, None, unread)
    lo, hi = wilson_interval(agree, n)
    return Agreement(category, n, agree, agree / n, lo, hi, cohen_kappa(scored), unread)


def calibration(store, judge_ref: str | None = None) -> Calibration:
    """The judge's agreement with the user's votes on the same pairs, overall and per tag, and its
    position bias. Pairs whose judging failed (engine errors) are left out entirely."""
    judge_ref = judge_ref or latest_judge(store) or ""
    label_rows = store.query("SELECT judge_label FROM judge_votes WHERE judge_ref = ? ORDER BY created_at DESC "
                             "LIMIT 1", (judge_ref,))
    label = label_rows[0][0] if label_rows else judge_ref
    rows = store.query(
        "SELECT r.tag, b.winner, pa.position < pb.position, j.response_a = b.response_a, j.winner "
        "FROM judge_votes j JOIN battles b ON (b.response_a = j.response_a AND b.response_b = j.response_b) "
        "OR (b.response_a = j.response_b AND b.response_b = j.response_a) "
        "JOIN responses pa ON pa.id = b.response_a JOIN responses pb ON pb.id = b.response_b "
        "JOIN rounds r ON r.id = j.round_id WHERE j.judge_ref = ? AND j.error IS NULL",
        (judge_ref,))
    by_tag: dict[str, list] = {}
    everything = []
    for tag, user, _a_left, same_side, judged in rows:
        user = "tie" if user == "both_bad" else user
        if not same_side:  # the battle lists the pair the other way round: say the user's vote in the judge's a/b
            user = {"a": "b", "b": "a"}.get(user, user)
        by_tag.setdefault(tag or UNTAGGED, []).append((user, judged))
        everything.append((user, judged))
    overall = _agreement("all", everything)
    cats = [_agreement(t, by_tag[t]) for t in sorted(by_tag)]
    return Calibration(judge_ref, label, overall, cats, judge_bias(store, judge_ref))


def judge_bias(store, judge_ref: str) -> JudgeBias:
    first = decisive = pairs = dependent = unread = 0
    for v_ab, v_ba in store.query("SELECT verdict_ab, verdict_ba FROM judge_votes WHERE judge_ref = ? "
                                  "AND error IS NULL", (judge_ref,)):
        # a shown first: 'a' is the first answer; b shown first: 'b' is
        for v, first_is in ((v_ab, "a"), (v_ba, "b")):
            if v in ("a", "b"):
                decisive += 1
                first += v == first_is
        if v_ab is None or v_ba is None:
            unread += 1
        else:
            pairs += 1
            dependent += v_ab != v_ba
    if decisive == 0:
        return JudgeBias(0, 0, None, None, None, pairs, dependent, unread)
    lo, hi = wilson_interval(first, decisive)
    return JudgeBias(decisive, first, first / decisive, lo, hi, pairs, dependent, unread)
