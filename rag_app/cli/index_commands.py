"""The index commands of the `rag-app` command line: migrate, check, backup, restore (registered
by `rag_app.cli.main`). Each opens the index through the application service (`on_index`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rag_app.cli.common import (
    CollectionOpt,
    IndexDirOpt,
    JsonOpt,
    command_settings,
    console,
    err_console,
    on_index,
    print_json,
)


def migrate(
    to: Annotated[str, typer.Option("--to", help="milvus: copy the embedded index into Milvus; sqlite: "
                                    "copy the Milvus index back into index_dir.")],
    index_dir: IndexDirOpt = None,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Copy the index to the other store (the vectors are copied, nothing is embedded again)."""
    report = on_index(command_settings(collection, index_dir=index_dir), lambda rag: rag.migrate(
        to.lower(), progress=lambda done, total: console.print(
            f"[dim]{done} of {total} chunks copied[/]", highlight=False) if not as_json else None))
    data = {"to": to.lower(), "documents": report.documents, "chunks": report.chunks, "failures": report.failures,
            "checked_queries": report.checked_queries, "same_top10": round(report.same_top, 3)}
    if as_json:
        print_json(data)
        return
    console.print(f"Copied {report.documents} documents ({report.chunks} chunks) and {report.failures} "
                  f"unreadable-file records; {report.same_top:.0%} of {report.checked_queries} searches gave "
                  "the same 10 nearest chunks in both.")
    console.print(f'Set store = "{to.lower()}" in rag_app.toml (or RAG_APP_STORE={to.lower()}) to use it.')


def check(
    index_dir: IndexDirOpt = None,
    collection: CollectionOpt = None,
    full: Annotated[bool, typer.Option("--full", help="Every check there is: SQLite's integrity_check and "
                                       "the full-text index against the chunks (seconds per GB).")] = False,
    repair: Annotated[bool, typer.Option("--repair", help="Rebuild the full-text index and the vector "
                                         "cache from the chunks when they are what is damaged.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check that the index is whole: its file, its tables, and that they agree. Exit 1 if not."""
    report = on_index(command_settings(collection, index_dir=index_dir),
                       lambda rag: rag.check(full=full or repair, repair=repair))
    if as_json:
        print_json(report.to_dict())
    elif report.ok:
        console.print(f"The index in {report.location} is whole ({'full' if report.full else 'quick'} check, "
                      f"{report.seconds:.2f} s).", highlight=False)
    else:
        err_console.print(f"[bold red]Damaged:[/] {report.message()}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)


def backup(
    destination: Annotated[Path, typer.Argument(help="A new or empty folder for the copy.")],
    index_dir: IndexDirOpt = None,
    collection: CollectionOpt = None,
) -> None:
    """Copy the index into a folder, whole and checked, while questions and an ingest go on."""
    copy = on_index(command_settings(collection, index_dir=index_dir), lambda rag: rag.backup(destination))
    console.print(f"Backed up to {copy} ({copy.stat().st_size / 1e6:.1f} MB). "
                  f"`rag-app restore {destination}` puts it back.", highlight=False)


def restore(
    source: Annotated[Path, typer.Argument(help="The folder `rag-app backup` wrote.")],
    index_dir: IndexDirOpt = None,
    collection: CollectionOpt = None,
) -> None:
    """Put a backup in place of the index (checked first; the replaced index is kept beside it)."""
    settings = command_settings(collection, index_dir=index_dir)
    kept = on_index(settings, lambda rag: rag.restore(source))
    console.print(f"Restored the index in {settings.paths.index_dir} from {source}."
                  + (f" The index it replaced is in {kept} (delete it when you no longer need it)." if kept else ""),
                  highlight=False)
