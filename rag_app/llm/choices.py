"""The answer models a person can pick in the chat page's menu."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rag_app.llm.catalogue import load_catalogue
from rag_app.llm.files import installed_model_path


@dataclass(frozen=True)
class ModelChoice:
    """A GGUF model the user can pick."""

    label: str
    path: str


def model_choices(models_dir: Path | str, current: str = "") -> list[ModelChoice]:
    """What the model menu offers: every catalogue model, then the other ``.gguf`` files.

    An installed catalogue model is offered by its verified file; one not installed by its id
    (choosing it says how to install it). Then every other ``.gguf`` under ``models_dir`` (not
    verified), and ``current`` if it lies elsewhere.
    """
    choices: list[ModelChoice] = []
    listed: set[Path] = set()
    for entry in load_catalogue().models:
        label = f"{entry.id}: {entry.name} {entry.quantization}, {entry.size / 1e6:,.0f} MB"
        path = installed_model_path(entry, models_dir)
        if path is None:
            choices.append(ModelChoice(f"{label} (not installed)", entry.id))
            continue
        listed.add(path.resolve())
        choices.append(ModelChoice(label, str(path.resolve())))
    folder = Path(models_dir)
    if folder.is_dir():
        for path in sorted(folder.rglob("*.gguf")):
            if path.is_file() and path.resolve() not in listed:
                listed.add(path.resolve())
                choices.append(ModelChoice(f"{path.relative_to(folder).as_posix()} (not verified)",
                                           str(path.resolve())))
    if current and Path(current).resolve() not in listed:
        choices.append(ModelChoice(Path(current).name, str(Path(current).resolve())))
    return choices
