"""Questions embedded by ONNX Runtime: the same vectors as PyTorch, about 3x sooner.

A question is one short text, where PyTorch's per-operation overhead dominates (about 25 ms for
multilingual-e5-small on 2 cores, against about 9 ms in ONNX Runtime; batches of passages stay
faster in PyTorch). At install time `rag_app.embedding.install.export_query_encoder` writes the
model (transformer, mean pooling, normalization) as ``query-encoder.onnx`` in the embedder's
folder, checks that it gives PyTorch's vectors and records its size and SHA-256 in
``query-encoder.json``; `QueryEncoder.open` uses it only when the file still has that size, and
needs neither PyTorch nor transformers. This module is the runtime side only.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

ONNX_NAME = "query-encoder.onnx"
RECORD_NAME = "query-encoder.json"


def exported(folder: Path) -> dict | None:
    """The install record of the export in ``folder`` when the file is there with its recorded
    size (a cheap check: the SHA-256 was checked when it was written), else None."""
    path = folder / ONNX_NAME
    try:
        record = json.loads((folder / RECORD_NAME).read_text(encoding="utf-8"))
        if path.stat().st_size == record["size"]:
            return record
        log.warning("%s does not have the size recorded at install: not used", path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.info("No ONNX query encoder in %s (%s): questions are embedded by PyTorch", folder, exc)
    return None


class QueryEncoder:
    """An ONNX model taking token ids and returning one normalized vector per text."""

    def __init__(self, onnx_path: Path, tokenizer_path: Path, max_tokens: int) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_tokens)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

    @classmethod
    def open(cls, folder: Path) -> QueryEncoder | None:
        """The encoder exported in ``folder``, or None when there is none (or it was altered,
        or onnxruntime is missing): the caller then embeds with PyTorch."""
        record = exported(folder)
        if record is None:
            return None
        try:
            return cls(folder / ONNX_NAME, folder / "tokenizer.json", int(record["max_tokens"]))
        except (OSError, ValueError, KeyError, ImportError, RuntimeError) as exc:
            log.info("The ONNX query encoder in %s is not usable (%s): questions are embedded by PyTorch", folder, exc)
            return None

    def encode(self, text: str) -> np.ndarray:
        """One normalized vector for ``text`` (with its prompt already prepended)."""
        encoding = self._tokenizer.encode(text)
        ids = np.array([encoding.ids], dtype=np.int64)
        mask = np.array([encoding.attention_mask], dtype=np.int64)
        return self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0][0].astype(np.float32)
