"""The body of `rag-app ask`: stream the answer to a terminal, then show its sources.

Kept out of main.py so that the command there stays a thin wrapper; the consoles are passed in.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Sequence

from rich.console import Console
from rich.table import Table

from rag_app.answer import Answer, AnswerEvent, AskOptions, Event, StatusEvent, TokenEvent, where_in
from rag_app.cli.remote import ServerGone, remote_ask, running_server
from rag_app.config import Settings

log = logging.getLogger(__name__)


def ask_command(
    settings: Settings, question: str, *, k: int | None, as_json: bool, console: Console, local: bool = False,
    documents: Sequence[str] = (),
) -> Answer:
    """Answer ``question``: stream tokens (unless ``as_json``), then print the verified answer.

    A running `rag-app serve` of the same index answers it (`rag_app.cli.remote`), unless
    ``local``; without one, or when it does not answer, the models are loaded here. Raises
    `IndexUnavailableError` / `ModelNotFoundError` / `RemoteError` with a message for the user.
    """
    server = None if local else running_server(settings)
    if server is not None:
        try:
            return show_events(remote_ask(server, question, k, documents), as_json=as_json, console=console)
        except ServerGone as exc:  # nothing shown yet
            log.info("The server at %s did not answer (%s); answering here", server.url, exc)
    from rag_app.service.app import App  # PyTorch and the models: only when no server answers

    with App(settings) as rag:
        options = AskOptions(k=k, documents=tuple(documents))
        return show_events(rag.ask(question, options=options), as_json=as_json, console=console)


def show_events(events: Iterator[Event], *, as_json: bool, console: Console) -> Answer:
    """Print the events of an answer as they come (the reply streamed, unless ``as_json``),
    then the answer; returns it."""
    final: Answer | None = None
    streamed = False
    for event in events:
        if isinstance(event, StatusEvent) and event.stage == "reading" and not as_json:
            console.print(f"[dim]{event.model} is reading {event.passages} passages…[/]")
        elif isinstance(event, TokenEvent) and not as_json:
            if not streamed:
                console.print("[dim]Model reply (being checked):[/]")
                streamed = True
            console.file.write(event.text)
            console.file.flush()
        elif isinstance(event, AnswerEvent):
            final = event.answer
    assert final is not None
    if as_json:
        sys.stdout.write(json.dumps(final.to_json(), ensure_ascii=False) + "\n")
        return final
    if streamed:
        console.print("\n")
    show_answer(final, console)
    return final


def show_answer(answer: Answer, console: Console) -> None:
    """The verified answer, its sentence verdicts, citations and evidence."""
    if answer.scope:
        console.print(f"Answered from: {', '.join(answer.scope)}", style="dim", markup=False, highlight=False)
    console.print(answer.verdict_line(with_reason=False), style="bold green" if answer.verified else "bold yellow",
                  markup=False, highlight=False)
    if answer.addressed:
        console.print(answer.addressed_note(), style="bold red", markup=False, highlight=False)
    if answer.refused or not answer.verified:
        console.print(answer.answer, style="yellow", markup=False, highlight=False)
    else:
        console.print("[dim]Sentence by sentence: ✓ supported by the passages, ✗ not found in them[/]")
        for sentence in answer.sentences:
            mark = "[green]✓[/]" if sentence.supported else "[red]✗[/]"
            style = "" if sentence.supported else "dim"
            console.print(f"{mark} ", end="")
            console.print(sentence.text, style=style, markup=False, highlight=False)
    if answer.citations:
        table = Table(title="Sources", title_justify="left", show_lines=False)
        for column in ("#", "file", "page", "heading"):
            table.add_column(column)
        for c in answer.citations:
            table.add_row(f"[{c.n}]", c.path, str(c.page or "-"), c.heading or "-")
        console.print(table)
    if answer.probability is not None:
        console.print(f"[dim]Details: the checks give this reply a {100 * answer.probability:.0f}% chance of "
                      "being right (calibrated on public question sets)[/]")
    if answer.evidence:
        console.print("[bold]Evidence from your documents[/]")
        for e in answer.evidence:
            where = e.path + (f", {where_in(e.path, e.page)}" if e.page else "")
            where += f" — {e.heading}" if e.heading else ""
            console.print(f"  [dim]{where}[/]")
            console.print(f"  {e.text}", markup=False, highlight=False)
    t = answer.timings
    speed = f", {t.tokens_per_s:.1f} tokens/s" if t.tokens_per_s else ""
    first = f", first token {t.first_token_ms:.0f} ms" if t.first_token_ms is not None else ""
    console.print(f"[dim]retrieval {t.retrieval_ms:.0f} ms{first}, total {t.total_ms:.0f} ms{speed}[/]")
