"""Running the LLM judge as the command line and the window both do: which engine judges, which
pairs it will judge, what that costs, and one run of calibrate and/or rate with one progress
count. No Qt; core/judge.py does the judging itself.

* ``judge_engine`` turns a judge model (a ``ModelChoice``, or the command line's text) into an
  engine from the app's pool, after the checks that can be made before any work starts (the
  file is a GGUF model, the connection exists, its URL is sound, it has its key); what fails
  raises ``JudgeSetupError`` whose message says what to do.
* ``plan`` makes the ``Judge`` and counts the pairs it will judge (its engine is made, not
  loaded: a local model loads on its first reply), with the cost in words: an API judge is priced
  as a round is (core/pricing.py: the judge prompt's tokens in, the reply length out, twice a pair
  for the two orders), a local one is free.
* ``JudgePlan.run`` judges the voted pairs first, then, when asked and once the judge is
  calibrated, the unvoted ones; every pair is saved as it is judged, so a cancelled run keeps
  what it did.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

from . import judge
from .engines.registry import ModelChoice
from .exports import estimate_tokens
from .services import NeedsKey, UnknownConnection

JUDGE_INSTANCE = -1
"""The engine-pool instance an API judge runs on: one no pane (0, 1, …) and no suite worker (1000
on) uses, so the judge's client and its requests are its own. Stopping goes by each answer's
CancelToken either way. A local model is one engine whatever the instance (its weights are in
memory once): the judge's replies and the panes' answers take turns on it."""


class JudgeSetupError(ValueError):
    """The judge cannot start: the message says what to do."""


def parse_judge(text: str) -> ModelChoice:
    """The command line's judge name: local:default (or just default), local:<file.gguf> or
    openai:<model>[@<connection>]."""
    if text == "default":
        text = "local:default"
    try:
        return ModelChoice.parse(text)
    except ValueError as exc:
        raise JudgeSetupError(str(exc)) from None


def judge_engine(services, choice: ModelChoice):
    """The engine that judges as `choice`, from the app's pool; JudgeSetupError says why not."""
    from .connections import check_base_url

    if choice.engine == "local" and choice.model != "default":
        from .engines.local import LocalEngine

        problem = LocalEngine(services.local_model_path(choice.model)).check_file()
        if problem:
            raise JudgeSetupError(problem)
    if choice.engine == "openai":
        try:
            conn = services.connection(choice.connection)
        except UnknownConnection as exc:
            raise JudgeSetupError(str(exc)) from None
        problem = check_base_url(conn.base_url)
        if problem:
            raise JudgeSetupError(f"{conn.name}: {problem}")
    try:
        return services.engines.get(choice, instance=JUDGE_INSTANCE)
    except (NeedsKey, UnknownConnection) as exc:
        raise JudgeSetupError(str(exc)) from None


def judge_sampling(max_tokens: int | None = None):
    """The judge's greedy sampling, with the reply length asked for (None: the default)."""
    return replace(judge.JUDGE_SAMPLING, max_tokens=max_tokens) if max_tokens else judge.JUDGE_SAMPLING


@dataclass(frozen=True)
class JudgeRequest:
    """What the user asked for: which model judges, what it judges, how much of it."""

    choice: ModelChoice
    calibrate: bool = True  # judge rounds the user voted on
    rate: bool = False  # judge rounds the user did not vote on (refused until calibrated)
    tag: str | None = None
    limit: int | None = None  # pairs this time, over both
    max_tokens: int | None = None  # each reply's length (None: JUDGE_SAMPLING's)
    reference: str | None = None


@dataclass
class JudgeOutcome:
    """How a run went: one RunSummary per part that ran, and why rating did not run if it did not."""

    calibrated: judge.RunSummary | None = None
    rated: judge.RunSummary | None = None
    rate_refused: str = ""

    @property
    def cancelled(self) -> bool:
        return any(s.cancelled for s in (self.calibrated, self.rated) if s)

    @property
    def unparseable(self) -> int:
        """Pairs whose reply could not be read (the next run asks again)."""
        return sum(s.unparseable for s in (self.calibrated, self.rated) if s)

    @property
    def failed_only(self) -> bool:
        """Every pair tried failed (no key, a server down): nothing was judged or read."""
        parts = [s for s in (self.calibrated, self.rated) if s]
        return bool(parts) and all(s.failed and not s.judged and not s.unparseable for s in parts)

    def line(self) -> str:
        out = []
        if self.calibrated is not None:
            out.append("Checked against your votes: " + self.calibrated.line())
        if self.rated is not None:
            out.append("Rounds you did not vote on: " + self.rated.line())
        if self.rate_refused:
            out.append(self.rate_refused)
        return " ".join(out) if out else "Nothing to judge."


@dataclass
class JudgePlan:
    """A judge ready to run on the pairs counted: `describe()` says what it will do and cost."""

    request: JudgeRequest
    judge: judge.Judge
    calibrate_pairs: int
    rate_pairs: int
    calibrated_so_far: int  # the user's rounds this judge has already judged with a verdict
    cost_usd: float | None  # at most (every reply as long as max_tokens); None: local, or no price known
    unpriced: bool = False  # an API judge the price table does not know
    retries: int = 0  # of the pairs counted, those whose earlier reply from this judge could not be read
    own_pairs: int = 0  # of the pairs counted, those where the judge wrote one of the two answers
    base_model: bool = False  # a local model without a chat template (plan() asks the library)
    _outcome: JudgeOutcome = field(default_factory=JudgeOutcome)

    @property
    def rate_needs(self) -> int:
        """How many more of the user's rounds must be judged before rating may start (0: none)."""
        return max(0, judge.MIN_CALIBRATION - self.calibrated_so_far)

    @property
    def may_rate(self) -> bool:
        """Whether this run can reach the calibration rating needs (if every voted pair it judges
        gets a readable verdict); when it cannot, the unvoted pairs are not counted in `total`."""
        return self.rate_needs <= (self.calibrate_pairs if self.request.calibrate else 0)

    @property
    def total(self) -> int:
        """The pairs this run will judge (at most: rating stops short if calibration does)."""
        return self.calibrate_pairs + (self.rate_pairs if self.may_rate else 0)

    def describe(self) -> str:
        """What the run will do and cost, in one or two plain sentences."""
        who, req = self.judge.label, self.request
        where = f" in {req.tag}" if req.tag else ""
        if not (req.calibrate or req.rate):
            return "Choose what the judge should do."
        parts = []
        if req.calibrate:
            parts.append(f"{judge.count_pairs(self.calibrate_pairs)} you voted on{where} (to see how often it agrees with you)")
        if req.rate and self.may_rate:
            parts.append(f"{judge.count_pairs(self.rate_pairs)} you did not vote on{where}")
        waiting = ""
        if req.rate and self.rate_pairs and self.rate_needs:
            if self.may_rate:
                waiting = (f" It rates the rounds you did not vote on only once {self.rate_needs} more of your votes "
                           "have a readable verdict from it.")
            elif req.calibrate:
                waiting = (f" Rounds you did not vote on ({judge.count_pairs(self.rate_pairs)}) wait: it needs {self.rate_needs} more "
                           f"of your voted rounds judged first, and {self.calibrate_pairs} are left to check "
                           "(vote on more rounds).")
            else:
                waiting = (f" Rounds you did not vote on ({judge.count_pairs(self.rate_pairs)}) wait: it needs {self.rate_needs} more "
                           "of your voted rounds judged first (tick “Check it against my votes”).")
        if not self.total:
            if waiting:
                return waiting.strip()
            return f"{who} has nothing to judge: it has judged every such pair{where} already."
        text = (f"{who} will judge {' and '.join(parts)}, each pair in both orders "
                f"({2 * self.total} replies).") + waiting
        if self.retries:
            text += " " + self.retry_words()
        if self.request.choice.engine == "local":
            return text + " Cost: free (local)."
        if self.unpriced:
            return text + (f" Cost: unknown (no price for {self.request.choice.model} in your price table); "
                           "the API bills every reply.")
        return text + f" Cost: at most ${self.cost_usd:.4f} at your price table's rates."

    def retry_words(self) -> str:
        """How many of the pairs counted are asked again because the earlier reply could not be read."""
        if self.retries == 1:
            return "1 pair whose earlier reply could not be read is tried again."
        return f"{self.retries} pairs whose earlier replies could not be read are tried again."

    def warnings(self) -> list[str]:
        """What the user should know about this judge before running it, one line each."""
        out = []
        if self.base_model:
            out.append(f"{self.judge.label} is a base model (no chat template): it rarely gives a readable "
                       "verdict. A chat model judges better.")
        if self.own_pairs and self.total:
            out.append(f"{self.judge.label} is one of the contestants: it will judge its own answers in "
                       f"{judge.count_pairs(self.own_pairs)}.")
        return out

    def cancel(self) -> None:
        """Any thread: stop after the pair being judged (what was judged is saved already)."""
        self.judge.cancel()

    def run(self, on_progress: Callable[[int, int], None] | None = None) -> JudgeOutcome:
        """Judge the voted pairs, then the unvoted ones (when asked and calibrated). on_progress(done,
        total) after each pair, on this thread. The pairs are read again as the run starts, so a
        plan made a while ago judges what is there now."""
        req, outcome = self.request, self._outcome
        total = self.total
        done_before = 0

        def progress(done, part_total, _judged):
            if on_progress:
                on_progress(done_before + done, max(total, done_before + part_total))

        left = req.limit
        if req.calibrate:
            outcome.calibrated = self.judge.calibrate(tag=req.tag, limit=left, on_progress=progress,
                                                      reference=req.reference)
            tried = outcome.calibrated.judged + outcome.calibrated.unparseable + outcome.calibrated.failed
            done_before += tried
            if left is not None:
                left -= tried
            if outcome.calibrated.cancelled or outcome.calibrated.gave_up:
                return outcome
        if req.rate and (left is None or left > 0):
            try:
                outcome.rated = self.judge.rate_unvoted(tag=req.tag, limit=left, on_progress=progress,
                                                        reference=req.reference)
            except judge.NotCalibrated:
                n = judge.calibration(self.judge.store, self.judge.ref).overall.n
                outcome.rate_refused = (
                    f"Rounds you did not vote on were not rated: {self.judge.label} has a verdict on {n} of your "
                    f"votes and needs {judge.MIN_CALIBRATION} first (vote on more rounds and check it against them).")
        return outcome


def plan(services, request: JudgeRequest) -> JudgePlan:
    """The judge for `request` and the pairs it would judge now (call off the GUI thread: it
    makes the engine and reads the store). JudgeSetupError when the judge cannot run."""
    engine = judge_engine(services, request.choice)
    sampling = judge_sampling(request.max_tokens)
    j = judge.Judge(services.store, engine, choice=str(request.choice), sampling=sampling)
    made = plan_for(j, request, services.prices)
    made.base_model = has_chat_template(services, request.choice) is False
    return made


def has_chat_template(services, choice: ModelChoice) -> bool | None:
    """Whether a local model has a chat template, as the library read it from the file's header
    (None: an API model, or a file the library cannot read). A base model continues text rather
    than answering, so as a judge it rarely writes a verdict line."""
    if choice.engine != "local":
        return None
    found = next((m for m in services.installed.known() if m.choice == choice), None)
    if found is None:  # a file named on the command line, not in the library: read its header
        from .library.gguf_info import GGUFError
        from .library.installed import read_info

        try:
            return read_info(services.local_model_path(choice.model)).has_chat_template
        except (GGUFError, OSError):
            return None
    return found.chat_template if found.available else None


def default_judge(services, contestants) -> ModelChoice | None:
    """The judge a new run starts on (call off the GUI thread: it may list the library and read the
    keychain): an installed model with a chat template (the settings' default model if it has one),
    else the first API model whose key is stored, else the built-in model, whose plan then warns
    that a base model rarely gives a readable verdict. None when nothing is offered."""
    from .connections import missing_key

    local = [c.choice for c in contestants.local()]
    chat = {m.choice for m in services.installed.known() if m.available and m.chat_template and m.kind == "model"}
    with_template = [c for c in local if c in chat]
    if with_template:
        preferred = ModelChoice("local", services.settings.default_local_model or "default")
        return preferred if preferred in with_template else with_template[0]
    keyed = contestants.first_keyed_api(lambda choice: missing_key(services, choice) is None)
    if keyed is not None:
        return keyed
    built_in = ModelChoice("local", "default")
    if built_in in local:
        return built_in
    return local[0] if local else next((c.choice for c in contestants.api()), None)


def plan_for(j: judge.Judge, request: JudgeRequest, prices=None) -> JudgePlan:
    """`plan` for a Judge already made (any engine with the engine contract)."""
    store, limit = j.store, request.limit
    voted = judge.pairs_voted(store, j.ref, tag=request.tag, limit=limit) if request.calibrate else []
    left = None if limit is None else max(0, limit - len(voted))
    unvoted = (judge.pairs_unvoted(store, j.ref, tag=request.tag, limit=left)
               if request.rate and left != 0 else [])
    calibrated = judge.calibration(store, j.ref).overall.n
    made = JudgePlan(request, j, len(voted), len(unvoted), calibrated, None)
    counted = voted + (unvoted if made.may_rate else [])
    made.retries = sum(p.unread_before for p in counted)
    made.own_pairs = sum(j.ref in p.model_refs for p in counted)
    choice = request.choice
    if choice.engine == "openai" and prices is not None:
        if prices.price(choice.model, choice.connection) is None:
            made.unpriced = True
        else:
            made.cost_usd = 0.0
            for p in counted:
                for first, second in ((p.answer_a, p.answer_b), (p.answer_b, p.answer_a)):
                    messages = judge.judge_messages(p.prompt, first, second, reference=p.reference or request.reference,
                                                    system_prompt=p.system_prompt)
                    tokens_in = sum(estimate_tokens(m["content"]) for m in messages)
                    made.cost_usd += prices.cost(choice.model, tokens_in, j.sampling.max_tokens,
                                                 choice.connection) or 0.0
    return made
