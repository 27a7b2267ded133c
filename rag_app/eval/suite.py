"""`make eval`: the evaluation suite on the public sets of an eval folder, in one table.

    python -m rag_app.eval.suite EVAL_DIR [--limit N] [--answer-limit N] [--retrieval-only]
                                 [--out REPORT_DIR]

Runs, when present in EVAL_DIR: xquad-en (SQuAD paragraphs; plus as many covid-qa questions,
asked as out-of-corpus "foreign" questions), clapnq-dev (both halves: answerable and unanswerable),
cnil-faq-fr (French), covid-qa (whole articles, --unit article) and financebench-sample (PDF
pages). Retrieval is measured on every question (or ``--limit``); answers on
``--answer-limit`` questions of each kind per set (default 50), spread evenly. The three
``-hidden`` sets ask every other paragraph's questions with that paragraph left out of the index
(near-topic unanswerable questions, see `rag_app.eval.formats.load_squad`); the three near-miss
sets ask SQuAD 2.0's crowd-written unanswerable questions and synthetic ones
(`rag_app.eval.near_miss`) beside answerable ones. Indexes are cached (see
`rag_app.eval.runner.cache_root`). The per-set JSON reports go to REPORT_DIR (default
eval-reports/), with summary.md: the table in Markdown.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from rag_app.config import load_settings
from rag_app.embedding import embedder_from_settings
from rag_app.eval.command import (
    progress_bar,
    stage_callback,
    summary_markdown,
    summary_table,
    write_report,
)
from rag_app.eval.runner import EvalOptions, EvalResult, run_eval


@dataclass(frozen=True)
class SuiteEntry:
    """One dataset of the suite: where it lives under EVAL_DIR and how to read it."""

    name: str
    path: str
    format: str
    unit: str = "paragraph"
    foreign: str | None = None
    hide_gold: bool = False  # ask every other paragraph's questions with it left out (near-topic)
    near_miss: bool = False  # also ask each question with a term swapped (rag_app.eval.near_miss)


SUITE = (
    SuiteEntry("xquad-en", "xquad-en/xquad.en.json", "squad", foreign="covid-qa/200423_covidQA.json"),
    SuiteEntry("clapnq-dev", "clapnq-dev/annotated_dev", "clapnq"),
    SuiteEntry("cnil-faq-fr", "cnil-faq-fr/cnil_besoindaide_squad.json", "squad"),
    SuiteEntry("covid-qa", "covid-qa/200423_covidQA.json", "squad", unit="article"),
    SuiteEntry("financebench", "financebench-sample", "financebench"),
    # Near-topic unanswerable questions at scale: the same sets with every other paragraph hidden.
    SuiteEntry("xquad-en-hidden", "xquad-en/xquad.en.json", "squad", foreign="covid-qa/200423_covidQA.json",
               hide_gold=True),
    SuiteEntry("cnil-faq-fr-hidden", "cnil-faq-fr/cnil_besoindaide_squad.json", "squad", hide_gold=True),
    SuiteEntry("covid-qa-hidden", "covid-qa/200423_covidQA.json", "squad", unit="article", hide_gold=True),
    # Near-miss questions (a name, number or year swapped; the paragraph stays in the index):
    # crowd-written ones (SQuAD 2.0) and synthetic ones in English and French.
    SuiteEntry("squad2-train", "squad2-train-sample/squad2-train-10-articles.json", "squad"),
    SuiteEntry("xquad-en-near-miss", "xquad-en/xquad.en.json", "squad", near_miss=True),
    SuiteEntry("piaf-fr-near-miss", "piaf-fr-dev/piaf-fr-dev.json", "squad", near_miss=True),
)


def main(argv: list[str] | None = None) -> int:
    """Run the suite; print one summary table (datasets across, metrics down)."""
    parser = argparse.ArgumentParser(prog="python -m rag_app.eval.suite", description=__doc__.split("\n\n")[0])
    parser.add_argument("eval_dir", type=Path)
    parser.add_argument("--limit", type=int, default=None, help="questions per set for retrieval (default: all)")
    parser.add_argument("--answer-limit", type=int, default=50, help="questions asked per set (default 50)")
    parser.add_argument("--retrieval-only", action="store_true")
    parser.add_argument("--only", action="append", help="run only this set (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("eval-reports"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")

    console, err_console = Console(), Console(stderr=True)
    settings = load_settings()
    embedder = embedder_from_settings(settings)
    results: list[EvalResult] = []
    for entry in SUITE:
        path = args.eval_dir / entry.path
        if (args.only and entry.name not in args.only) or not path.exists():
            if not args.only:
                err_console.print(f"[yellow]Skipping {entry.name}: {path} not found[/]")
            continue
        foreign = args.eval_dir / entry.foreign if entry.foreign else None
        options = EvalOptions(
            dataset=path,
            format=entry.format,
            unit=entry.unit,
            limit=args.limit,
            retrieval_only=args.retrieval_only,
            foreign=foreign if foreign is not None and foreign.exists() else None,
            answer_limit=args.answer_limit,
            foreign_limit=args.answer_limit,
            name=entry.name,
            hide_gold=entry.hide_gold,
            near_miss=entry.near_miss,
        )
        with progress_bar(err_console, disable=not err_console.is_terminal) as bar:
            result = run_eval(options, settings, embedder=embedder, progress=stage_callback(bar, f"{entry.name}: "))
        write_report(args.out / f"{entry.name}.json", result.to_dict())
        err_console.print(f"[dim]{entry.name}: done ({result.corpus['chunks']} chunks)[/]")
        results.append(result)
    if not results:
        err_console.print(f"[red]No evaluation set found in {args.eval_dir}[/]")
        return 1
    console.print(summary_table(results))
    (args.out / "summary.md").write_text(summary_markdown(results), encoding="utf-8")
    console.print(f"[dim]Per-question reports and summary.md (this table in Markdown) in {args.out}/[/]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
