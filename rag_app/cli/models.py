"""`rag-app models list | install | use`: the answer models and the embedders from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from rag_app.config import load_settings

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
    from rag_app.service.app import App  # the models: only when used

    found = App(load_settings(models_dir=models_dir)).models_overview()
    table = Table()
    for column in ("", "id", "model", "size", "licence", "installed at"):
        table.add_column(column)
    for row in found.answer_models:
        name = row.name + (" (default)" if row.default else "") + (
            "" if row.verified else " [dim](not in the catalogue: not verified)[/]")
        where = str(row.path) if row.path else f"[dim]not installed: rag-app models install {row.id}[/]"
        table.add_row("▶" if row.in_use else "", row.id, name, f"{row.size_mb:,.0f} MB", row.licence, where)
    console.print(table)
    if found.in_use_missing:
        console.print(f"[yellow]The model in use ({found.in_use_missing}) is not installed.[/]")
    embedders = Table(title="Embedders (retrieval)")
    for column in ("", "id", "model", "installed"):
        embedders.add_column(column)
    for spec in found.embedders:
        ready = "yes" if spec.installed else f"[dim]no: rag-app models install {spec.id}[/]"
        embedders.add_row("▶" if spec.in_use else "", spec.id,
                          spec.description + (" (default)" if spec.default else ""), ready if spec.id else "")
    console.print(embedders)


@models_app.command("install")
def install(
    model_id: Annotated[Optional[str], typer.Argument(
        help="Catalogue id or embedder id (default: the default model and the default embedder).")] = None,
    models_dir: ModelsDirOpt = None,
) -> None:
    """Install an answer model (downloaded, joined, SHA-256 checked) or an embedder (built, checked)."""
    from rag_app.service.app import App, ModelAdminError, ModelNotFoundError  # the models: only when used

    app = App(load_settings(models_dir=models_dir))
    try:
        if model_id is None:
            with console.status("Building the embedder…", spinner="dots"):
                console.print(f"Embedder installed and verified: {app.install_embedder()}")
        with Progress(TextColumn(model_id or "model"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                      console=err_console, transient=True, disable=not err_console.is_terminal) as bar:
            task = bar.add_task("install", total=None)
            path = app.install_model(model_id, progress=lambda done, total: bar.update(task, completed=done,
                                                                                       total=total))
    except (ModelAdminError, ModelNotFoundError) as exc:
        raise _fail(str(exc)) from exc
    console.print(f"{model_id or 'The default model'} installed and verified: {path}")


@models_app.command("use")
def use(
    model: Annotated[str, typer.Argument(help="Catalogue id, embedder id, or the path of a .gguf file.")],
    models_dir: ModelsDirOpt = None,
) -> None:
    """Answer with this model, or retrieve with this embedder, from now on (saved in rag_app.toml)."""
    from rag_app.service.app import App, ModelAdminError, ModelNotFoundError  # the models: only when used

    try:
        choice = App(load_settings(models_dir=models_dir)).use_model(model)
    except (ModelAdminError, ModelNotFoundError) as exc:
        raise _fail(str(exc)) from exc
    if choice.setting == "embedding_model":
        console.print(f"Retrieval now uses {choice.value} (embedding_model in {choice.saved_in}). An index built "
                      "with another embedder must be built again: run `rag-app ingest --rebuild`.")
        return
    console.print(f"Answers now use {choice.label} (model = {choice.value!r} in {choice.saved_in}).")
    if not choice.verified:
        console.print("[yellow]This file is not in the catalogue: its bytes were not checked against "
                      "a published SHA-256, and it gets default generation settings.[/]")
