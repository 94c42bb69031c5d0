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
        self._states: OrderedDict[tuple[int, ...], tuple[ctypes.Array, int]] = OrderedDict()  # (buffer, bytes used)
        self.restored = 0  # how many prompts started from a saved state (for tests and the log)
        # Saved state's key -> the tokens its conversation's next prompt will begin with (see settle).
        self._plans: OrderedDict[tuple[int, ...], object] = OrderedDict()  # tokens, or a function giving them
        # A conversation (the messages before the user's draft) -> how its next prompt will begin with the draft.
        self._drafts: OrderedDict[object, tuple[int, ...]] = OrderedDict()
        self._draft_states: dict[object, tuple[int, ...]] = {}  # conversation -> its read draft's state
        self.read_ahead = 0  # tokens read while idle, all settles together (for tests and the log)
        self.last_match: list[tuple[int, int]] = []  # (saved state's length, tokens it shares) at the last restore

    @property
    def size(self) -> int:
        return sum(used for _, used in self._states.values())

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
        # Only the conversation's KV cells (sequence 0, the only one llama-cpp-python uses): the whole
        # context's state would also hold its logits, and putting it back clears the whole KV buffer
        # first (a memset of n_ctx cells: ~10 ms for SmolLM2 at 4096, on the next pane's first token).
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        if size > self.capacity_bytes:
            return None
        buf = (ctypes.c_uint8 * size)()
        used = llama_cpp.llama_state_seq_get_data(ctx, buf, size, 0)
        if not used:
            return None
        # A longer state of the same conversation replaces its shorter ancestors.
        for key in [k for k in self._states if k == replaces or (len(k) <= len(tokens) and tokens[: len(k)] == k)]:
            self._drop(key)
        # Kept as the buffer llama.cpp wrote (no bytes() copy): restore hands it straight back.
        self._states[tokens] = (buf, used)
        while self._states and (len(self._states) > self.max_entries or self.size > self.capacity_bytes):
            self._drop(next(iter(self._states)))
        return tokens

    def _drop(self, key) -> None:
        del self._states[key]
        self._plans.pop(key, None)
        for conversation in [c for c, k in self._draft_states.items() if k == key]:
            del self._draft_states[conversation]

    def plan(self, key: tuple[int, ...] | None, next_prompt_start) -> None:
        """After an answer: how its conversation's next prompt will begin (tokenized from text, as
        that prompt will be), or a function that says it (called by `settle`, while idle, so the next
        pane's send does not wait for the template). `settle` reads what the saved state `key` lacks."""
        if key in self._states:
            self._plans[key] = next_prompt_start

    def plan_draft(self, conversation, prompt_start) -> None:
        """The user is typing the next prompt: `prompt_start` is that prompt as it would be sent with the
        draft typed so far, but its last tokens (tokenized from text, as it will be; a prompt that goes
        on otherwise shares it up to where they differ); `conversation` names the conversation it
        continues (the messages before it). `settle` reads it, once the answers' own plans are read,
        into the saved state that shares the most with it; a newer draft of the same conversation
        replaces this one, and its state the older draft's state (typing must not fill the cache with
        drafts and push out the other panes' conversations)."""
        self._drafts.pop(conversation, None)
        self._drafts[conversation] = tuple(int(t) for t in prompt_start)

    def sent(self, conversation) -> tuple[int, ...] | None:
        """The prompt of `conversation` was sent: its draft is no longer read ahead; returns the key of
        its draft's state, for the answer's state to replace (`save(replaces=...)`)."""
        self._drafts.pop(conversation, None)
        key = self._draft_states.pop(conversation, None)
        return key if key in self._states else None

    @property
    def planned(self) -> int:
        return len(self._plans) + len(self._drafts)

    def settle(self, llm, interrupted=lambda: False) -> int:
        """Read ahead for the oldest plan (answers' plans before drafts): put back the saved state
        that shares the most with it, read the planned tokens it lacks in chunks, and keep the result.
        After an answer that is from the first token where what the model generated differs from the
        answer's text tokenized again, to the next turn's opening, and the result takes the generated
        state's place; for a draft, the draft's tokens. Stops between chunks when `interrupted()` (a
        send is waiting); what was read is kept. Returns tokens read."""
        if self._plans:
            key, expected = self._plans.popitem(last=False)
            if key not in self._states:
                return 0
            expected = expected() if callable(expected) else expected
        else:
            conversation, expected = self._drafts.popitem(last=False)
            if len(expected) >= llm.n_ctx():
                return 0  # a draft longer than the context cannot be sent: its send says so
            # The state a draft continues stays (another pane may continue it too), unless it is this
            # conversation's previous draft's, or a prefix of the new one (save drops those).
            key = None
        expected = tuple(int(t) for t in expected)
        expected = expected[: llm.n_ctx() - 1]  # an answer that filled the context: its next prompt will not fit
        if key is not None and common_prefix(key, expected) == len(expected):
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
            if key is None:
                saved = self.save(llm, replaces=self._draft_states.get(conversation))
                if saved:
                    self._draft_states[conversation] = saved
            else:
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
        buf, used = self._states[best]
        # Replaces sequence 0's cells (the conversation the context holds now) with the saved ones.
        if llama_cpp.llama_state_seq_set_data(llm._ctx.ctx, buf, used, 0) != used:
            llm.reset()  # the context would be inconsistent: start it over (correct, only slower)
            return 0
        llm.input_ids[: len(best)] = best
        llm.n_tokens = len(best)
        llm._requires_eval = True  # the logits in hand are not this state's: evaluate before sampling
        self._states.move_to_end(best)
        self.restored += 1
        return best_len


__all__ = ["PromptStates", "common_prefix"]
