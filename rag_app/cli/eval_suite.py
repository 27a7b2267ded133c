"""`make eval`: the evaluation suite (`rag_app.eval.suite.SUITE`) on the public sets of an eval
folder, in one table.

    python -m rag_app.cli.eval_suite EVAL_DIR [--limit N] [--answer-limit N] [--retrieval-only]
                                     [--only NAME] [--out REPORT_DIR]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rich.console import Console

from rag_app.cli.evaluate import summary_markdown, summary_table, write_report
from rag_app.cli.progress import progress_bar, stage_callback
from rag_app.config import load_settings
from rag_app.eval.runner import EvalOptions, EvalResult, run_eval, suite_embedder
from rag_app.eval.suite import SUITE


def main(argv: list[str] | None = None) -> int:
    """Run the suite; print one summary table (datasets across, metrics down)."""
    parser = argparse.ArgumentParser(prog="python -m rag_app.cli.eval_suite", description=__doc__.split("\n\n")[0])
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
    embedder = suite_embedder(settings)
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
