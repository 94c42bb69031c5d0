"""Per-conversation prompt states for the model's child process.

Every pane on the same local model talks to the same llama.cpp context, and they take turns.
llama-cpp-python reuses the KV cache only for the prefix the new prompt shares with whatever
the context last evaluated, so when two panes alternate each follow-up re-read the whole
conversation after its first answer, and the time to first token grew turn by turn.

Here each conversation's state (the KV cache for its tokens so far) is saved when an answer
ends, keyed by those tokens. Before the next prompt is evaluated, the saved state sharing the
longest prefix with it is put back if that beats what the context holds, and llama.cpp then
reads only the new tokens: the previous answer's tail and the new question.

A saved state is keyed by the tokens the model *generated*, but the next prompt holds the answer's
*text*, tokenized again. BPE allows several token sequences for one text and sampling can pick one
the tokenizer would not (SmolLM2 wrote " cr" "ank" where the tokenizer reads " crank"): the prefix
match then stops there and the rest of the answer is read again (68 tokens instead of ~24 in the
follow-up benchmark). Splicing the generated tokens into the next prompt would avoid it, but then a
follow-up would read other tokens than the same conversation reopened, or run without these states.
Instead, after an answer the worker plans how the conversation's next prompt will begin (the answer
as text, then the next turn's opening, e.g. `<|im_end|>\n<|im_start|>user\n`), and while the model
is idle — the user reading the answers and typing — `settle` reads that into the saved state. A send
that comes in meanwhile is served first; what was not read ahead is read with the prompt, as before.

Why not llama-cpp-python's own LlamaRAMCache: its states also copy the logits array of a whole
batch (n_batch × vocabulary floats: about 0.5 GB for Gemma 3's 262k vocabulary) and do not count
it against the capacity. The scores are not needed here: at least the last prompt token is always
evaluated again, which recomputes them.
"""
from __future__ import annotations

import ctypes
from collections import OrderedDict

DEFAULT_CAPACITY = 1 << 30  # bytes of saved states, all conversations together
DEFAULT_ENTRIES = 8  # four panes, with room for a conversation reopened from the history
SETTLE_CHUNK = 16  # tokens read ahead between looks for a waiting send (~0.1 s on two CPU cores)


def common_prefix(a, b) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class PromptStates:
    """Saved context states by their tokens, least recently used first out."""

    def __init__(self, capacity_bytes: int = DEFAULT_CAPACITY, max_entries: int = DEFAULT_ENTRIES):
        self.capacity_bytes = capacity_bytes
        self.max_entries = max_entries
        self._states: OrderedDict[tuple[int, ...], bytes] = OrderedDict()
        self.restored = 0  # how many prompts started from a saved state (for tests and the log)
        # Saved state's key -> the tokens its conversation's next prompt will begin with (see settle).
        self._plans: OrderedDict[tuple[int, ...], object] = OrderedDict()  # tokens, or a function giving them
        self.read_ahead = 0  # tokens read while idle, all settles together (for tests and the log)
        self.last_match: list[tuple[int, int]] = []  # (saved state's length, tokens it shares) at the last restore

    @property
    def size(self) -> int:
        return sum(len(s) for s in self._states.values())

    def __len__(self) -> int:
        return len(self._states)

    def save(self, llm, replaces: tuple[int, ...] | None = None) -> tuple[int, ...] | None:
        """Keep the state of what the context holds now (after an answer); its key, or None if
        nothing was kept. `replaces`: the key of a state this one supersedes."""
        import llama_cpp

        tokens = tuple(int(t) for t in llm.input_ids[: llm.n_tokens])
        if not tokens:
            return None
        ctx = llm._ctx.ctx
        size = llama_cpp.llama_state_get_size(ctx)
        if size > self.capacity_bytes:
            return None
        buf = (ctypes.c_uint8 * size)()
        used = llama_cpp.llama_state_get_data(ctx, buf, size)
        # A longer state of the same conversation replaces its shorter ancestors.
        for key in [k for k in self._states if k == replaces or (len(k) <= len(tokens) and tokens[: len(k)] == k)]:
            self._drop(key)
        self._states[tokens] = bytes(buf)[:used]
        while self._states and (len(self._states) > self.max_entries or self.size > self.capacity_bytes):
            self._drop(next(iter(self._states)))
        return tokens

    def _drop(self, key) -> None:
        del self._states[key]
        self._plans.pop(key, None)

    def plan(self, key: tuple[int, ...] | None, next_prompt_start) -> None:
        """After an answer: how its conversation's next prompt will begin (tokenized from text, as
        that prompt will be), or a function that says it (called by `settle`, while idle, so the next
        pane's send does not wait for the template). `settle` reads what the saved state `key` lacks."""
        if key in self._states:
            self._plans[key] = next_prompt_start

    @property
    def planned(self) -> int:
        return len(self._plans)

    def settle(self, llm, interrupted=lambda: False) -> int:
        """Read ahead for the oldest plan: put back its state, read the planned tokens it lacks (from
        the first token where what the model generated differs from the answer's text tokenized
        again, to the next turn's opening) in chunks, and keep the result in its place. Stops between
        chunks when `interrupted()` (a send is waiting); what was read is kept. Returns tokens read."""
        key, expected = self._plans.popitem(last=False)
        if key not in self._states:
            return 0
        expected = tuple(int(t) for t in (expected() if callable(expected) else expected))
        expected = expected[: llm.n_ctx() - 1]  # an answer that filled the context: its next prompt will not fit
        if common_prefix(key, expected) == len(expected):
            return 0  # generated as its text reads, and nothing of the next turn to read yet
        start = self.restore(llm, expected)
        if start < llm.n_tokens:  # the state goes on past `start` with tokens the next prompt will not have
            llm.n_tokens = start
            # The logits in hand are those of the cut-off end: a prompt that is exactly the first
            # `start` tokens, sent before any chunk is read, must be evaluated, not sampled from them.
            llm._requires_eval = True
        done = start
        while len(expected) - done > 1 and not interrupted():  # a lone token is left to the prompt (see below)
            end = done + SETTLE_CHUNK
            if len(expected) - end <= 1:  # no lone last token: llama.cpp reads one token another way (GEMV)
                end = len(expected)
            llm.eval(list(expected[done:end]))
            done = min(end, len(expected))
        if done > start:
            self.save(llm, replaces=key)
            self.read_ahead += done - start
        return done - start

    def restore(self, llm, prompt_tokens) -> int:
        """Put back the saved state sharing the longest prefix with `prompt_tokens`, when it shares
        more than the context holds now. Returns the number of tokens that need no evaluation."""
        import llama_cpp

        held = common_prefix(llm.input_ids[: llm.n_tokens].tolist(), prompt_tokens)
        best, best_len = None, held
        self.last_match = []
        for key in self._states:
            n = common_prefix(key, prompt_tokens)
            self.last_match.append((len(key), n))
            if n > best_len:
                best, best_len = key, n
        if best is None:
            return held
        data = self._states[best]
        buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if llama_cpp.llama_state_set_data(llm._ctx.ctx, buf, len(data)) != len(data):
            llm.reset()  # the context would be inconsistent: start it over (correct, only slower)
            return 0
        llm.input_ids[: len(best)] = best
        llm.n_tokens = len(best)
        llm._requires_eval = True  # the logits in hand are not this state's: evaluate before sampling
        self._states.move_to_end(best)
        self.restored += 1
        return best_len


__all__ = ["PromptStates", "common_prefix"]
