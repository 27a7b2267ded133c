"""Run an evaluation: write the corpus, index it with `ingest()`, retrieve, answer, measure.

The corpus is written as files into a cache folder keyed by a hash of the corpus and of the
settings that shape the index (embedding model, chunk size, overlap), then indexed by the very
same `rag_app.ingest.pipeline.ingest` a user runs; a second run reuses it. Every question is
searched three ways (dense, BM25, fused) from one embedding, and, unless ``retrieval_only``,
asked through the application service (`rag_app.service.app.App`), as the chat page asks them.

Retrieval is measured on answerable questions, on de-duplicated units (a document, or a page
for FinanceBench): several chunks of one document count once. Each list is taken
``depth`` (100) chunks deep, so recall@100 counts the units found in the first 100 chunks.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rag_app.answer import Answer, Passage
from rag_app.config import Settings
from rag_app.embedding import Embedder, embedder_from_settings, embedder_name
from rag_app.eval import metrics
from rag_app.eval.formats import EvalDataset, EvalDocument, EvalQuestion, Unit, guess_format, load_dataset
from rag_app.retrieval import MODES
from rag_app.service.app import App
from rag_app.text import strip_citations

log = logging.getLogger(__name__)

CACHE_ENV = "RAG_APP_EVAL_CACHE"
DEPTH = 100
STAMP = "corpus.key"
# (stage, done, total): stage is "write", "load", "embed", "retrieve" or "answer".
Progress = Callable[[str, int, int], None]


@dataclass
class EvalOptions:
    """What to evaluate and how (the `rag-app eval` flags)."""

    dataset: Path
    format: str | None = None  # guessed from the path when None
    unit: str = "paragraph"
    limit: int | None = None
    index_dir: Path | None = None  # cache folder for this dataset (corpus/ and index/ inside)
    retrieval_only: bool = False
    foreign: Path | None = None
    foreign_format: str | None = None
    foreign_limit: int = 50
    answer_limit: int | None = None  # ask at most this many questions of each kind (spread evenly)
    hide_gold: bool = False  # SQuAD: ask every other paragraph's questions with it left out
    near_miss: bool = False  # SQuAD: also ask each question with a term swapped, as unanswerable
    depth: int = DEPTH
    name: str = ""


@dataclass
class EvalResult:
    """Summary and per-question records of one run (see `to_dict`)."""

    dataset: str
    format: str
    unit: str
    settings: dict[str, Any]
    corpus: dict[str, Any]
    summary: dict[str, Any]
    questions: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report."""
        return {
            "dataset": self.dataset,
            "format": self.format,
            "unit": self.unit,
            "settings": self.settings,
            "corpus": self.corpus,
            "summary": self.summary,
            "questions": self.questions,
        }


# ----- corpus and index --------------------------------------------------------------------

def suite_embedder(settings: Settings) -> Embedder:
    """The embedder of ``settings``, loaded once for every set of a suite (`run_eval`'s ``embedder``)."""
    return embedder_from_settings(settings)


def cache_root() -> Path:
    """Where eval corpora and indexes are kept ($RAG_APP_EVAL_CACHE or ~/.cache/rag_app/eval)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "rag_app" / "eval"


def corpus_key(dataset: EvalDataset, settings: Settings, unit: str) -> str:
    """Hash of the corpus files and of the settings that shape the index."""
    digest = hashlib.sha256()
    digest.update(f"{dataset.format}|{unit}|{embedder_name(settings.ingest.embedding_model)}|{settings.ingest.chunk_tokens}|"
                  f"{settings.ingest.chunk_overlap}".encode())
    for document in dataset.documents:
        digest.update(document.fingerprint().encode())
    return digest.hexdigest()


def document_bytes(document: EvalDocument) -> bytes:
    """What a text document's file holds: the title line (if any), a blank line, the text."""
    text = f"{document.title}\n\n{document.text}" if document.title else document.text
    return text.encode("utf-8")


def write_corpus(dataset: EvalDataset, folder: Path, progress: Progress | None = None) -> None:
    """Write the documents as files; unchanged files are left alone, stale ones removed."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {doc.name for doc in dataset.documents}
    for path in folder.iterdir():
        if path.is_file() and path.name not in wanted:
            path.unlink()
    total = len(dataset.documents)
    for done, doc in enumerate(dataset.documents, start=1):
        target = folder / doc.name
        if doc.source is not None:
            if not target.exists() or target.stat().st_size != doc.source.stat().st_size:
                shutil.copyfile(doc.source, target)
        else:
            data = document_bytes(doc)
            if not target.exists() or target.read_bytes() != data:
                target.write_bytes(data)
        if progress and (done == total or done % 50 == 0):
            progress("write", done, total)


def prepare_index(
    dataset: EvalDataset,
    settings: Settings,
    unit: str,
    index_dir: Path | None,
    embedder: Embedder,
    progress: Progress | None = None,
) -> tuple[Settings, dict[str, Any]]:
    """Write the corpus and build or reuse its index; returns the settings pointing at it."""
    key = corpus_key(dataset, settings, unit)
    folder = Path(index_dir) if index_dir else cache_root() / f"{dataset.name}-{unit}-{key[:12]}"
    corpus_dir, idx_dir = folder / "corpus", folder / "index"
    eval_settings = settings.replace(data_dir=corpus_dir, index_dir=idx_dir)
    stamp = folder / STAMP
    reused = stamp.is_file() and stamp.read_text().strip() == key and (idx_dir / "index.sqlite3").exists()
    started = time.perf_counter()
    if not reused:
        write_corpus(dataset, corpus_dir, progress)
        with App(eval_settings, create=True, embedder=embedder) as rag:
            report = rag.ingest(progress=progress)
        if report.failed:
            log.warning("%d corpus files could not be ingested, e.g. %s: %s",
                        len(report.failed), report.failed[0].path, report.failed[0].reason)
        stamp.write_text(key)
        chunks, embedded = report.chunks_total, report.chunks_embedded
    else:
        with App(eval_settings) as rag:
            chunks, embedded = rag.info().chunks, 0
    info = {
        "folder": str(folder),
        "documents": len(dataset.documents),
        "chunks": chunks,
        "chunks_embedded": embedded,
        "reused": reused,
        "index_seconds": round(time.perf_counter() - started, 2),
    }
    return eval_settings, info


# ----- one question --------------------------------------------------------------------------
def passage_unit(passage: Passage, page_level: bool) -> Unit:
    """The unit a retrieved passage counts for."""
    return (passage.path, passage.page if page_level else None)


def retrieval_record(
    rankings: dict[str, list[Passage]], question: EvalQuestion, page_level: bool
) -> dict[str, Any]:
    """Metrics and the top-10 units of each ranking for one question."""
    record: dict[str, Any] = {}
    relevant = [tuple(u) for u in question.relevant]
    for mode, passages in rankings.items():
        ranked = metrics.dedupe(passage_unit(p, page_level) for p in passages)
        record[mode] = {
            "metrics": metrics.retrieval_scores(ranked, relevant),
            "top": [_unit_str(u) for u in ranked[:10]],
        }
    return record


def answer_record(answer: Answer, question: EvalQuestion) -> dict[str, Any]:
    """The answer as shown to a person, with its metrics against the gold answers."""
    golds = question.answers
    record: dict[str, Any] = {
        "answer": answer.answer,
        "raw_answer": answer.raw_answer,
        "refused": answer.refused,
        "verified": answer.verified,
        "reason": answer.reason,
        "citations": [{"n": c.n, "path": c.path, "page": c.page, "heading": c.heading} for c in answer.citations],
        "evidence": [{"text": e.text, "path": e.path, "page": e.page} for e in answer.evidence],
        "sentences": [{"text": s.text, "supported": s.supported} for s in answer.sentences],
        "timings": {
            "retrieval_ms": answer.timings.retrieval_ms,
            "first_token_ms": answer.timings.first_token_ms,
            "total_ms": answer.timings.total_ms,
        },
        "passages": [asdict(p) for p in answer.passages],
        "has_citation": bool(answer.citations),
        # What a person sees: a refusal, a reply flagged "could not be verified" (with the
        # evidence), or a verified answer (the model's own reply, every check passed).
        "unverified": (not answer.refused) and (not answer.verified),
        "supported": (not answer.refused) and answer.verified,
    }
    record["probability"] = answer.probability
    record["signals"] = answer.signals
    # What the decision is fitted to predict: the model's reply (before any verdict) is right.
    record["reply_right"] = bool(golds) and bool(answer.raw_answer) and metrics.reply_is_right(
        strip_citations(answer.raw_answer), golds)
    record["verified_right"] = record["supported"] and record["reply_right"]
    if golds:
        record["gold_in_answer"] = metrics.contains(answer.answer, golds)
        record["gold_in_verified"] = metrics.contains(answer.answer, golds) if record["supported"] else 0.0
        record["gold_in_citations"] = metrics.contains("\n".join(c.text for c in answer.citations), golds)
        record["gold_in_evidence"] = metrics.contains("\n".join(e.text for e in answer.evidence), golds)
        record["exact_match"] = metrics.exact_match(answer.answer, golds)
        record["f1"] = metrics.f1(answer.answer, golds)
    return record


def _unit_str(unit: Sequence[Any]) -> str:
    return unit[0] if unit[1] is None else f"{unit[0]}#page={unit[1]}"


# ----- the run -------------------------------------------------------------------------------
def run_eval(
    options: EvalOptions,
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
) -> EvalResult:
    """Evaluate ``options.dataset`` with ``settings``; see the module docstring."""
    fmt = options.format or guess_format(options.dataset)
    dataset = load_dataset(options.dataset, fmt, unit=options.unit, hide_gold=options.hide_gold,
                           near_miss=options.near_miss)
    if options.name:
        dataset.name = options.name
    dataset = dataset.limited(options.limit)
    foreign: list[EvalQuestion] = []
    if options.foreign is not None and not options.retrieval_only:
        other = load_dataset(options.foreign, options.foreign_format or guess_format(options.foreign))
        foreign = [q for q in other.limited(options.foreign_limit).questions]

    embedder = embedder or embedder_from_settings(settings)
    eval_settings, corpus = prepare_index(dataset, settings, options.unit, options.index_dir, embedder, progress)

    records: list[dict[str, Any]] = []
    with _single_thread(), App(eval_settings, embedder=embedder) as rag:
        total = len(dataset.questions)
        for done, question in enumerate(dataset.questions, start=1):
            started = time.perf_counter()
            rankings = rag.search_modes(question.question, options.depth, candidates=options.depth)
            record = _question_record(question, "answerable" if question.answerable else "unanswerable")
            record["search_ms"] = round((time.perf_counter() - started) * 1000, 2)
            if question.answerable and question.relevant:
                record["retrieval"] = retrieval_record(rankings, question, dataset.page_level)
            records.append(record)
            if progress:
                progress("retrieve", done, total)

        if not options.retrieval_only:
            pairs = list(zip(records, dataset.questions, strict=True))
            asked = [pair for kind in (True, False) for pair in _spread(
                [(r, q) for r, q in pairs if q.answerable == kind], options.answer_limit)]
            asked += [(_question_record(q, "foreign"), q) for q in foreign]
            for done, (record, question) in enumerate(asked, start=1):
                answer = rag.answer(question.question)
                record["answer"] = answer_record(answer, question)
                if record["kind"] == "foreign":
                    records.append(record)
                if progress:
                    progress("answer", done, len(asked))

    summary = summarize(records, retrieval_only=options.retrieval_only)
    return EvalResult(
        dataset=dataset.name,
        format=fmt,
        unit=options.unit,
        settings={
            key: settings.value(key)
            for key in ("embedding_model", "chunk_tokens", "chunk_overlap", "top_k", "candidates",
                        "dense_weight", "mmr", "mmr_lambda",
                        "foreign_dense_factor", "model", "n_ctx", "temperature", "seed",
                        "max_prompt_tokens", "prompt_sentences", "model_check", "max_tokens")
        } | {"depth": options.depth, "limit": options.limit, "answer_limit": options.answer_limit,
             "hide_gold": options.hide_gold, "near_miss": options.near_miss},
        corpus=corpus,
        summary=summary,
        questions=records,
    )


@contextlib.contextmanager
def _single_thread() -> Iterator[None]:
    """One torch thread while questions are asked one by one.

    A single short query gains nothing from several threads, and on a busy machine (the
    evaluation often runs beside other jobs) thread contention made each query embedding
    several times slower (measured: 1.08 s vs 0.15 s per question at load 8 on 2 cores). Only
    when torch is loaded already (the corpus was embedded here): an embedder without it (the
    fake one, the questions' ONNX encoder over a reused index) has no torch threads to set.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _spread(items: list[Any], limit: int | None) -> list[Any]:
    """At most ``limit`` items, evenly spaced (all of them when ``limit`` is None)."""
    if not limit or limit >= len(items):
        return items
    return [items[i * len(items) // limit] for i in range(limit)]


def _question_record(question: EvalQuestion, kind: str) -> dict[str, Any]:
    return {
        "id": question.id,
        "kind": kind,
        "question": question.question,
        "gold": question.answers,
        "relevant": [_unit_str(tuple(u)) for u in question.relevant],
    }


def summarize(records: list[dict[str, Any]], *, retrieval_only: bool = False) -> dict[str, Any]:
    """Mean retrieval metrics per mode, answer shares per kind, timing percentiles."""
    summary: dict[str, Any] = {
        "questions": sum(1 for r in records if r["kind"] != "foreign"),
        "answerable": sum(1 for r in records if r["kind"] == "answerable"),
        "unanswerable": sum(1 for r in records if r["kind"] == "unanswerable"),
        "foreign": sum(1 for r in records if r["kind"] == "foreign"),
    }
    judged = [r["retrieval"] for r in records if "retrieval" in r]
    summary["retrieval"] = {
        mode: {
            name: _round(metrics.mean(j[mode]["metrics"][name] for j in judged))
            for name in judged[0][mode]["metrics"]
        }
        for mode in MODES
    } if judged else {}
    summary["retrieval"]["judged"] = len(judged)
    summary["search_ms"] = _percentiles([r["search_ms"] for r in records if "search_ms" in r])
    if retrieval_only:
        return summary

    answered = [r for r in records if "answer" in r]
    by_kind = {kind: [r["answer"] for r in answered if r["kind"] == kind]
               for kind in ("answerable", "unanswerable", "foreign")}
    answers: dict[str, Any] = {}
    if by_kind["answerable"]:
        rows = by_kind["answerable"]
        answers["answerable"] = {"n": len(rows)} | {
            key: _round(metrics.mean(float(a[key]) for a in rows))
            for key in ("gold_in_verified", "gold_in_answer", "gold_in_citations", "gold_in_evidence",
                        "exact_match", "f1", "has_citation", "unverified", "refused", "verified_right")
        }
        shown = [a for a in rows if a["supported"]]
        answers["answerable"]["verified_precision"] = _round(
            metrics.mean(float(a["verified_right"]) for a in shown)) if shown else None
    for kind in ("unanswerable", "foreign"):
        rows = by_kind[kind]
        if rows:
            answers[kind] = {"n": len(rows)} | {
                key: _round(metrics.mean(float(a[key]) for a in rows))
                for key in ("refused", "unverified", "supported")
            }
    summary["answers"] = answers
    if by_kind["answerable"] and by_kind["unanswerable"]:
        curve, area = metrics.risk_coverage(
            [(_decision_score(a), a["reply_right"]) for a in by_kind["answerable"]],
            [_decision_score(a) for a in by_kind["unanswerable"]])
        summary["risk_coverage"] = {"auc": _round(area), "points": curve}
    summary["timings"] = {
        key: _percentiles([r["answer"]["timings"][key] for r in answered])
        for key in ("retrieval_ms", "first_token_ms", "total_ms")
    }
    return summary


def _decision_score(answer: dict[str, Any]) -> float | None:
    """The decision's probability of a reply that could be shown (None: refused, never shown);
    without a fitted decision, the rules' verdict (1 or 0)."""
    if answer["refused"]:
        return None
    if answer.get("probability") is not None:
        return float(answer["probability"])
    return float(answer["supported"])


def _percentiles(values: list[float | None]) -> dict[str, float | None]:
    return {"p50": _round(metrics.percentile(values, 50), 1), "p95": _round(metrics.percentile(values, 95), 1)}


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)
