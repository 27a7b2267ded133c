"""`rag-app models list | install | use`: the answer models and the embedders from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from rag_app.catalogue import load_catalogue
from rag_app.config import config_file, load_settings, save_setting
from rag_app.embedding import DEFAULT_EMBEDDER, EMBEDDERS, embedder_name
from rag_app.embedding.install import EmbedderInstallError, install_embedder
from rag_app.embedding.registry import embedder_installed
from rag_app.model_install import InstallError, install_model
from rag_app.models import ModelNotFoundError, installed_model_path, resolve_llm

models_app = typer.Typer(help="List, install and choose the answer model and the embedder.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

ModelsDirOpt = Annotated[Optional[Path], typer.Option("--models-dir", help="Folder of installed models.")]


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]Error:[/] {message}")
    return typer.Exit(1)


@models_app.command("list")
def list_models(models_dir: ModelsDirOpt = None) -> None:
    """Known models (installed or not, size, path) and any other GGUF in the models folder."""
    settings = load_settings(models_dir=models_dir)
    catalogue = load_catalogue()
    try:
        in_use = resolve_llm(settings.model, settings.models_dir).path.resolve()
    except ModelNotFoundError:
        in_use = None
    table = Table()
    for column in ("", "id", "model", "size", "licence", "installed at"):
        table.add_column(column)
    for entry in catalogue.models:
        path = installed_model_path(entry, settings.models_dir)
        mark = "▶" if path is not None and path.resolve() == in_use else ""
        name = f"{entry.name} {entry.quantization}" + (" (default)" if entry.id == catalogue.default else "")
        where = str(path) if path else f"[dim]not installed: rag-app models install {entry.id}[/]"
        table.add_row(mark, entry.id, name, f"{entry.size / 1e6:,.0f} MB", entry.licence, where)
    folder = Path(settings.models_dir)
    known = {entry.file for entry in catalogue.models}
    for path in sorted(folder.glob("*.gguf")) if folder.is_dir() else []:
        if path.name not in known:
            mark = "▶" if path.resolve() == in_use else ""
            table.add_row(mark, "", f"{path.name} [dim](not in the catalogue: not verified)[/]",
                          f"{path.stat().st_size / 1e6:,.0f} MB", "", str(path))
    console.print(table)
    if in_use is None:
        console.print(f"[yellow]The model in use ({settings.model or catalogue.default}) is not installed.[/]")
    embedders = Table(title="Embedders (retrieval)")
    for column in ("", "id", "model", "installed"):
        embedders.add_column(column)
    current = embedder_name(settings.embedding_model)
    for spec in EMBEDDERS.values():
        name = spec.description + (" (default)" if spec.id == DEFAULT_EMBEDDER else "")
        ready = "yes" if embedder_installed(spec.id, settings.models_dir) else (
            f"[dim]no: rag-app models install {spec.id}[/]")
        embedders.add_row("▶" if spec.id == current else "", spec.id, name, ready)
    if current not in EMBEDDERS:
        embedders.add_row("▶", "", f"{current} [dim](a local folder: not calibrated here)[/]", "")
    console.print(embedders)


@models_app.command("install")
def install(
    model_id: Annotated[Optional[str], typer.Argument(
        help="Catalogue id or embedder id (default: the default model and the default embedder).")] = None,
    models_dir: ModelsDirOpt = None,
) -> None:
    """Install an answer model (downloaded, joined, SHA-256 checked) or an embedder (built, checked)."""
    settings = load_settings(models_dir=models_dir)
    if model_id in EMBEDDERS:
        _install_embedder(model_id, settings.models_dir)
        return
    if model_id is None:
        _install_embedder(DEFAULT_EMBEDDER, settings.models_dir)
    catalogue = load_catalogue()
    entry = catalogue.get(model_id) if model_id else catalogue.default_model
    if entry is None:
        raise _fail(f"No model {model_id!r} in the catalogue. Known: {', '.join(m.id for m in catalogue.models)}.")
    with Progress(TextColumn(f"{entry.id}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=err_console, transient=True, disable=not err_console.is_terminal) as bar:
        task = bar.add_task("install", total=entry.size)
        try:
            path = install_model(entry, settings.models_dir,
                                 progress=lambda done, total: bar.update(task, completed=done, total=total))
        except InstallError as exc:
            raise _fail(str(exc)) from exc
    console.print(f"{entry.id} installed and verified (SHA-256 {entry.sha256[:16]}…): {path}")


def _install_embedder(embedder_id: str, models_dir: Path) -> None:
    with console.status(f"Building {embedder_id}…", spinner="dots"):
        try:
            path = install_embedder(embedder_id, models_dir)
        except (EmbedderInstallError, ModelNotFoundError) as exc:
            raise _fail(str(exc)) from exc
    console.print(f"{embedder_id} installed and verified: {path}")


@models_app.command("use")
def use(
    model: Annotated[str, typer.Argument(help="Catalogue id, embedder id, or the path of a .gguf file.")],
    models_dir: ModelsDirOpt = None,
) -> None:
    """Answer with this model, or retrieve with this embedder, from now on (saved in rag_app.toml)."""
    settings = load_settings(models_dir=models_dir)
    if model in EMBEDDERS:
        if not embedder_installed(model, settings.models_dir):
            raise _fail(f"The embedder {model} is not installed. Run `rag-app models install {model}` first.")
        try:
            target = save_setting("embedding_model", model, config_file())
        except (OSError, ValueError) as exc:
            raise _fail(f"Could not save the choice: {exc}") from exc
        console.print(f"Retrieval now uses {model} (embedding_model in {target}). An index built with another "
                      "embedder must be built again: run `rag-app ingest --rebuild`.")
        return
    try:
        resolved = resolve_llm(model, settings.models_dir)
    except ModelNotFoundError as exc:
        raise _fail(str(exc)) from exc
    value = resolved.entry.id if resolved.entry and model == resolved.entry.id else str(resolved.path.resolve())
    try:
        target = save_setting("model", value, config_file())
    except (OSError, ValueError) as exc:
        raise _fail(f"Could not save the choice: {exc}") from exc
    console.print(f"Answers now use {resolved.label} (model = {value!r} in {target}).")
    if resolved.entry is None:
        console.print("[yellow]This file is not in the catalogue: its bytes were not checked against "
                      "a published SHA-256, and it gets default generation settings.[/]")
