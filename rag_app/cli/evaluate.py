"""The body of `rag-app eval` and of the `make eval` suite (`eval_suite.py`): summary table and
JSON report.

This is a terminal front end (rich) over `rag_app.eval.runner`; the library code stays silent.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from rag_app.cli.progress import progress_bar, stage_callback
from rag_app.config import Settings
from rag_app.eval.runner import MODES, EvalOptions, EvalResult, run_eval

MODE_NAMES = {"dense": "dense", "bm25": "BM25", "hybrid": "fused"}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _count(value: int | None) -> str:
    return "-" if not value else str(value)


@dataclass(frozen=True)
class SummaryRow:
    """One line of the summary table: a metric (or a section heading) and its value per dataset."""

    label: str
    values: tuple[str, ...]
    heading: bool = False


RETRIEVAL_METRICS = (("recall@1", "R@1"), ("recall@5", "R@5"), ("recall@10", "R@10"),
                     ("recall@100", "R@100"), ("mrr@10", "MRR@10"), ("ndcg@10", "nDCG@10"))
# "gold in verified answer" counts the model's own reply only when every check passed; "gold in
# shown answer" also counts the evidence sentences shown under "could not be verified".
ANSWERABLE_METRICS = (("verified_right", "verified and right"), ("verified_precision", "right, of verified"),
                      ("gold_in_verified", "gold in verified answer"),
                      ("gold_in_answer", "gold in shown answer"), ("gold_in_citations", "gold in cited"),
                      ("gold_in_evidence", "gold in evidence"), ("exact_match", "exact match"),
                      ("f1", "F1"), ("has_citation", "with a citation"),
                      ("unverified", "could not be verified"), ("refused", "refused (wrongly)"))
REFUSAL_METRICS = (("refused", "refused"), ("unverified", "flagged unverified"),
                   ("supported", "answered as supported"))
ANSWER_KINDS = (("answerable", "Answerable (%)", ANSWERABLE_METRICS),
                ("unanswerable", "Unanswerable (%)", REFUSAL_METRICS),
                ("foreign", "Out-of-corpus (%)", REFUSAL_METRICS))
TIMINGS = (("retrieval_ms", "retrieval"), ("first_token_ms", "first token"), ("total_ms", "total"))


def summary_rows(results: list[EvalResult]) -> list[SummaryRow]:
    """The figures of one or several runs: one row per metric, one value per dataset.

    First the question counts, then retrieval in % of the answerable questions (dense, BM25,
    and the fused ranking the product uses), answers in % of the questions asked of each kind,
    and timings in ms. Sections without a figure in any dataset are left out.
    """
    summaries = [result.summary for result in results]
    rows: list[SummaryRow] = []

    def section(heading: str, metrics: list[tuple[str, list[str]]]) -> None:
        if any(value != "-" for _, values in metrics for value in values):
            rows.append(SummaryRow(heading, ("",) * len(summaries), heading=True))
            rows.extend(SummaryRow(label, tuple(values)) for label, values in metrics)

    answers = [s.get("answers", {}) for s in summaries]
    counts = [("for retrieval", [_count(s.get("retrieval", {}).get("judged")) for s in summaries])]
    counts += [(f"asked: {kind}", [_count(a.get(kind, {}).get("n")) for a in answers])
               for kind, _, _ in ANSWER_KINDS]
    section("Questions", counts)
    for mode in MODES[1:] + MODES[:1]:
        scores = [s.get("retrieval", {}).get(mode, {}) for s in summaries]
        section(f"Retrieval, {MODE_NAMES[mode]} (%)",
                [(name, [_pct(score.get(key)) for score in scores]) for key, name in RETRIEVAL_METRICS])
    for kind, heading, metrics in ANSWER_KINDS:
        groups = [a.get(kind, {}) for a in answers]
        section(heading, [(name, [_pct(g.get(key)) if g.get("n") else "-" for g in groups])
                          for key, name in metrics])
    section("Decision", [("risk-coverage area (%)",
                          [_pct(s.get("risk_coverage", {}).get("auc")) if "risk_coverage" in s else "-"
                           for s in summaries])])
    section("Timings (ms)", [
        (f"{name} {stat}", [_ms(s.get("timings", {}).get(key, {}).get(stat)) for s in summaries])
        for key, name in TIMINGS for stat in ("p50", "p95")
    ])
    return rows


def summary_table(results: list[EvalResult]) -> Table:
    """The one summary table: metrics down, datasets across."""
    table = Table(title="rag-app eval", title_justify="left")
    table.add_column("metric", no_wrap=True)
    for result in results:
        table.add_column(result.dataset, justify="right", overflow="fold")
    rows = summary_rows(results)
    for index, row in enumerate(rows):
        last_of_section = index + 1 == len(rows) or rows[index + 1].heading
        label = f"[bold]{row.label}[/]" if row.heading else f"  {row.label}"
        table.add_row(label, *row.values, end_section=last_of_section)
    return table


def summary_markdown(results: list[EvalResult]) -> str:
    """The summary table as Markdown (for docs/ and the suite's report folder)."""
    lines = ["| metric | " + " | ".join(r.dataset for r in results) + " |",
             "|---" + "|---:" * len(results) + "|"]
    for row in summary_rows(results):
        label = f"**{row.label}**" if row.heading else row.label
        lines.append(f"| {label} | " + " | ".join(row.values) + " |")
    return "\n".join(lines) + "\n"


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
    """Run one evaluation with a progress bar; print the summary table (or the JSON report)."""
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
        console.print(summary_table([result]))
        corpus = result.corpus
        console.print(
            f"[dim]{corpus['documents']} documents, {corpus['chunks']} chunks "
            f"({'index reused' if corpus['reused'] else 'indexed'}) in {corpus['folder']}"
            + (f"; report written to {out}" if out else "") + "[/]"
        )
    return result
