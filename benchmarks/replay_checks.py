"""Replay the answer checks on the model replies that an evaluation recorded (no generation).

    python -m benchmarks.replay_checks REPORT_DIR [REPORT_DIR ...] [--support-score S]

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


def main(argv: list[str] | None = None) -> int:
    """Replay every report of the given folders; print one table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--model-check", metavar="MODEL",
                        help="also ask this model (catalogue id or GGUF) the yes/no support question")
    parser.add_argument("--support-score", type=float, metavar="S",
                        help="judge with this support threshold instead of the embedder's own")
    args = parser.parse_args(argv)
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
