"""Sentence embeddings: the `Embedder` protocol, its calibrated thresholds, and the known embedders.

    embedder = embedder_from_settings(settings)
"""

from rag_app.embedding.base import Calibration, Embedder, ProgressCallback
from rag_app.embedding.registry import (
    DEFAULT_EMBEDDER,
    EMBEDDERS,
    embedder_from_settings,
    embedder_name,
    open_embedder,
)

__all__ = [
    "DEFAULT_EMBEDDER", "EMBEDDERS", "Calibration", "Embedder", "ProgressCallback",
    "embedder_from_settings", "embedder_name", "open_embedder",
]
