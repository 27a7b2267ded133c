"""Fusion of the dense and BM25 rankings, and MMR diversity: pure functions over scores.

`HybridRetriever` ranks with them; the tuning tool (benchmarks/tune_fusion.py) imports them, so
what is tuned is what the product runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def standard_scores(values: Sequence[float | None]) -> np.ndarray:
    """Z-scores of ``values``; a missing value (None) gets the lowest z-score of the others.

    When the present values are all equal (a single BM25 hit, say) only membership is known:
    the z-scores of present = 1, missing = 0. Zeros when that says nothing either.
    """
    present = np.array([v for v in values if v is not None], dtype=np.float64)
    if present.size == 0 or present.std() == 0:
        membership = np.array([0.0 if v is None else 1.0 for v in values])
        std = membership.std()
        return (membership - membership.mean()) / std if std > 0 else np.zeros(len(values))
    z = (present - present.mean()) / present.std()
    lowest = float(z.min())
    it = iter(z)
    return np.array([lowest if v is None else float(next(it)) for v in values])


def zscore_fuse(
    ids: Sequence[int], cosines: dict[int, float], bm25: dict[int, float], weights: tuple[float, float]
) -> list[tuple[int, float]]:
    """``w_dense * z(cosine) + w_bm25 * z(BM25)`` over ``ids``; (id, score) best first.

    ``cosines`` and ``bm25`` map ids to raw scores (an id missing from one of them gets that
    list's lowest z-score). Ties keep the order of ``ids``.
    """
    dense_z = standard_scores([cosines.get(i) for i in ids])
    bm25_z = standard_scores([bm25.get(i) for i in ids])
    scores = weights[0] * dense_z + weights[1] * bm25_z
    order = np.argsort(-scores, kind="stable")
    return [(int(ids[j]), float(scores[j])) for j in order]


def mmr_order(
    relevance: Sequence[float], vectors: np.ndarray, k: int, lambda_: float
) -> list[int]:
    """Indices of ``k`` items chosen by maximal marginal relevance.

    ``relevance`` (any real scores, higher is better, e.g. fused z-scores) is mapped to
    ``exp(r - max r)``: 1 for the best, 1/e one unit below. Similarity is the inner product of
    the (normalized) vectors. ``lambda_`` = 1 keeps the relevance order; lower values favour
    diversity.
    """
    n = len(relevance)
    if n == 0 or k <= 0:
        return []
    rel = np.asarray(relevance, dtype=np.float64)
    rel = np.exp(rel - rel.max())
    sims = vectors @ vectors.T
    chosen: list[int] = [int(np.argmax(rel))]
    max_sim = sims[chosen[0]].copy()
    while len(chosen) < min(k, n):
        gain = lambda_ * rel - (1 - lambda_) * max_sim
        gain[chosen] = -np.inf
        best = int(np.argmax(gain))
        chosen.append(best)
        max_sim = np.maximum(max_sim, sims[best])
    return chosen
