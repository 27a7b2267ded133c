"""What every embedder offers the rest of the app, and the thresholds that belong to it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class Calibration:
    """Thresholds on this embedder's cosines, tuned on the eval sets (docs/evaluation.md).

    Cosines do not mean the same thing from one model to the next (e5's sit between 0.7 and
    0.9 for almost any pair), so the relevance gate and the support check read them here.
    ``multilingual``: the cosine is as reliable for a French question as for an English one
    (otherwise retrieval and the gate lean on words for questions not in English).
    """

    gate_dense_high: float
    gate_dense_low: float
    support_score: float
    multilingual: bool


# Tuned on all-MiniLM-L6-v2; the calibration of a sentence-transformers folder the app does not know.
MINILM_CALIBRATION = Calibration(gate_dense_high=0.55, gate_dense_low=0.30, support_score=0.45, multilingual=False)


@runtime_checkable
class Embedder(Protocol):
    """Turns passages and queries into L2-normalized float32 vectors (inner product = cosine).

    ``name`` is recorded in the index: an index answers only to the embedder that built it.
    Passages and queries may be encoded differently (e5 prefixes "passage: " / "query: ").
    """

    name: str
    calibration: Calibration

    @property
    def dimension(self) -> int:
        """Length of one vector."""
        ...

    @property
    def max_tokens(self) -> int:
        """Tokens the model reads before it truncates (chunks are cut below it)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` in the model's own tokenizer, without special tokens."""
        ...

    def encode(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        """Vectors for passages ``texts`` (``len(texts) x dimension``); ``progress(done, total)`` per batch."""
        ...

    def encode_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors for a few sentences at question time (the same vectors as `encode`,
        within float tolerance), by the lightest way the embedder has."""
        ...

    def encode_query(self, text: str) -> np.ndarray:
        """One vector for a question."""
        ...


def longest_first_batches(texts: Sequence[str], batch_size: int) -> list[list[int]]:
    """Indexes of ``texts`` in batches of similar length (longest first): little padding per batch."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
