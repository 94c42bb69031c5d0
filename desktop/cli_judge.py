"""The command line's judge and verdict commands (`arenadesk judge …`, `arenadesk verdict …`).

The numbers and the judging are the core's (core/judge.py, core/verdict.py); this
module parses, prints, and stops a judge cleanly on Ctrl+C.
"""
from __future__ import annotations

import sys


def add_parsers(sub) -> None:
    """The `judge` and `verdict` subcommands, on cli.build_parser's subparsers."""
    j = sub.add_parser("judge", help="an optional LLM judge: check it against your votes, then let it rate "
                                     "rounds you have not voted on",
                       description="Any model can judge: local:default (the built-in model), local:<file.gguf> or "
                                   "openai:<model>[@<connection>]. Its verdicts are kept apart from your votes and stay out of "
                                   "your leaderboard unless you ask (leaderboard --with-judge).")
    acts = j.add_subparsers(dest="judge_command", metavar="ACTION", required=True)
    for name, text in (("calibrate", "judge rounds you voted on, and show how often it agrees with you"),
                       ("rate", "judge rounds you have not voted on (only after calibrate)")):
        a = acts.add_parser(name, help=text)
        a.add_argument("--judge", required=True, metavar="MODEL",
                       help="local:default, local:<file.gguf> or openai:<model>[@<connection id>]")
        a.add_argument("--tag", help="only rounds with this category")
        a.add_argument("--limit", type=int, metavar="N", help="judge at most N pairs this time")
        a.add_argument("--max-tokens", type=int, help="the judge's reply length (default 160)")
        a.add_argument("--reference", metavar="TEXT",
                       help="a reference answer shown to the judge for rounds that have none of their own")
        a.add_argument("--base-url", help="OpenAI-compatible endpoint for an openai: judge named without a "
                       "connection (a saved connection with this URL is used, with its key)")
    r = acts.add_parser("report", help="the judge's agreement with you, its position bias and its own leaderboard")
    r.add_argument("--judge", metavar="MODEL", help="which judge (default: the one used last)")

    v = sub.add_parser("verdict", help="can I switch? a local model against an API model, per category, with cost")
    v.add_argument("--local", metavar="MODEL", help="'default', a name or part of it (default: the local model "
                                                    "with most votes)")
    v.add_argument("--remote", metavar="MODEL", help="an API model's name (default: the one with most votes)")
    v.add_argument("--watts", type=float, help="your machine's extra draw while a local model answers "
                                               "(with --kwh-price: counts electricity; saved in Settings)")
    v.add_argument("--kwh-price", type=float, metavar="USD", help="what a kWh of electricity costs you")
    v.add_argument("--with-judge", action="store_true",
                   help="also count the judge's verdicts on rounds you have not voted on")


def _judge_engine(services, text: str, args):
    """The judge named on the command line, made by the core (core/judge_run.py, which the window
    uses too); --base-url, the command line's own, picks the connection first."""
    from .cli import UsageError, base_url_connection, check_base_url
    from .core.engines.registry import ModelChoice
    from .core.judge_run import JudgeSetupError, judge_engine, parse_judge

    try:
        choice = parse_judge(text)
        if choice.engine == "openai" and getattr(args, "base_url", None):
            check_base_url(args.base_url)
            conn = base_url_connection(services, args.base_url)
            if "@" not in text:  # a judge named without a connection runs on --base-url's
                choice = ModelChoice("openai", choice.model, conn.id)
        if choice.engine == "openai" and services.settings.connection(choice.connection) is None:
            raise UsageError(f"there is no connection '{choice.connection}'; `arenadesk connections` lists them")
        return choice, judge_engine(services, choice)
    except JudgeSetupError as exc:
        raise UsageError(str(exc)) from None


def cmd_judge(services, args) -> int:
    from .core import judge, ratings
    from .core.judge_run import JudgeRequest, has_chat_template, judge_sampling, plan_for

    store = services.store
    if args.judge_command == "report":
        ref = None
        if args.judge:
            known = judge.judges(store)
            ref = next((r for r, label, _n in known if args.judge in (r, label) or args.judge.endswith(label)), None)
            if ref is None:
                from .cli import UsageError

                names = ", ".join(label for _r, label, _n in known) or "none yet"
                raise UsageError(f"no verdicts from a judge named {args.judge!r} (judges so far: {names})")
        ref = ref or judge.latest_judge(store)
        if ref is None:
            print("No judge has judged anything yet: start with "
                  "arenadesk judge calibrate --judge local:default (or openai:<model>).")
            return 0
        cal = judge.calibration(store, ref)
        for line in cal.lines():
            print(line)
        board = ratings.leaderboard(judge.battles(store, ref))
        print()
        print(f"The judge's own leaderboard (a separate series: {cal.judge_label}'s verdicts only, never yours):")
        print(ratings.format_table(board))
        return 0

    choice, engine = _judge_engine(services, args.judge, args)
    j = judge.Judge(store, engine, choice=str(choice), sampling=judge_sampling(args.max_tokens))
    # what the window's plan says too: retries of unreadable replies, a base-model judge, a judge of its own answers
    ahead = plan_for(j, JudgeRequest(choice, calibrate=args.judge_command == "calibrate",
                                     rate=args.judge_command == "rate", tag=args.tag, limit=args.limit))
    ahead.base_model = has_chat_template(services, choice) is False
    for line in ahead.warnings() + ([ahead.retry_words()] if ahead.retries else []):
        print(line, flush=True)

    def progress(done, total, judged):
        verdict = judged.winner or ("failed" if judged.error else "unreadable")
        print(f"  {done}/{total}: {verdict}" + (f" — {judged.reason_ab}" if judged.reason_ab else ""), flush=True)

    try:
        if args.judge_command == "calibrate":
            print(f"{j.label} judges the rounds you voted on (each pair in both orders)…", flush=True)
            summary = j.calibrate(tag=args.tag, limit=args.limit, on_progress=progress, reference=args.reference)
        else:
            cal = judge.calibration(store, j.ref)
            for line in cal.lines():  # what the user is trusting, shown before it rates anything
                print(line)
            try:
                summary = j.rate_unvoted(tag=args.tag, limit=args.limit, on_progress=progress,
                                         reference=args.reference)
            except judge.NotCalibrated as exc:
                print(f"arenadesk: {exc}", file=sys.stderr)
                return 2
    except KeyboardInterrupt:
        j.cancel()
        raise
    print(summary.line())
    if summary.unparseable:
        print("  (the raw replies are kept in the database; the next run asks about those pairs again — a longer "
              "--max-tokens or a chat model as judge may help)")
    if args.judge_command == "calibrate":
        print()
        for line in judge.calibration(store, j.ref).lines():
            print(line)
    return 1 if summary.failed and not summary.judged and not summary.unparseable else 0


def cmd_verdict(services, args) -> int:
    from .cli import UsageError
    from .core import judge, verdict

    settings = services.settings.judging
    changed = False
    if args.watts is not None:
        settings.local_watts, changed = max(0.0, args.watts), True
    if args.kwh_price is not None:
        settings.usd_per_kwh, changed = max(0.0, args.kwh_price), True
    if changed:
        services.save_settings()
    energy = verdict.Energy(settings.local_watts, settings.usd_per_kwh)
    battles = services.store.battle_columns()
    if args.with_judge or settings.count_in_leaderboard:
        battles = judge.with_judge(battles, services.store)
    try:
        v = verdict.switch_verdict(services.store, args.local, args.remote, energy=energy, battles=battles)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(f"Can I switch from {v.api.label} to {v.local.label}?")
    for line in v.lines():
        print(line)
    return 0


COMMANDS = {"judge": cmd_judge, "verdict": cmd_verdict}

