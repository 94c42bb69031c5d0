"""`arenadesk suite …`: prompt suites and unattended runs from the command line.
Everything printed goes through the CLI's `say` (suite files and model names are not ours).

    arenadesk suite list                         suites, and the runs so far
    arenadesk suite show NAME                    a suite's prompts
    arenadesk suite import FILE [--name NAME]    keep a JSONL suite (ArenaDesk's or MT-bench's shape)
    arenadesk suite export NAME --out FILE
    arenadesk suite run NAME --local default --remote gpt-4o-mini [--yes]
    arenadesk suite resume RUN                   carry on a stopped or crashed run
    arenadesk suite report RUN --format html --out FILE
"""
from __future__ import annotations

import sys
import threading
import time


def say(text: str = "", **kw) -> None:
    """Print text that may come from a file, a model or a server (no terminal escapes)."""
    from .cli import say as _say

    _say(text, **kw)


def add_parser(sub) -> None:
    p = sub.add_parser("suite", help="prompt suites: import, export, run unattended against 2-4 models, report")
    s = p.add_subparsers(dest="suite_command", metavar="ACTION", required=True)
    s.add_parser("list", help="list suites and runs")
    show = s.add_parser("show", help="print a suite's prompts")
    show.add_argument("name", help="a suite's name (see `suite list`) or a .jsonl file")
    imp = s.add_parser("import", help="check a JSONL suite file and keep a copy")
    imp.add_argument("file")
    imp.add_argument("--name", help="name to keep it under (default: the file's name)")
    exp = s.add_parser("export", help="write a suite as JSONL")
    exp.add_argument("name")
    exp.add_argument("--out", required=True, metavar="FILE")
    run = s.add_parser("run", help="answer every prompt of a suite with 2-4 models, unattended")
    run.add_argument("name", help="a suite's name or a .jsonl file")
    run.add_argument("--local", action="append", default=[], metavar="MODEL",
                     help="'default' (the built-in model) or a .gguf path; repeat for more")
    run.add_argument("--remote", action="append", default=[], metavar="[CONNECTION:]MODEL",
                     help="a model on one of your connections, e.g. openrouter:meta-llama/llama-3-8b "
                          "(a bare name: --base-url's server, else OpenAI); repeat for more")
    run.add_argument("--max-tokens", type=int)
    run.add_argument("--temperature", type=float)
    run.add_argument("--seed", type=int)
    run.add_argument("--system", default=None, help="system prompt (default: the one in Settings)")
    run.add_argument("--base-url", help="an OpenAI-compatible endpoint for this run's bare --remote "
                                        "models (a saved connection with this URL is used as it is)")
    run.add_argument("--parallel", type=int, default=None, metavar="N",
                     help="API requests in flight at once (default 4; 1 for a local server such as "
                          "llama_cpp.server, which cuts a request when the next one arrives)")
    run.add_argument("--yes", action="store_true", help="start without asking about the estimated cost")
    res = s.add_parser("resume", help="carry on a stopped, paused or crashed run where it stopped")
    res.add_argument("run_id", type=int)
    res.add_argument("--parallel", type=int, default=None, metavar="N")
    res.add_argument("--base-url", help="the --base-url the run was started with")
    rep = s.add_parser("report", help="write a run as a readable report (Markdown or self-contained HTML)")
    rep.add_argument("run_id", type=int)
    rep.add_argument("--format", choices=["md", "html"], default="html")
    rep.add_argument("--out", required=True, metavar="FILE")


def cmd_suite(services, args) -> int:
    from .cli import UsageError
    from .core.suites import SuiteError

    try:
        return _ACTIONS[args.suite_command](services, args)
    except SuiteError as exc:
        raise UsageError(str(exc)) from None


def _library(services):
    from .core.suites import SuiteLibrary

    return SuiteLibrary(services.folders.data / "suites")


def _list(services, args) -> int:
    from .core.store.suite_runs import SuiteRuns
    from .core.suites import SuiteError

    lib = _library(services)
    say("Suites:")
    for name in lib.names():
        try:
            suite = lib.load(name)
            say(f"  {name}: {len(suite.items)} prompts ({', '.join(suite.categories)})")
        except SuiteError as exc:
            say(f"  {name}: cannot be read: {exc}")
    runs = SuiteRuns(services.store)
    rows = runs.runs()
    say("Runs:" if rows else "Runs: none yet (start one with `arenadesk suite run NAME --local default --remote MODEL`)")
    for r in rows:
        c = runs.counts(r.id)
        who = " vs ".join(p["label"] for p in r.contestants)
        say(f"  {r.id}: {r.suite} — {who} — {r.status}, {c.finished}/{c.total} answers"
              + (f", {c.error} failed" if c.error else "") + (f", ${c.spend_usd:.4f}" if c.spend_usd else ""))
    return 0


def _show(services, args) -> int:
    suite = _library(services).load(args.name)
    for item in suite.items:
        turns = " / ".join(" ".join(t.split())[:70] for t in item.turns)
        say(f"{item.id} [{item.category}] {turns}")
    say(f"{len(suite.items)} prompts, {suite.n_answers} answers per model; categories: {', '.join(suite.categories)}")
    return 0


def _import(services, args) -> int:
    from .cli import UsageError

    try:
        suite = _library(services).import_file(args.file, args.name)
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    say(f"imported suite {suite.name!r}: {len(suite.items)} prompts ({', '.join(suite.categories)})")
    return 0


def _export(services, args) -> int:
    from .cli import UsageError

    try:
        n = _library(services).export(args.name, args.out)
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    say(f"exported {n} prompts to {args.out}")
    return 0


def _choices(services, args):
    """--local FILE and --remote [CONNECTION:]MODEL, read as `arenadesk ask` reads them (a bare
    model goes to --base-url's connection when given)."""
    from .cli import UsageError, base_url_connection, check_base_url, remote_choice
    from .core.engines.registry import ModelChoice

    if getattr(args, "base_url", None):
        check_base_url(args.base_url)
    default = base_url_connection(services, args.base_url) if getattr(args, "base_url", None) else None
    choices = [ModelChoice("local", m) for m in args.local] + [remote_choice(services, m, default)
                                                                 for m in args.remote]
    for c in choices:
        if c.engine == "local" and c.model != "default":
            from .core.engines.local import LocalEngine

            problem = LocalEngine(services.local_model_path(c.model)).check_file()
            if problem:
                raise UsageError(problem)
    return choices


def _endpoint(services, choices) -> None:
    """Every API contestant's connection is there, has a usable URL and, where it needs one, a
    key — before the run is planned or resumed."""
    from .cli import UsageError
    from .core.connections import key_problem

    problem = key_problem(services, choices)
    if problem:
        raise UsageError(problem)


def _run(services, args) -> int:
    from dataclasses import replace

    from .cli import UsageError
    from .core.store.suite_runs import SuiteRuns
    from .core.suite_runner import MAX_CONTESTANTS, MIN_CONTESTANTS, estimate_cost, plan_run

    suite = _library(services).load(args.name)
    choices = _choices(services, args)
    if not MIN_CONTESTANTS <= len(choices) <= MAX_CONTESTANTS:
        raise UsageError(f"a suite run needs {MIN_CONTESTANTS} to {MAX_CONTESTANTS} models (--local/--remote); "
                         f"got {len(choices)}")
    if len(set(choices)) != len(choices):
        raise UsageError("each model may take part once")
    _endpoint(services, choices)
    sampling = services.settings.sampling
    for name in ("max_tokens", "temperature", "seed"):
        if getattr(args, name) is not None:
            sampling = replace(sampling, **{name: getattr(args, name)})
    system = services.settings.system_prompt if args.system is None else args.system
    run_id = plan_run(services.store, suite, choices, sampling, system)
    estimate = estimate_cost(SuiteRuns(services.store).run(run_id), services.prices)
    say(f"Suite {suite.name!r}: {len(suite.items)} prompts × {len(choices)} models = "
          f"{suite.n_answers * len(choices)} answers (run {run_id}).")
    say(estimate.describe())
    if estimate.api_answers and not args.yes:
        if not sys.stdin.isatty():
            SuiteRuns(services.store).delete(run_id)
            raise UsageError("this run calls an API that may cost money; add --yes to start it without a prompt")
        if input("Start? [y/N] ").strip().lower() not in ("y", "yes"):
            SuiteRuns(services.store).delete(run_id)
            say("Not started.")
            return 1
    return _drive(services, run_id, args.parallel)


def _resume(services, args) -> int:
    from .cli import UsageError
    from .core.store.suite_runs import SuiteRuns
    from .core.suite_runner import estimate_cost

    runs = SuiteRuns(services.store)
    try:
        run = runs.run(args.run_id)
    except KeyError:
        raise UsageError(f"there is no suite run {args.run_id}; `arenadesk suite list` shows them") from None
    from .cli import base_url_connection, check_base_url
    from .core.engines.registry import ModelChoice

    if args.base_url:  # a run started with --base-url: its bare models' connection, for this call
        check_base_url(args.base_url)
        base_url_connection(services, args.base_url)
    _endpoint(services, [ModelChoice.parse(p["choice"]) for p in run.contestants])
    pending = {(a.item, a.turn, a.contestant) for a in runs.answers(run.id) if a.status != "done"}
    if not pending:
        say(f"Run {run.id} is complete: nothing to answer.")
        return 0
    say(f"Resuming run {run.id}: {len(pending)} answers to go. "
          + estimate_cost(run, services.prices, pending).describe())
    return _drive(services, run.id, args.parallel)


def _drive(services, run_id: int, parallel: int | None) -> int:
    """Run to the end, printing progress; Ctrl+C stops (the run can be resumed)."""
    from .cli import UsageError
    from .core.suite_runner import API_LIMIT, RunBusy, SuiteRunner

    last = {"line": "", "t": 0.0}
    lock = threading.Lock()

    def show(progress):
        line = progress.describe()
        with lock:
            if line != last["line"] and (time.monotonic() - last["t"] > 1.0 or progress.state != "running"
                                         or progress.finished == progress.total):
                say(line)
                sys.stdout.flush()
                last["line"], last["t"] = line, time.monotonic()

    runner = SuiteRunner(services.store, services.prices, services.engines, run_id,
                         api_limit=parallel or API_LIMIT, on_change=show)
    try:
        runner.start()
    except RunBusy as exc:
        raise UsageError(str(exc)) from None
    try:
        while not runner.wait(0.5):
            pass
    except KeyboardInterrupt:
        runner.stop()
        runner.wait(30)
        say(f"\nStopped. Carry on with: arenadesk suite resume {run_id}", file=sys.stderr)
        raise
    p = runner.progress()
    say(p.describe())
    if p.errors:
        from .core.store.suite_runs import SuiteRuns

        failed = SuiteRuns(services.store).answers(run_id, status="error")
        for a in failed[:5]:
            say(f"  failed: {a.model}, prompt {a.item + 1} turn {a.turn + 1}: {a.error}")
        say(f"  (`arenadesk suite resume {run_id}` asks failed answers again)")
    say(f"Rate the answers blind in the window (Tools → Rating queue), or write a report with: "
          f"arenadesk suite report {run_id} --out report.html")
    return 0 if p.done else 1


def _report(services, args) -> int:
    from .cli import UsageError
    from .core import report

    try:
        data = report.run_report(services.store, args.run_id)
    except KeyError:
        raise UsageError(f"there is no suite run {args.run_id}; `arenadesk suite list` shows them") from None
    try:
        report.write(data, args.format, args.out)
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    say(f"wrote {args.out} ({len(data.entries)} prompts)")
    return 0


_ACTIONS = {
    "list": _list,
    "show": _show,
    "import": _import,
    "export": _export,
    "run": _run,
    "resume": _resume,
    "report": _report,
}
