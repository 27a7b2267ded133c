"""The model files, for the views: what is installed and in use, installing, choosing.

`rag-app models list | install | use` (and any other view) call these through `rag_app.service.app`;
they read the catalogue, the embedder registry and the models folder of ``settings``, and
return plain data or raise an error whose message says what to do (`ModelAdminError`,
`ModelNotFoundError`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rag_app.config import Settings, config_file, save_setting
from rag_app.embedding import DEFAULT_EMBEDDER, EMBEDDERS, embedder_name
from rag_app.embedding.install import EmbedderInstallError, install_embedder
from rag_app.embedding.registry import embedder_installed
from rag_app.llm.catalogue import load_catalogue
from rag_app.llm.files import ModelNotFoundError, installed_model_path, resolve_llm
from rag_app.llm.install import InstallError, install_model

# (bytes done, bytes in all) while a model file is joined.
InstallProgress = Callable[[int, int], None]


class ModelAdminError(RuntimeError):
    """A model could not be installed or chosen; the message says why and what to do."""


@dataclass(frozen=True)
class AnswerModelRow:
    """One answer model: a catalogue entry (``id`` set) or another GGUF file of the folder."""

    id: str
    name: str
    size_mb: float
    licence: str
    path: Path | None  # None: not installed
    in_use: bool
    default: bool = False
    verified: bool = True  # a catalogue file, checked against its SHA-256


@dataclass(frozen=True)
class EmbedderRow:
    """One embedder: a registry entry, or the local folder the settings name."""

    id: str
    description: str
    installed: bool
    in_use: bool
    default: bool = False


@dataclass
class ModelsOverview:
    """What `rag-app models list` shows."""

    answer_models: list[AnswerModelRow] = field(default_factory=list)
    embedders: list[EmbedderRow] = field(default_factory=list)
    in_use_missing: str = ""  # the model the settings name, when it is not installed


def overview(settings: Settings) -> ModelsOverview:
    """The answer models (catalogue, then other GGUF files) and the embedders, marked in use."""
    catalogue = load_catalogue()
    try:
        in_use: Path | None = resolve_llm(settings.generation.model, settings.paths.models_dir).path.resolve()
    except ModelNotFoundError:
        in_use = None
    result = ModelsOverview()
    for entry in catalogue.models:
        path = installed_model_path(entry, settings.paths.models_dir)
        result.answer_models.append(AnswerModelRow(
            entry.id, f"{entry.name} {entry.quantization}", entry.size / 1e6, entry.licence, path,
            path is not None and path.resolve() == in_use, entry.id == catalogue.default))
    folder = Path(settings.paths.models_dir)
    known = {entry.file for entry in catalogue.models}
    for path in sorted(folder.glob("*.gguf")) if folder.is_dir() else []:
        if path.name not in known:
            result.answer_models.append(AnswerModelRow("", path.name, path.stat().st_size / 1e6, "", path,
                                                       path.resolve() == in_use, verified=False))
    if in_use is None:
        result.in_use_missing = settings.generation.model or catalogue.default
    current = embedder_name(settings.ingest.embedding_model)
    for spec in EMBEDDERS.values():
        installed = embedder_installed(spec.id, settings.paths.models_dir)
        result.embedders.append(EmbedderRow(spec.id, spec.description, installed,
                                            spec.id == current, spec.id == DEFAULT_EMBEDDER))
    if current not in EMBEDDERS:
        result.embedders.append(EmbedderRow("", f"{current} (a local folder: not calibrated here)", True, True))
    return result


def is_embedder(model_id: str | None) -> bool:
    """True for an embedder id (`rag-app models install/use` take both kinds)."""
    return model_id in EMBEDDERS


def install_embedder_model(settings: Settings, embedder_id: str = DEFAULT_EMBEDDER) -> Path:
    """Build and check embedder ``embedder_id`` in the models folder; its folder."""
    try:
        return install_embedder(embedder_id, settings.paths.models_dir)
    except EmbedderInstallError as exc:
        raise ModelAdminError(str(exc)) from exc


def install_answer_model(settings: Settings, model_id: str | None = None,
                         progress: InstallProgress | None = None) -> tuple[str, str, Path]:
    """Install catalogue model ``model_id`` (default: the catalogue's default), checked against
    its SHA-256: (its id, its SHA-256, its path)."""
    catalogue = load_catalogue()
    entry = catalogue.get(model_id) if model_id else catalogue.default_model
    if entry is None:
        raise ModelAdminError(f"No model {model_id!r} in the catalogue. Known: "
                              f"{', '.join(m.id for m in catalogue.models)}.")
    try:
        return entry.id, entry.sha256, install_model(entry, settings.paths.models_dir, progress=progress)
    except InstallError as exc:
        raise ModelAdminError(str(exc)) from exc


def answer_model_size(model_id: str | None = None) -> int:
    """Bytes of catalogue model ``model_id`` (default: the default one); 0 when unknown."""
    catalogue = load_catalogue()
    entry = catalogue.get(model_id) if model_id else catalogue.default_model
    return entry.size if entry is not None else 0


@dataclass(frozen=True)
class Choice:
    """What `use_model` saved: the setting, its value, the file, and whether it was verified."""

    setting: str
    value: str
    label: str
    saved_in: Path
    verified: bool = True


def use_model(settings: Settings, model: str) -> Choice:
    """Answer with ``model`` (a catalogue id or a GGUF path), or retrieve with it (an embedder
    id), from now on: saved in the settings file."""
    if is_embedder(model):
        if not embedder_installed(model, settings.paths.models_dir):
            raise ModelAdminError(f"The embedder {model} is not installed. Run `rag-app models install {model}` "
                                  "first.")
        return Choice("embedding_model", model, model, _save("embedding_model", model))
    resolved = resolve_llm(model, settings.paths.models_dir)  # ModelNotFoundError says how to install it
    value = resolved.entry.id if resolved.entry and model == resolved.entry.id else str(resolved.path.resolve())
    return Choice("model", value, resolved.label, _save("model", value), verified=resolved.entry is not None)


def _save(key: str, value: str) -> Path:
    try:
        return save_setting(key, value, config_file())
    except (OSError, ValueError) as exc:
        raise ModelAdminError(f"Could not save the choice: {exc}") from exc
