"""Questions embedded by ONNX Runtime: the same vectors as PyTorch, about 3x sooner.

A question is one short text, where PyTorch's per-operation overhead dominates (about 25 ms for
multilingual-e5-small on 2 cores, against about 9 ms in ONNX Runtime; batches of passages stay
faster in PyTorch). `export_query_encoder` writes the model (transformer, mean pooling,
normalization) as ``query-encoder.onnx`` in the embedder's folder at install time, checks that
it gives PyTorch's vectors (cosine >= `MIN_COSINE` on probe texts in both languages) and records
its size and SHA-256 in ``query-encoder.json``; `QueryEncoder.open` uses it only when the file
still has that size, and needs neither PyTorch nor transformers.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from rag_app.model_install import file_sha256

log = logging.getLogger(__name__)

ONNX_NAME = "query-encoder.onnx"
RECORD_NAME = "query-encoder.json"
MIN_COSINE = 0.9999
PROBES = [
    "query: What is the maximum fine the authority can impose?",
    "query: Combien de temps faut-il conserver les données des candidats ?",
    "query: " + "a long question that goes on " * 120,  # longer than the model reads: truncated
]


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


class QueryEncoderError(RuntimeError):
    """The ONNX query encoder could not be written or does not match PyTorch."""


def export_query_encoder(folder: Path) -> Path:
    """Write and check ``folder/query-encoder.onnx`` for the sentence-transformers model in
    ``folder`` (transformer + mean pooling + normalize); return its path.

    Raises `QueryEncoderError` when the model has another shape or the export differs.
    """
    import torch

    from rag_app.embedding.st_embedder import load_sentence_transformer

    model = load_sentence_transformer(folder)
    modules = [type(m).__name__ for m in model]
    if modules != ["Transformer", "Pooling", "Normalize"] or getattr(model[1], "pooling_mode", "") != "mean":
        raise QueryEncoderError(f"{folder} is not transformer + mean pooling + normalize ({modules})")

    class Pooled(torch.nn.Module):
        def __init__(self, transformer: torch.nn.Module) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    path = folder / ONNX_NAME
    tmp = path.with_name(f"{ONNX_NAME}.{os.getpid()}.tmp")
    example = torch.ones((1, 8), dtype=torch.long)
    transformer: Any = model[0].auto_model
    with torch.inference_mode():
        torch.onnx.export(
            Pooled(transformer.eval()), (example, example), str(tmp),
            input_names=["input_ids", "attention_mask"], output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                          "embedding": {0: "batch"}},
            opset_version=17, dynamo=False,
        )
    try:
        encoder = QueryEncoder(tmp, folder / "tokenizer.json", int(model.max_seq_length or 0))
        expected = model.encode(PROBES, normalize_embeddings=True, convert_to_numpy=True)
        cosines = [float(np.dot(encoder.encode(text), want)) for text, want in zip(PROBES, expected, strict=True)]
        if min(cosines) < MIN_COSINE:
            raise QueryEncoderError(f"the ONNX export differs from PyTorch (cosines {cosines})")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    record = {"size": path.stat().st_size, "sha256": file_sha256(path), "max_tokens": model.max_seq_length,
              "min_cosine_to_pytorch": round(min(cosines), 7)}
    (folder / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    log.info("Query encoder written to %s (cosine to PyTorch >= %.6f)", path, min(cosines))
    return path


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
