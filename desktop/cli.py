"""The command line: the window by default, and headless commands that drive the
core end to end (ask, vote, leaderboard, export, import) for scripts and tests.

Everything printed that someone else wrote (answers, model names, server errors) goes
through `say`/`for_terminal`: no escape sequence from a model reaches the terminal (OSC 52
would write the clipboard, OSC 8 make links, ESC[2J clear the screen). A database that
cannot be written (full disk, read-only, damaged) is one plain line and exit code 1, never
a traceback, and a round is called saved only when every answer of it was stored."""
from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import threading

from . import __version__, suite_cli
from .core.untrusted import TerminalStream, for_terminal


def say(text: str = "", *, end: str = "\n", file=None) -> None:
    """print() for text that may come from a model or a server."""
    out = file or sys.stdout
    out.write(for_terminal(text) + end)


def _day(text: str) -> str:
    """argparse type for --since/--until: a bad date is a usage error, not a traceback."""
    import datetime as dt

    try:
        dt.datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2024-05-31") from None
    return text


class UsageError(Exception):
    """Bad input found before any work starts: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="arenadesk",
        description="Compare the open models you run yourself with GPT, on your own prompts. "
        "With no command, opens the window.",
    )
    p.add_argument("--version", action="version", version=f"ArenaDesk {__version__}")
    p.add_argument("--home", metavar="DIR", help="keep all data, settings and models under DIR (also: ARENADESK_HOME)")
    p.add_argument("--self-check", action="store_true",
                   help="start headless, load the built-in model, answer one prompt, exit 0 if all worked")
    p.add_argument("--install-desktop-entry", action="store_true",
                   help="add ArenaDesk to your desktop's application launcher (Linux)")
    p.add_argument("--uninstall-desktop-entry", action="store_true", help="remove the launcher entry again")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    ask = sub.add_parser("ask", help="send one prompt to several models, stream the answers, record the round")
    ask.add_argument("prompt")
    ask.add_argument("--local", action="append", default=[], metavar="MODEL",
                     help="'default' (the built-in model) or a .gguf path; repeat for more")
    ask.add_argument("--remote", action="append", default=[], metavar="MODEL",
                     help="an OpenAI (or compatible) model name, e.g. gpt-4o-mini; repeat for more")
    ask.add_argument("--system", default=None, help="system prompt")
    ask.add_argument("--max-tokens", type=int)
    ask.add_argument("--temperature", type=float)
    ask.add_argument("--seed", type=int)
    ask.add_argument("--base-url", help="OpenAI-compatible endpoint for this call (else Settings)")
    ask.add_argument("--tag", help="a category for this prompt, for filtering the leaderboard")
    ask.add_argument("--json", action="store_true", help="print one JSON object per answer instead of text")
    ask.add_argument("--plain-transcript", action="store_true",
                     help="prompt local models with a plain USER:/ASSISTANT: transcript instead of their file's "
                          "chat template (for a file whose template is broken)")

    vote = sub.add_parser("vote", help="rate a recorded round")
    vote.add_argument("round_id", type=int)
    vote.add_argument("outcome", choices=["left", "right", "tie", "both_bad", "best"])
    vote.add_argument("--best", type=int, metavar="N", help="with 'best': the answer that won, 1 = leftmost")
    vote.add_argument("--note", default="")

    board = sub.add_parser("leaderboard", help="print your personal leaderboard")
    board.add_argument("--blind-only", action="store_true")
    board.add_argument("--exclude-ties", action="store_true")
    board.add_argument("--tag")
    board.add_argument("--with-judge", action="store_true",
                       help="also count the LLM judge's verdicts on rounds you have not voted on")

    exp = sub.add_parser("export", help="export ratings and conversations")
    exp.add_argument("--format", required=True, choices=["csv", "jsonl", "fastchat", "pairs"])
    exp.add_argument("--out", required=True, metavar="FILE")
    exp.add_argument("--blind-only", action="store_true", help="only votes cast blind")
    exp.add_argument("--tag", help="only rounds with this category")
    exp.add_argument("--since", metavar="YYYY-MM-DD", type=_day, help="only votes cast on or after this day")
    exp.add_argument("--until", metavar="YYYY-MM-DD", type=_day, help="only votes cast before this day")
    exp.add_argument("--with-judge", action="store_true", help="add the LLM judge's verdicts, marked as the judge's")

    imp = sub.add_parser("import", help="merge an ArenaDesk JSONL export into this machine's store")
    imp.add_argument("file")

    models = sub.add_parser("models", help="list installed models and those found in other apps' folders "
                            "(LM Studio, Ollama, GPT4All, Jan, the Hugging Face cache, llama.cpp)")
    models.add_argument("--json", action="store_true", help="print one JSON object")
    models.add_argument("--use", choices=["yes", "no"], help="use the found models in the window and ask, or not")
    models.add_argument("--identify", action="store_true",
                        help="compute the found models' SHA-256 now (else the window does it in the background)")
    from .cli_judge import add_parsers

    add_parsers(sub)  # judge, verdict
    suite_cli.add_parser(sub)
    return p


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.install_desktop_entry or args.uninstall_desktop_entry:
        from .core import desktop_entry

        done = desktop_entry.install() if args.install_desktop_entry else desktop_entry.uninstall()
        for line in done:
            print(line)
        return 0
    if args.command is None and not args.self_check:
        from .app import run_gui

        return run_gui(home=args.home)

    from .core.services import Services
    from .core.store.db import NewerDatabase

    for stream in (sys.stdout, sys.stderr):  # a terminal that is not UTF-8 gets '?', not a crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    try:
        services = Services.open(args.home)
    except NewerDatabase as exc:
        say(f"arenadesk: {exc}", file=sys.stderr)
        return 2
    except sqlite3.Error as exc:  # e.g. the disk filled up while closing interrupted answers
        say(f"arenadesk: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the data folders cannot be made: a read-only or full disk
        where = f" {exc.filename}" if exc.filename else ""
        say(f"arenadesk: cannot create the data folder{where} ({exc.strerror or exc}). Make it writable, or choose "
            "another data folder with --home (or ARENADESK_HOME).", file=sys.stderr)
        return 2
    for w in services.warnings:
        say(f"arenadesk: warning: {w}", file=sys.stderr)
    try:
        if args.self_check:
            return self_check(services)
        return COMMANDS[args.command](services, args)
    except UsageError as exc:
        say(f"arenadesk: {exc}", file=sys.stderr)
        return 2
    except sqlite3.Error as exc:  # the store words its own failures (StorageError); nothing was saved
        say(f"arenadesk: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        try:
            services.close()
        except sqlite3.Error:
            pass


# -- commands ------------------------------------------------------------------------------

def cmd_ask(services, args) -> int:
    from .core.engines.registry import ModelChoice
    from .core.session import ComparisonSession, Refused

    choices = [ModelChoice("local", m) for m in args.local] + [ModelChoice("openai", m) for m in args.remote]
    if not choices:
        choices = [ModelChoice("local", "default")]
    # Inputs are checked before any work starts (and before a round is recorded): a model
    # file that cannot be one would otherwise be hashed in full first, then fail as a round.
    if not args.prompt.strip():
        raise UsageError("the prompt is empty")
    for c in choices:
        if c.engine == "local" and c.model != "default":
            from .core.engines.local import LocalEngine

            problem = LocalEngine(services.local_model_path(c.model)).check_file()
            if problem:
                raise UsageError(problem)
    if args.base_url:
        check_base_url(args.base_url)
        services.settings.openai_base_url = args.base_url
    elif any(c.engine == "openai" for c in choices) and services.settings.openai_base_url:
        check_base_url(services.settings.openai_base_url)
    if args.plain_transcript:
        services.settings.runtime.prompt_format = "transcript"  # this call only: settings are not saved
    services.settings.blind = False  # the command line shows names; its rounds are not blind
    live = threading.Lock()
    shown = TerminalStream()

    def on_delta(pane, text):
        if pane == 0 and not args.json:
            with live:
                sys.stdout.write(shown.feed(text))
                sys.stdout.flush()

    session = ComparisonSession(services, on_delta=on_delta)
    if args.system is not None:
        session.system_prompt = args.system
    for i, c in enumerate(choices):
        session.add_pane(c)
        for name in ("max_tokens", "temperature", "seed"):
            if getattr(args, name) is not None:
                session.set_override(i, name, getattr(args, name))
    if not args.json:
        say(f"── {services.local_model_name(choices[0])}")
    try:
        rnd = session.send(args.prompt, tag=args.tag)
    except Refused as exc:
        say(f"arenadesk: {exc}", file=sys.stderr)
        return 2
    try:
        results = session.wait()
    except KeyboardInterrupt:
        # Ctrl+C: stop the answers and let them be saved as cancelled, with their text so far,
        # before the store closes (otherwise they stay "streaming" in the history forever).
        session.stop()
        session.wait(timeout=5)
        raise
    from .core.engines.base import cut_off_note

    failed = 0
    for i, (choice, result) in enumerate(zip(choices, results)):
        if args.json:  # json.dumps escapes every control character: nothing reaches the terminal raw
            print(json.dumps({
                "round_id": rnd.round_id, "slot": i, "model": services.local_model_name(choice), "engine": choice.engine,
                "text": result.text, "status": result.status, "error": result.error,
                "finish_reason": result.finish_reason, "max_tokens": result.max_tokens,
                "reasoning": result.reasoning or None,
                "ttft_s": result.ttft_s, "first_answer_s": result.first_answer_s, "tokens_per_s": result.tokens_per_s,
                "tokens_in": result.tokens_in, "tokens_out": result.tokens_out, "cost_usd": result.cost_usd,
            }))
        else:
            if i == 0:
                sys.stdout.write(shown.flush())
            if i > 0:
                say(f"── {services.local_model_name(choice)}")
                say(result.text, end="")
            print()
            if result.reasoning.strip():
                say(reasoning_block(result.reasoning))
            if result.error:
                say(f"   error: {result.error}")
            if result.cut_off:
                say(f"   [{cut_off_note(result.finish_reason, result.max_tokens)}]")
            print(f"   {metrics_line(result)}")
        failed += result.status == "error"
    unsaved = [e for e in rnd.round.save_errors if e]
    if unsaved:
        say(f"arenadesk: round {rnd.round_id} was NOT saved: {unsaved[0]}", file=sys.stderr)
        return 1
    if not args.json:
        print(f"(round {rnd.round_id} saved; {vote_hint(rnd.round_id, len(choices))})")
    return 1 if failed == len(results) else 0


def reasoning_block(reasoning: str) -> str:
    """A model's reasoning, set apart from its answer (indented under a heading)."""
    lines = reasoning.strip().splitlines()
    return "   reasoning (before the answer, not part of it):\n" + "\n".join(f"   │ {line}" for line in lines)


def vote_hint(round_id: int, answers: int) -> str:
    if answers < 2:
        return "add a second model (--local or --remote) to have something to rate"
    if answers == 2:
        return f"rate it with: arenadesk vote {round_id} left|right|tie|both_bad"
    return f"rate it with: arenadesk vote {round_id} best --best N (1-{answers}), or tie|both_bad"


def check_base_url(url: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        from .core.secrets import without_credentials

        raise UsageError(f"{without_credentials(url)!r} is not a usable base URL; give the endpoint's full address, "
                         "e.g. http://127.0.0.1:8080/v1 or https://api.openai.com/v1")


def metrics_line(result) -> str:
    from .core.arena import format_metrics

    return " · ".join(format_metrics(result))


def cmd_vote(services, args) -> int:
    try:
        if args.outcome == "best" and args.best is None:
            raise UsageError("'best' needs --best N: which answer won (1 = leftmost)")
        best = args.best - 1 if args.outcome == "best" else None
        services.store.cast_vote(args.round_id, args.outcome, best_position=best, note=args.note)
    except KeyError:
        raise UsageError(f"there is no round {args.round_id}; `arenadesk ask` prints the number of each round") from None
    except ValueError as exc:  # left/right on a round with more than two answers
        raise UsageError(f"round {args.round_id}: {exc}") from None
    print(f"vote saved: round {args.round_id} → {args.outcome}")  # cast_vote raised if it was not
    return 0


def cmd_leaderboard(services, args) -> int:
    from .core import ratings

    if args.with_judge or services.settings.judging.count_in_leaderboard:
        from .core import judge

        battles = services.store.battles(blind_only=args.blind_only, tag=args.tag)
        mine = len(battles)
        battles = judge.with_judge(battles, services.store, blind_only=args.blind_only, tag=args.tag)
        print(f"(your {mine} votes and {len(battles) - mine} of the judge's verdicts on rounds you did not vote on)")
    else:  # the fast path: the battles as arrays
        battles = services.store.battle_columns(blind_only=args.blind_only, tag=args.tag)
    filters = [f"tag {args.tag!r}"] if args.tag else []
    if args.blind_only:
        filters.append("blind only")
    board = ratings.leaderboard(battles, include_ties=not args.exclude_ties, filtered=", ".join(filters))
    say(ratings.format_table(board))  # model names come from imports and servers
    return 0


def cmd_export(services, args) -> int:
    from .core import exports

    import datetime as dt

    def day(text):
        return dt.datetime.strptime(text, "%Y-%m-%d").timestamp() if text else None

    try:
        n = exports.export(services.store, args.format, args.out, since=day(args.since), until=day(args.until),
                           blind_only=args.blind_only, tag=args.tag, include_judge=args.with_judge)
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    print(f"exported {n} records to {args.out}")
    return 0


def cmd_import(services, args) -> int:
    from .core import exports

    try:
        summary = exports.import_jsonl(services.store, args.file)
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None  # the message names the file and the line
    say(summary)
    return 0


def self_check(services) -> int:
    """Headless: Qt starts offscreen, the built-in model loads and answers one prompt."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["arenadesk"])
    from .core.arena import Round, Slot
    from .core.engines.registry import ModelChoice
    from dataclasses import replace

    choice = ModelChoice("local", "default")
    sampling = replace(services.settings.sampling, max_tokens=24, temperature=0.0, seed=1)
    slot = Slot(choice, services.engines.get(choice), sampling)
    conversation_id = services.store.new_conversation("self-check")
    rnd = Round(services.store, services.prices, conversation_id, "What is the capital of France?", [slot])
    (result,) = rnd.run()
    services.store.delete_conversation(conversation_id)
    print(f"Qt {app.platformName()} ok; data folder {services.folders.data}")
    print(f"model: {choice.label}: {result.text.strip()!r}")
    print(metrics_line(result))
    info = getattr(slot.engine, "load_info", None) or {}
    if info:
        gpu = (f"{info.get('gpu_layers_offloaded')} of {info.get('layers', 0) + 1} layers on the GPU"
               if info.get("gpu_offload_supported") else "this llama.cpp build runs on the CPU only")
        print(f"llama.cpp: {info.get('threads')} threads; {gpu}")
    ok = result.status == "done" and result.text.strip() != ""
    print("self-check: " + ("ok" if ok else f"FAILED ({result.error or 'empty answer'})"))
    return 0 if ok else 1


def cmd_models(services, args) -> int:
    from .core.library import discover

    if args.use:
        services.settings.use_found_models = args.use
        services.save_settings()
    if args.identify:
        services.discovery.scan()
        progress = (lambda p: print(f"\r{p.text()}", end="", file=sys.stderr, flush=True))
        discover.identify(services, on_progress=None if args.json else progress)
        if not args.json:
            print(file=sys.stderr)
    report = discover.models_report(services, scan_first=not args.identify)
    print(json.dumps(report, indent=2) if args.json else discover.format_report(report))
    return 0


COMMANDS = {
    "models": cmd_models,
    "ask": cmd_ask,
    "vote": cmd_vote,
    "leaderboard": cmd_leaderboard,
    "export": cmd_export,
    "import": cmd_import,
    "suite": suite_cli.cmd_suite,
}


from .cli_judge import COMMANDS as _JUDGE_COMMANDS  # noqa: E402  (it imports from here only inside functions)

COMMANDS.update(_JUDGE_COMMANDS)
