"""The dependency rule of docs/architecture.md, read from the source: each module imports only
from its own layer or the layers below, and the views reach the rest through `rag_app.app`."""

from __future__ import annotations

import ast
from pathlib import Path

import rag_app

PACKAGE = Path(rag_app.__file__).parent
# Lowest first. A module of a layer may import modules of its own layer and of the layers below.
LAYERS = [
    {"config", "text", "durable", "answer"},
    {"catalogue", "models", "model_install", "embedding", "store"},
    {"ingest", "retrieval", "generation", "grounding", "sources", "workspace"},
    {"answer_pipeline", "watch"},
    {"app"},
    {"eval"},
    {"ui", "cli"},
]
VIEWS = {"ui", "cli"}
# What the views may import besides `rag_app.app`: plain data, settings, text, and their own
# modules. `rag-app models` manages the model files themselves (install, verify, choose).
VIEW_ALLOWED = {"app", "answer", "config", "ui", "cli", "eval"}
MODEL_COMMANDS = "cli.models"
MODEL_COMMAND_ALLOWED = {"catalogue", "models", "embedding", "model_install", "config"}


def unit(module: str) -> str:
    """The layer unit of a dotted module path below rag_app ("store.schema" -> "store")."""
    return module.split(".")[0]


def layer(name: str) -> int:
    for rank, units in enumerate(LAYERS):
        if name in units:
            return rank
    raise AssertionError(f"rag_app.{name} is in no layer of this test: add it to LAYERS (and docs/architecture.md)")


def imports() -> list[tuple[str, str]]:
    """(importing module, imported module) for every rag_app import in the package, lazy ones included."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rag_app."):
                found.append((module, node.module.removeprefix("rag_app.")))
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("rag_app.")]
                found += [(module, name.removeprefix("rag_app.")) for name in names]
    return found


def test_every_import_points_down_or_sideways() -> None:
    upward = [(a, b) for a, b in imports()
              if a != "__init__" and layer(unit(b)) > layer(unit(a))]
    assert upward == [], f"imports from a higher layer: {upward}"


def test_the_views_go_through_the_application_service() -> None:
    reaching = []
    for importer, imported in imports():
        if unit(importer) not in VIEWS:
            continue
        allowed = MODEL_COMMAND_ALLOWED | VIEW_ALLOWED if importer == MODEL_COMMANDS else VIEW_ALLOWED
        if unit(imported) not in allowed:
            reaching.append((importer, imported))
    assert reaching == [], f"views importing below the application service: {reaching}"
