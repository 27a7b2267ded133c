"""The dependency rule of docs/architecture.md, read from the source: each module imports only
from its own layer or the layers below, and the views reach the rest through `rag_app.service.app`."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import rag_app

PACKAGE = Path(rag_app.__file__).parent
# Lowest first. A module of a layer may import modules of its own layer and of the layers below.
LAYERS = [
    {"config", "text", "durable", "answer"},
    {"llm", "embedding", "store"},
    {"ingest", "retrieval", "generation", "grounding", "sources"},
    {"answering"},
    {"service"},
    {"eval"},
    {"ui", "cli", "api", "web"},
]
VIEWS = {"ui", "cli", "api", "web"}
# What the views may import besides the application service: plain data, settings, and their own modules.
VIEW_ALLOWED = {"service", "answer", "config", "ui", "cli", "eval", "api", "web"}


def unit(module: str) -> str:
    """The layer unit of a dotted module path below rag_app ("store.schema" -> "store")."""
    return module.split(".")[0]


def layer(name: str) -> int:
    for rank, units in enumerate(LAYERS):
        if name in units:
            return rank
    raise AssertionError(f"rag_app.{name} is in no layer of this test: add it to LAYERS (and docs/architecture.md)")


def imports(package: Path = PACKAGE) -> list[tuple[str, str]]:
    """(importing module, imported module) for every rag_app import in ``package``, lazy ones included."""
    found = []
    for path in package.rglob("*.py"):
        module = ".".join(path.relative_to(package).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rag_app."):
                found.append((module, node.module.removeprefix("rag_app.")))
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("rag_app.")]
                found += [(module, name.removeprefix("rag_app.")) for name in names]
    return found


def upward_imports(package: Path = PACKAGE) -> list[tuple[str, str]]:
    """The imports of ``package`` that reach a higher layer."""
    return [(a, b) for a, b in imports(package) if a != "__init__" and layer(unit(b)) > layer(unit(a))]


def test_every_import_points_down_or_sideways() -> None:
    upward = upward_imports()
    assert upward == [], f"imports from a higher layer: {upward}"


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    copy = tmp_path / "rag_app"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    pipeline = copy / "retrieval" / "hybrid.py"
    pipeline.write_text(pipeline.read_text(encoding="utf-8") + "\nfrom rag_app.service.app import App\n",
                        encoding="utf-8")
    assert upward_imports(copy) == [("retrieval.hybrid", "service.app")]


def test_the_views_go_through_the_application_service() -> None:
    reaching = []
    for importer, imported in imports():
        if unit(importer) not in VIEWS:
            continue
        if unit(imported) not in VIEW_ALLOWED:
            reaching.append((importer, imported))
    assert reaching == [], f"views importing below the application service: {reaching}"


def _module_of(imported: str, modules: set[str]) -> str | None:
    """The package module an import names ("store" means store/__init__, "store.fts" store/fts)."""
    if imported in modules:
        return imported
    if f"{imported}.__init__" in modules:
        return f"{imported}.__init__"
    return None


def test_no_module_imports_itself_through_others() -> None:
    """No import cycle between the package's modules, lazy imports included (a package's
    ``__init__`` re-exporting its own modules is not a cycle)."""
    modules = {".".join(p.relative_to(PACKAGE).with_suffix("").parts) for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for importer, imported in imports():
        target = _module_of(imported, modules)
        if target and target != importer and not importer.endswith("__init__"):
            graph[importer].add(target)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == [], f"import cycles: {cycles}"
