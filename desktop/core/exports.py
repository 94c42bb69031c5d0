"""Exports (CSV, JSONL, FastChat battles, preference pairs) and JSONL import. No Qt.

* ``csv`` — one row per vote, the panes left to right (``left_*``, ``right_*``,
  then ``pane3_*`` …). Every cell that begins with ``= + - @``, a tab or a
  carriage return is prefixed with a single quote so no spreadsheet runs it as
  a formula. Written as UTF-8 with a byte-order mark (Excel needs it to read
  UTF-8; Python reads it with ``encoding="utf-8-sig"``).
* ``jsonl`` — everything, one JSON object per line, keyed by uids: a header
  line (``{"type": "arenadesk-export", ...}``), then ``conversation``,
  ``round``, ``response`` (text, status, timings, tokens, cost, stars,
  sampling params) and ``vote`` records; a vote carries its pairwise
  ``battles`` (``{"a": response uid, "b": response uid, "winner": ...}``)
  because battles have no uid of their own. ``import_jsonl`` merges such a
  file into another store without duplicates.
* ``fastchat`` — a JSON list shaped like LMSYS's ``clean_battle_*.json``:
  ``question_id`` (the round uid), ``model_a``/``model_b`` (display names,
  made unique per ref), ``winner`` in ``model_a``/``model_b``/``tie``/``tie
  (bothbad)``, ``judge`` (``arena_user_`` + a hash of host and user name), ``conversation_a``/``conversation_b`` (lists of
  ``{role, content, num_tokens}``, each side's own earlier turns plus this
  one), ``turn``, ``anony`` (the vote was blind), ``language`` (``unknown``:
  ArenaDesk does not detect languages) and ``tstamp``. FastChat's
  ``elo_analysis.py`` keeps only ``anony`` battles, i.e. the blind votes.
  ``num_tokens`` is the engine's count for answers where it has one, else an
  estimate (about four characters a token).
* ``pairs`` — preference pairs for DPO trainers, one JSON object per line in
  TRL's *conversational* format: ``prompt`` is the message list (system
  prompt, the chosen side's earlier turns, this user message), ``chosen`` and
  ``rejected`` are one-message assistant lists. Decisive battles only (a
  ``best`` vote among several panes gives one pair per loser); pairs with an
  empty answer or two identical answers are skipped.

Judge votes (an LLM judge's verdicts, see ``core/judge.py``) are left out unless
``include_judge=True``, and then always marked as the judge's: ``csv`` gets a last
column ``voter`` (``you`` or ``judge: <model>``, the judge's reason in ``note``);
``jsonl`` gets ``judge_vote`` records (which ``import_jsonl`` merges); ``fastchat``
rows carry ``judge: "llm_judge:<model>"`` instead of the user's
``arena_user_<hash>``; ``pairs`` get a ``source`` key (``you`` / ``judge:<model>``).
A judge vote's time filters by when it was judged; ``blind_only`` leaves every judge
vote out (a judge never votes blind in the user's sense).

Filters (``since``, ``until``, ``blind_only``, ``tag``) mean what they mean for
``Store.battles``: vote time, blind votes, the round's tag. For ``jsonl`` they
select whole conversations that hold at least one matching vote; without
filters every conversation is exported, voted or not.

Nothing here reads settings or the keychain, so no key or token can end up in
an export; sampling parameters are scrubbed of anything that looks like a
credential all the same.
"""
from __future__ import annotations

import bisect
import csv
import datetime as _dt
import itertools
import json
import math
import re
import time
from pathlib import Path

from .engines.base import cut_off_note, decode_rate
from .ratings import display_names
from .names import model_file_name
from .secrets import Redaction
from .untrusted import storable

FORMATS = ("csv", "jsonl", "fastchat", "pairs")
JSONL_VERSION = 1
HEADER_TYPE = "arenadesk-export"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SECRETISH = re.compile(r"(api[_-]?key|secret|passw|authori[sz]ation|bearer|^token$|access[_-]?token|hf[_-]?token)", re.I)
_UNDECODED = re.compile("[\udc80-\udcff]")
_FASTCHAT_WINNER = {"a": "model_a", "b": "model_b", "tie": "tie", "both_bad": "tie (bothbad)"}


# -- entry point -----------------------------------------------------------------------------

def export(store, fmt: str, out_path, *, include_judge: bool = False, redaction: Redaction | None = None,
           **filters) -> int:
    """Write the store's data in `fmt` to out_path; returns the number of records written
    (csv: votes, jsonl: lines after the header, fastchat: battles, pairs: pairs).

    Every text goes out through `redaction` (by default: the keys in this machine's keychain
    and the passwords in its connections' URLs, secrets.Redaction.for_this_machine): rows
    stored before a server's echo of a key was caught on saving may still hold it."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    unknown = set(filters) - {"since", "until", "blind_only", "tag"}
    if unknown:
        raise TypeError(f"unknown export filter(s): {', '.join(sorted(unknown))}")
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    if include_judge:
        filters["include_judge"] = True
    if redaction is None:
        redaction = Redaction.for_this_machine()
    try:
        n = {"csv": _export_csv, "jsonl": _export_jsonl, "fastchat": _export_fastchat, "pairs": _export_pairs}[fmt](
            store, tmp, filters, redaction
        )
        tmp.replace(out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return n


# -- reading the store -----------------------------------------------------------------------

_RESP_COLS = (
    "id, uid, round_id, slot, position, engine, model, model_ref, params, text, status, error, started_at, "
    "first_token_at, last_token_at, finished_at, tokens_in, tokens_out, tokens_estimated, cost_usd, stars, "
    "finish_reason, reasoning, first_answer_at, connection, reported_model"
)
_RESP_KEYS = [c.strip() for c in _RESP_COLS.split(",")]


def _vote_where(filters, alias: str = "v", blind_clause: str = " AND v.blind = 1") -> tuple[str, list]:
    """The export filters as SQL on a votes-like table `alias` joined to rounds `r`."""
    sql, args = "", []
    if filters.get("since") is not None:
        sql += f" AND {alias}.created_at >= ?"
        args.append(filters["since"])
    if filters.get("until") is not None:
        sql += f" AND {alias}.created_at < ?"
        args.append(filters["until"])
    if filters.get("blind_only"):
        sql += blind_clause
    if filters.get("tag"):
        sql += " AND r.tag = ?"
        args.append(filters["tag"])
    return sql, args


class _Data:
    """The rows an export needs, read with a handful of queries (no per-row round trips)."""

    def __init__(self, store, filters, redaction: Redaction):
        where, args = _vote_where(filters)
        self.votes = [
            dict(zip(("id", "uid", "round_id", "outcome", "best_position", "note", "blind", "created_at",
                      "updated_at"), r))
            for r in store.query(
                "SELECT v.id, v.uid, v.round_id, v.outcome, v.best_position, v.note, v.blind, v.created_at, "
                "v.updated_at FROM votes v JOIN rounds r ON r.id = v.round_id WHERE 1 = 1" + where
                + " ORDER BY v.created_at, v.id",
                args,
            )
        ]
        conv_filter = (
            " WHERE c.id IN (SELECT r.conversation_id FROM votes v JOIN rounds r ON r.id = v.round_id "
            "WHERE 1 = 1" + where + ")"
        )
        self.conversations = {
            r[0]: dict(zip(("id", "uid", "title", "created_at", "blind"), r))
            for r in store.query(
                "SELECT c.id, c.uid, c.title, c.created_at, c.blind FROM conversations c" + conv_filter
                + " ORDER BY c.created_at, c.id",
                args,
            )
        }
        in_convs = " WHERE r.conversation_id IN (SELECT c.id FROM conversations c" + conv_filter + ")"
        self.rounds = {
            r[0]: dict(zip(("id", "uid", "conversation_id", "turn", "prompt", "system_prompt", "tag", "blind",
                            "created_at"), r))
            for r in store.query(
                "SELECT r.id, r.uid, r.conversation_id, r.turn, r.prompt, r.system_prompt, r.tag, r.blind, "
                "r.created_at FROM rounds r" + in_convs + " ORDER BY r.conversation_id, r.turn",
                args,
            )
        }
        resp_filter = " WHERE round_id IN (SELECT r.id FROM rounds r" + in_convs + ")"
        self.responses = {}
        self.by_round: dict[int, list[dict]] = {}
        for r in store.query(f"SELECT {_RESP_COLS} FROM responses" + resp_filter + " ORDER BY round_id, position",
                             args):
            d = dict(zip(_RESP_KEYS, r))
            self.responses[d["id"]] = d
            self.by_round.setdefault(d["round_id"], []).append(d)
        vote_ids = {v["id"] for v in self.votes}
        self.battles: dict[int, list[tuple]] = {}
        for vote_id, bid, ra, rb, winner in store.query(
            "SELECT b.vote_id, b.id, b.response_a, b.response_b, b.winner FROM battles b ORDER BY b.vote_id, b.id"
        ):
            if vote_id in vote_ids:
                self.battles.setdefault(vote_id, []).append((bid, ra, rb, winner))
        self._rounds_by_conv: dict[int, list[dict]] | None = None
        self._redact(redaction)

    def _redact(self, redaction: Redaction) -> None:
        """Every text of every row read, through the export's redaction (errors at full strength)."""
        for rows in (self.votes, self.conversations.values(), self.rounds.values(), self.responses.values()):
            for row in rows:
                for key, value in row.items():
                    if isinstance(value, str) and not key.endswith("uid"):
                        row[key] = redaction.error(value) if key == "error" else redaction.text(value)

    def names(self) -> dict[str, str]:
        rows = sorted(self.responses.values(), key=lambda d: (d["started_at"] or 0, d["id"]))
        return display_names((d["model_ref"], d["model"]) for d in rows)

    def earlier_rounds(self, rnd: dict) -> list[dict]:
        if self._rounds_by_conv is None:
            self._rounds_by_conv = {}
            for r in self.rounds.values():
                self._rounds_by_conv.setdefault(r["conversation_id"], []).append(r)
            for lst in self._rounds_by_conv.values():
                lst.sort(key=lambda r: r["turn"])
        return [r for r in self._rounds_by_conv.get(rnd["conversation_id"], []) if r["turn"] < rnd["turn"]]

    def history(self, rnd: dict, slot: int) -> list[dict]:
        """The earlier user/assistant turns one pane saw (as the arena builds them: answers
        that ended done or cancelled with some text)."""
        out = []
        for earlier in self.earlier_rounds(rnd):
            resp = next((p for p in self.by_round.get(earlier["id"], []) if p["slot"] == slot), None)
            if resp and resp["status"] in ("done", "cancelled") and resp["text"]:
                out.append({"role": "user", "content": earlier["prompt"]})
                out.append({"role": "assistant", "content": resp["text"]})
        return out


def _iso(t: float | None) -> str:
    if t is None:
        return ""
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _params(raw) -> dict:
    try:
        params = json.loads(raw or "{}") if isinstance(raw, str) else dict(raw or {})
    except ValueError:
        return {}
    return {k: v for k, v in params.items() if not _SECRETISH.search(str(k))}


# -- CSV -------------------------------------------------------------------------------------

def safe_cell(value) -> str:
    """A spreadsheet-safe cell: text that would start a formula gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        value = int(value)
    s = value if isinstance(value, str) else str(value)
    return "'" + s if s.startswith(_FORMULA_START) else s


def _pane_prefix(k: int) -> str:
    return {0: "left", 1: "right"}.get(k, f"pane{k + 1}")


_PANE_FIELDS = ("model", "model_ref", "engine", "answer", "status", "stars", "tokens_in", "tokens_out",
                "ttft_s", "tokens_per_s", "cost_usd", "finish_reason", "finish_note", "first_answer_s", "reasoning",
                "connection", "reported_model")


def _export_csv(store, path: Path, filters, redaction: Redaction) -> int:
    data = _Data(store, filters, redaction)
    panes = max([2] + [len(data.by_round.get(v["round_id"], [])) for v in data.votes])
    header = ["vote_uid", "voted_at", "updated_at", "conversation_uid", "conversation_title", "turn", "tag", "blind",
              "system_prompt", "prompt", "outcome", "winner", "note"]
    for k in range(panes):
        header += [f"{_pane_prefix(k)}_{f}" for f in _PANE_FIELDS]
    judged = _JudgeData(store, filters, redaction) if filters.get("include_judge") else None
    if judged is not None:
        header.append("voter")
    names = data.names()
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([safe_cell(h) for h in header])
        for v in data.votes:
            rnd = data.rounds[v["round_id"]]
            conv = data.conversations[rnd["conversation_id"]]
            shown = data.by_round.get(rnd["id"], [])
            winner = ""
            if v["outcome"] == "left" and shown:
                winner = names.get(shown[0]["model_ref"], shown[0]["model"])
            elif v["outcome"] == "right" and len(shown) > 1:
                winner = names.get(shown[1]["model_ref"], shown[1]["model"])
            elif v["outcome"] == "best":
                best = next((p for p in shown if p["position"] == v["best_position"]), None)
                winner = names.get(best["model_ref"], best["model"]) if best else ""
            row = [v["uid"], _iso(v["created_at"]), _iso(v["updated_at"]), conv["uid"], conv["title"], rnd["turn"],
                   rnd["tag"] or "", v["blind"], rnd["system_prompt"], rnd["prompt"], v["outcome"], winner, v["note"]]
            row += _pane_cells(shown, panes, names)
            if judged is not None:
                row.append("you")
            w.writerow([safe_cell(c) for c in row])
        if judged is not None:
            jnames = judged.names()
            for j in judged.votes:
                rnd = judged.rounds[j["round_id"]]
                conv = judged.conversations[rnd["conversation_id"]]
                a, b = judged.responses[j["response_a"]], judged.responses[j["response_b"]]
                outcome = {"a": "left", "b": "right", "tie": "tie"}[j["winner"]]
                winner = "" if j["winner"] == "tie" else jnames.get((a if j["winner"] == "a" else b)["model_ref"])
                row = [j["uid"], _iso(j["created_at"]), _iso(j["created_at"]), conv["uid"], conv["title"],
                       rnd["turn"], rnd["tag"] or "", 0, rnd["system_prompt"], rnd["prompt"], outcome, winner,
                       j["reason"]]
                row += _pane_cells([a, b], panes, jnames)
                row.append(f"judge: {j['judge_label']}")
                w.writerow([safe_cell(c) for c in row])
    return len(data.votes) + (len(judged.votes) if judged is not None else 0)


def _pane_cells(shown: list[dict], panes: int, names: dict) -> list:
    row: list = []
    for k in range(panes):
        p = shown[k] if k < len(shown) else None
        if p is None:
            row += [""] * len(_PANE_FIELDS)
            continue
        ttft = (p["first_token_at"] - p["started_at"]) if p["first_token_at"] and p["started_at"] else None
        tps = decode_rate(p["tokens_out"], p["first_token_at"], p["last_token_at"], p["finished_at"])
        first_answer = (p["first_answer_at"] - p["started_at"]
                        if p.get("first_answer_at") and p["started_at"] else None)
        row += [names.get(p["model_ref"], p["model"]), p["model_ref"], p["engine"], p["text"], p["status"],
                p["stars"], p["tokens_in"], p["tokens_out"],
                None if ttft is None else round(ttft, 4), None if tps is None else round(tps, 2),
                p["cost_usd"], p.get("finish_reason"),
                cut_off_note(p.get("finish_reason"), _params(p["params"]).get("max_tokens")),
                None if first_answer is None else round(first_answer, 4), p.get("reasoning") or "",
                p.get("connection", ""), p.get("reported_model")]
    return row


# -- JSONL -----------------------------------------------------------------------------------

def _num(col: str) -> str:
    """SQL for a REAL column as a JSON number that reads back as the very same float."""
    return f"CASE WHEN {col} IS NULL THEN NULL ELSE json(printf('%!.17g', {col})) END"


def _bool(col: str) -> str:
    return f"json(CASE WHEN {col} THEN 'true' ELSE 'false' END)"


# sampling parameters never hold credentials; drop any such key all the same
_SCRUB = ", ".join(f"'$.{k}'" for k in ("api_key", "apikey", "key", "token", "access_token", "hf_token", "secret",
                                       "password", "authorization", "bearer"))


_PAGE = 20_000


# cut_off_note()'s words, written by SQLite for the JSONL export (which SQLite renders itself).
_FINISH_NOTE = ("CASE WHEN p.finish_reason = 'length' THEN 'stopped at the token limit' || "
                "COALESCE(' (Max tokens ' || json_extract(p.params, '$.max_tokens') || ')', '') ELSE '' END")


def _export_jsonl(store, path: Path, filters, redaction: Redaction) -> int:
    """Every record is rendered to JSON by SQLite itself (json_object): 100,000 votes with
    their conversations and answers take a few seconds instead of tens."""
    from .. import __version__

    where, args = _vote_where(filters)
    if any(filters.get(k) for k in ("since", "until", "blind_only", "tag")):
        convs = ("SELECT r.conversation_id FROM votes v JOIN rounds r ON r.id = v.round_id WHERE 1 = 1" + where)
        in_c, in_r = f"c.id IN ({convs})", f"r.conversation_id IN ({convs})"
    else:
        in_c = in_r = "1 = 1"  # (a WHERE ... IN over every conversation costs a second per 100,000)
        args = []
    queries = [
        ("c", "SELECT c.id, json_object('type', 'conversation', 'uid', c.uid, 'title', c.title, "
        f"'created_at', {_num('c.created_at')}, 'blind', {_bool('c.blind')}) "
        f"FROM conversations c WHERE {in_c}"),

        ("r", "SELECT r.id, json_object('type', 'round', 'uid', r.uid, 'conversation', c.uid, 'turn', r.turn, "
        "'prompt', r.prompt, 'system_prompt', r.system_prompt, 'tag', r.tag, "
        f"'blind', {_bool('r.blind')}, 'created_at', {_num('r.created_at')}, "
        f"'revealed_at', {_num('r.revealed_at')}) "
        f"FROM rounds r JOIN conversations c ON c.id = r.conversation_id WHERE {in_r}"),

        ("p", "SELECT p.id, json_object('type', 'response', 'uid', p.uid, 'round', r.uid, 'slot', p.slot, "
        "'position', p.position, 'engine', p.engine, 'model', p.model, 'model_ref', p.model_ref, "
        f"'params', json_remove(json(p.params), {_SCRUB}), 'text', p.text, 'status', p.status, 'error', p.error, "
        f"'started_at', {_num('p.started_at')}, 'first_token_at', {_num('p.first_token_at')}, "
        f"'last_token_at', {_num('p.last_token_at')}, "
        f"'finished_at', {_num('p.finished_at')}, 'tokens_in', p.tokens_in, 'tokens_out', p.tokens_out, "
        f"'tokens_estimated', {_bool('p.tokens_estimated')}, 'cost_usd', {_num('p.cost_usd')}, 'stars', p.stars, "
        f"'finish_reason', p.finish_reason, 'finish_note', {_FINISH_NOTE}, 'reasoning', p.reasoning, "
        f"'first_answer_at', {_num('p.first_answer_at')}, "
        "'connection', p.connection, 'reported_model', p.reported_model) "
        f"FROM responses p JOIN rounds r ON r.id = p.round_id WHERE {in_r}"),

        ("v", "SELECT v.id, json_object('type', 'vote', 'uid', v.uid, 'round', r.uid, 'outcome', v.outcome, "
        "'best_position', v.best_position, 'note', v.note, "
        f"'blind', {_bool('v.blind')}, 'created_at', {_num('v.created_at')}, 'updated_at', {_num('v.updated_at')}, "
        "'battles', (SELECT json_group_array(json(x.j)) FROM (SELECT json_object('a', pa.uid, 'b', pb.uid, "
        "'winner', b.winner) AS j FROM battles b JOIN responses pa ON pa.id = b.response_a "
        "JOIN responses pb ON pb.id = b.response_b WHERE b.vote_id = v.id ORDER BY b.id) AS x)) "
        f"FROM votes v JOIN rounds r ON r.id = v.round_id WHERE {in_r}"),
    ]
    if filters.get("include_judge") and not filters.get("blind_only"):
        queries.append(
            ("j", "SELECT j.id, json_object('type', 'judge_vote', 'uid', j.uid, 'round', r.uid, 'a', pa.uid, "
             "'b', pb.uid, 'judge', j.judge_label, 'judge_ref', j.judge_ref, 'judge_choice', j.judge_choice, "
             "'verdict_ab', j.verdict_ab, 'verdict_ba', j.verdict_ba, 'winner', j.winner, 'reason_ab', j.reason_ab, "
             "'reason_ba', j.reason_ba, 'raw_ab', j.raw_ab, 'raw_ba', j.raw_ba, 'error', j.error, "
             f"'reference', j.reference, 'created_at', {_num('j.created_at')}) "
             "FROM judge_votes j JOIN rounds r ON r.id = j.round_id JOIN responses pa ON pa.id = j.response_a "
             f"JOIN responses pb ON pb.id = j.response_b WHERE {in_r}"))
    header = {"type": HEADER_TYPE, "version": JSONL_VERSION, "app": f"ArenaDesk {__version__}",
              "exported_at": time.time(), "filters": {k: v for k, v in filters.items() if v}}
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(json.dumps(header, ensure_ascii=False) + "\n")
        for alias, sql in queries:
            # keyset pages: memory stays flat however many votes there are
            page_sql = f"{sql} AND {alias}.id > ? ORDER BY {alias}.id LIMIT {_PAGE}"
            last = -1
            while True:
                rows = store.query(page_sql, [*args, last])
                if not rows:
                    break
                fh.write(_redacted_page([row[1] for row in rows], redaction))
                fh.write("\n")
                n += len(rows)
                last = rows[-1][0]
                if len(rows) < _PAGE:
                    break
    return n


def _redacted_page(lines: list[str], redaction: Redaction) -> str:
    """JSON records (one a line, as SQLite wrote them: a record never holds a raw newline) joined
    into one text, each record that may hold something to remove (`Redaction.touches`) redacted.
    Those records are found by looking for the redaction's markers in the whole page, once each,
    instead of in every record one by one: most records hold none, and a page is one C-speed search."""
    page = "\n".join(lines)
    starts = None
    touched: set[int] = set()
    for marker in redaction.markers:
        at = page.find(marker)
        while at >= 0:
            if starts is None:
                starts = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
            k = bisect.bisect_right(starts, at) - 1  # the record the marker begins in
            touched.add(k)
            at = page.find(marker, starts[k + 1])  # this record is taken: look on from the next one
    if not touched:
        return page
    for k in touched:
        lines[k] = _redacted_line(lines[k], redaction)  # which looks again, record by record
    return "\n".join(lines)


def _redacted_line(line: str, redaction: Redaction) -> str:
    """A JSON record (as SQLite wrote it) with its texts redacted; decoded only when it may
    hold something to remove (most lines do not)."""
    if not redaction.touches(line):
        return line
    record = json.loads(line)
    for key, value in record.items():
        if key not in ("type", "uid", "round", "conversation", "a", "b"):
            record[key] = redaction.error(value) if key == "error" else _redacted_value(value, redaction)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _redacted_value(value, redaction: Redaction):
    if isinstance(value, str):
        return redaction.text(value)
    if isinstance(value, dict):
        return {k: _redacted_value(v, redaction) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted_value(v, redaction) for v in value]
    return value


def import_jsonl(store, path) -> str:
    """Merge an ArenaDesk JSONL export into `store`; returns a one-paragraph summary.

    Records are matched on uid (INSERT OR IGNORE), so importing the same file twice
    adds nothing the second time. A vote is matched on its round: when both stores
    voted on the same round, the vote changed most recently wins. A conversation that
    went on differently on the two machines keeps this store's turns; the file's
    differing turns (and their votes) arrive as a conversation of their own, titled
    "… (continued on another machine)".

    There are no deletion records: a conversation or vote deleted here comes back if
    the file still holds it (delete it on both machines, or export after deleting)."""
    path = Path(path)
    recs: dict[str, list[dict]] = {"conversation": [], "round": [], "response": [], "vote": [], "judge_vote": []}
    unknown = 0
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        header = None
        for lineno, line in enumerate(fh, 1):
            if _UNDECODED.search(line):  # bytes that are not UTF-8 (kept as surrogates by surrogateescape)
                raise ValueError(f"{path.name}, line {lineno}: not UTF-8 text; an ArenaDesk export is UTF-8. "
                                 "Nothing was imported.")
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path.name}, line {lineno}: not JSON ({exc.msg})") from None
            if header is None:
                if not isinstance(obj, dict) or obj.get("type") != HEADER_TYPE:
                    raise ValueError(f"{path.name} is not an ArenaDesk JSONL export (its first line has no "
                                     f"'{HEADER_TYPE}' header); export one with: arenadesk export --format jsonl")
                version = obj.get("version", 0)
                if isinstance(version, bool) or not isinstance(version, int):
                    raise ValueError(f"{path.name}, line {lineno}: the header's version {_shown(version)} is not a "
                                     "number; this is not an ArenaDesk export ArenaDesk can read.")
                if version > JSONL_VERSION:
                    raise ValueError(f"{path.name} was written by a newer ArenaDesk (format version "
                                     f"{obj.get('version')}); update ArenaDesk to import it.")
                header = obj
                continue
            kind = obj.get("type") if isinstance(obj, dict) else None
            if kind in recs:
                problem = _check_record(kind, obj)
                if problem:
                    raise ValueError(f"{path.name}, line {lineno}: this {kind} record {problem}; nothing was "
                                     "imported. Fix or remove that line, or export the file again.")
                recs[kind].append(obj)
            else:
                unknown += 1
        if header is None:
            raise ValueError(f"{path.name} is empty: nothing to import")

    added = dict.fromkeys(recs, 0)
    skipped = dict.fromkeys(recs, 0)
    already = dict.fromkeys(recs, 0)
    forks = 0
    votes_updated = 0
    battles_added = 0
    with store.transaction() as db:
        def ids(table: str) -> dict[str, int]:
            return dict(db.execute(f"SELECT uid, id FROM {table}"))

        already["conversation"] = _already(db, "conversations", recs["conversation"])
        before = db.total_changes
        db.executemany(
            "INSERT OR IGNORE INTO conversations (uid, title, created_at, blind) VALUES (?, ?, ?, ?)",
            [(c["uid"], str(c.get("title") or ""), float(c.get("created_at") or 0), int(bool(c.get("blind"))))
             for c in recs["conversation"]],
        )
        added["conversation"] = db.total_changes - before
        conv_ids = ids("conversations")

        # A conversation continued on both machines after a sync has, from some turn on, rounds here and
        # rounds in the file that differ (other uids, same turn numbers). The file's side of it becomes a
        # conversation of its own (a fork, with a uid derived from the first differing round, so importing
        # again finds it) instead of being dropped: no vote is lost.
        have_rounds = {uid for (uid,) in db.execute("SELECT uid FROM rounds")}
        taken = set(db.execute("SELECT conversation_id, turn FROM rounds"))
        conv_recs = {c["uid"]: c for c in recs["conversation"]}
        fork_at: dict[str, tuple[int, str]] = {}  # conversation uid -> (first differing turn, that round's uid)
        for r in sorted((r for r in recs["round"] if isinstance(r.get("turn"), int)), key=lambda r: r["turn"]):
            conv_uid = r.get("conversation")
            cid = conv_ids.get(conv_uid)
            if cid is None or r["uid"] in have_rounds or conv_uid in fork_at:
                continue
            if (cid, r["turn"]) in taken:
                fork_at[conv_uid] = (r["turn"], r["uid"])
        fork_ids: dict[str, int] = {}
        for conv_uid, (_turn, round_uid) in fork_at.items():
            fork_uid = f"{conv_uid}~{round_uid}"
            src = conv_recs.get(conv_uid) or {}
            title = str(src.get("title") or "")
            db.execute(
                "INSERT OR IGNORE INTO conversations (uid, title, created_at, blind) VALUES (?, ?, ?, ?)",
                (fork_uid, (title + " " if title else "") + "(continued on another machine)",
                 float(src.get("created_at") or 0), int(bool(src.get("blind")))))
            forks += db.execute("SELECT changes()").fetchone()[0]
            fork_ids[conv_uid] = db.execute("SELECT id FROM conversations WHERE uid = ?", (fork_uid,)).fetchone()[0]

        rows = []
        for r in recs["round"]:
            cid = conv_ids.get(r.get("conversation"))
            if cid is None or not isinstance(r.get("turn"), int):
                skipped["round"] += 1
                continue
            fork = fork_at.get(r.get("conversation"))
            if fork is not None and r["turn"] >= fork[0] and r["uid"] not in have_rounds:
                cid = fork_ids[r["conversation"]]
            revealed = r.get("revealed_at")  # (none in exports from before 0013; the votes below say it then)
            rows.append((r["uid"], cid, r["turn"], str(r.get("prompt") or ""), str(r.get("system_prompt") or ""),
                         r.get("tag") or None, int(bool(r.get("blind"))), float(r.get("created_at") or 0),
                         float(revealed) if revealed is not None else None))  # checked: a number
        already["round"] = _already(db, "rounds", recs["round"])
        before = db.total_changes
        db.executemany(
            "INSERT OR IGNORE INTO rounds (uid, conversation_id, turn, prompt, system_prompt, tag, blind, created_at, "
            "revealed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        added["round"] = db.total_changes - before
        round_ids = ids("rounds")

        rows = []
        for p in recs["response"]:
            rid = round_ids.get(p.get("round"))
            if rid is None:
                skipped["response"] += 1
                continue
            engine, ref, connection = str(p.get("engine") or ""), str(p.get("model_ref") or ""), p.get("connection")
            if engine == "openai" and "connection" not in p:
                # An export from before connections: its API answers came through the one base URL,
                # which became the connection "openai" (as migration 0006 does for the local store).
                connection = "openai"
                ref = ref if "@" in ref else f"{ref}@openai"
            rows.append((p["uid"], rid, p.get("slot"), p.get("position"), engine,
                         str(p.get("model") or ""), ref,
                         json.dumps(_params(p.get("params")), sort_keys=True), str(p.get("text") or ""),
                         p.get("status") or "done", p.get("error"), p.get("started_at"), p.get("first_token_at"),
                         p.get("last_token_at"), p.get("finished_at"), p.get("tokens_in"), p.get("tokens_out"),
                         int(bool(p.get("tokens_estimated"))), p.get("cost_usd"), p.get("stars"),
                         _text_or_none(p.get("finish_reason")), str(p.get("reasoning") or ""),
                         p.get("first_answer_at"), connection if isinstance(connection, str) else "",
                         p["reported_model"] if isinstance(p.get("reported_model"), str) else None))
        already["response"] = _already(db, "responses", recs["response"])
        before = db.total_changes
        db.executemany(
            "INSERT OR IGNORE INTO responses (uid, round_id, slot, position, engine, model, model_ref, params, text, "
            "status, error, started_at, first_token_at, last_token_at, finished_at, tokens_in, tokens_out, "
            "tokens_estimated, cost_usd, stars, finish_reason, reasoning, first_answer_at, connection, reported_model) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows)
        added["response"] = db.total_changes - before
        resp_ids = dict(((uid, (rid, round_id)) for uid, rid, round_id in
                         db.execute("SELECT uid, id, round_id FROM responses")))

        existing = {round_id: (vid, updated) for vid, round_id, updated in
                    db.execute("SELECT id, round_id, updated_at FROM votes")}
        new_battles = []
        for v in recs["vote"]:
            rid = round_ids.get(v.get("round"))
            outcome = v.get("outcome")
            if rid is None or outcome not in ("left", "right", "tie", "both_bad", "best"):
                skipped["vote"] += 1
                continue
            battles = []
            for b in v.get("battles") or []:
                a, bb = resp_ids.get(b.get("a")), resp_ids.get(b.get("b"))
                if a is None or bb is None or a[1] != rid or bb[1] != rid or b.get("winner") not in _FASTCHAT_WINNER:
                    battles = None
                    break
                battles.append((a[0], bb[0], b["winner"]))
            if battles is None:
                skipped["vote"] += 1
                continue
            fields = (outcome, v.get("best_position"), str(v.get("note") or ""), int(bool(v.get("blind"))),
                      float(v.get("created_at") or 0), float(v.get("updated_at") or v.get("created_at") or 0))
            if rid in existing:
                vid, updated = existing[rid]
                if fields[5] <= (updated or 0):
                    already["vote"] += 1  # already here, or ours is as new or newer
                    continue
                db.execute("UPDATE votes SET outcome = ?, best_position = ?, note = ?, blind = ?, created_at = ?, "
                           "updated_at = ? WHERE id = ?", fields + (vid,))
                db.execute("DELETE FROM battles WHERE vote_id = ?", (vid,))
                votes_updated += 1
            else:
                cur = db.execute(
                    "INSERT OR IGNORE INTO votes (uid, round_id, outcome, best_position, note, blind, created_at, "
                    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (v["uid"], rid) + fields)
                if cur.rowcount != 1:
                    skipped["vote"] += 1
                    continue
                vid = cur.lastrowid
                existing[rid] = (vid, fields[5])
                added["vote"] += 1
            new_battles += [(vid, a, b, w) for a, b, w in battles]
        db.executemany("INSERT INTO battles (vote_id, response_a, response_b, winner) VALUES (?, ?, ?, ?)",
                       new_battles)
        battles_added = len(new_battles)
        # A blind round voted on has shown its names (Store.cast_vote records it; an export from
        # before rounds.revealed_at only has the vote to say so).
        db.execute("UPDATE rounds SET revealed_at = (SELECT MIN(v.created_at) FROM votes v WHERE v.round_id = rounds.id) "
                   "WHERE blind = 1 AND revealed_at IS NULL AND id IN (SELECT round_id FROM votes)")

        # A judge's verdicts stay a judge's: they go back to judge_votes, never to votes.
        rows = []
        for j in recs["judge_vote"]:
            rid, a, b = round_ids.get(j.get("round")), resp_ids.get(j.get("a")), resp_ids.get(j.get("b"))
            verdicts = [j.get(k) for k in ("verdict_ab", "verdict_ba", "winner")]
            if (rid is None or a is None or b is None or a[1] != rid or b[1] != rid or not j.get("judge_ref")
                    or any(v not in (None, "a", "b", "tie") for v in verdicts)):
                skipped["judge_vote"] += 1
                continue
            rows.append((j["uid"], rid, a[0], b[0], str(j["judge_ref"]), str(j.get("judge") or j["judge_ref"]),
                         str(j.get("judge_choice") or ""), *verdicts, str(j.get("reason_ab") or ""),
                         str(j.get("reason_ba") or ""), str(j.get("raw_ab") or ""), str(j.get("raw_ba") or ""),
                         j.get("error"), j.get("reference"), float(j.get("created_at") or 0)))
        already["judge_vote"] = _already(db, "judge_votes", recs["judge_vote"])
        before = db.total_changes
        db.executemany(
            "INSERT OR IGNORE INTO judge_votes (uid, round_id, response_a, response_b, judge_ref, judge_label, "
            "judge_choice, verdict_ab, verdict_ba, winner, reason_ab, reason_ba, raw_ab, raw_ba, error, reference, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        added["judge_vote"] = db.total_changes - before

    total = {k: len(v) for k, v in recs.items()}
    # What is neither added, already here, nor skipped above broke a rule of the database (a NOT
    # NULL, a duplicate slot...) and was dropped by INSERT OR IGNORE: said as such, not "already here".
    dropped = {k: max(0, total[k] - added[k] - already[k] - skipped[k] - (votes_updated if k == "vote" else 0))
               for k in recs}
    added["conversation"] += forks
    parts = [
        f"Imported {path.name}: {added['conversation']} new conversations, {added['round']} rounds, "
        f"{added['response']} answers, {added['vote']} votes ({battles_added} battles)"
        + (f"; {votes_updated} votes updated to the newer choice" if votes_updated else "")
        + (f"; {added['judge_vote']} judge votes (kept apart from yours)" if added["judge_vote"] else "") + "."
    ]
    if sum(already.values()):
        parts.append(f"{sum(already.values())} records were already here and were left as they are.")
    if any(skipped.values()):
        parts.append("Skipped (conflicting or incomplete): " + ", ".join(
            f"{n} {k}s" for k, n in skipped.items() if n) + ".")
    if any(dropped.values()):
        parts.append("Dropped because they break the database's rules (e.g. two answers in one pane): " + ", ".join(
            f"{n} {k}s" for k, n in dropped.items() if n) + ".")
    if unknown:
        parts.append(f"{unknown} lines of an unknown kind were ignored.")
    return " ".join(parts)


_NUMBER_FIELDS = {
    "conversation": ("created_at",),
    "round": ("created_at", "revealed_at"),
    "response": ("started_at", "first_token_at", "last_token_at", "finished_at", "cost_usd"),
    "vote": ("created_at", "updated_at"),
    "judge_vote": ("created_at",),
}
_INT_FIELDS = {"round": ("turn",), "response": ("slot", "position", "tokens_in", "tokens_out", "stars"),
               "vote": ("best_position",)}
_TEXT_FIELDS = {
    "conversation": ("title",),
    "round": ("conversation", "prompt", "system_prompt", "tag"),
    "response": ("round", "engine", "model", "model_ref", "text", "status", "error", "choice"),
    "vote": ("round", "outcome", "note"),
    "judge_vote": ("round", "a", "b", "judge", "judge_ref", "judge_choice", "verdict_ab", "verdict_ba", "winner",
                   "reason_ab", "reason_ba", "raw_ab", "raw_ba", "error", "reference"),
}
_REQUIRED = {"round": ("conversation", "turn"), "response": ("round", "slot", "position"), "vote": ("round", "outcome")}


def _finite_number(value) -> bool:
    """A JSON number that a float holds: not NaN or infinite, and not an integer beyond a float's
    range (JSON has no limit; float() of one raises OverflowError)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _check_record(kind: str, obj: dict) -> str | None:
    """What is wrong with one record of an import (None: nothing). Text fields are made storable
    in place (a lone surrogate, valid JSON, becomes U+FFFD), so no row fails on its characters."""
    uid = obj.get("uid")
    if not isinstance(uid, str) or not uid.strip() or len(uid) > 200:
        return f"has no usable uid (found {_shown(uid)})"
    obj["uid"] = storable(uid)
    for name in _REQUIRED.get(kind, ()):
        if obj.get(name) is None:
            return f"has no {name!r}"
    for name in _TEXT_FIELDS.get(kind, ()):
        value = obj.get(name)
        if value is not None and not isinstance(value, str):
            return f"has {name!r} = {_shown(value)}, which is not text"
        if value is not None:
            obj[name] = storable(value)
    for name in _INT_FIELDS.get(kind, ()):
        value = obj.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2**62):
            return f"has {name!r} = {_shown(value)}, which is not a whole number"
    for name in _NUMBER_FIELDS.get(kind, ()):
        value = obj.get(name)
        if value is not None and not _finite_number(value):
            return f"has {name!r} = {_shown(value)}, which is not a number"
    if kind == "response" and obj.get("params") is not None and not isinstance(obj["params"], dict):
        return f"has 'params' = {_shown(obj['params'])}, which is not an object"
    if kind == "vote":
        battles = obj.get("battles")
        if battles is not None and not isinstance(battles, list):
            return f"has 'battles' = {_shown(battles)}, which is not a list"
        for b in battles or []:
            if not isinstance(b, dict) or not all(isinstance(b.get(k), str) for k in ("a", "b", "winner")):
                return f"has a battle {_shown(b)} without text 'a', 'b' and 'winner'"
    return None


def _shown(value) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 40 else text[:37] + "..."


def _already(db, table: str, records: list[dict]) -> int:
    """How many of `records` are here before the import (or repeat an earlier line of the file)."""
    have = {uid for (uid,) in db.execute(f"SELECT uid FROM {table}")}
    count = 0
    for r in records:
        if r["uid"] in have:
            count += 1
        have.add(r["uid"])
    return count


# -- FastChat --------------------------------------------------------------------------------

def _text_or_none(value) -> str | None:
    return value if isinstance(value, str) and value else None


def estimate_tokens(text: str) -> int:
    """A rough token count when no engine counted: about four characters a token."""
    return (len(text) + 3) // 4 if text else 0


def _with_tokens(messages: list[dict], answer: dict) -> list[dict]:
    out = []
    for m in messages:
        out.append({"role": m["role"], "content": m["content"], "num_tokens": m.get("num_tokens")
                    if m.get("num_tokens") is not None else estimate_tokens(m["content"])})
    out.append({"role": "assistant", "content": answer["text"],
                "num_tokens": answer["tokens_out"] if answer["tokens_out"] is not None
                else estimate_tokens(answer["text"])})
    return out


def _battle_rows(data: _Data):
    """(vote, round, response a, response b, winner) for every battle of the exported votes."""
    for v in data.votes:
        rnd = data.rounds[v["round_id"]]
        for _bid, ra, rb, winner in data.battles.get(v["id"], []):
            yield v, rnd, data.responses[ra], data.responses[rb], winner


def voter_id() -> str:
    """Who voted, as FastChat's ``judge`` names it: ``arena_user_`` and a hash of this machine's
    host and user names, so per-user filters tell people apart without naming anyone."""
    import getpass
    import hashlib
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name known to the system (some containers)
        user = ""
    digest = hashlib.sha256(f"arenadesk\0{socket.gethostname()}\0{user}".encode()).hexdigest()
    return f"arena_user_{digest[:16]}"


def _export_fastchat(store, path: Path, filters, redaction: Redaction) -> int:
    data = _Data(store, filters, redaction)
    names = data.names()
    judge = voter_id()
    out = []
    for v, rnd, a, b, winner in _battle_rows(data):
        conv_a = _with_tokens(data.history(rnd, a["slot"]) + [{"role": "user", "content": rnd["prompt"]}], a)
        conv_b = _with_tokens(data.history(rnd, b["slot"]) + [{"role": "user", "content": rnd["prompt"]}], b)
        out.append({
            "question_id": rnd["uid"],
            "model_a": names.get(a["model_ref"], a["model"]),
            "model_b": names.get(b["model_ref"], b["model"]),
            "winner": _FASTCHAT_WINNER[winner],
            "judge": judge,
            "conversation_a": conv_a,
            "conversation_b": conv_b,
            "turn": len(conv_a) // 2,
            "anony": bool(v["blind"]),
            "language": "unknown",
            "tstamp": v["created_at"],
        })
    if filters.get("include_judge"):
        judged = _JudgeData(store, filters, redaction)
        jnames = judged.names()
        for j, rnd, a, b in judged.rows():
            conv_a = _with_tokens(judged.history(rnd, a["slot"]) + [{"role": "user", "content": rnd["prompt"]}], a)
            conv_b = _with_tokens(judged.history(rnd, b["slot"]) + [{"role": "user", "content": rnd["prompt"]}], b)
            out.append({
                "question_id": rnd["uid"],
                "model_a": jnames.get(a["model_ref"], a["model"]),
                "model_b": jnames.get(b["model_ref"], b["model"]),
                "winner": _FASTCHAT_WINNER[j["winner"]],
                "judge": f"llm_judge:{j['judge_label']}",
                "conversation_a": conv_a,
                "conversation_b": conv_b,
                "turn": len(conv_a) // 2,
                "anony": False,
                "language": "unknown",
                "tstamp": j["created_at"],
            })
    out.sort(key=lambda x: x["tstamp"])
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=2, ensure_ascii=False)
    return len(out)


# -- preference pairs ------------------------------------------------------------------------

def _export_pairs(store, path: Path, filters, redaction: Redaction) -> int:
    data = _Data(store, filters, redaction)
    marked = bool(filters.get("include_judge"))
    rows = [(data, rnd, a, b, winner, "you") for _v, rnd, a, b, winner in _battle_rows(data)]
    if marked:
        judged = _JudgeData(store, filters, redaction)
        rows += [(judged, rnd, a, b, j["winner"], f"judge:{j['judge_label']}") for j, rnd, a, b in judged.rows()]
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for src, rnd, a, b, winner, source in rows:
            if winner not in ("a", "b"):
                continue
            chosen, rejected = (a, b) if winner == "a" else (b, a)
            if not chosen["text"].strip() or not rejected["text"].strip() or chosen["text"] == rejected["text"]:
                continue
            head = [{"role": "system", "content": rnd["system_prompt"]}] if rnd["system_prompt"].strip() else []
            prompt = head + src.history(rnd, chosen["slot"]) + [{"role": "user", "content": rnd["prompt"]}]
            record = {
                "prompt": prompt,
                "chosen": [{"role": "assistant", "content": chosen["text"]}],
                "rejected": [{"role": "assistant", "content": rejected["text"]}],
            }
            if marked:
                record["source"] = source
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
    return n


# -- judge votes -----------------------------------------------------------------------------

class _JudgeData(_Data):
    """A judge's verdicts with the rounds, answers and earlier turns they need, in the shape
    `_Data` gives the user's votes (so history() and names() work the same)."""

    def __init__(self, store, filters, redaction: Redaction):
        # A judge never votes blind in the user's sense: blind_only keeps none of its verdicts.
        sql, args = _vote_where(filters, alias="j", blind_clause=" AND 0")
        keys = ("id", "uid", "round_id", "response_a", "response_b", "judge_label", "winner", "reason", "created_at")
        self.votes = [dict(zip(keys, r)) for r in store.query(
            "SELECT j.id, j.uid, j.round_id, j.response_a, j.response_b, j.judge_label, j.winner, "
            "CASE WHEN j.reason_ab != '' THEN j.reason_ab ELSE j.reason_ba END, j.created_at "
            "FROM judge_votes j JOIN rounds r ON r.id = j.round_id WHERE j.winner IS NOT NULL" + sql
            + " ORDER BY j.created_at, j.id", args)]
        for v in self.votes:  # a local judge named "X.gguf" on verdicts from before names dropped it: X on all
            v["judge_label"] = model_file_name(v["judge_label"] or "")
        convs = sorted({r[0] for r in store.query(
            "SELECT r.conversation_id FROM judge_votes j JOIN rounds r ON r.id = j.round_id "
            "WHERE j.winner IS NOT NULL" + sql, args)})
        marks = ", ".join("?" * len(convs)) or "NULL"
        self.conversations = {
            r[0]: dict(zip(("id", "uid", "title", "created_at", "blind"), r))
            for r in store.query(f"SELECT id, uid, title, created_at, blind FROM conversations WHERE id IN ({marks})",
                                 convs)
        }
        self.rounds = {
            r[0]: dict(zip(("id", "uid", "conversation_id", "turn", "prompt", "system_prompt", "tag", "blind",
                            "created_at"), r))
            for r in store.query("SELECT id, uid, conversation_id, turn, prompt, system_prompt, tag, blind, created_at "
                                 f"FROM rounds WHERE conversation_id IN ({marks})", convs)
        }
        self.responses, self.by_round = {}, {}
        for r in store.query(f"SELECT {_RESP_COLS} FROM responses WHERE round_id IN (SELECT id FROM rounds "
                             f"WHERE conversation_id IN ({marks})) ORDER BY round_id, position", convs):
            d = dict(zip(_RESP_KEYS, r))
            self.responses[d["id"]] = d
            self.by_round.setdefault(d["round_id"], []).append(d)
        self.battles = {}
        self._rounds_by_conv = None
        self._redact(redaction)

    def rows(self):
        """(judge vote, round, response a, response b) for every verdict."""
        for j in self.votes:
            yield j, self.rounds[j["round_id"]], self.responses[j["response_a"]], self.responses[j["response_b"]]
