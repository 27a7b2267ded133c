"""What every command of the `rag-app` command line shares: the consoles, the options, the
settings of a command (a collection's folders), and how an error ends a command."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar

import typer
from rich.console import Console

from rag_app.config import Settings, load_settings

if TYPE_CHECKING:
    from rag_app.service.app import App

console = Console()
err_console = Console(stderr=True)

DataDirOpt = Annotated[Optional[Path], typer.Option("--data-dir", help="Folder of documents.")]
IndexDirOpt = Annotated[Optional[Path], typer.Option("--index-dir", help="Index folder.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
LocalOpt = Annotated[bool, typer.Option("--local", help="Load the models here even when a `rag-app serve` "
                                        "of this index is running (by default it answers).")]
OnlyOpt = Annotated[Optional[list[str]], typer.Option(
    "--only", help="Only these documents: a path as `rag-app info` lists it, a folder, a file name or a glob "
    "(*.pdf); repeatable.")]
CollectionOpt = Annotated[Optional[str], typer.Option("--collection", "-c", help="The collection to use "
                                                      "(`rag-app collections list`; default: data_dir).")]

Result = TypeVar("Result")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error for a person and return the exit to raise."""
    err_console.print(f"[bold red]Error:[/] {message}")
    return typer.Exit(code)


def print_json(data: Any) -> None:
    """One JSON object on stdout, nothing else."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


def command_settings(collection: str | None = None, **overrides: Any) -> Settings:
    """The settings, with ``overrides``; for a named ``collection``, its data and index folders."""
    try:
        settings = load_settings(**overrides)
    except Exception as exc:  # pydantic ValidationError names the field
        raise fail(f"Invalid settings: {exc}") from exc
    if collection and collection != "default":
        from rag_app.service.library import CollectionError, Library

        try:
            return Library(settings).settings_for(collection)
        except CollectionError as exc:
            raise fail(str(exc)) from exc
    return settings


def on_index(settings: Settings, call: Callable[[App], Result]) -> Result:
    """``call`` on the application over ``settings``; an index that cannot be used ends the
    command with its message (what to do next)."""
    from rag_app.service.app import App, IndexUnavailableError

    try:
        with App(settings) as rag:
            return call(rag)
    except IndexUnavailableError as exc:
        raise fail(str(exc)) from exc
