"""Sentence embeddings with the configured sentence-transformers model: normalized, batched."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import cached_property

import numpy as np

from rag_app.models import embedding_model_name, load_embedder

ProgressCallback = Callable[[int, int], None]

# Counting the tokens of a long text (to split it) is not running it through the model:
# silence the tokenizer's "longer than the maximum sequence length" warning.
logging.getLogger("transformers.tokenization_utils_base").setLevel(logging.ERROR)


class Embedder:
    """The embedding model with its name, dimension and tokenizer.

    Vectors are L2-normalized float32, so inner product is cosine similarity.
    """

    def __init__(self, setting: str = "", batch_size: int = 32) -> None:
        self.name = embedding_model_name(setting)
        self.batch_size = batch_size
        self.model = load_embedder(setting)

    @cached_property
    def dimension(self) -> int:
        """Length of one vector."""
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    @cached_property
    def max_tokens(self) -> int:
        """Word pieces the model reads before it truncates (256 for all-MiniLM-L6-v2)."""
        return int(self.model.max_seq_length)

    def count_tokens(self, text: str) -> int:
        """Word pieces of ``text`` in the model's own tokenizer, without special tokens."""
        return len(self.model.tokenizer.encode(text, add_special_tokens=False))

    def encode(
        self, texts: Sequence[str], progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """Vectors for ``texts`` (shape ``len(texts) x dimension``), batch by batch.

        Texts are encoded longest first, as sentence-transformers does within one call, so
        batches hold texts of similar length and little padding; ``progress`` gets
        (done, total) after each batch.
        """
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = self.model.encode(
                [texts[i] for i in rows],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            if progress is not None:
                progress(start + len(rows), len(texts))
        return out

    def encode_query(self, text: str) -> np.ndarray:
        """One normalized vector for a query."""
        return self.encode([text])[0]
