"""Replay the answer checks on the model replies that an evaluation recorded (no generation).

    python -m benchmarks.replay_checks REPORT_DIR [REPORT_DIR ...] [--support-score S] [--disagreement]

`make eval` writes, for every question it asked, the model's raw reply and the passages it
answered from. This tool judges those replies again with today's `judge_reply` (refusal,
sentence support, relevance) and prints, per report, the shares that matter: gold in the
verified answer, "could not be verified" and wrongly refused on answerable questions, and
unanswerable or out-of-corpus questions answered as supported. Changing a check and replaying
takes seconds, where regenerating takes an hour.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from rag_app.answer import Passage
from rag_app.config import load_settings
from rag_app.embedding import Embedder, embedder_from_settings
from rag_app.eval import metrics
from rag_app.generation import LlamaGenerator
from rag_app.grounding.conflict import disagreement
from rag_app.grounding.evidence import PassageSentences
from rag_app.grounding.question import Question
from rag_app.grounding.relevance import ModelCheck, judge_reply


def replay_record(
    record: dict[str, Any], embedder: Embedder, model_check: ModelCheck | None = None
) -> dict[str, Any]:
    """The outcome of one recorded answer judged again: refused, verified, gold in verified."""
    answer = record["answer"]
    raw = answer.get("raw_answer", "")
    if answer["refused"] and not raw:  # the gate refused: no reply to judge
        return {"refused": True, "verified": False, "gold": False, "reason": "gate"}
    passages = [Passage(**p) for p in answer["passages"]]
    question = Question.read(record["question"])
    index = PassageSentences.build(passages, embedder)
    judgement = judge_reply(question, raw, index, embedder, len(passages), question.language, model_check)
    text = judgement.verification.text
    gold = bool(record["gold"]) and judgement.verified and bool(metrics.contains(text, record["gold"]))
    reason = "refusal" if judgement.refusal else judgement.relevance.reason[:24] if (
        judgement.verification.verified and not judgement.relevance.answers) else ""
    return {"refused": judgement.refusal, "verified": judgement.verified, "gold": gold, "reason": reason}


def replay_report(path: Path, embedder: Embedder, model_check: ModelCheck | None = None) -> dict[str, Any]:
    """Shares over one report: per kind of question, and why supported replies were rejected."""
    report = json.loads(path.read_text(encoding="utf-8"))
    outcomes: dict[str, list[dict[str, Any]]] = {}
    for record in report["questions"]:
        if "answer" in record and "passages" in record["answer"]:
            outcomes.setdefault(record["kind"], []).append(replay_record(record, embedder, model_check))
    shares: dict[str, Any] = {"set": report["dataset"]}
    for kind, rows in outcomes.items():
        n = len(rows)
        shares[kind] = {
            "n": n,
            "gold_in_verified": sum(r["gold"] for r in rows) / n,
            "verified": sum(r["verified"] for r in rows) / n,
            "refused": sum(r["refused"] for r in rows) / n,
            "unverified": sum(not r["refused"] and not r["verified"] for r in rows) / n,
            "rejected_by": dict(Counter(r["reason"] for r in rows if r["reason"])),
        }
    return shares


def replay_disagreements(path: Path) -> Counter[tuple[str, bool, bool]]:
    """For each answer a report recorded as verified: (kind, right, vetoed by the disagreement
    check of `grounding/conflict.py`), counted. Text only: no model, no embedder."""
    report = json.loads(path.read_text(encoding="utf-8"))
    counts: Counter[tuple[str, bool, bool]] = Counter()
    for record in report["questions"]:
        answer = record.get("answer") or {}
        if not answer.get("verified") or answer.get("refused") or "passages" not in answer:
            continue
        passages = [Passage(**p) for p in answer["passages"]]
        found = disagreement(Question.read(record["question"]), answer["raw_answer"], passages, len(passages))
        counts[(record["kind"], bool(answer.get("verified_right")), found is not None)] += 1
    return counts


def print_disagreements(folders: list[Path]) -> None:
    """The verified answers of every report that the disagreement check would no longer verify."""
    table = Table(title="Verified answers the disagreement check vetoes")
    for column in ("report", "kind", "right: vetoed / verified", "not right: vetoed / verified"):
        table.add_column(column)
    for folder in folders:
        for path in sorted(folder.glob("*.json")):
            counts = replay_disagreements(path)
            for kind in sorted({k for k, _, _ in counts}):
                cells = [f"{counts[(kind, right, True)]} / {counts[(kind, right, True)] + counts[(kind, right, False)]}"
                         for right in (True, False)]
                table.add_row(f"{folder.name}/{path.stem}", kind, *cells)
    Console(width=160).print(table)


def main(argv: list[str] | None = None) -> int:
    """Replay every report of the given folders; print one table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--model-check", metavar="MODEL",
                        help="also ask this model (catalogue id or GGUF) the yes/no support question")
    parser.add_argument("--support-score", type=float, metavar="S",
                        help="judge with this support threshold instead of the embedder's own")
    parser.add_argument("--disagreement", action="store_true",
                        help="only count the verified answers that the disagreement check would veto")
    args = parser.parse_args(argv)
    if args.disagreement:
        print_disagreements(args.reports)
        return 0
    settings = load_settings()
    embedder = embedder_from_settings(settings)
    if args.support_score is not None:
        embedder.calibration = replace(embedder.calibration, support_score=args.support_score)
    model_check = None
    if args.model_check:
        model_check = LlamaGenerator(settings.generation, settings.paths.models_dir, args.model_check).judge_support
    table = Table(title="Answer checks replayed")
    for column in ("report", "kind", "n", "gold in verified", "verified", "unverified", "refused", "rejected by"):
        table.add_column(column)
    for folder in args.reports:
        for path in sorted(folder.glob("*.json")):
            shares = replay_report(path, embedder, model_check)
            for kind in ("answerable", "unanswerable", "foreign"):
                if kind in shares:
                    s = shares[kind]
                    table.add_row(f"{folder.name}/{shares['set']}", kind, str(s["n"]),
                                  f"{100 * s['gold_in_verified']:.0f}", f"{100 * s['verified']:.0f}",
                                  f"{100 * s['unverified']:.0f}", f"{100 * s['refused']:.0f}",
                                  ", ".join(f"{k} {v}" for k, v in s["rejected_by"].items()))
    Console(width=160).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
