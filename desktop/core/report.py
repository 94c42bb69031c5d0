"""Readable reports for sharing: a suite run, or any selection of conversations, as Markdown
or as one self-contained HTML file (inline style, no scripts, no external files). No Qt.

Each prompt shows its turns, every contestant's answer side by side (columns in HTML, one
after another in Markdown, where tables cannot hold multi-line text), the answer's figures
(first token, tokens/s, tokens, cost), and the user's votes, stars and notes.

Everything that came from a model, a suite file or the user is escaped: HTML through
``html.escape``; Markdown puts such text in fenced blocks whose fence is longer than any
run of fence characters inside, and backslash-escapes it where it appears inline (headings,
labels), so an answer holding ``<script>`` or a stray fence renders as text.
"""
from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from .arena import format_metrics
from .engines.base import Result
from .secrets import Redaction
from .store import Store
from .store.suite_runs import SuiteRuns

FORMATS = ("md", "html")


@dataclass
class Answer:
    label: str
    text: str
    metrics: str = ""
    error: str | None = None
    stars: int | None = None


@dataclass
class Turn:
    prompt: str
    answers: list[Answer]
    reference: str = ""


@dataclass
class Entry:
    title: str
    category: str | None
    turns: list[Turn]
    votes: list[str] = field(default_factory=list)  # plain words, one per vote (with its note)


@dataclass
class Report:
    title: str
    summary: list[str]
    entries: list[Entry]


# -- gathering -------------------------------------------------------------------------------

def _metrics(row) -> str:
    r = Result(text=row.text, status="done", started_at=row.started_at or 0.0, first_token_at=row.first_token_at,
               last_token_at=row.last_token_at, finished_at=row.finished_at, tokens_in=row.tokens_in,
               tokens_out=row.tokens_out, tokens_estimated=bool(row.tokens_estimated), cost_usd=row.cost_usd)
    return " · ".join(format_metrics(r))


def describe_vote(rnd) -> str | None:
    """A round's vote in words, naming the models (the report is read after the vote)."""
    v = rnd.vote
    if v is None:
        return None
    by_pos = {r.position: r.model for r in rnd.responses}
    names = [by_pos[p] for p in sorted(by_pos)]
    if v.outcome in ("left", "right") and len(names) == 2:
        win, lose = (names[0], names[1]) if v.outcome == "left" else (names[1], names[0])
        text = f"{win} better than {lose}"
    elif v.outcome == "best":
        text = f"{by_pos.get(v.best_position, '?')} best of {', '.join(names)}"
    elif v.outcome == "tie":
        text = f"tie between {', '.join(names)}"
    else:
        text = f"both bad: {', '.join(names)}"
    text = ("Blind vote: " if v.blind else "Vote: ") + text
    if v.note.strip():
        text += f" — note: {v.note.strip()}"
    return text


def run_report(store: Store, run_id: int) -> Report:
    runs = SuiteRuns(store)
    run = runs.run(run_id)
    counts = runs.counts(run_id)
    labels = [p["label"] for p in run.contestants]
    answers = {(a.item, a.turn, a.contestant): a for a in runs.answers(run_id)}
    pairs = runs.pairs(run_id)
    entries = []
    for i, item in enumerate(run.items):
        refs = list(item.get("reference") or [])
        turns = []
        for t, prompt in enumerate(item["turns"]):
            row = []
            for c, label in enumerate(labels):
                a = answers.get((i, t, c))
                if a is None:
                    row.append(Answer(label, "", error="not answered"))
                    continue
                row.append(Answer(label, a.text, _metrics(a) if a.status == "done" else "",
                                  a.error if a.status == "error" else ("not answered yet" if a.status != "done" else None)))
            turns.append(Turn(prompt, row, refs[t] if t < len(refs) else ""))
        votes = []
        for (pi, _a, _b), (conversation_id, round_id, voted) in sorted(pairs.items()):
            if pi != i or not voted:
                continue
            conv = store.conversation(conversation_id)
            rnd = next((r for r in conv.rounds if r.id == round_id), None)
            words = describe_vote(rnd) if rnd else None
            if words:
                votes.append(words)
        entries.append(Entry(str(item["id"]), item.get("category"), turns, votes))
    when = dt.datetime.fromtimestamp(run.created_at).strftime("%Y-%m-%d %H:%M")
    summary = [
        f"Suite “{run.suite}”, run {run.id}, started {when}: {len(run.items)} prompts.",
        "Contestants: " + ", ".join(labels) + ".",
        f"Answers: {counts.done} of {counts.total} done" + (f", {counts.error} failed" if counts.error else "")
        + (f"; spent ${counts.spend_usd:.4f}." if counts.spend_usd else "; no API cost."),
        f"Votes: {sum(1 for v in pairs.values() if v[2])} pairs rated.",
    ]
    return Report(f"ArenaDesk report: suite “{run.suite}” (run {run.id})", summary, entries)


def conversations_report(store: Store, conversation_ids: list[int], title: str = "ArenaDesk report") -> Report:
    entries = []
    for cid in conversation_ids:
        conv = store.conversation(cid)
        turns = []
        votes = []
        for rnd in conv.rounds:
            row = [Answer(r.model, r.text, _metrics(r) if r.status == "done" else "",
                          r.error if r.status == "error" else ("stopped" if r.status == "cancelled" else None), r.stars)
                   for r in rnd.responses]
            turns.append(Turn(rnd.prompt, row))
            words = describe_vote(rnd)
            if words:
                votes.append((f"Turn {rnd.turn + 1}: " if len(conv.rounds) > 1 else "") + words)
        tag = next((r.tag for r in conv.rounds if r.tag), None)
        entries.append(Entry(conv.title or f"Conversation {cid}", tag, turns, votes))
    return Report(title, [f"{len(entries)} conversations."], entries)


# -- Markdown --------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


def md_inline(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def md_block(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"~+|`+", text)), default=0)
    fence = "~" * max(3, longest + 1)
    return f"{fence}text\n{text.rstrip()}\n{fence}"


def to_markdown(report: Report) -> str:
    out = [f"# {md_inline(report.title)}", ""]
    out += [md_inline(line) for line in report.summary]
    for n, e in enumerate(report.entries, start=1):
        out += ["", f"## {n}. {md_inline(e.title)}" + (f" ({md_inline(e.category)})" if e.category else ""), ""]
        for t, turn in enumerate(e.turns, start=1):
            if len(e.turns) > 1:
                out += [f"### Turn {t}", ""]
            out += ["**Prompt**", "", md_block(turn.prompt), ""]
            if turn.reference:
                out += ["**Reference answer**", "", md_block(turn.reference), ""]
            for a in turn.answers:
                out += [f"**{md_inline(a.label)}**" + (f" ({'★' * a.stars})" if a.stars else ""), ""]
                out += [md_block(a.text) if a.text else "_(no text)_", ""]
                if a.error:
                    out += [f"_Error: {md_inline(a.error)}_", ""]
                if a.metrics:
                    out += [f"_{md_inline(a.metrics)}_", ""]
        if e.votes:
            out += ["**Votes**", ""] + [f"- {md_inline(v)}" for v in e.votes]
    return "\n".join(out).rstrip() + "\n"


# -- HTML ------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;table-layout:fixed;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.5em;vertical-align:top;text-align:left}
th{background:#f4f4f4}
pre{white-space:pre-wrap;word-wrap:break-word;margin:0;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
.prompt{background:#f8f8ff;border-left:3px solid #88a;padding:.5em}
.metrics{color:#666;font-size:.85em;margin-top:.5em}.error{color:#b00;font-size:.85em}
.category{color:#666;font-weight:normal}
"""


def _h(text) -> str:
    return html.escape(str(text), quote=True)


def to_html(report: Report) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{_h(report.title)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{_h(report.title)}</h1>"]
    out += [f"<p>{_h(line)}</p>" for line in report.summary]
    for n, e in enumerate(report.entries, start=1):
        cat = f' <span class="category">({_h(e.category)})</span>' if e.category else ""
        out.append(f"<h2>{n}. {_h(e.title)}{cat}</h2>")
        for t, turn in enumerate(e.turns, start=1):
            label = f"Turn {t}: prompt" if len(e.turns) > 1 else "Prompt"
            out.append(f'<div class="prompt"><strong>{label}</strong><pre>{_h(turn.prompt)}</pre></div>')
            if turn.reference:
                out.append(f"<p><strong>Reference answer</strong></p><pre>{_h(turn.reference)}</pre>")
            out.append("<table><tr>" + "".join(
                f"<th>{_h(a.label)}{' ' + '★' * a.stars if a.stars else ''}</th>" for a in turn.answers) + "</tr><tr>")
            for a in turn.answers:
                cell = f"<pre>{_h(a.text)}</pre>" if a.text else "<em>(no text)</em>"
                if a.error:
                    cell += f'<div class="error">Error: {_h(a.error)}</div>'
                if a.metrics:
                    cell += f'<div class="metrics">{_h(a.metrics)}</div>'
                out.append(f"<td>{cell}</td>")
            out.append("</tr></table>")
        if e.votes:
            out.append("<p><strong>Votes</strong></p><ul>" + "".join(f"<li>{_h(v)}</li>" for v in e.votes) + "</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write(report: Report, fmt: str, path, redaction: Redaction | None = None) -> Path:
    """The report as a file. Every text goes through `redaction` first (by default the keys and
    URL passwords this machine knows, as exports.export does): old rows may hold a key echo."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; use md or html")
    path = Path(path)
    report = redacted(report, redaction if redaction is not None else Redaction.for_this_machine())
    text = to_markdown(report) if fmt == "md" else to_html(report)
    path.write_text(text, encoding="utf-8")
    return path


def redacted(report: Report, redaction: Redaction) -> Report:
    """A copy of `report` with every text through `redaction` (errors at full strength)."""
    t = redaction.text

    def answer(a: Answer) -> Answer:
        return replace(a, label=t(a.label), text=t(a.text), metrics=t(a.metrics), error=redaction.error(a.error))

    def turn(x: Turn) -> Turn:
        return replace(x, prompt=t(x.prompt), reference=t(x.reference), answers=[answer(a) for a in x.answers])

    return Report(t(report.title), [t(line) for line in report.summary], [
        replace(e, title=t(e.title), category=t(e.category), turns=[turn(x) for x in e.turns],
                votes=[t(v) for v in e.votes])
        for e in report.entries])
