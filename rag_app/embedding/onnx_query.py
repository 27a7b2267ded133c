"""Question-time texts embedded by ONNX Runtime: the same vectors as PyTorch, sooner, and
without loading PyTorch at all.

A question is one short text, where PyTorch's per-operation overhead dominates (about 25 ms for
multilingual-e5-small on 2 cores, against about 9 ms in ONNX Runtime; batches of passages stay
faster in PyTorch, so ingestion keeps it). The few sentences checked at question time (the
passages' sentences, the answer's) go through it too, in padded batches: a question, answered
or refused, never imports torch nor loads the 470 MB PyTorch weights.

At install time `rag_app.embedding.install.export_query_encoder` writes the model (transformer,
mean pooling, normalization) as ``query-encoder.onnx`` in the embedder's folder, its weights in
the side file ``query-encoder.data``, checks that it gives PyTorch's vectors and records both
files' sizes and SHA-256 in ``query-encoder.json``; `QueryEncoder.open` uses it only when the
files still have those sizes, and needs neither PyTorch nor transformers. This module is the
runtime side only.

Why a side file: ONNX Runtime memory-maps weights kept outside the graph, where weights inside
it are parsed into memory and copied again into the session. Measured here (multilingual-e5-small,
2 cores): the session opens in 0.1 s instead of 1.1-1.6 s, and the process peaks at 0.43 GB
instead of 1.16 GB. An export from before (weights inside) is still used, slower, until
`rag-app models install` writes the new one.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

ONNX_NAME = "query-encoder.onnx"
DATA_NAME = "query-encoder.data"  # the weights, outside the graph (memory-mapped)
RECORD_NAME = "query-encoder.json"


def exported(folder: Path) -> dict | None:
    """The install record of the export in ``folder`` when its files are there with their
    recorded sizes (a cheap check: the SHA-256 were checked when they were written), else None.
    A record without ``data_size`` is an export from before the weights had their own file."""
    path = folder / ONNX_NAME
    try:
        record = json.loads((folder / RECORD_NAME).read_text(encoding="utf-8"))
        sizes_ok = path.stat().st_size == record["size"] and (
            "data_size" not in record or (folder / DATA_NAME).stat().st_size == record["data_size"])
        if sizes_ok:
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
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: list[str], batch_size: int = 16) -> np.ndarray:
        """Normalized vectors for ``texts`` (prompts already prepended), ``len(texts) x dim``.

        Texts of similar length go together, padded to the longest of their batch; the mean
        pooling inside the model counts only the real tokens, so padding changes nothing."""
        encodings = self._tokenizer.encode_batch(texts)
        out: dict[int, np.ndarray] = {}
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1
            vectors = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            for r, i in enumerate(rows):
                out[i] = vectors[r].astype(np.float32)
        return np.stack([out[i] for i in range(len(texts))]) if texts else np.zeros((0, 0), dtype=np.float32)
