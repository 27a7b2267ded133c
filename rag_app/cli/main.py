"""The `rag-app` command line: ingest, watch, info, search, show, ask, eval, serve, models."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.logging import RichHandler
from rich.table import Table

from rag_app.cli import index_commands
from rag_app.cli.access import collections_app, keys_app
from rag_app.cli.common import (
    CollectionOpt,
    DataDirOpt,
    IndexDirOpt,
    JsonOpt,
    LocalOpt,
    OnlyOpt,
    command_settings,
    console,
    err_console,
    fail,
    print_json,
)
from rag_app.cli.models import models_app
from rag_app.config import Settings

if TYPE_CHECKING:
    from rag_app.answer import Passage
    from rag_app.service.app import IngestReport

app = typer.Typer(
    help="Ask questions about your own documents, offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(models_app, name="models")
app.add_typer(collections_app, name="collections")
app.add_typer(keys_app, name="keys")
@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
) -> None:
    """Local, offline question answering over your own documents."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, show_time=False)],
    )


@app.command()
def ingest(
    data_dir: DataDirOpt = None,
    collection: CollectionOpt = None,
    index_dir: IndexDirOpt = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Rebuild the index from scratch.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 if any file fails.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="If another ingest is running on this index, "
                                       "wait for it instead of exiting.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add new, replace changed and remove deleted documents in the index.

    Work is committed in batches: after an interruption, run it again to go on from there.
    Questions can be asked while it runs.
    """
    from rag_app.cli.progress import progress_bar, stage_callback
    from rag_app.service.app import App, IndexUnavailableError, IngestError, ModelNotFoundError

    settings = command_settings(collection, data_dir=data_dir, index_dir=index_dir)
    # A parser library that prints would break the JSON: stdout holds only the report.
    quiet = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    with progress_bar(err_console, disable=as_json or not err_console.is_terminal) as bar, quiet:
        try:
            with App(settings) as rag:
                report = rag.ingest(rebuild=rebuild, progress=stage_callback(bar), wait=wait)
        except (IngestError, IndexUnavailableError, ModelNotFoundError) as exc:
            raise fail(str(exc)) from exc

    if as_json:
        print_json(report.to_dict())
    else:
        _print_report(report)
    if not report.ingested_anything:
        raise fail(f"Nothing could be ingested from {settings.paths.data_dir}. Add PDF, Markdown, "
                   "text, HTML or Word files there.")
    if strict and report.failed:
        raise typer.Exit(1)


def _print_report(report: IngestReport) -> None:
    console.print(
        f"[bold]{report.added}[/] added, [bold]{report.updated}[/] updated, "
        f"[bold]{report.removed}[/] removed, [bold]{report.unchanged}[/] unchanged; "
        f"{report.chunks_embedded} chunks embedded, {report.chunks_total} in the index "
        f"({report.seconds:.1f} s)."
    )
    for failed in report.failed:
        console.print(f"[yellow]Could not ingest[/] {failed.path}: {failed.reason}")
    for name in report.skipped:
        console.print(f"[dim]Skipped {name}: unsupported file type[/]")


@app.command()
def watch(data_dir: DataDirOpt = None, index_dir: IndexDirOpt = None, collection: CollectionOpt = None) -> None:
    """Keep the index in step with the data folder: ingest now, then whenever files change
    (every collection's, when there are several and none is named)."""
    import threading

    from rag_app.service.app import App, IngestError, ModelNotFoundError, WatchEvent
    from rag_app.service.library import CollectionError, Library

    settings = command_settings(collection, data_dir=data_dir, index_dir=index_dir)
    library = Library(settings)
    try:
        every = collection is None and data_dir is None and index_dir is None and len(library.names()) > 1
    except CollectionError as exc:
        raise fail(str(exc)) from exc

    def show(event: WatchEvent, name: str = "") -> None:
        label = f"[bold]{name}[/] " if name else ""
        if event.changed:
            console.print(f"[dim]{datetime.now():%H:%M:%S}[/] {label}changed: {', '.join(event.changed)}")
        if event.error:
            err_console.print(f"{label}[red]{event.error}[/]")
        elif event.report is not None:
            if label:
                console.print(label.strip() + ":")
            _print_report(event.report)

    if every:
        console.print(f"Watching the collections {', '.join(library.names())} (Ctrl+C to stop)…")
        stop = threading.Event()
        try:
            library.watch(lambda name, event: show(event, name), stop)
        except KeyboardInterrupt:
            stop.set()
        finally:
            library.close()
        return
    console.print(f"Watching {settings.paths.data_dir} (Ctrl+C to stop)…")
    try:
        with App(settings) as rag:
            rag.watch(show)
    except (IngestError, ModelNotFoundError) as exc:
        raise fail(str(exc)) from exc


@app.command()
def info(index_dir: IndexDirOpt = None, collection: CollectionOpt = None, as_json: JsonOpt = False) -> None:
    """Show what the index holds."""
    from rag_app.service.app import App, IndexUnavailableError

    settings = command_settings(collection, index_dir=index_dir)
    generation = settings.generation
    try:
        with App(settings) as rag:
            index = rag.info()
            # Only with a server (it is asked once); the model here would have to load.
            counting = rag.token_counting() if generation.llm_url else None
    except IndexUnavailableError as exc:
        raise fail(str(exc)) from exc
    data: dict[str, Any] = {
        "index_dir": str(settings.paths.index_dir),
        **({"index_on": index.location} if settings.index.store != "sqlite" else {}),
        "documents": index.documents,
        "chunks": index.chunks,
        "embedding_model": index.embedding_model,
        "dimension": index.dimension,
        "size_bytes": index.size_bytes,
        "last_ingest": index.last_ingest.isoformat(timespec="seconds") if index.last_ingest else None,
        "failures": [{"path": p, "reason": r} for p, r in index.failures],
        "encodings": {f.path: f.encoding for f in index.files if f.encoding},  # files not in UTF-8
        # files with passages written to the assistant: set aside when found for a question
        "addressing_the_assistant": {f.path: f.addresses_assistant for f in index.files if f.addresses_assistant},
    }
    if generation.llm_url:  # answers written on an inference server (generation/server.py)
        data["answer_server"] = generation.llm_url
        data["answer_model"] = generation.llm_model or generation.model or "the catalogue's default"
        data["prompt_tokens_counted_by"] = counting
    if as_json:
        print_json(data)
        return
    table = Table(show_header=False, box=None)
    for key, value in data.items():
        if key in ("failures", "encodings", "addressing_the_assistant"):
            continue
        if key == "size_bytes":
            if settings.index.store != "sqlite":
                continue  # the engine's to tell
            key, value = "size on disk", f"{value / 1e6:.1f} MB"
        table.add_row(key.replace("_", " "), str(value))
    console.print(table)
    for file in index.files:
        if file.encoding:
            console.print(f"[dim]Read as {file.encoding}:[/] {file.path}", highlight=False)
        if file.addresses_assistant:
            console.print(f"[red]Gives the assistant instructions[/] (“{file.addresses_assistant}”), not used to "
                          f"answer: {file.path}", highlight=False)
    for path, reason in index.failures:
        console.print(f"[yellow]Not indexed[/] {path}: {reason}")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    index_dir: IndexDirOpt = None,
    collection: CollectionOpt = None,
    k: Annotated[int, typer.Option("-k", help="Number of passages.")] = 5,
    only: OnlyOpt = None,
    as_json: JsonOpt = False,
    local: LocalOpt = False,
) -> None:
    """Show the passages that hybrid retrieval finds for a query."""
    from dataclasses import asdict

    settings = command_settings(collection, index_dir=index_dir)
    passages = None if local else _search_on_server(settings, query, k, only or ())
    if passages is None:
        from rag_app.service.app import App, IndexUnavailableError, ModelNotFoundError

        with App(settings) as rag:
            try:
                passages = rag.search(query, k=k, documents=only or ())
            # ValueError: an empty query, a scope that matches nothing
            except (IndexUnavailableError, ModelNotFoundError, ValueError) as exc:
                raise fail(str(exc)) from exc
    if as_json:
        print_json([asdict(p) for p in passages])
        return
    if not passages:
        console.print("No passage matches.")
    for rank, p in enumerate(passages, start=1):
        where = p.path + (f", page {p.page}" if p.page else "") + (f" — {p.heading}" if p.heading else "")
        ranks = f"dense #{p.dense_rank or '-'}, BM25 #{p.bm25_rank or '-'}"
        console.print(f"[bold]{rank}. {where}[/]  [dim]score {p.score:.4f} ({ranks}) · passage {p.chunk_id}[/]")
        console.print(p.text, markup=False, highlight=False)
        console.print()


def _search_on_server(settings: Settings, query: str, k: int, documents: Sequence[str]) -> list[Passage] | None:
    """The passages a running server of the same index finds (None: no server answered)."""
    from rag_app.cli.remote import RemoteError, ServerGone, remote_search, running_server

    server = running_server(settings)
    if server is None:
        return None
    try:
        return remote_search(server, query, k, documents)
    except ServerGone:
        return None
    except RemoteError as exc:
        raise fail(str(exc)) from exc


# Further commands (ask, eval, serve) are added below this line.


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question, in quotes.")],
    index_dir: IndexDirOpt = None,
    collection: CollectionOpt = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Catalogue id or GGUF file.")] = None,
    k: Annotated[Optional[int], typer.Option("-k", help="Number of passages.")] = None,
    only: OnlyOpt = None,
    as_json: JsonOpt = False,
    local: LocalOpt = False,
) -> None:
    """Answer a question from your documents, with the file and page of every source.

    A running `rag-app serve` of the same index answers it when there is one (unless --local or --model).
    """
    from rag_app.cli.ask import ask_command  # rag_app.service.app (PyTorch, the models) only if no server answers

    settings = command_settings(collection, index_dir=index_dir, model=model)
    try:
        ask_command(settings, question, k=k, as_json=as_json, console=console, local=local or model is not None,
                    documents=only or ())
    # IndexUnavailableError, ModelNotFoundError, RemoteError; ScopeError, EmptyQueryError: the message says why
    except (RuntimeError, ValueError) as exc:
        raise fail(str(exc)) from exc


@app.command()
def show(
    target: Annotated[str, typer.Argument(help="A passage id (`rag-app search` shows them), or PATH or "
                                          "PATH:PAGE of an indexed document.")],
    sentence: Annotated[str, typer.Option("--sentence", help="Text of the passage to mark more "
                                          "strongly (the supporting sentence).")] = "",
    png: Annotated[Optional[Path], typer.Option("--png", help="Write the PDF page, highlighted, to "
                                                "this PNG file.")] = None,
    index_dir: IndexDirOpt = None,
    data_dir: DataDirOpt = None,
    collection: CollectionOpt = None,
) -> None:
    """Show a passage in its page or section (or a page of a document), as the chat page's source panel does."""
    from rag_app.cli.show import show_command
    from rag_app.service.app import App, IndexUnavailableError, SourceError

    settings = command_settings(collection, index_dir=index_dir, data_dir=data_dir)
    try:
        with App(settings) as rag:
            show_command(rag, target, sentence=sentence, png=png, console=console)
    except (IndexUnavailableError, SourceError, OSError) as exc:
        raise fail(str(exc)) from exc


@app.command("eval")
def eval_(
    dataset: Annotated[Path, typer.Argument(help="Dataset file or folder.")],
    fmt: Annotated[Optional[str], typer.Option(
        "--format", help="squad, beir, clapnq or financebench (default: guessed).")] = None,
    unit: Annotated[str, typer.Option("--unit", help="SQuAD document unit: paragraph or article.")] = "paragraph",
    limit: Annotated[Optional[int], typer.Option("--limit", help="At most N questions, spread evenly.")] = None,
    index_dir: Annotated[Optional[Path], typer.Option(
        "--index-dir", help="Cache folder for the corpus and its index.")] = None,
    retrieval_only: Annotated[bool, typer.Option("--retrieval-only", help="Measure retrieval only.")] = False,
    foreign: Annotated[Optional[Path], typer.Option(
        "--foreign", help="Another dataset whose questions must be refused.")] = None,
    hide_gold: Annotated[bool, typer.Option(
        "--hide-gold", help="SQuAD sets: leave every other paragraph out of the index and ask its "
                            "questions as near-topic unanswerable ones.")] = False,
    near_miss: Annotated[bool, typer.Option(
        "--near-miss", help="SQuAD sets: also ask each question with one name, number or year swapped "
                            "for another of its article, as an unanswerable near-miss question.")] = False,
    answer_limit: Annotated[Optional[int], typer.Option(
        "--answer-limit", help="Ask at most N answerable and N unanswerable questions (default: all).")] = None,
    as_json: JsonOpt = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the per-question JSON report here.")] = None,
) -> None:
    """Measure retrieval and answers on a public question set (SQuAD, BEIR, ClapNQ, FinanceBench)."""
    from rag_app.cli.evaluate import eval_command
    from rag_app.eval.formats import DatasetError
    from rag_app.eval.runner import EvalOptions
    from rag_app.service.app import IndexUnavailableError, ModelNotFoundError

    options = EvalOptions(dataset=dataset, format=fmt, unit=unit, limit=limit, index_dir=index_dir,
                          retrieval_only=retrieval_only, foreign=foreign, hide_gold=hide_gold,
                          near_miss=near_miss, answer_limit=answer_limit)
    try:
        eval_command(command_settings(), options, as_json=as_json, out=out, console=console, err_console=err_console)
    except (DatasetError, IndexUnavailableError, ModelNotFoundError) as exc:
        raise fail(str(exc)) from exc


app.command()(index_commands.migrate)
app.command()(index_commands.check)
app.command()(index_commands.backup)
app.command()(index_commands.restore)


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option("--host", help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[Optional[int], typer.Option("--port", help="Port (default 7860).")] = None,
    index_dir: IndexDirOpt = None,
    data_dir: DataDirOpt = None,
    watch_folder: Annotated[bool, typer.Option("--watch", help="Keep the index in step with the data "
                                               "folder while serving (as `rag-app watch`).")] = False,
) -> None:
    """Open the chat page in your browser at http://HOST:PORT (local only by default)."""
    from rag_app.service.app import IndexUnavailableError, ModelNotFoundError
    from rag_app.service.keys import ApiKeyError
    from rag_app.web.serve import ServeRefusedError

    settings = command_settings(host=host, port=port, index_dir=index_dir, data_dir=data_dir)
    console.print("Loading the index and the models…")
    try:
        from rag_app.web.serve import serve as run_server

        server, page = run_server(settings, watch_folder=watch_folder)
    except (IndexUnavailableError, ModelNotFoundError, ServeRefusedError, ApiKeyError) as exc:
        raise fail(str(exc)) from exc
    except OSError as exc:
        raise fail(f"Cannot listen on {settings.serve.host}:{settings.serve.port} ({exc}). Is another "
                   "server running there? Pass --port with another number.") from exc
    console.print(f"Chat page: [bold]{server.local_url}[/] · API: [bold]{server.local_url}v1[/] (Ctrl+C to stop)")
    try:
        server.block_thread()
    finally:
        page.close()


if __name__ == "__main__":
    app()
