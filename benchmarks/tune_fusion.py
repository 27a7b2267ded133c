"""Compare fusion rules of the dense and BM25 lists offline, on the cached eval indexes.

    python -m benchmarks.tune_fusion EVAL_DIR [--limit N] [--only SET] [--json OUT.json]

For every answerable question of the suite's sets (`rag_app.eval.suite.SUITE`, indexes built or
reused by `rag_app.eval.runner.prepare_index` exactly as `make eval` does) the dense and BM25
candidate lists are searched once, 100 deep (chunk ids, ranks, cosine / BM25 scores, the cosine
of every BM25 candidate too), and kept in a JSON file beside the eval indexes. Fusion variants
are then replayed in plain Python/numpy, with no further search:

- ``zscore``: convex combination of per-query z-scores; with the settings' ``dense_weight`` it
  is the product's fusion (the first row must reproduce the `make eval` fused figures);
- ``rrf``: weighted reciprocal-rank fusion (the product's fusion before, rrf_k=5, w_dense=0.75);
- ``minmax``: convex combination of per-query min-max normalized scores;
- ``rrf-margin`` / ``rrf-cos`` / ``rrf-step`` / ``rrf-bm25margin``: weighted RRF whose dense
  (or BM25) weight depends on how confident that list is for this question.

The ranking is built as the product does: the head is the fusion of the first ``candidates``
(40) of each list, the rest follows in the order of the fusion of the full lists; the dense
weight is multiplied by ``foreign_dense_factor`` for questions not taken for English (unless
the embedder is multilingual).
Metrics (nDCG@10, recall@5, MRR@10) are computed on units de-duplicated as in
`rag_app.eval.runner`. A held-out check tunes on even-indexed questions and reports on the
odd-indexed ones.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag_app.config import Settings, load_settings
from rag_app.eval import metrics
from rag_app.eval.formats import load_dataset
from rag_app.eval.runner import DEPTH, cache_root, prepare_index
from rag_app.eval.suite import SUITE, SuiteEntry
from rag_app.retrieval import standard_scores
from rag_app.text import ENGLISH

log = logging.getLogger(__name__)

METRICS = ("ndcg@10", "recall@5", "mrr@10")
# Sets whose fused nDCG@10 must not drop (by more than TOLERANCE points), and set weights of
# the selection score (FinanceBench has 34 questions: it weighs less).
GUARDED = ("xquad-en", "covid-qa", "cnil-faq-fr")
TOLERANCE = 0.3
SET_WEIGHTS = {"financebench": 0.25}
# The rank fusion of the first `make eval` baseline (docs/evaluation.md).
PREVIOUS = "rrf wd=0.75 k=5 (previous)"


# ----- collection ----------------------------------------------------------------------------
def collect_set(entry: SuiteEntry, eval_dir: Path, settings: Settings, embedder: Any,
                limit: int | None) -> list[dict[str, Any]]:
    """The candidate lists of every answerable question of one set (cached as JSON)."""
    import torch

    from rag_app.retrieval import HybridRetriever
    from rag_app.store import IndexStore

    dataset = load_dataset(eval_dir / entry.path, entry.format, unit=entry.unit)
    dataset.name = entry.name
    dataset = dataset.limited(limit)
    index_settings, corpus = prepare_index(dataset, settings, entry.unit, None, embedder)
    folder = Path(corpus["folder"])
    key = hashlib.sha256(f"{folder.name}|{limit}|{DEPTH}".encode()).hexdigest()[:12]
    cache = cache_root() / "tune-fusion" / f"{entry.name}-{key}.json"
    if cache.is_file():
        return json.loads(cache.read_text(encoding="utf-8"))

    questions = [q for q in dataset.questions if q.answerable and q.relevant]
    records: list[dict[str, Any]] = []
    torch.set_num_threads(1)
    with IndexStore.open(index_settings.paths.index_dir, embedder.name, embedder.dimension, create=False) as store:
        retriever = HybridRetriever(store, embedder, index_settings.retrieval)
        for question in questions:
            ranked = retriever.ranked_lists(question.question, DEPTH)
            dense_ids = {i for i, _ in ranked.dense}
            extra = [i for i, _ in ranked.bm25 if i not in dense_ids]
            cosines = dict(ranked.dense)
            if extra and ranked.query_vector is not None:
                cosines |= {i: float(s) for i, s in zip(extra, store.vectors(extra) @ ranked.query_vector, strict=True)}
            ids = list(cosines)
            units = {r.id: _unit(r.path, r.page if dataset.page_level else None) for r in store.chunks(ids)}
            records.append({
                "id": question.id,
                "language": ranked.language,
                "relevant": [_unit(*u) for u in question.relevant],
                "dense": [[i, s] for i, s in ranked.dense],
                "bm25": [[i, s] for i, s in ranked.bm25],
                "cos": {str(i): s for i, s in cosines.items()},
                "unit": {str(i): u for i, u in units.items()},
            })
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(records), encoding="utf-8")
    return records


def _unit(path: str, page: int | None) -> str:
    return path if page is None else f"{path}#page={page}"


# ----- replay --------------------------------------------------------------------------------
@dataclass
class View:
    """The union of the first ``depth`` dense and BM25 candidates of one question.

    Items are in first-seen order (dense list, then new BM25 ids), as `rrf_fuse` breaks ties.
    Ranks are 1-based, ``inf`` when the item is not in that list's first ``depth``.
    """

    ids: np.ndarray
    d_rank: np.ndarray
    b_rank: np.ndarray
    cos: np.ndarray
    bm: np.ndarray  # BM25 score, nan when absent


@dataclass
class Question:
    """One question ready for replay: its two views and the list-level confidence signals."""

    foreign: bool
    relevant: list[str]
    unit: dict[int, str]
    head: View
    full: View
    c1: float  # top dense cosine
    m_chunk: float  # top cosine minus the 2nd chunk's
    m_doc: float  # top cosine minus the best chunk of another file
    b_margin: float  # (top BM25 score - 2nd) / top


def _view(dense: list[list[float]], bm25: list[list[float]], cos: dict[int, float], depth: int) -> View:
    order: dict[int, None] = {}
    d_rank: dict[int, int] = {}
    b_rank: dict[int, int] = {}
    bm: dict[int, float] = {}
    for rank, (i, _) in enumerate(dense[:depth], start=1):
        order[int(i)] = None
        d_rank[int(i)] = rank
    for rank, (i, s) in enumerate(bm25[:depth], start=1):
        order[int(i)] = None
        b_rank[int(i)] = rank
        bm[int(i)] = s
    ids = list(order)
    return View(
        ids=np.array(ids, dtype=np.int64),
        d_rank=np.array([d_rank.get(i, np.inf) for i in ids], dtype=float),
        b_rank=np.array([b_rank.get(i, np.inf) for i in ids], dtype=float),
        cos=np.array([cos.get(i, 0.0) for i in ids], dtype=float),
        bm=np.array([bm.get(i, np.nan) for i in ids], dtype=float),
    )


def prepare(record: dict[str, Any], candidates: int) -> Question:
    """A `Question` from a collected record."""
    cos = {int(k): v for k, v in record["cos"].items()}
    unit = {int(k): v for k, v in record["unit"].items()}
    dense, bm25 = record["dense"], record["bm25"]
    c1 = dense[0][1] if dense else 0.0
    c2 = dense[1][1] if len(dense) > 1 else 0.0
    top_file = unit.get(int(dense[0][0]), "").split("#page=")[0] if dense else ""
    other = next((s for i, s in dense[1:] if unit.get(int(i), "").split("#page=")[0] != top_file), 0.0)
    b1 = bm25[0][1] if bm25 else 0.0
    b2 = bm25[1][1] if len(bm25) > 1 else 0.0
    return Question(
        foreign=record["language"] != ENGLISH,
        relevant=record["relevant"],
        unit=unit,
        head=_view(dense, bm25, cos, candidates),
        full=_view(dense, bm25, cos, DEPTH),
        c1=c1,
        m_chunk=c1 - c2,
        m_doc=c1 - other,
        b_margin=(b1 - b2) / b1 if b1 > 0 else 0.0,
    )


# A fusion rule: (question, view, foreign factor) -> one score per view item (higher is better).
Scorer = Callable[[Question, View, float], np.ndarray]


def rrf(w_dense: Callable[[Question], float] | float, rrf_k: float = 5,
        w_bm25: Callable[[Question], float] | float = 1.0) -> Scorer:
    """Weighted RRF; either weight may be a function of the question's signals."""
    def score(q: Question, v: View, factor: float) -> np.ndarray:
        wd = w_dense(q) if callable(w_dense) else w_dense
        wb = w_bm25(q) if callable(w_bm25) else w_bm25
        return wd * factor / (rrf_k + v.d_rank) + wb / (rrf_k + v.b_rank)
    return score


def _minmax(x: np.ndarray) -> np.ndarray:
    present = x[~np.isnan(x)]
    if present.size == 0:
        return np.zeros_like(x)
    low, high = present.min(), present.max()
    out = (x - low) / (high - low) if high > low else np.ones_like(x)
    return np.nan_to_num(out, nan=0.0)


def _zscore(x: np.ndarray) -> np.ndarray:
    """`rag_app.retrieval.standard_scores`, with nan for a missing value."""
    return standard_scores([None if np.isnan(v) else float(v) for v in x])


def convex(alpha: float, norm: str) -> Scorer:
    """alpha * norm(cosine) + (1 - alpha) * norm(BM25) over the candidate union.

    The cosine is known for every candidate; a chunk outside the BM25 list gets the lowest
    normalized BM25 score. The dense term is multiplied by the foreign factor.
    """
    fn = _minmax if norm == "minmax" else _zscore

    def score(q: Question, v: View, factor: float) -> np.ndarray:
        return alpha * factor * fn(v.cos) + (1 - alpha) * fn(v.bm)
    return score


def rank_units(q: Question, scorer: Scorer, factor: float, k: int = DEPTH) -> list[str]:
    """De-duplicated units of the fused ranking, built as `HybridRetriever._fuse` does."""
    head = q.head
    order = head.ids[np.argsort(-scorer(q, head, factor), kind="stable")]
    units = metrics.dedupe(q.unit[int(i)] for i in order)
    if len(units) >= 10:  # the tail cannot change the @10 metrics
        return units
    seen = set(order.tolist())
    full = q.full
    tail = [int(i) for i in full.ids[np.argsort(-scorer(q, full, factor), kind="stable")] if int(i) not in seen]
    chunks = (order.tolist() + tail)[:k]
    return metrics.dedupe(q.unit[int(i)] for i in chunks)


def evaluate(questions: list[Question], scorer: Scorer | str, factor: float) -> dict[str, float]:
    """Mean nDCG@10, recall@5, MRR@10 (percent) of one rule ("dense"/"bm25": one list alone)."""
    totals = dict.fromkeys(METRICS, 0.0)
    for q in questions:
        if scorer == "dense":
            units = metrics.dedupe(q.unit[int(i)] for i in q.full.ids[np.isfinite(q.full.d_rank)])
        elif scorer == "bm25":
            ids = q.full.ids[np.isfinite(q.full.b_rank)]
            ids = ids[np.argsort(q.full.b_rank[np.isfinite(q.full.b_rank)], kind="stable")]
            units = metrics.dedupe(q.unit[int(i)] for i in ids)
        else:
            units = rank_units(q, scorer, factor if q.foreign else 1.0)
        scores = metrics.retrieval_scores(units, q.relevant)
        for name in METRICS:
            totals[name] += scores[name]
    n = max(len(questions), 1)
    return {name: 100 * value / n for name, value in totals.items()}


# ----- variants ------------------------------------------------------------------------------
def variants(settings: Settings) -> dict[str, Scorer]:
    """Every rule compared, by name (parameters in the name)."""
    weight = settings.retrieval.dense_weight
    out: dict[str, Scorer] = {f"zscore a={weight} (current)": convex(weight, "zscore")}
    w0, k = 0.75, 5  # the rank fusion used before z-score fusion
    out[PREVIOUS] = rrf(w0, k)
    for wd in (0.5, 1.0, 1.25, 1.5, 2.0):
        out[f"rrf wd={wd} k={k}"] = rrf(wd, k)
    for alpha in (0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8):
        out[f"minmax a={alpha}"] = convex(alpha, "minmax")
        if alpha != settings.retrieval.dense_weight:
            out[f"zscore a={alpha}"] = convex(alpha, "zscore")
    # Dense weight grows with the dense list's margin (top cosine minus the best other file's).
    for beta in (2, 4, 6, 8, 12, 16, 24):
        out[f"rrf-margin wd={w0}+{beta}*m_doc"] = rrf(lambda q, b=beta: w0 + b * q.m_doc, k)
        out[f"rrf-margin wd={w0}+{beta}*m_chunk"] = rrf(lambda q, b=beta: w0 + b * q.m_chunk, k)
    # Dense weight grows with the top cosine above a threshold.
    for c0, beta in itertools.product((0.5, 0.6, 0.7), (2, 4, 8, 16)):
        out[f"rrf-cos wd={w0}+{beta}*max(0,c1-{c0})"] = rrf(lambda q, c=c0, b=beta: w0 + b * max(0.0, q.c1 - c), k)
    # Step: a high dense weight when the dense top is clearly ahead of other files.
    for t, high in itertools.product((0.03, 0.05, 0.08, 0.12), (1.5, 2.0, 3.0)):
        out[f"rrf-step wd={high} if m_doc>={t} else {w0}"] = rrf(lambda q, t=t, h=high: h if q.m_doc >= t else w0, k)
    # BM25 weight grows with BM25's own relative margin (a decisive keyword match).
    for gamma in (0.5, 1, 2, 4):
        out[f"rrf-bm25margin wd=1.5 wb=1+{gamma}*bm"] = rrf(1.5, k, lambda q, g=gamma: 1 + g * q.b_margin)
        out[f"rrf-bm25margin wd=1.0 wb=1+{gamma}*bm"] = rrf(1.0, k, lambda q, g=gamma: 1 + g * q.b_margin)
    # Both confidences: dense margin raises the dense weight, BM25 margin the BM25 weight.
    for beta, gamma in itertools.product((4, 8, 12), (1, 2)):
        out[f"rrf-both wd={w0}+{beta}*m_doc wb=1+{gamma}*bm"] = rrf(
            lambda q, b=beta: w0 + b * q.m_doc, k, lambda q, g=gamma: 1 + g * q.b_margin)
    return out


# ----- report --------------------------------------------------------------------------------
def selection_score(table: dict[str, dict[str, float]], current: dict[str, dict[str, float]]) -> float | None:
    """Weighted macro nDCG@10 gain over the current rule; None when a guarded set drops."""
    for name in GUARDED:
        if name in table and table[name]["ndcg@10"] < current[name]["ndcg@10"] - TOLERANCE:
            return None
    weights = {name: SET_WEIGHTS.get(name, 1.0) for name in table}
    gain = sum(weights[n] * (table[n]["ndcg@10"] - current[n]["ndcg@10"]) for n in table)
    return gain / sum(weights.values())


def _fmt(row: dict[str, float]) -> str:
    return f"{row['ndcg@10']:5.1f} {row['recall@5']:5.1f} {row['mrr@10']:5.1f}"


def main(argv: list[str] | None = None) -> int:
    """Collect (or reuse) the candidate lists, replay every variant, print the comparison."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tune_fusion",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("eval_dir", type=Path)
    parser.add_argument("--limit", type=int, default=None, help="questions per set (default: all)")
    parser.add_argument("--only", action="append", help="only this set (repeatable)")
    parser.add_argument("--top", type=int, default=12, help="variants shown in the ranking")
    parser.add_argument("--json", type=Path, help="write every variant's figures here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")

    from rag_app.embedding import embedder_from_settings

    settings = load_settings()
    embedder = embedder_from_settings(settings)
    sets: dict[str, list[Question]] = {}
    for entry in SUITE:
        if (args.only and entry.name not in args.only) or not (args.eval_dir / entry.path).exists():
            continue
        records = collect_set(entry, args.eval_dir, settings, embedder, args.limit)
        sets[entry.name] = [prepare(r, settings.retrieval.candidates) for r in records]
        log.warning("%s: %d questions", entry.name, len(records))

    factor = 1.0 if embedder.calibration.multilingual else settings.retrieval.foreign_dense_factor
    rules = variants(settings)
    current_name = next(iter(rules))
    halves = {
        "all": sets,
        "even": {n: qs[0::2] for n, qs in sets.items()},
        "odd": {n: qs[1::2] for n, qs in sets.items()},
    }
    results: dict[str, dict[str, dict[str, dict[str, float]]]] = {h: {} for h in halves}
    for half, data in halves.items():
        for name in ("dense", "bm25"):
            results[half][name] = {s: evaluate(qs, name, factor) for s, qs in data.items()}
        for name, scorer in rules.items():
            results[half][name] = {s: evaluate(qs, scorer, factor) for s, qs in data.items()}

    names = list(sets)
    print("nDCG@10 R@5 MRR@10 (%), all answerable questions; columns: " + " | ".join(names))
    print("sel = weighted macro nDCG@10 gain over current (FinanceBench x0.25), '-' when a guarded set "
          f"({', '.join(GUARDED)}) loses more than {TOLERANCE}")
    scored = []
    for name in results["all"]:
        table = results["all"][name]
        sel = selection_score(table, results["all"][current_name])
        even_sel = selection_score(results["even"][name], results["even"][current_name])
        macro = sum(table[n]["ndcg@10"] for n in names) / len(names)
        scored.append((name, sel, even_sel, macro))
    for name, sel, _even_sel, macro in scored:
        cells = " | ".join(_fmt(results["all"][name][s]) for s in names)
        sel_s = "-" if sel is None else f"{sel:+.2f}"
        print(f"{name:45s} macro {macro:5.1f} sel {sel_s:>6s} | {cells}")

    print("\nHeld-out: best variants by the selection score on EVEN questions, figures on ODD questions")
    ranked = sorted((x for x in scored if x[2] is not None and x[0] not in ("dense", "bm25")),
                    key=lambda x: -x[2])[: args.top]
    odd_current = results["odd"][current_name]
    for name, _, even_sel, _ in ranked:
        odd = results["odd"][name]
        odd_sel = selection_score(odd, odd_current)
        deltas = " ".join(f"{s}:{odd[s]['ndcg@10'] - odd_current[s]['ndcg@10']:+.2f}" for s in names)
        print(f"{name:45s} even sel {even_sel:+.2f} odd sel {'-' if odd_sel is None else f'{odd_sel:+.2f}':>6s}"
              f" | odd nDCG@10 delta {deltas}")
    best = ranked[0][0] if ranked else current_name
    print("\nPer set, all questions: nDCG@10 / R@5 / MRR@10")
    shown = list(dict.fromkeys(["dense", "bm25", current_name, PREVIOUS, best]))
    print(f"{'set':14s} " + " | ".join(f"{n[:24]:>24s}" for n in shown))
    for s in names:
        cells = ["/".join(f"{results['all'][n][s][m]:.1f}" for m in METRICS) for n in shown]
        print(f"{s:14s} " + " | ".join(f"{c:>24s}" for c in cells))
    for half in ("even", "odd"):
        for n in dict.fromkeys((current_name, PREVIOUS, best)):
            macro = sum(results[half][n][s]["ndcg@10"] for s in names) / len(names)
            print(f"{half:4s} macro nDCG@10 {macro:5.2f}  {n}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
