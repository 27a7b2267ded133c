"""Measure (and help tune) the relevance gate of `rag_app.grounding` on real question sets.

    python -m benchmarks.tune_gate ../shared/eval [--corpus data] [--limit 150]

Sets, each a list of (question, should the gate open?):
- clapnq answerable (open) and unanswerable (closed) against the ClapNQ gold passages;
- xquad-en (open) and cnil-faq-fr (open, French) against their own corpora;
- out-of-corpus (closed): xquad-en and cnil-faq-fr questions against the demo corpus ``--corpus``.

Prints per set how often the gate opens, and a small grid of thresholds with the overall
balanced accuracy, so a change of the embedder's thresholds (`rag_app.embedding.registry`) or of
the coverage thresholds in rag_app/grounding/gate.py can be justified.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rag_app.config import GroundingSettings, Settings, load_settings
from rag_app.embedding import Embedder, embedder_from_settings
from rag_app.eval.formats import EvalDataset, load_dataset
from rag_app.eval.runner import prepare_index
from rag_app.grounding import gate as gating
from rag_app.grounding.question import Question
from rag_app.retrieval import HybridRetriever
from rag_app.store import IndexStore
from rag_app.text import guess_language

log = logging.getLogger(__name__)


@dataclass
class Sample:
    """The gate's signals for one question."""

    set: str
    question: str
    language: str
    should_open: bool
    dense: float
    coverage: float
    key_term: bool
    multilingual: bool  # the embedder's cosine holds for questions not in English


def collect(
    name: str, settings: Settings, embedder: Embedder, questions: list[tuple[str, bool]]
) -> list[Sample]:
    """Search every question in the index of ``settings`` and record the gate's signals."""
    samples = []
    with IndexStore.open(settings.paths.index_dir, embedder.name, embedder.dimension, create=False) as store:
        retriever = HybridRetriever(store, embedder, settings.retrieval)
        for question, should_open in questions:
            language = guess_language(question)
            passages = retriever.search(question)
            decision = gating.gate(Question.read(question), passages, language,
                                   gating.GateThresholds.of(embedder.calibration))
            samples.append(Sample(name, question, language, should_open, decision.dense, decision.coverage,
                                  decision.key_term, embedder.calibration.multilingual))
    return samples


def decide(sample: Sample, *thresholds: float) -> bool:
    """The rule of `grounding.gate` with explicit thresholds."""
    return gating.gate_rule(sample.language, sample.dense, sample.coverage, sample.key_term,
                            gating.GateThresholds(*thresholds, multilingual=sample.multilingual))[0]


def report(samples: list[Sample], thresholds: tuple[float, float, float, float]) -> dict[str, float]:
    """Share of questions on which the gate opens, per set."""
    out: dict[str, float] = {}
    for name in dict.fromkeys(s.set for s in samples):
        group = [s for s in samples if s.set == name]
        out[name] = round(sum(decide(s, *thresholds) for s in group) / len(group), 3)
    return out


def balanced_accuracy(samples: list[Sample], thresholds: tuple[float, float, float, float]) -> float:
    """Mean over sets of the share of correct gate decisions (each set weighs the same)."""
    scores = []
    for name in dict.fromkeys(s.set for s in samples):
        group = [s for s in samples if s.set == name]
        scores.append(sum(decide(s, *thresholds) == s.should_open for s in group) / len(group))
    return sum(scores) / len(scores)


def _questions(dataset: EvalDataset, limit: int, answerable: bool | None = None) -> list[str]:
    items = [q.question for q in dataset.questions if answerable is None or q.answerable == answerable]
    step = max(1, len(items) // limit)
    return items[::step][:limit]


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("eval_dir", type=Path)
    parser.add_argument("--corpus", type=Path, default=Path("data"), help="demo corpus folder")
    parser.add_argument("--limit", type=int, default=150, help="questions per set")
    parser.add_argument("--json", type=Path, help="write the samples here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    settings = load_settings()
    embedder = embedder_from_settings(settings)
    clapnq = load_dataset(args.eval_dir / "clapnq-dev", "clapnq")
    xquad = load_dataset(args.eval_dir / "xquad-en" / "xquad.en.json", "squad")
    cnil = load_dataset(args.eval_dir / "cnil-faq-fr" / "cnil_besoindaide_squad.json", "squad")

    samples: list[Sample] = []
    for dataset, sets in (
        (clapnq, [("clapnq-answerable", True, True), ("clapnq-unanswerable", False, False)]),
        (xquad, [("xquad-en", None, True)]),
        (cnil, [("cnil-fr", None, True)]),
    ):
        index_settings, _ = prepare_index(dataset, settings, "paragraph", None, embedder)
        for name, answerable, should_open in sets:
            qs = [(q, should_open) for q in _questions(dataset, args.limit, answerable)]
            samples += collect(name, index_settings, embedder, qs)

    with tempfile.TemporaryDirectory() as tmp:
        from rag_app.ingest.pipeline import ingest

        demo = settings.replace(data_dir=args.corpus, index_dir=Path(tmp) / "index")
        ingest(demo, embedder=embedder)
        samples += collect("out-of-corpus-en", demo, embedder,
                           [(q, False) for q in _questions(xquad, args.limit)])
        samples += collect("out-of-corpus-fr", demo, embedder,
                           [(q, False) for q in _questions(cnil, args.limit)])

    calibration = embedder.calibration
    grounding = GroundingSettings()
    current = (calibration.gate_dense_high, calibration.gate_dense_low, grounding.gate_coverage,
               grounding.gate_coverage_foreign)
    print(f"gate opens ({embedder.name}, current thresholds", current, "):")
    print(json.dumps(report(samples, current), indent=2))
    print(f"balanced accuracy: {balanced_accuracy(samples, current):.3f}")
    # Cosine thresholds around the embedder's own (their scale differs from one model to the next).
    highs = [round(current[0] + step, 3) for step in (-0.1, -0.05, -0.02, 0.0, 0.02, 0.05, 0.1)]
    lows = [round(current[1] + step, 3) for step in (-0.1, -0.05, -0.02, 0.0, 0.02, 0.05)]
    grid = itertools.product(highs, lows, [0.4, 0.5, 0.6, 0.67], [0.4, 0.5, 0.6, 0.67])
    ranked = sorted(((balanced_accuracy(samples, t), t) for t in grid), reverse=True)[:8]
    print("best thresholds (dense_high, dense_low, coverage, coverage_foreign):")
    for score, t in ranked:
        print(f"  {score:.3f} {t} {report(samples, t)}")
    if args.json:
        args.json.write_text(json.dumps([s.__dict__ for s in samples], ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
