"""An embedder backed by a sentence-transformers folder, run by PyTorch."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag_app.embedding.base import Calibration, ProgressCallback, longest_first_batches
from rag_app.embedding.onnx_query import QueryEncoder
from rag_app.llm.files import ModelNotFoundError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

# Counting the tokens of a long text (to split it) is not running it through the model:
# silence the tokenizer's "longer than the maximum sequence length" warning.
logging.getLogger("transformers.tokenization_utils_base").setLevel(logging.ERROR)

_load_lock = threading.Lock()


@lru_cache(maxsize=2)
def _load(path: str) -> SentenceTransformer:
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise ModelNotFoundError(
            f"The embedder needs PyTorch and sentence-transformers, which are not installed ({exc}). "
            "Run `make install` (or `pip install torch==2.13.0` then `pip install -e '.[models]'`).") from exc

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    log.info("Loading embedding model from %s", path)
    return SentenceTransformer(path, device="cpu", local_files_only=True)


def load_sentence_transformer(path: Path) -> SentenceTransformer:
    """The sentence-transformers model in folder ``path``, loaded once per process."""
    with _load_lock:
        return _load(str(path))


class SentenceTransformerEmbedder:
    """A sentence-transformers model; its "query"/"passage" prompts are used when it has them.

    The model (and PyTorch) is loaded at the first call that needs it: an ingest that finds
    nothing to embed never loads it. A known ``dimension`` spares the load for opening an index.
    """

    def __init__(
        self, name: str, path: Path, calibration: Calibration, batch_size: int = 32, dimension: int | None = None
    ) -> None:
        self.name = name
        self.calibration = calibration
        self.batch_size = batch_size
        self._path = path
        if dimension is not None:
            self.dimension = dimension

    @cached_property
    def model(self) -> SentenceTransformer:
        """The sentence-transformers model, loaded once per process."""
        return load_sentence_transformer(self._path)

    @cached_property
    def _prompts(self) -> dict[str, str]:
        """The model's prompts, read from its folder (sentence-transformers reads the same file)."""
        config = self._path / "config_sentence_transformers.json"
        if not config.is_file():
            return {key: value or "" for key, value in (self.model.prompts or {}).items()}
        prompts = json.loads(config.read_text(encoding="utf-8")).get("prompts") or {}
        return {str(key): str(value or "") for key, value in prompts.items()}

    @cached_property
    def _query_encoder(self) -> QueryEncoder | None:
        """The ONNX query encoder exported at install, when there is one (else PyTorch)."""
        return QueryEncoder.open(self._path)

    @property
    def _passage_prompt(self) -> str:
        return self._prompts.get("passage", "")

    @property
    def _query_prompt(self) -> str:
        return self._prompts.get("query", "")

    @cached_property
    def dimension(self) -> int:
        """Length of one vector."""
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter() or 0)

    @cached_property
    def max_tokens(self) -> int:
        """Tokens the model reads, less those of its passage prompt."""
        return int(self.model.max_seq_length or 0) - self.count_tokens(self._passage_prompt)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` in the model's own tokenizer, without special tokens."""
        return len(self.model.tokenizer.encode(text, add_special_tokens=False)) if text else 0

    def _encode(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        return self.model.encode(
            list(texts), prompt=prompt or None, batch_size=self.batch_size,
            normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False,
        )

    def encode(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        """Passage vectors, batch by batch (longest first); ``progress(done, total)`` after each."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        done = 0
        for rows in longest_first_batches(texts, self.batch_size):
            out[rows] = self._encode([texts[i] for i in rows], self._passage_prompt)
            done += len(rows)
            if progress is not None:
                progress(done, len(texts))
        return out

    def encode_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors for the few sentences checked at question time, by ONNX Runtime when
        the model has an export (PyTorch is then never loaded for a question), else as
        `encode` does."""
        encoder = self._query_encoder
        if encoder is None:
            return self.encode(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return encoder.encode_batch([self._passage_prompt + text for text in texts])

    def encode_query(self, text: str) -> np.ndarray:
        """One normalized vector for a question (by ONNX Runtime when the model has an export:
        the same vector, sooner; see `rag_app.embedding.onnx_query`)."""
        encoder = self._query_encoder
        if encoder is not None:
            return encoder.encode(self._query_prompt + text)
        return self._encode([text], self._query_prompt)[0]
