"""Local GGUF models through llama-cpp-python, hosted in a child process.

Why a child process: a crash or abort inside llama.cpp (bad kernels for the
CPU, a broken file, out of memory) kills only the child and shows as an error
in the pane; cancel can always be made immediate by ending the child; and
unloading really returns the model's memory to the system.
"""
from __future__ import annotations

import ctypes
import multiprocessing as mp
import pickle
import os
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Generator, Iterator

from ..settings import LocalRuntime, Sampling, out_of_range
from .base import (CancelToken, Done, Error, Event, Loaded, ModelInfo, ReasoningDelta, Started, TextDelta, Usage, Waiting,
                   acquire_unless_cancelled)
from .local_worker import serve

CANCEL_GRACE_S = 2.0  # a cancelled child that has not finished by the next request is ended
LOAD_TIMEOUT_S = 300.0
# Local models that compute on the CPU answer one at a time, whichever engine they are in. Each
# child runs llama.cpp on every physical core; two at once oversubscribe the cores, and llama.cpp's
# threads, which wait for each other at every step, then slow down several-fold (2 cores, load ~5:
# two small models 23 s side by side against 3.5 s in turn), and each model's tokens/s would be
# measured against the other's work instead of being its own.
_CPU_TURN = threading.Lock()


class LocalEngine:
    def __init__(self, model_path: str | os.PathLike, runtime: LocalRuntime | None = None, *, ref: str | None = None,
                 name: str | None = None, log_dir: str | os.PathLike | None = None):
        self.model_path = Path(model_path)
        self.log_file = Path(log_dir) / "llama.log" if log_dir else None
        self.runtime = runtime or LocalRuntime()
        self.info = ModelInfo("local", name or self.model_path.name, ref or f"file:{self.model_path.name}")
        self.load_info: dict | None = None  # what the child reported: layers, GPU offload, chat template
        self.prompt_reused = 0  # prompt tokens of the last answer the child did not read again (prompt cache)
        self._ctx = mp.get_context("spawn")
        self._proc = None
        self._conn = None
        # A flag in shared memory, read by the child between tokens: set only for the answer the
        # child is serving, once that answer's own CancelToken is set. (An mp.Event would cost
        # semaphores that the resource tracker reports as leaked at exit.)
        self._cancel = self._ctx.RawValue(ctypes.c_bool, False)
        self._running: CancelToken | None = None  # the token of the answer holding the engine
        self._pending = False  # a cancelled answer's tail is still coming from the child
        self._unloads = 0  # counts unload() calls, so a stream or a load can tell "unloaded on purpose" from a crash
        self._lock = threading.Lock()  # one stream at a time per engine
        # The user's drafts waiting to go to the child, the latest per conversation (see prepare).
        self._drafts: dict[tuple, list[dict]] = {}
        self._drafts_lock = threading.Lock()
        self._draft_sender: threading.Thread | None = None
        self._draft_writing = threading.Lock()  # held while a draft is written to the pipe (see unload)

    # -- life cycle ----------------------------------------------------------------------
    def check_file(self) -> str | None:
        """A clear message when the file cannot be a GGUF model, before spending time on it."""
        p = self.model_path
        if not p.is_file():
            return f"Model file not found: {p}. Pick another model, or download it again from the library."
        try:
            with p.open("rb") as fh:
                magic = fh.read(4)
        except OSError as exc:
            return f"Cannot read {p}: {exc.strerror or exc}. Check the file's permissions, or pick another model."
        if magic != b"GGUF":
            return f"{p.name} is not a GGUF model file (it does not start with the GGUF signature)."
        return None

    def _check_runtime(self) -> str | None:
        """Numbers llama.cpp would take and fail on obscurely (a context of -4096 reads as four
        billion tokens and the child is killed for memory) are refused before it starts."""
        # A context below the settings' 512 is fine for llama.cpp (0: its default); negative is not.
        problems = out_of_range(self.runtime, floors={"context_length": 0})
        if problems:
            return (f"Cannot load {self.model_path.name}: {'; '.join(problems)}. "
                    "Set it in Settings → Local models.")
        return None

    def load(self, cancel: CancelToken | None = None) -> Iterator[Event]:
        """Start the child and load the model: yields Loaded, or an Error; nothing if already loaded.
        With `cancel` (the token of the answer waiting on it), setting it ends the load: Done("cancelled")."""
        if self._proc is not None and self._proc.is_alive():
            return
        began = time.monotonic()
        unloads = self._unloads
        problem = self.check_file() or self._check_runtime()
        if problem:
            yield Error(problem, "load")
            return
        parent, child = self._ctx.Pipe()
        threads = self.runtime.threads or default_threads()
        runtime = dict(asdict(self.runtime), threads=threads, log_file=str(self.log_file) if self.log_file else None)
        proc = self._ctx.Process(
            target=serve, args=(child, self._cancel, str(self.model_path), runtime), daemon=True,
            name=f"arenadesk-llama-{self.model_path.name}",
        )
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent  # only a started process is ever visible to unload()
        msg = None
        deadline = began + LOAD_TIMEOUT_S
        while msg is None and time.monotonic() < deadline and self._unloads == unloads and proc.is_alive():
            if cancel is not None and cancel.cancelled:
                # A big model can take minutes to load: Stop must not wait for it.
                self.unload(force=True)
                yield Done("cancelled")
                return
            msg = self._recv(0.1)
        if msg is None and self._unloads == unloads:
            msg = self._recv(0)  # the child may have answered just before it ended
        if msg is None or msg[0] != "loaded":
            if self._unloads != unloads:  # another thread unloaded it (settings saved, window closed)
                yield Error(f"Loading {self.model_path.name} was stopped because the model was unloaded "
                            "(settings changed or the window closed). Send again to load it.", "unloaded")
                return
            if msg and msg[0] == "error" and "llama_context" in msg[2]:
                # The file was read; the context (its KV cache) could not be made, for want of memory.
                detail = (f"Could not load {self.model_path.name}: llama.cpp could not set up a context of "
                          f"{self.runtime.context_length:,} tokens")
                hint = ("This is most often too little memory for that context length: set a smaller Context "
                        "length in Settings → Local models (4,096 suits most conversations), or fewer GPU layers.")
            elif msg and msg[0] == "error":
                detail = msg[2]  # llama.cpp refused the file
                hint = "The file may be truncated or damaged; download it again from the library."
            else:
                detail = f"Could not load {self.model_path.name}: {self._death_note()}"
                # No word from the child: it was killed or aborted, most often for want of memory.
                hint = ("This is most often too little memory: try a smaller model or quantisation, a smaller "
                        "context length, or fewer GPU layers in Settings.")
            where = f" llama.cpp's log: {self.log_file}." if self.log_file else ""
            self.unload()
            yield Error(f"{detail}. {hint}{where}", "load")
            return
        self.load_info = msg[1]
        yield Loaded(time.monotonic() - began, dict(self.load_info))

    def warm(self) -> str | None:
        """Load now (call from a worker thread) so the first answer does not wait; the error, if any."""
        with self._lock:
            for event in self.load():
                if isinstance(event, Error):
                    return event.message
        return None

    def unload(self, force: bool = False) -> None:
        """End the child process; the model's memory goes back to the system."""
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        self._pending = False
        self._unloads += 1
        # Not while a draft is half written (the child is slow to read it): a message in the middle of
        # another garbles both; the child is ended below if it does not quit.
        if conn is not None and not force and self._draft_writing.acquire(blocking=False):
            try:
                conn.send(("quit",))
            except (OSError, ValueError):
                pass
            finally:
                self._draft_writing.release()
        if proc is not None:
            try:
                if not force:
                    proc.join(timeout=1.0)
                if proc.is_alive():
                    proc.kill()
                    proc.join(timeout=2.0)
            except (AssertionError, ValueError):
                pass  # unloaded while another thread was still starting it: nothing ran yet
        if conn is not None:
            conn.close()

    close = unload

    @property
    def loaded(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # -- answering -----------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop the answer the engine is serving now, whoever asked for it (the Engine contract; the
        app itself no longer calls it: panes, the judge, the command line and the suite runner each
        stop their own answer by the CancelToken they passed to stream(), which never touches another's)."""
        running = self._running
        if running is not None:
            running.cancel()

    def stream(self, messages: list[dict], params: Sampling | None = None,
               cancel: CancelToken | None = None) -> Iterator[Event]:
        """One answer; the engine serves one at a time, the others wait their turn. Setting `cancel`
        ends this answer: while it waits, it never starts; while it runs, the child stops it (and
        its tail is drained before the next answer). Other answers are not touched."""
        params = params or Sampling()
        token = cancel or CancelToken()
        if not (yield from _take(self._lock, token)):
            yield Done("cancelled")
            return
        try:
            self._running = token
            yield from self._serve(messages, params, token)
        finally:
            self._running = None
            self._lock.release()

    def _serve(self, messages: list[dict], params: Sampling, token: CancelToken) -> Iterator[Event]:
        """stream()'s answer, with the engine's lock held."""
        if token.cancelled:
            yield Done("cancelled")
            return
        self._drain()  # before clearing the flag: the previous, cancelled answer still needs it
        self._cancel.value = False
        for event in self.load(cancel=token):
            yield event
            if isinstance(event, (Error, Done)):
                return
        on_cpu = self._computes_on_cpu()
        if on_cpu and not (yield from _take(_CPU_TURN, token)):
            yield Done("cancelled")  # stopped while another local model had the CPU
            return
        try:
            yield from self._answer(messages, params, token)
        finally:
            if on_cpu:
                _CPU_TURN.release()

    def _answer(self, messages: list[dict], params: Sampling, token: CancelToken) -> Iterator[Event]:
        """_serve()'s answer, once the model is loaded and this answer has its turn on the CPU."""
        if token.cancelled:
            yield Done("cancelled")
            return
        yield Started()
        unloads, conn = self._unloads, self._conn  # unload() may run on another thread at any time
        try:
            if conn is None:
                raise OSError("unloaded")
            conn.send(("generate", messages, asdict(params)))
        except (OSError, ValueError):
            yield self._ended_early(unloads)
            return
        yield from self._relay(unloads, token)

    def _computes_on_cpu(self) -> bool:
        """Whether answers run any layer on the CPU: all but a model wholly offloaded to a GPU."""
        info = self.load_info or {}
        layers, offloaded = info.get("layers"), info.get("gpu_layers_offloaded") or 0
        return not (info.get("gpu_offload_supported") and layers is not None and offloaded > layers)

    def prepare(self, messages: list[dict]) -> bool:
        """The user is typing: `messages` are the next prompt's, ending with the draft. A loaded model
        with nothing to answer reads it ahead while idle, so once sent the prompt has less to read
        (local_worker); the answer does not depend on it. Never waits and never loads the model: while
        an answer runs, nothing is done. Returns whether the draft will be passed on.

        Called on the GUI thread, so the pipe is written by a helper thread: a conversation larger than
        the pipe's buffer (64 kB) waits for the child to read it, which it does between read-ahead chunks
        and after the draft before it; written here, a 1 MB draft froze the window for 3.7 s at each pause.
        Only each conversation's latest draft goes (an older one not yet sent is dropped)."""
        if self._running is not None or self._pending or not self.loaded:
            return False
        conversation = tuple((m.get("role"), m.get("content")) for m in messages[:-1])  # str hashes are cached
        with self._drafts_lock:
            self._drafts.pop(conversation, None)
            self._drafts[conversation] = messages
            if self._draft_sender is None:
                self._draft_sender = threading.Thread(target=self._send_drafts, daemon=True,
                                                      name=f"arenadesk-drafts-{self.model_path.name}")
                self._draft_sender.start()
        return True

    def _send_drafts(self) -> None:
        """prepare()'s helper thread: sends the waiting drafts, oldest conversation first, then ends."""
        while True:
            with self._drafts_lock:
                if not self._drafts:
                    self._draft_sender = None
                    return
                messages = self._drafts.pop(next(iter(self._drafts)))
            if not self._lock.acquire(blocking=False):
                continue  # an answer started: its prompt is read with it, and drafts wait for the next pause
            try:
                conn = self._conn
                if conn is not None and not self._pending and self.loaded:
                    with self._draft_writing:
                        conn.send(("prepare", messages))
            except (OSError, ValueError):
                pass  # unloaded meanwhile: only a head start is lost
            finally:
                self._lock.release()

    def read_ahead(self, timeout: float = 60.0) -> int | None:
        """Wait until the child has read ahead what it planned for the conversations' next prompts
        (it does so by itself while idle: see local_worker); the tokens read now, or None if no model
        is loaded or it did not answer in time. For tests and benchmarks that need a known state."""
        sender = self._draft_sender
        if sender is not None:
            sender.join(timeout)  # the drafts handed to prepare() go first
        with self._lock:
            self._drain()
            conn = self._conn
            if conn is None or not self.loaded:
                return None
            try:
                conn.send(("read_ahead",))
            except (OSError, ValueError):
                return None
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                msg = self._recv(0.05)
                if msg is not None and msg[0] == "read_ahead":
                    return msg[1]
                if msg is None and not self.loaded:
                    return None
            return None

    def _relay(self, unloads: int, token: CancelToken) -> Iterator[Event]:
        finished = False
        try:
            while True:
                if token.cancelled:
                    # Stop relaying at once; the child notices the flag at its next token and the
                    # rest of its output is drained before the next request (see _drain).
                    self._cancel.value = True
                    self._pending = True
                    finished = True
                    yield Done("cancelled")
                    return
                msg = self._recv(0.02)
                if msg is None:
                    if not self.loaded:
                        finished = True
                        yield self._ended_early(unloads)
                        return
                    continue
                kind = msg[0]
                if kind == "delta":
                    yield TextDelta(msg[1])
                elif kind == "reasoning":
                    yield ReasoningDelta(msg[1])
                elif kind == "done":
                    finished = True
                    details = msg[2] if len(msg) > 2 else {}
                    yield Done(msg[1], details.get("max_tokens"), details.get("cause"))
                    return
                elif kind == "error":
                    finished = True
                    yield Error(msg[2], msg[1])
                    return
                elif kind == "usage":
                    # How much of the prompt the child did not have to read again (its prompt cache).
                    self.prompt_reused = msg[3] if len(msg) > 3 else 0
                    yield Usage(msg[1], msg[2])
        finally:
            if not finished and self._unloads == unloads:
                # The reader stopped early (it broke out of the loop, or the stream was garbage
                # collected): the child is still answering, and that answer's tail must not be
                # read as the next one's. Stop it and drain it like a cancelled answer.
                self._cancel.value = True
                self._pending = True

    def _ended_early(self, unloads: int) -> Error:
        """The child is gone mid-answer: unloaded on purpose by another thread, or crashed."""
        if self._unloads != unloads:
            return Error("The model was unloaded while answering (settings changed or the window closed); "
                         "the text so far is kept. Send again to reload it.", "unloaded")
        note = self._crash_message()
        self.unload()
        return Error(note, "crash")

    def _drain(self) -> None:
        """Read what a cancelled answer still sends; a child that will not stop is ended."""
        deadline = time.monotonic() + CANCEL_GRACE_S
        while self._pending and time.monotonic() < deadline:
            msg = self._recv(0.02)
            if msg is not None and msg[0] in ("done", "error"):
                self._pending = False
        if self._pending:
            self.unload(force=True)

    def _recv(self, timeout: float):
        """The next message, or None on timeout or when the child is gone."""
        conn = self._conn
        if conn is None:
            return None
        try:
            if conn.poll(timeout):
                raw = conn.recv_bytes()
                # Tokens arrive as raw UTF-8; everything else is a pickled tuple (pickle starts with 0x80).
                return ("delta", raw.decode("utf-8")) if raw[:1] != b"\x80" else pickle.loads(raw)
        except (EOFError, OSError, ValueError, TypeError):  # TypeError/ValueError: closed by unload() meanwhile
            proc = self._proc
            proc and proc.join(timeout=1.0)
        return None

    def _death_note(self) -> str:
        code = self._proc.exitcode if self._proc is not None else None
        return f"the model process ended (exit code {code})" if code is not None else "the model process did not answer"

    def _crash_message(self) -> str:
        where = f" llama.cpp's log: {self.log_file}." if self.log_file else ""
        return (f"The local model process stopped unexpectedly ({self._death_note()}). "
                "The text so far is kept; send again to restart the model. If it happens every time, "
                f"try fewer GPU layers or a smaller context in Settings.{where}")


def _take(lock: threading.Lock, token: CancelToken) -> Generator[Event, None, bool]:
    """Take `lock` for an answer: at once, or after saying Waiting (the pane shows it) until it is
    free; the generator's value is False (not held) if the answer is stopped meanwhile."""
    if lock.acquire(blocking=False):
        return True
    yield Waiting()
    return acquire_unless_cancelled(lock, token)


def default_threads() -> int:
    """Physical cores: hyper-threads slow llama.cpp's decode down rather than up."""
    try:
        import psutil

        return max(1, psutil.cpu_count(logical=False) or os.cpu_count() or 1)
    except ImportError:
        return max(1, os.cpu_count() or 1)


def gpu_offload_supported() -> bool:
    """Whether this llama.cpp build can put layers on a GPU (CUDA, Metal, Vulkan...)."""
    try:
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:
        return False


def llama_build_info() -> dict[str, str]:
    """llama-cpp-python's version, GPU offload support and CPU features; imported only when asked."""
    try:
        import llama_cpp
    except Exception as exc:  # a broken build must not stop the dialog from opening
        return {"llama.cpp": f"not available ({type(exc).__name__}: {exc})"}
    info = {"llama.cpp": f"llama-cpp-python {getattr(llama_cpp, '__version__', '?')}"}
    try:
        gpu = bool(llama_cpp.llama_supports_gpu_offload())
        info["GPU offload"] = "supported by this build" if gpu else "not in this build (CPU only)"
    except Exception as exc:
        info["GPU offload"] = f"unknown ({exc})"
    try:
        raw = llama_cpp.llama_print_system_info()
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        features = [part.strip() for part in text.replace("\n", "|").split("|") if part.strip().endswith("= 1")]
        info["CPU features"] = ", ".join(f.split("=")[0].split(":")[-1].strip() for f in features) or text.strip()
    except Exception:
        pass
    return info
