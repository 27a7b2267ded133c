"""What the model has read, kept for the next prompt: llama.cpp's context and saved copies of it.

`ContextCache.read` brings the context to the first tokens of a prompt, reading only what it does
not hold yet. A prompt is always read in the same pieces (`prompt.reading_stops`: each part,
instructions, passage or earlier turn, from its own start), and a prefix is reused only up to a
stop that both readings share with every stop before it, so the model's numbers for a reused
prefix are exactly those a fresh reading computes: the same question gets the same answer
whatever was read before it.

The context holds one reading at a time. So that two conversations (two people typing, or a
follow-up after someone else's question) do not evict each other's work, the reading of each
conversation is saved (`save`, the KV cells of its sequence: about 30 kB a token for the 1.5B
model) and restored when it is the longest reusable one. Not thread-safe: the generator's lock
guards it.
"""

from __future__ import annotations

import ctypes
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rag_app.generation.prompt import common_prefix

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger(__name__)

SAVED_READINGS = 4  # conversations whose reading is kept besides the one in the context


@dataclass
class Reading:
    """Tokens the context holds as read in the pieces ending at ``stops`` (the last stop is
    ``len(tokens)``); ``state`` is the saved copy of its KV cells (empty for the live one)."""

    tokens: list[int] = field(default_factory=list)
    stops: list[int] = field(default_factory=list)
    state: bytes = b""


@dataclass
class ReadResult:
    """How a prompt was brought into the context: tokens reused, tokens read now."""

    reused: int = 0
    read: int = 0
    complete: bool = True  # False when ``should_stop`` ended the reading early


def reusable(cached: Reading, tokens: Sequence[int], stops: Sequence[int]) -> int:
    """How many first tokens of a prompt (``tokens``, read in pieces ending at ``stops``) the
    ``cached`` reading holds exactly as reading the prompt afresh would: the tokens agree up to a
    stop both share, with every stop before it shared too."""
    common = common_prefix(cached.tokens, tokens)
    best = 0
    for mine, theirs in zip(cached.stops, stops, strict=False):
        if mine != theirs or mine > common:
            break
        best = mine
    return best


class ContextCache:
    """The reading in the model's context (sequence 0), and the saved readings of other
    conversations, by conversation id (the `SAVED_READINGS` most recent)."""

    def __init__(self, llm: Llama, capacity: int = SAVED_READINGS) -> None:
        self.llm = llm
        self.capacity = capacity
        self.live = Reading()
        self.saved: OrderedDict[str, Reading] = OrderedDict()

    def forget_live(self) -> None:
        """The context is about to be used for something else (it will hold no reusable reading)."""
        self.live = Reading()

    def read(
        self,
        tokens: Sequence[int],
        stops: Sequence[int],
        should_stop: Callable[[], bool] = lambda: False,
    ) -> ReadResult:
        """Bring the context to ``tokens[:stops[-1]]``, piece by piece (one model call each),
        from the longest reusable reading (the live one or a saved one, restored); between two
        pieces, ``should_stop()`` may end the reading early (the context then holds a shorter,
        still reusable, reading)."""
        tokens = list(tokens)
        reused = reusable(self.live, tokens, stops)
        best_id, best = None, reused
        for conversation, reading in self.saved.items():
            n = reusable(reading, tokens, stops)
            if n > best:
                best_id, best = conversation, n
        if best_id is not None:
            reused = best if self._restore(self.saved[best_id]) else 0
            self.saved.move_to_end(best_id)
        llm = self.llm
        llm.n_tokens = reused  # llm.eval drops the KV cells from here on
        self.live = Reading(tokens[:reused], [s for s in self.live.stops if s <= reused])
        result = ReadResult(reused=reused)
        for stop in stops:
            if stop <= reused:
                continue
            if should_stop():
                result.complete = False
                break
            start = len(self.live.tokens)
            llm.eval(tokens[start:stop])
            self.live.tokens.extend(tokens[start:stop])
            self.live.stops.append(stop)
            result.read += stop - start
        return result

    def save(self, conversation: str) -> None:
        """Keep a copy of the live reading for ``conversation`` (replacing its previous one)."""
        if not conversation or not self.live.tokens:
            return
        self.llm._ctx.kv_cache_seq_rm(0, len(self.live.tokens), -1)  # only what the reading vouches for
        import llama_cpp

        ctx = self.llm._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        self.llm.n_tokens = len(self.live.tokens)
        self.saved[conversation] = Reading(list(self.live.tokens), list(self.live.stops), bytes(buffer[:written]))
        self.saved.move_to_end(conversation)
        while len(self.saved) > self.capacity:
            self.saved.popitem(last=False)

    def _restore(self, reading: Reading) -> bool:
        """Put a saved reading back into the context; False (the context cleared) if llama.cpp
        refuses it."""
        import llama_cpp

        llm = self.llm
        llm._ctx.kv_cache_seq_rm(0, 0, -1)
        buffer = (ctypes.c_uint8 * len(reading.state)).from_buffer_copy(reading.state)
        if not llama_cpp.llama_state_seq_set_data(llm._ctx.ctx, buffer, len(reading.state), 0):
            log.warning("Could not restore a saved reading of %d tokens; reading afresh", len(reading.tokens))
            llm.n_tokens = 0
            self.live = Reading()
            return False
        n = len(reading.tokens)
        llm.input_ids[:n] = reading.tokens
        llm.n_tokens = n
        self.live = Reading(list(reading.tokens), list(reading.stops))
        return True
