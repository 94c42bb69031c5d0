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
    ask.add_argument("--remote", action="append", default=[], metavar="CONNECTION:MODEL",
                     help="a model on one of your connections, e.g. OpenAI:gpt-4o-mini or my-box:qwen2.5-7b "
                     "(a bare MODEL uses the connection made from the old base URL, or --base-url); repeat for more")
    ask.add_argument("--system", default=None, help="system prompt")
    ask.add_argument("--max-tokens", type=int)
    ask.add_argument("--temperature", type=float)
    ask.add_argument("--seed", type=int)
    ask.add_argument("--base-url", help="an OpenAI-compatible endpoint for this call only, for --remote models "
                     "named without a connection (a saved connection with this URL is used, with its key)")
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

    conns = sub.add_parser("connections", help="list your API connections and whether each answers; add or remove one",
                           description="With no action: every connection, where its key comes from, and a live "
                           "check (reachable, key accepted, N models); the model lists are refreshed.")
    conns.add_argument("action", nargs="?", choices=["list", "add", "remove"], default="list")
    conns.add_argument("name", nargs="?", help="with add/remove: the connection's name")
    conns.add_argument("--no-check", action="store_true", help="list only, without contacting the servers")
    conns.add_argument("--preset", default="custom", help="with add: one of " + ", ".join(_preset_ids()))
    conns.add_argument("--base-url", help="with add: the endpoint (default: the preset's)")
    conns.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                       help="with add: an extra HTTP header; repeat for more (not for keys: headers are saved in "
                       "the settings file)")
    conns.add_argument("--timeout", type=float, help="with add: seconds to wait for the next part of an answer")
    conns.add_argument("--max-concurrent", type=int, help="with add: answers at once over it (0: no limit)")
    conns.add_argument("--key-stdin", action="store_true",
                       help="with add: read the API key from standard input and keep it in the keychain")
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


def _preset_ids() -> list[str]:
    from .core.connections import PRESETS

    return [p.id for p in PRESETS]


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

    # Inputs are checked before any work starts (and before a round is recorded).
    if args.base_url:
        check_base_url(args.base_url)
    remote_default = base_url_connection(services, args.base_url) if args.base_url else None
    choices = [ModelChoice("local", m) for m in args.local] + [remote_choice(services, m, remote_default)
                                                                 for m in args.remote]
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
    for c in choices:
        if c.engine == "openai":
            check_base_url(services.connection(c.connection).base_url)
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
        say(f"── {answer_name(services, choices[0])}")
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
                "round_id": rnd.round_id, "slot": i, "model": answer_name(services, choice),
                "engine": choice.engine, "connection": choice.connection, "reported_model": result.reported_model,
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
                say(f"── {answer_name(services, choice)}")
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


def answer_name(services, choice) -> str:
    """A local model's own name (a found model's, e.g. "llama3.2:3b"); an API model's with its connection."""
    from .core.contestants import Contestants

    if choice.engine == "local":
        return services.local_model_name(choice)
    return Contestants(services, list_on_demand=False).heading(choice)


def vote_hint(round_id: int, answers: int) -> str:
    if answers < 2:
        return "add a second model (--local or --remote) to have something to rate"
    if answers == 2:
        return f"rate it with: arenadesk vote {round_id} left|right|tie|both_bad"
    return f"rate it with: arenadesk vote {round_id} best --best N (1-{answers}), or tie|both_bad"


def check_base_url(url: str) -> None:
    from .core.connections import check_base_url as problem_with

    problem = problem_with(url)
    if problem:
        raise UsageError(problem)


def remote_choice(services, text: str, default=None):
    """--remote CONNECTION:MODEL (the connection by id or name), or a bare MODEL on `default`,
    else on the connection made from the old single base URL (else the only one)."""
    from .core.engines.registry import ModelChoice
    from .core.settings import LEGACY_CONNECTION

    prefix, sep, model = text.partition(":")
    conn = services.settings.connection(prefix) if sep and model else None
    if conn is not None:
        return ModelChoice("openai", model, conn.id)
    conns = services.settings.connections
    conn = default or services.settings.connection(LEGACY_CONNECTION) or (conns[0] if len(conns) == 1 else None)
    if conn is None:
        names = ", ".join(c.name for c in conns) or "none yet: add one with `arenadesk connections add`"
        raise UsageError(f"--remote {text}: say which connection, as CONNECTION:MODEL (your connections: {names})")
    return ModelChoice("openai", text, conn.id)


def base_url_connection(services, url: str):
    """--base-url: the saved connection with this URL (its key and settings), or one for this
    call only, named after the host, that sends no key and is not saved."""
    from .core.connections import new_connection

    wanted = url.strip().rstrip("/")
    for conn in services.settings.connections:
        if conn.base_url.strip().rstrip("/") == wanted:
            return conn
    from urllib.parse import urlsplit

    from .core.secrets import without_credentials

    # Named after the host only: the name is printed and stored with answers, and a URL's
    # user:password@ must reach neither.
    conn = new_connection(services.settings, "custom", name=urlsplit(without_credentials(wanted)).netloc,
                          base_url=wanted)
    services.settings.connections.append(conn)  # in memory only: `ask` never saves settings
    return conn


def metrics_line(result) -> str:
    from .core.arena import format_metrics

    return " · ".join(format_metrics(result))


def cmd_connections(services, args) -> int:
    from .core import connections as cx
    from .core import secrets

    settings = services.settings
    if args.action == "add":
        if not args.name:
            raise UsageError("connections add needs a NAME, e.g. arenadesk connections add my-box --preset vllm "
                             "--base-url http://gpu-box:8000/v1")
        if args.preset not in _preset_ids():
            raise UsageError(f"unknown preset {args.preset!r}; one of: {', '.join(_preset_ids())}")
        if settings.connection(args.name) is not None:
            raise UsageError(f"there is already a connection named {args.name!r}")
        conn = cx.new_connection(settings, args.preset, name=args.name, base_url=args.base_url)
        check_base_url(conn.base_url)
        try:
            conn.headers = cx.parse_headers("\n".join(args.header))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if args.timeout is not None:
            conn.timeout_s = max(1.0, args.timeout)
        if args.max_concurrent is not None:
            conn.max_concurrent = max(0, args.max_concurrent)
        if args.key_stdin:
            key = sys.stdin.readline().strip()
            if key:
                try:
                    services.secrets.set(secrets.connection_key_name(conn.id), key, env=conn.key_env)
                except secrets.NoKeychain as exc:
                    raise UsageError(f"{exc} The connection was not added.") from None
        settings.connections.append(conn)
        services.save_settings()
        print(f"added {conn.name} ({conn.id}) · {conn.base_url} · {cx.key_status(services, conn)}")
        print(cx.preset(conn.preset).key_help)
        print(f"use it with: arenadesk ask PROMPT --remote {conn.id}:MODEL")
        return 0
    if args.action == "remove":
        conn = settings.connection(args.name or "")
        if conn is None:
            raise UsageError(f"there is no connection {args.name!r}; `arenadesk connections` lists them")
        settings.connections.remove(conn)
        services.secrets.delete(secrets.connection_key_name(conn.id))
        services.save_settings()
        print(f"removed {conn.name}; its answers keep their attribution ({conn.id}) in the history")
        return 0
    if not settings.connections:
        print("No connections. Add one: arenadesk connections add NAME --preset "
              "openai|ollama|lmstudio|vllm|llamacpp|... (see --help)")
        return 0
    verdicts = [None] * len(settings.connections) if args.no_check else cx.check_all(services)
    changed = False
    for conn, verdict in zip(settings.connections, verdicts):
        limit = f"{conn.max_concurrent} at once" if conn.max_concurrent else "no limit"
        print(f"{conn.name} ({conn.id}) · {conn.base_url} · {cx.key_status(services, conn)} · {limit}")
        if verdict is None:
            print(f"   {len(conn.models)} models known" + (": " + ", ".join(conn.models[:8]) if conn.models else ""))
            continue
        print(f"   {verdict.summary()}")
        if verdict.ok and verdict.models != conn.models:
            import time

            conn.models, conn.models_fetched_at, changed = list(verdict.models), time.time(), True
        if verdict.ok and verdict.models:
            more = f" … (+{len(verdict.models) - 8})" if len(verdict.models) > 8 else ""
            print("   " + ", ".join(verdict.models[:8]) + more)
    if changed:
        services.save_settings()
    return 0 if all(v is None or v.ok for v in verdicts) else 1


def cmd_vote(services, args) -> int:
    try:
        if args.outcome == "best" and args.best is None:
            raise UsageError("'best' needs --best N: which answer won (1 = leftmost)")
        best = args.best - 1 if args.outcome == "best" else None
        from .core.session import interrupted  # the window's rule (ComparisonSession.vote), here too

        cut = [r.position + 1 for r in services.store.responses(args.round_id) if interrupted(r)]
        if cut:
            raise UsageError(f"round {args.round_id}: answer {', '.join(map(str, cut))} was cut off when ArenaDesk "
                             "closed, which says nothing about its model, so this round is not voted on as it is. "
                             "Reopen the conversation in the app (History), regenerate that answer, then vote.")
        services.store.cast_vote(args.round_id, args.outcome, best_position=best, note=args.note)
    except KeyError:
        raise UsageError(f"there is no round {args.round_id}; `arenadesk ask` prints the number of each round") from None
    except ValueError as exc:  # left/right on a round with more than two answers
        raise UsageError(f"round {args.round_id}: {exc}") from None
    print(f"vote saved: round {args.round_id} → {args.outcome}")  # cast_vote raised if it was not
    return 0


def cmd_leaderboard(services, args) -> int:
    from .core import ratings

    battles = services.store.battle_columns(blind_only=args.blind_only, tag=args.tag)  # the battles as arrays
    if args.with_judge or services.settings.judging.count_in_leaderboard:
        from .core import judge

        mine = len(battles)
        battles = judge.with_judge(battles, services.store, blind_only=args.blind_only, tag=args.tag)
        print(f"(your {mine} votes and {len(battles) - mine} of the judge's verdicts on rounds you did not vote on)")
    filters = [f"tag {args.tag!r}"] if args.tag else []
    if args.blind_only:
        filters.append("blind only")
    board = ratings.leaderboard(battles, include_ties=not args.exclude_ties, filtered=", ".join(filters))
    board.snapshot_notes = ratings.snapshot_changes(services.store.reported_models())
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
    "connections": cmd_connections,
    "suite": suite_cli.cmd_suite,
}


from .cli_judge import COMMANDS as _JUDGE_COMMANDS  # noqa: E402  (it imports from here only inside functions)

COMMANDS.update(_JUDGE_COMMANDS)
