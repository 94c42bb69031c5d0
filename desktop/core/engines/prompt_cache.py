"""Per-conversation prompt states for the model's child process.

Every pane on the same local model talks to the same llama.cpp context, and they take turns.
llama-cpp-python reuses the KV cache only for the prefix the new prompt shares with whatever
the context last evaluated, so when two panes alternate each follow-up re-read the whole
conversation after its first answer, and the time to first token grew turn by turn.

Here each conversation's state (the KV cache for its tokens so far) is saved when an answer
ends, keyed by those tokens. Before the next prompt is evaluated, the saved state sharing the
longest prefix with it is put back if that beats what the context holds, and llama.cpp then
reads only the new tokens: the previous answer's tail and the new question.

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

    @property
    def size(self) -> int:
        return sum(len(s) for s in self._states.values())

    def __len__(self) -> int:
        return len(self._states)

    def save(self, llm) -> None:
        """Keep the state of what the context holds now (after an answer)."""
        import llama_cpp

        tokens = tuple(int(t) for t in llm.input_ids[: llm.n_tokens])
        if not tokens:
            return
        ctx = llm._ctx.ctx
        size = llama_cpp.llama_state_get_size(ctx)
        if size > self.capacity_bytes:
            return
        buf = (ctypes.c_uint8 * size)()
        used = llama_cpp.llama_state_get_data(ctx, buf, size)
        # A longer state of the same conversation replaces its shorter ancestors.
        for key in [k for k in self._states if len(k) <= len(tokens) and tokens[: len(k)] == k]:
            del self._states[key]
        self._states[tokens] = bytes(buf)[:used]
        while self._states and (len(self._states) > self.max_entries or self.size > self.capacity_bytes):
            self._states.popitem(last=False)

    def restore(self, llm, prompt_tokens) -> int:
        """Put back the saved state sharing the longest prefix with `prompt_tokens`, when it shares
        more than the context holds now. Returns the number of tokens that need no evaluation."""
        import llama_cpp

        held = common_prefix(llm.input_ids[: llm.n_tokens].tolist(), prompt_tokens)
        best, best_len = None, held
        for key in self._states:
            n = common_prefix(key, prompt_tokens)
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
