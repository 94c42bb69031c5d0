"""The child process that hosts llama.cpp for one model file.

Runs under multiprocessing's "spawn" start method, so it imports nothing of
Qt and shares nothing with the app but a pipe and a cancel flag. If llama.cpp
crashes or aborts, only this process dies; the parent turns that into an error.

Messages from the parent:  ("generate", messages, params_dict) | ("quit",)
Messages to the parent:    ("loaded", info) | ("delta", text) | ("usage", prompt, completion)
                           | ("done", finish_reason) | ("error", kind, message)
"""
from __future__ import annotations

import os
import traceback

STOP = ["\nUSER:", "USER:", "\nASSISTANT:"]


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
    meta = llm.metadata or {}
    arch = meta.get("general.architecture", "")
    n_layers = int(meta.get(f"{arch}.block_count", 0) or 0)
    gpu_ok = bool(llama_cpp.llama_supports_gpu_offload())
    asked = int(runtime.get("gpu_layers") or 0)
    offloaded = 0
    if gpu_ok and asked:
        offloaded = n_layers + 1 if asked < 0 else min(asked, n_layers + 1)  # +1: the output layer
    template = meta.get("tokenizer.chat_template")
    conn.send(("loaded", {
        "architecture": arch,
        "layers": n_layers,
        "gpu_offload_supported": gpu_ok,
        "gpu_layers_offloaded": offloaded,
        "chat_template": bool(template),
        "context_length": llm.n_ctx(),
        "threads": llm.n_threads if hasattr(llm, "n_threads") else None,
    }))
    formatter = None
    if template:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        eos = llm.detokenize([llm.token_eos()]).decode("utf-8", "ignore")
        bos = llm.detokenize([llm.token_bos()]).decode("utf-8", "ignore")
        formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)

    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg[0] == "quit":
            return
        _, messages, params = msg
        try:
            _generate(conn, cancel, llm, formatter, messages, params)
        except Exception as exc:
            traceback.print_exc()  # stderr is llama.log: the details go there, the pane gets one clear line
            conn.send(("error", "crash", f"The local model failed: {type(exc).__name__}: {exc}"))


def _render(llm, formatter, messages):
    """The prompt text and stop strings for these messages."""
    if formatter is None:
        return transcript_prompt(messages), STOP
    try:
        out = formatter(messages=messages)
    except Exception:
        # Some templates (Gemma's among them) reject a system role: fold it into the first user turn.
        system = "\n".join(m["content"] for m in messages if m["role"] == "system")
        rest = [dict(m) for m in messages if m["role"] != "system"]
        if system and rest:
            rest[0]["content"] = system + "\n\n" + rest[0]["content"]
        out = formatter(messages=rest)
    stop = out.stop if isinstance(out.stop, list) else ([out.stop] if out.stop else [])
    return out.prompt, stop


def _generate(conn, cancel, llm, formatter, messages, params):
    prompt, stop = _render(llm, formatter, messages)
    stop = stop + [x for x in params.get("stop") or [] if x]
    prompt_tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
    # The formatted prompt may already begin with BOS text; llama-cpp-python drops a doubled BOS itself.
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
        stream=True,
    )
    text, finish = [], "stop"
    for chunk in stream:
        if cancel.value:
            finish = "cancelled"
            break
        choice = chunk["choices"][0]
        piece = choice.get("text") or ""
        if piece:
            text.append(piece)
            conn.send_bytes(piece.encode("utf-8"))  # tokens go as raw bytes: no pickling on the hot path
        if choice.get("finish_reason"):
            finish = choice["finish_reason"]
    completion = "".join(text)
    completion_tokens = len(llm.tokenize(completion.encode("utf-8"), add_bos=False, special=False)) if completion else 0
    conn.send(("usage", len(prompt_tokens), completion_tokens))
    conn.send(("done", finish))
