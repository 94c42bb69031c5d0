"""Limits for running a model file's chat template, which is code written by whoever made the file.

Jinja's sandbox stops a template from reaching Python's internals and caps `range()`, but not
from looping for ever (`range(100000)` inside `range(100000)`, a macro that calls itself twice),
nor from asking for gigabytes in one operation (`'x' * 10**10`, `'x'|center(10**10)`, a text
doubled forty times). This module gives every render:

- a **size limit** on what one operation may build (`*`, `**`, `+`, `%`, the string methods and
  filters that take a width) checked *before* the operation runs, and on the prompt written;
- a **time limit**: a watchdog thread raises in the rendering thread when it runs too long
  (`PyThreadState_SetAsyncExc`, which works wherever CPython runs; a signal would not on Windows);
- a **memory limit** where the OS has one (Linux: the address space may grow by at most
  `MEMORY_HEADROOM` while the template runs), for what the size checks cannot see.

Each ends in `TemplateLimit`, whose text names the limit; chat_template.py turns it into the
pane's error with the plain-transcript way out.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import re
import threading
from typing import Any, Callable

from jinja2.sandbox import ImmutableSandboxedEnvironment

TIME_LIMIT_S = 2.0  # a real template renders a conversation in milliseconds
MAX_TEXT = 1_000_000  # characters (or items) one operation may build, unless the conversation is longer
MEMORY_HEADROOM = 512 * 1024 * 1024  # bytes a render may add to the process's address space (Linux)

_NESTED_SPEC = re.compile(r"\{[^{}]*:[^{}]*\{")  # str.format's width taken from an argument
_WIDTH_FILTERS = ("center", "indent", "tojson")  # filters whose numbers are widths or indents
_WIDTH = re.compile(r"(\d{7,}|\*)")  # a %-format or str.format width of a million or more, or taken from an argument


class TemplateLimit(Exception):
    """The template went past a limit; str() says which, in words for the user."""


class _Timeout(BaseException):
    """Raised inside the rendering thread by the watchdog (BaseException: a template's own
    error handling, or Jinja's, must not swallow it)."""


def _check_len(n: int, limit: int, what: str = "a text") -> None:
    if n > limit:
        raise TemplateLimit(f"it tried to build {what} of {n:,} characters (the limit is {limit:,})")


def _size(x: Any) -> int | None:
    return len(x) if isinstance(x, (str, bytes, list, tuple)) else None


def _multiply(a: Any, b: Any, limit: int) -> Any:
    for seq, n in ((a, b), (b, a)):
        if _size(seq) is not None and isinstance(n, int):
            _check_len(len(seq) * max(n, 0), limit)
    return a * b


def _power(a: Any, b: Any, limit: int) -> Any:
    if isinstance(a, int) and isinstance(b, int) and abs(a) > 1 and b > 0:
        digits = b * max(abs(a).bit_length(), 1) * 0.302  # decimal digits of the result, about
        if digits > 10_000:
            raise TemplateLimit(f"it tried to compute {a} ** {b}, a number of about {int(digits):,} digits")
    return a ** b


def _add(a: Any, b: Any, limit: int) -> Any:
    if _size(a) is not None and _size(b) is not None:
        _check_len(len(a) + len(b), limit)
    return a + b


def _modulo(a: Any, b: Any, limit: int) -> Any:
    if isinstance(a, str) and _WIDTH.search(a):
        raise TemplateLimit("it used a %-format with a width of a million characters or more")
    return a % b


_BINOPS: dict[str, Callable[[Any, Any, int], Any]] = {"*": _multiply, "**": _power, "+": _add, "%": _modulo}


def _check_str_method(obj: Any, args: tuple, kwargs: dict, limit: int) -> None:
    """String methods whose result can be far larger than their inputs."""
    obj = getattr(obj, "__wrapped__", obj)  # the sandbox hands str.format out wrapped
    self = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if not isinstance(self, str):
        return
    if name in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
        _check_len(args[0], limit)
    elif name == "expandtabs":
        tab = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(tab, int):
            _check_len(len(self) + self.count("\t") * max(tab, 0), limit)
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        old, new = args[0], args[1]
        hits = self.count(old) if old else len(self) + 1
        _check_len(len(self) + hits * max(len(new) - len(old), 0), limit)
    elif name in ("format", "format_map"):
        if _WIDTH.search(self):
            raise TemplateLimit("it used str.format with a width of a million characters or more")
        if _NESTED_SPEC.search(self):  # a width given as an argument: '{0:>{1}}'.format('x', 10**9)
            for value in list(args) + list(kwargs.values()):
                if isinstance(value, int) and not isinstance(value, bool):
                    _check_len(abs(value), limit, "a text (str.format)")
    elif name == "join" and args and hasattr(args[0], "__len__"):
        _check_len(len(self) * max(len(args[0]) - 1, 0), limit)


class GuardedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with the operations that can build huge values checked first
    and the prompt's length capped. `limit` (characters) is set per render: a template's values
    and its prompt may be as large as the conversation makes them, plus an allowance."""

    intercepted_binops = frozenset(_BINOPS)  # intercepted operators are also never folded at compile time

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit = MAX_TEXT
        for name in ("center", "indent", "format", "join", "tojson"):
            if name in self.filters:
                self.filters[name] = guarded_filter(self.filters[name], name, self)
        self.concat = self._concat  # what Template.render joins the template's pieces with

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        return _BINOPS[operator](left, right, self.limit)

    def _concat(self, pieces) -> str:
        out, total = [], 0
        for piece in pieces:
            total += len(piece)
            if total > self.limit:
                raise TemplateLimit(f"it wrote a prompt of more than {self.limit:,} characters "
                                    "for this conversation")
            out.append(piece)
        return "".join(out)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's own signature
        _check_str_method(__obj, args, kwargs, __self.limit)
        return super().call(__context, __obj, *args, **kwargs)


def guarded_filter(func: Callable, name: str, env: GuardedEnvironment) -> Callable:
    """A filter whose numbers (widths, indents) and, for `join`, separator are checked first."""
    def guarded(*args: Any, **kwargs: Any) -> Any:
        values = list(args[1:]) + list(kwargs.values())  # args[0] is the value being filtered (or the env)
        for value in values if name in _WIDTH_FILTERS else ():  # (format's and join's numbers are data)
            if isinstance(value, int) and not isinstance(value, bool):
                _check_len(abs(value), env.limit, f"a text (the filter '{name}')")
        if name == "format" and args and isinstance(args[0], str) and _WIDTH.search(args[0]):
            raise TemplateLimit("it used the 'format' filter with a width of a million characters or more")
        if name == "join":  # join(eval_ctx, value, d='', attribute=None)
            seq = args[1] if len(args) > 1 else None
            sep = args[2] if len(args) > 2 else kwargs.get("d", "")
            if hasattr(seq, "__len__") and isinstance(sep, str):
                _check_len(len(sep) * max(len(seq) - 1, 0), env.limit, "a text (the filter 'join')")
        return func(*args, **kwargs)

    # Keep Jinja's pass_context/pass_environment markers, which decide what it passes first.
    for attr in ("jinja_pass_arg",):
        if hasattr(func, attr):
            setattr(guarded, attr, getattr(func, attr))
    guarded.__name__ = getattr(func, "__name__", name)
    return guarded


def run_limited(fn: Callable[[], Any], time_limit: float = TIME_LIMIT_S, memory: bool = True) -> Any:
    """fn() under the time and (where the OS has one) memory limits; TemplateLimit when one is hit.

    The watchdog and the render race to take `done`: whoever takes it first decides. The
    watchdog's exception can only arrive until the render has taken it, and is always absorbed
    here (never in the caller's code), so the memory cap is always lifted again."""
    done = threading.Lock()
    target = threading.get_ident()

    def watchdog():
        if done.acquire(blocking=False):
            _set_async_exc(target, _Timeout)

    timer = threading.Timer(time_limit, watchdog)
    timer.daemon = True
    timer.start()  # before the memory cap: a thread's stack is address space too
    outcome: tuple[str, Any] = ("timeout", None)
    with _address_space_cap(MEMORY_HEADROOM if memory else 0):
        try:
            try:
                outcome = ("ok", fn())
            except _Timeout:
                raise
            except MemoryError:
                outcome = ("memory", None)  # not the exception: its frames hold what filled the memory
            except RecursionError:
                outcome = ("recursion", None)
            except Exception as exc:
                outcome = ("error", exc)
            if not done.acquire(blocking=False):  # the watchdog fired meanwhile: take its exception here
                outcome = ("timeout", None)
                _settle(timer, target)
        except _Timeout:
            outcome = ("timeout", None)
    timer.cancel()
    kind, value = outcome
    if kind == "ok":
        return value
    if kind == "error":
        raise value
    raise TemplateLimit({
        "timeout": f"it ran for more than {time_limit:g} seconds without finishing "
                   "(a loop that does not end, or one far too long)",
        "memory": f"it needed more than {MEMORY_HEADROOM // 2**20} MB of memory",
        "recursion": "it calls itself without end (a macro that never stops recursing)",
    }[kind])


def _set_async_exc(thread_id: int, exc) -> None:
    # exc None clears a pending exception (ctypes passes None as NULL).
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                               None if exc is None else ctypes.py_object(exc))


def _settle(timer: threading.Timer, target: int) -> None:
    """Wait until the watchdog has set its exception, then take it (delivered or cleared)."""
    while True:
        try:
            timer.join()
            _set_async_exc(target, None)
            return
        except _Timeout:
            continue


@contextlib.contextmanager
def _address_space_cap(headroom: int):
    """Linux: lower the soft RLIMIT_AS to the current size + headroom while the body runs (a soft
    limit can be raised back afterwards without privileges). Elsewhere, or if it cannot be set: nothing."""
    if headroom <= 0:
        yield
        return
    try:
        import resource

        with open("/proc/self/statm") as fh:
            size = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = size + headroom
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        if soft != resource.RLIM_INFINITY and soft <= cap:
            yield  # already at least as strict
            return
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ImportError, OSError, ValueError):
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
