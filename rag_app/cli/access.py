"""`rag-app collections list | add | remove` and `rag-app keys list | add | remove`: the bodies of
documents a server offers, and who may read which."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rag_app.config import load_settings
from rag_app.service.keys import ApiKeyError, KeyStore
from rag_app.service.library import DEFAULT, CollectionError, Library

collections_app = typer.Typer(help="Named document folders, each with its own index.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys and the collections each may read.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]Error:[/] {message}")
    return typer.Exit(1)


@collections_app.command("list")
def list_collections(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False) -> None:
    """Every collection: its name, data folder and index folder."""
    try:
        found = Library(load_settings()).collections()
    except CollectionError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        sys.stdout.write(json.dumps([{"name": c.name, "data_dir": str(c.data_dir), "index_dir": str(c.index_dir)}
                                     for c in found]) + "\n")
        return
    table = Table()
    for column in ("name", "documents in", "index in"):
        table.add_column(column)
    for c in found:
        table.add_row(c.name, str(c.data_dir), str(c.index_dir))
    console.print(table)


@collections_app.command("add")
def add_collection(
    name: Annotated[str, typer.Argument(help="Its name: lower-case letters, digits, '-' or '_'.")],
    data_dir: Annotated[Path, typer.Argument(help="The folder of its documents.")],
) -> None:
    """Register a folder of documents as a collection (then `rag-app ingest --collection NAME`)."""
    try:
        added = Library(load_settings()).add(name, data_dir)
    except CollectionError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"Added collection [bold]{added.name}[/] over {added.data_dir}. Index it with "
                  f"`rag-app ingest --collection {added.name}`.")


@collections_app.command("remove")
def remove_collection(name: Annotated[str, typer.Argument(help="The collection to forget.")]) -> None:
    """Forget a collection and delete its index; its documents stay where they are."""
    try:
        removed = Library(load_settings()).remove(name)
    except CollectionError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"Removed collection [bold]{removed.name}[/] and its index; the documents in "
                  f"{removed.data_dir} are untouched.")


def _keys() -> KeyStore:
    return KeyStore(load_settings().serve.keys_file)


@keys_app.command("list")
def list_keys() -> None:
    """The keys by name, with the collections each may read (the keys themselves are not kept)."""
    try:
        found = _keys().stored()
    except ApiKeyError as exc:
        raise _fail(str(exc)) from exc
    if not found:
        console.print("No API key: the server answers on this machine only. Add one with "
                      "`rag-app keys add NAME --collections default`.")
        return
    table = Table()
    for column in ("name", "collections", "created"):
        table.add_column(column)
    for key in found:
        table.add_row(key.name, ", ".join(key.collections), f"{datetime.fromtimestamp(key.created):%Y-%m-%d %H:%M}")
    console.print(table)


@keys_app.command("add")
def add_key(
    name: Annotated[str, typer.Argument(help="Who or what uses the key (also the chat page login name).")],
    collections: Annotated[str, typer.Option("--collections", help="Comma-separated collections it may "
                                             "read.")] = DEFAULT,
) -> None:
    """Create an API key; it is printed once, and only its hash is kept."""
    names = [c.strip() for c in collections.split(",") if c.strip()]
    try:
        known = Library(load_settings()).names()
        unknown = [c for c in names if c not in known]
        if unknown:
            raise _fail(f"No collection named {', '.join(unknown)} (`rag-app collections list`).")
        token = _keys().add(name, names)
    except (ApiKeyError, CollectionError) as exc:
        raise _fail(str(exc)) from exc
    console.print(f"Key [bold]{name}[/] may read {', '.join(names)}. Copy it now; it is not shown again:")
    sys.stdout.write(token + "\n")


@keys_app.command("remove")
def remove_key(name: Annotated[str, typer.Argument(help="The key to revoke.")]) -> None:
    """Revoke a key: requests with it are refused from now on."""
    try:
        _keys().remove(name)
    except ApiKeyError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"Key [bold]{name}[/] revoked.")
