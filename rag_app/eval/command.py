"""The body of `rag-app eval` and of the `make eval` suite: progress bar, tables, JSON report.

This is a terminal front end (rich) over `rag_app.eval.runner`; the library code stays silent.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rag_app.config import Settings
from rag_app.eval.runner import EvalOptions, EvalResult, Progress as ProgressCallback, run_eval
from rag_app.retrieval import MODES

STAGES = {
    "write": "Writing corpus",
    "load": "Reading files",
    "embed": "Embedding chunks",
    "retrieve": "Retrieving",
    "answer": "Answering",
}
MODE_NAMES = {"dense": "dense", "bm25": "BM25", "hybrid": "fused"}


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
    """A runner progress callback that drives ``bar``."""
    tasks: dict[str, Any] = {}

    def callback(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(prefix + STAGES.get(stage, stage), total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return callback


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def retrieval_table(results: list[EvalResult]) -> Table:
    """recall@1/5/10/100, MRR@10 and nDCG@10 (in %) per dataset and mode."""
    table = Table(title="Retrieval (answerable questions, %)")
    for column in ("dataset", "mode", "n", "R@1", "R@5", "R@10", "R@100", "MRR@10", "nDCG@10"):
        table.add_column(column, justify="left" if column in ("dataset", "mode") else "right")
    for result in results:
        retrieval = result.summary.get("retrieval", {})
        for mode in MODES[1:] + MODES[:1]:
            scores = retrieval.get(mode)
            if not scores:
                continue
            table.add_row(
                result.dataset, MODE_NAMES[mode], str(retrieval.get("judged", "")),
                *(_pct(scores[key]) for key in ("recall@1", "recall@5", "recall@10", "recall@100",
                                               "mrr@10", "ndcg@10")),
                end_section=mode == "hybrid",
            )
    return table


def answer_table(results: list[EvalResult]) -> Table | None:
    """Answer shares (%) and timings (ms) per dataset; None when nothing was answered."""
    rows = [r for r in results if r.summary.get("answers")]
    if not rows:
        return None
    table = Table(title="Answers (% of questions asked) and timings (ms, p50/p95)")
    columns = ("dataset", "n", "gold in answer", "gold in cited", "gold in evidence", "EM", "F1",
               "cited", "false refusals", "unans. n", "unans. refused", "unans. unsupported",
               "unans. supported", "foreign n", "foreign refused", "retrieval", "first token", "total")
    for column in columns:
        table.add_column(column, justify="left" if column == "dataset" else "right")
    for result in rows:
        answers = result.summary["answers"]
        a = answers.get("answerable", {})
        u = answers.get("unanswerable", {})
        f = answers.get("foreign", {})
        t = result.summary.get("timings", {})
        table.add_row(
            result.dataset, str(a.get("n", 0)),
            _pct(a.get("gold_in_answer")), _pct(a.get("gold_in_citations")), _pct(a.get("gold_in_evidence")),
            _pct(a.get("exact_match")), _pct(a.get("f1")), _pct(a.get("has_citation")), _pct(a.get("refused")),
            str(u.get("n", "-")), _pct(u.get("refused")), _pct(u.get("all_unsupported")), _pct(u.get("supported")),
            str(f.get("n", "-")), _pct(f.get("refused")),
            *(f"{_ms(t.get(k, {}).get('p50'))}/{_ms(t.get(k, {}).get('p95'))}"
              for k in ("retrieval_ms", "first_token_ms", "total_ms")),
        )
    return table


def print_tables(console: Console, results: list[EvalResult]) -> None:
    """The summary tables of one or several runs."""
    console.print(retrieval_table(results))
    answers = answer_table(results)
    if answers is not None:
        console.print(answers)


def write_report(path: Path, data: Any) -> None:
    """Write the JSON report (UTF-8, indented)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str), encoding="utf-8")


def eval_command(
    settings: Settings,
    options: EvalOptions,
    *,
    as_json: bool = False,
    out: Path | None = None,
    console: Console | None = None,
    err_console: Console | None = None,
) -> EvalResult:
    """Run one evaluation with a progress bar; print the table (or the JSON report)."""
    console = console or Console()
    err_console = err_console or Console(stderr=True)
    with progress_bar(err_console, disable=not err_console.is_terminal) as bar:
        # The embedder is loaded by run_eval once the dataset has been read: a bad file fails fast.
        result = run_eval(options, settings, progress=stage_callback(bar))
    report = result.to_dict()
    if out is not None:
        write_report(out, report)
    if as_json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False, default=str) + "\n")
    else:
        print_tables(console, [result])
        corpus = result.corpus
        console.print(
            f"[dim]{corpus['documents']} documents, {corpus['chunks']} chunks "
            f"({'index reused' if corpus['reused'] else 'indexed'}) in {corpus['folder']}"
            + (f"; report written to {out}" if out else "") + "[/]"
        )
    return result
