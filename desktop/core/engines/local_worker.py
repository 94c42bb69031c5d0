"""The child process that hosts llama.cpp for one model file.

Runs under multiprocessing's "spawn" start method, so it imports nothing of
Qt and shares nothing with the app but a pipe and a cancel flag. If llama.cpp
crashes or aborts, only this process dies; the parent turns that into an error.

Messages from the parent:  ("generate", messages, params_dict) | ("prepare", messages) | ("read_ahead",) | ("quit",)
Messages to the parent:    ("loaded", info) | ("delta", text) | ("reasoning", text) | ("usage", prompt, completion, reused)
                           | ("done", finish_reason, details) | ("error", kind, message) | ("read_ahead", tokens)

Between messages, while none waits, the child reads ahead what the conversations' next prompts
will begin with (prompt_cache.PromptStates.settle); ("read_ahead",) asks it to finish that now.
("prepare", messages): the user is typing; `messages` end with their draft, which is read ahead too.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import traceback

from .prompt_cache import PromptStates, common_prefix

STOP = ["\nUSER:", "USER:", "\nASSISTANT:"]

# Idle means no message for this long: when panes on one model take turns, the next pane's send
# comes a few milliseconds after the previous answer's "done", and must not wait for a read-ahead.
IDLE_S = 0.05

# Two next questions that share no first character: what their prompts share after the answer is
# the next turn's opening (`<|im_end|>\n<|im_start|>user\n` in ChatML, `\nUSER:` in the transcript).
NEXT_TURN_PROBES = ("Why?", "7 + 5")
# A draft is read ahead as the whole prompt it would send but its last tokens, which the prompt reads
# itself: two, since a state keeps no scores and llama.cpp reads a lone token another way (GEMV).
DRAFT_LEFT_TO_PROMPT = 2


# A base model has no notion of turns: it continues text. A plain transcript, a one-line
# description of the assistant and two short example exchanges make it answer the question,
# briefly, instead of echoing it or rambling (checked on the built-in Gemma 3 270M).
BASE_MODEL_SYSTEM = ("A chat between a curious user and a helpful assistant. The assistant gives short, "
                     "accurate, helpful answers to the user's questions.")
BASE_MODEL_EXAMPLES = [
    ("What is the largest planet in the solar system?", "Jupiter is the largest planet in the solar system."),
    ("How do plants make their food?",
     "Plants make their food by photosynthesis: they use sunlight, water and carbon dioxide to make sugar and oxygen."),
]


def transcript_prompt(messages: list[dict]) -> str:
    """The prompt for a model without a chat template (llama-cpp-python's own fallback, the
    llama-2 format, makes such models answer with nothing)."""
    system = "\n".join(m["content"].strip() for m in messages if m["role"] == "system") or BASE_MODEL_SYSTEM
    lines = [system]
    for question, answer in BASE_MODEL_EXAMPLES:
        lines += [f"USER: {question}", f"ASSISTANT: {answer}"]
    for m in messages:
        if m["role"] == "user":
            lines.append(f"USER: {m['content'].strip()}")
        elif m["role"] == "assistant":
            lines.append(f"ASSISTANT: {m['content'].strip()}")
    lines.append("ASSISTANT:")
    return "\n".join(lines)


def serve(conn, cancel, model_path: str, runtime: dict) -> None:
    log_file = runtime.get("log_file")
    if log_file:
        # llama.cpp writes its diagnostics (and an abort's last words) to stderr: keep them
        # in the logs folder instead of the user's terminal.
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 2)
        os.close(fd)
    try:
        import llama_cpp

        with _template_errors_left_to_us():
            llm = llama_cpp.Llama(
                model_path=model_path,
                n_ctx=int(runtime.get("context_length") or 4096),
                n_gpu_layers=int(runtime.get("gpu_layers") or 0),
                n_threads=int(runtime.get("threads") or 0) or None,
                verbose=bool(os.environ.get("ARENADESK_LLAMA_VERBOSE")),
            )
    except Exception as exc:  # llama.cpp reports a bad file as ValueError
        conn.send(("error", "load", f"Could not load {os.path.basename(model_path)}: {exc}"))
        return
    remember_last_text(llm)
    meta = llm.metadata or {}
    arch = meta.get("general.architecture", "")
    n_layers = int(meta.get(f"{arch}.block_count", 0) or 0)
    gpu_ok = bool(llama_cpp.llama_supports_gpu_offload())
    asked = int(runtime.get("gpu_layers") or 0)
    offloaded = 0
    if gpu_ok and asked:
        offloaded = n_layers + 1 if asked < 0 else min(asked, n_layers + 1)  # +1: the output layer
    template = meta.get("tokenizer.chat_template")
    chat = None
    if template and runtime.get("prompt_format", "auto") != "transcript":
        from .chat_template import ChatTemplate

        chat = ChatTemplate.from_model(llm, template)
    conn.send(("loaded", {
        "architecture": arch,
        "layers": n_layers,
        "gpu_offload_supported": gpu_ok,
        "gpu_layers_offloaded": offloaded,
        "chat_template": bool(template),
        "prompt_format": "template" if chat else "transcript",
        "template_problem": chat.problem if chat else None,
        "stops": chat.stops if chat else list(STOP),
        "context_length": llm.n_ctx(),
        "threads": llm.n_threads if hasattr(llm, "n_threads") else None,
    }))
    # Panes on this model take turns in this one context: keep each conversation's state so a
    # follow-up reads only its new tokens (see prompt_cache.py). ARENADESK_PROMPT_CACHE=0 turns it
    # off (the follow-up benchmark compares both).
    states = PromptStates() if os.environ.get("ARENADESK_PROMPT_CACHE", "1") != "0" else None
    while True:
        _read_ahead(conn, llm, states, until_asked=True)
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg[0] == "quit":
            return
        if msg[0] == "read_ahead":
            conn.send(("read_ahead", _read_ahead(conn, llm, states, until_asked=False)))
            continue
        if msg[0] == "prepare":
            if states is not None and not _longer_than_context(llm, msg[1]):
                try:
                    states.plan_draft(conversation_of(msg[1]), draft_prompt_start(llm, chat, msg[1]))
                except Exception:
                    traceback.print_exc()  # only a head start is lost; the send says what is wrong
            continue
        _, messages, params = msg
        try:
            _generate(conn, cancel, llm, chat, messages, params, states)
        except Exception as exc:
            traceback.print_exc()  # stderr is llama.log: the details go there, the pane gets one clear line
            conn.send(("error", "crash", f"The local model failed: {type(exc).__name__}: {exc}"))


def _read_ahead(conn, llm, states, until_asked: bool) -> int:
    """Settle the planned prompt states while the model is idle: with `until_asked`, only until a
    message waits (a send is served first; what was not read ahead is read with its prompt).
    Returns the tokens read."""
    from .chat_template import TemplateProblem

    read = 0
    if states is None or not states.planned or (until_asked and conn.poll(IDLE_S)):
        return read
    while states.planned and not (until_asked and conn.poll(0)):
        try:
            read += states.settle(llm, interrupted=(lambda: conn.poll(0)) if until_asked else (lambda: False))
        except TemplateProblem:
            pass  # the next prompt will hit the same problem and say so
        except Exception:
            traceback.print_exc()  # only a head start was lost: the next prompt is read in full
            llm.reset()
    return read


def next_prompt_start(llm, chat, messages: list[dict], answer: str) -> list[int]:
    """The tokens the conversation's next prompt will begin with once `answer` is its last turn:
    the answer as text (as the session keeps it), tokenized again, and the next turn's opening."""
    convo = messages + [{"role": "assistant", "content": answer}]
    a, b = (_tokens(llm, _render(chat, convo + [{"role": "user", "content": q}])[0]) for q in NEXT_TURN_PROBES)
    return a[: common_prefix(a, b)]


def draft_prompt_start(llm, chat, messages: list[dict]) -> list[int]:
    """What to read ahead when `messages` end with the user's draft: the prompt it would send as it
    stands (the conversation, the user's turn with the draft, and the turn's closing markers) but its
    last two tokens. Sent as drafted, the prompt then reads only those; typed on, it shares the state
    up to the draft's last token the typing changed, and reads on from there (what was read past it
    is dropped, as for any saved state that goes on past a prompt)."""
    return _tokens(llm, _render(chat, messages)[0])[:-DRAFT_LEFT_TO_PROMPT]


# More text per token than any real text has (English averages about 4 characters a token).
MAX_CHARS_PER_TOKEN = 16


def _longer_than_context(llm, messages: list[dict]) -> bool:
    """Whether a draft's conversation is surely too long to be read, told without tokenizing it:
    tokenizing a 1 MB paste twice took the child 3.7 s, during which a send would wait."""
    return sum(len(str(m.get("content") or "")) for m in messages) > MAX_CHARS_PER_TOKEN * llm.n_ctx()


def conversation_of(messages: list[dict]) -> str:
    """Names the conversation a prompt (or a draft of it) continues: the messages before it."""
    return hashlib.sha1(json.dumps(messages[:-1], sort_keys=True).encode("utf-8")).hexdigest()


def _tokens(llm, prompt: str) -> list[int]:
    """The tokens create_completion reads for this prompt text, by its own rule (llama-cpp-python
    0.3): the model's BOS (or CLS) if it adds one, the text with its special tokens parsed, then EOS
    (or SEP) if it adds one. The text is tokenized with the call create_completion makes, which
    remember_last_text then answers from memory."""
    model = llm._model
    cls, sep = model.token_cls(), model.token_sep()
    head = cls if cls != -1 else llm.token_bos()
    tail = sep if sep != -1 else llm.token_eos()
    return (([head] if model.add_bos_token() and head != -1 else [])
            + llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
            + ([tail] if model.add_eos_token() or sep != -1 else []))


def remember_last_text(llm) -> None:
    """Makes `llm.tokenize` remember its last text: the same text with the same flags again gives
    the same tokens (a copy) without tokenizing it again. The prompt is tokenized by _generate and
    then, as text, by create_completion with the same call (see _tokens)."""
    tokenize = llm.tokenize
    last: list = [None, None]  # (text, add_bos, special), its tokens

    def remembering(text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        key = (text, add_bos, special)
        if last[0] != key:
            last[:] = key, tokenize(text, add_bos, special)
        return list(last[1])

    llm.tokenize = remembering


@contextlib.contextmanager
def _template_errors_left_to_us():
    """Llama() compiles the file's chat template for its own chat API, which this app does not
    use: a template Jinja cannot read (an unknown filter) would make the whole load fail, and one
    that asks for gigabytes while compiling (Jinja folds constant expressions such as
    'x' * 10**10) would be reported as a damaged file. While it loads, llama-cpp-python's
    formatter only keeps the template's text; ChatTemplate compiles and renders it within
    template_guard's limits and reports a problem per answer, naming it and the plain-transcript
    way out, and the plain transcript still works."""
    from llama_cpp import llama_chat_format

    strict = llama_chat_format.Jinja2ChatFormatter

    class NotCompiled(strict):
        def __init__(self, template, eos_token, bos_token, add_generation_prompt=True, stop_token_ids=None):
            self.template, self.eos_token, self.bos_token = template, eos_token, bos_token
            self.add_generation_prompt = add_generation_prompt
            self.stop_token_ids = set(stop_token_ids) if stop_token_ids is not None else None

        def __call__(self, **kwargs):
            raise RuntimeError("ArenaDesk renders chat templates itself (engines/chat_template.py)")

    llama_chat_format.Jinja2ChatFormatter = NotCompiled
    try:
        yield
    finally:
        llama_chat_format.Jinja2ChatFormatter = strict


def _render(chat, messages):
    """The prompt text, stop strings and whether the prompt opened <think>."""
    if chat is None:
        return transcript_prompt(messages), list(STOP), False
    out = chat.render(messages)  # TemplateProblem: the pane says what is wrong with the template
    return out.prompt, out.stop, out.opens_reasoning


def _generate(conn, cancel, llm, chat, messages, params, states=None):
    from llama_cpp import StoppingCriteriaList

    from .chat_template import TemplateProblem, ThinkSplitter

    try:
        prompt, stop, opens_reasoning = _render(chat, messages)
    except TemplateProblem as exc:
        conn.send(("error", "template", str(exc)))
        return
    # An empty stop string would match before the first token: never pass one on.
    stop = list(dict.fromkeys(x for x in stop + list(params.get("stop") or []) if x))
    # The prompt goes to llama-cpp-python as text (handing it tokens made the window's chat-model test
    # hang in s21, not understood), and create_completion tokenizes that text as _tokens does: it gets
    # these tokens from the tokenizer's memory of the last text instead of reading it again (~2-5 ms
    # for a 500-token conversation, on the first token's path). A template that writes BOS text
    # itself gives a doubled BOS (llama-cpp-python's string path adds one too).
    prompt_tokens = _tokens(llm, prompt)
    n_ctx = llm.n_ctx()
    if len(prompt_tokens) >= n_ctx:
        # A clear error rather than trimming the oldest turns: the other panes see the whole
        # conversation, and a rating of an answer to a silently shortened one would not be fair.
        meta = llm.metadata or {}
        trained = meta.get(f"{meta.get('general.architecture', '')}.context_length")
        more = (f" (this model supports up to {int(trained)})" if trained and int(trained) > n_ctx else "")
        conn.send(("error", "context",
                   f"The conversation is too long for this model: the prompt is {len(prompt_tokens)} tokens and "
                   f"the context length is {n_ctx}. Start a new conversation, or raise the context length in "
                   f"Settings{more}."))
        return
    seen = [0]

    def note_length(ids, _logits) -> bool:
        # Called as tokens are sampled, with the tokens evaluated so far: if none beyond the prompt
        # ever was, the first token ended the turn (rather than a stop string cutting the text).
        seen[0] = max(seen[0], len(ids))
        return False

    # This prompt's draft (if the user's typing was read ahead) is done with: the answer's state replaces its state.
    draft_state = states.sent(conversation_of(messages)) if states is not None else None
    # Prompt tokens that need no reading: already in the context, or put back from a saved state.
    reused = (states.restore(llm, prompt_tokens) if states is not None
              else common_prefix(llm.input_ids[: llm.n_tokens].tolist(), prompt_tokens))
    if states is not None and os.environ.get("ARENADESK_PROMPT_CACHE_LOG"):
        # Why a prompt was read in full or in part: what each saved state shares with it.
        shares = ", ".join(f"{n} of {length}" for length, n in states.last_match) or "none saved"
        print(f"prompt states: prompt {len(prompt_tokens)} tokens, {reused} need no reading; saved states share "
              f"{shares}; read ahead so far {states.read_ahead}", file=sys.stderr, flush=True)
    seed = int(params.get("seed", -1))
    stream = llm.create_completion(
        prompt=prompt,
        max_tokens=int(params.get("max_tokens", 512)),
        temperature=float(params.get("temperature", 0.7)),
        top_p=float(params.get("top_p", 0.95)),
        top_k=int(params.get("top_k", 40)),
        repeat_penalty=float(params.get("repeat_penalty", 1.1)),
        seed=None if seed < 0 else seed,
        stop=stop,
        stopping_criteria=StoppingCriteriaList([note_length]),
        stream=True,
    )
    splitter = ThinkSplitter(opened=opens_reasoning)
    text, answer, finish = [], [], "stop"

    def send(pieces):
        for kind, piece in pieces:
            text.append(piece)
            if kind == "answer":
                answer.append(piece)
                conn.send_bytes(piece.encode("utf-8"))  # tokens go as raw bytes: no pickling on the hot path
            else:
                conn.send(("reasoning", piece))

    for chunk in stream:
        if cancel.value:
            finish = "cancelled"
            break
        choice = chunk["choices"][0]
        piece = choice.get("text") or ""
        if piece:
            send(splitter.feed(piece))
        if choice.get("finish_reason"):
            finish = choice["finish_reason"]
    send(splitter.finish())
    # This conversation's state is kept before the answer reports "done": the copy is this answer's work
    # (after its last token, so its text and speed are unchanged), and the next pane's answer, which
    # starts on "done" and restores its own state over this one, no longer waits for it at its start.
    key = None
    if states is not None:
        try:
            key = states.save(llm, replaces=draft_state)
        except Exception:  # no memory for the copy: only the next follow-up's head start is lost
            traceback.print_exc()
    completion = "".join(text)
    completion_tokens = len(llm.tokenize(completion.encode("utf-8"), add_bos=False, special=False)) if completion else 0
    conn.send(("usage", len(prompt_tokens), completion_tokens, reused))
    # Why an answer may be empty: its first token ended the turn, or a stop string cut it at once.
    cause = None
    if finish == "stop":
        cause = "end_token" if seen[0] <= len(prompt_tokens) else "stop_sequence"
    conn.send(("done", finish, {"cause": cause, "max_tokens": int(params.get("max_tokens", 512)),
                                "stops": stop if cause == "stop_sequence" else []}))
    if states is not None and finish != "cancelled" and "".join(answer):  # the session keeps this text as the turn
        states.plan(key, lambda: next_prompt_start(llm, chat, messages, "".join(answer)))
