"""A stand-in embedder with no model: `FakeEmbedder`, chosen by ``embedding_model = "fake"``.

Deterministic hashed bags of words: texts that share words get a high cosine, texts that share
none get about zero, always the same vector for the same text. No weights, no PyTorch: the fast
tests run every view through the real factories with it (`open_embedder`), and a developer can
try the views on a machine without the models. Its calibration is chosen for that behaviour, not
measured; an index built with it answers only to it.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from rag_app.embedding.base import Calibration, Embedder, ProgressCallback

FAKE_EMBEDDER = "fake"  # the embedding_model setting that chooses it
FAKE_CALIBRATION = Calibration(gate_dense_high=0.8, gate_dense_low=0.3, support_score=0.45, multilingual=True)
_WORD = re.compile(r"\w+", re.UNICODE)


class FakeEmbedder:
    """Deterministic bag-of-words vectors (see the module docstring)."""

    name = "fake-bag-of-words"  # what an index built with it records
    dimension = 256
    max_tokens = 256
    calibration = FAKE_CALIBRATION

    def count_tokens(self, text: str) -> int:
        """Words count as tokens."""
        return len(_WORD.findall(text))

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimension, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            vector[zlib.crc32(word.encode()) % self.dimension] += 1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def encode(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        """One vector per text."""
        vectors = np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)
        if progress is not None:
            progress(len(texts), len(texts))
        return vectors

    def encode_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """Sentence vectors, as `encode` gives them."""
        return self.encode(texts)

    def encode_query(self, text: str) -> np.ndarray:
        """The question's vector."""
        return self._vector(text)


if TYPE_CHECKING:  # mypy checks that the fake is an `Embedder`, as the real ones are
    _FAKE: Embedder = FakeEmbedder()
