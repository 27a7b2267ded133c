"""The progress bar of `rag-app ingest`, `rag-app eval` and the evaluation suite: one bar a stage."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from rag_app.eval.runner import Progress as ProgressCallback
from rag_app.service.app import INGEST_STAGES

STAGES = INGEST_STAGES | {
    "write": "Writing corpus",
    "load": "Reading files",
    "embed": "Embedding chunks",
    "retrieve": "Retrieving",
    "answer": "Answering",
}
def progress_bar(console: Console, disable: bool = False) -> Progress:
    """A rich progress display with one bar per stage."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=disable,
    )


def stage_callback(bar: Progress, prefix: str = "") -> ProgressCallback:
    """A progress callback (stage, done, total) of ingest or eval that drives ``bar``, one bar a
    stage (a total of 0: not known yet)."""
    tasks: dict[str, Any] = {}

    def callback(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(prefix + STAGES.get(stage, stage), total=total or None)
        bar.update(tasks[stage], completed=done, total=total or None)

    return callback
