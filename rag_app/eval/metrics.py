"""Retrieval metrics (recall@k, MRR@10, nDCG@10) and SQuAD-style answer metrics.

Answer normalization follows the SQuAD evaluation script, extended for French: lower case,
accents removed, punctuation replaced by spaces (so "l'autorité" splits), English and French
articles removed, whitespace collapsed.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from typing import TypeVar

RECALL_AT = (1, 5, 10, 100)
H = TypeVar("H", bound=Hashable)

_ARTICLES = re.compile(r"\b(a|an|the|le|la|les|l|un|une|des|du|d)\b")
_PUNCTUATION = set(string.punctuation) | {"’", "‘", "“", "”", "«", "»", "–", "—", "…", "·"}


# ----- retrieval -----------------------------------------------------------------------------
def dedupe(units: Iterable[H]) -> list[H]:
    """Units in first-seen order (several chunks of one document count once)."""
    return list(dict.fromkeys(units))


def recall_at(ranked: Sequence[Hashable], relevant: Iterable[Hashable], k: int) -> float:
    """Share of the relevant units found in the first ``k`` ranked units."""
    relevant = set(relevant)
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def mrr_at(ranked: Sequence[Hashable], relevant: Iterable[Hashable], k: int = 10) -> float:
    """1 / rank of the first relevant unit within the first ``k`` (0 when none)."""
    relevant = set(relevant)
    for rank, unit in enumerate(ranked[:k], start=1):
        if unit in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at(ranked: Sequence[Hashable], relevant: Iterable[Hashable], k: int = 10) -> float:
    """Binary-relevance nDCG over the first ``k`` ranked units."""
    relevant = set(relevant)
    if not relevant:
        return 0.0
    dcg = sum(1.0 / math.log2(rank + 1) for rank, unit in enumerate(ranked[:k], start=1) if unit in relevant)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return dcg / ideal


def retrieval_scores(ranked: Sequence[Hashable], relevant: Iterable[Hashable]) -> dict[str, float]:
    """recall@1/5/10/100, mrr@10 and ndcg@10 of one ranking (units already de-duplicated)."""
    relevant = list(relevant)
    scores = {f"recall@{k}": recall_at(ranked, relevant, k) for k in RECALL_AT}
    scores["mrr@10"] = mrr_at(ranked, relevant, 10)
    scores["ndcg@10"] = ndcg_at(ranked, relevant, 10)
    return scores


# ----- answers -------------------------------------------------------------------------------
def normalize_answer(text: str) -> str:
    """Lower case, no accents, no punctuation, no articles (en+fr), single spaces."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = "".join(" " if ch in _PUNCTUATION else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, golds: Iterable[str]) -> float:
    """1.0 when the normalized prediction equals a normalized gold answer."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in golds))


def f1(prediction: str, golds: Iterable[str]) -> float:
    """Best token-overlap F1 of the prediction against the gold answers (SQuAD)."""
    pred_tokens = normalize_answer(prediction).split()
    best = 0.0
    for gold in golds:
        gold_tokens = normalize_answer(gold).split()
        if not pred_tokens or not gold_tokens:
            best = max(best, float(pred_tokens == gold_tokens))
            continue
        common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
        if common == 0:
            continue
        precision, recall = common / len(pred_tokens), common / len(gold_tokens)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def contains(text: str, golds: Iterable[str]) -> float:
    """1.0 when a normalized gold answer appears, as whole words, in the normalized text."""
    haystack = f" {normalize_answer(text)} "
    for gold in golds:
        needle = normalize_answer(gold)
        if needle and f" {needle} " in haystack:
            return 1.0
    return 0.0


# A gold answer of at least this many words is "long" (ClapNQ, CNIL, FinanceBench): a brief reply
# cannot hold it whole, so a reply whose words mostly come from it counts as right.
LONG_GOLD_WORDS = 20
LONG_GOLD_PRECISION = 0.7
LONG_GOLD_MIN_WORDS = 4


def reply_is_right(reply: str, golds: Iterable[str]) -> bool:
    """Whether a reply answers correctly: a gold answer is in it, or its F1 with one is ≥ 0.5, or
    (for a long gold answer) at least `LONG_GOLD_PRECISION` of its words (of at least
    `LONG_GOLD_MIN_WORDS`) are words of that answer."""
    golds = list(golds)
    if contains(reply, golds) or f1(reply, golds) >= 0.5:
        return True
    words = normalize_answer(reply).split()
    if len(words) < LONG_GOLD_MIN_WORDS:
        return False
    for gold in golds:
        gold_words = Counter(normalize_answer(gold).split())
        if sum(gold_words.values()) >= LONG_GOLD_WORDS:
            common = sum((Counter(words) & gold_words).values())
            if common / len(words) >= LONG_GOLD_PRECISION:
                return True
    return False


def percentile(values: Sequence[float | None], q: float) -> float | None:
    """The ``q``-th percentile (0-100, linear interpolation); None for no values."""
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    pos = (len(data) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def mean(values: Iterable[float]) -> float | None:
    """Arithmetic mean; None for no values."""
    data = list(values)
    return sum(data) / len(data) if data else None


# ----- the decision --------------------------------------------------------------------------
def risk_coverage(
    answerable: Sequence[tuple[float | None, bool]], unanswerable: Sequence[float | None]
) -> tuple[list[tuple[float, float, float]], float]:
    """The risk–coverage curve of a decision as its threshold moves, and the area under it.

    ``answerable`` holds, per answerable question asked, the decision's probability (None: the
    question was refused, never verified) and whether the reply is right; ``unanswerable`` the
    probabilities of the unanswerable ones. Each point is (threshold, share of unanswerable
    questions answered as verified, share of answerable questions answered as verified *and*
    right), from the strictest threshold to the loosest. The area is taken over x in [0, 1], the
    curve held flat after its last point (1.0: every right reply verified before any
    unanswerable question is).
    """
    if not answerable or not unanswerable:
        return [], 0.0
    thresholds = sorted({p for p, _ in answerable if p is not None} | {p for p in unanswerable if p is not None},
                        reverse=True)
    points = [(1.0 + 1e-9, 0.0, 0.0)]
    for t in thresholds:
        x = sum(1 for p in unanswerable if p is not None and p >= t) / len(unanswerable)
        y = sum(1 for p, right in answerable if p is not None and p >= t and right) / len(answerable)
        points.append((t, x, y))
    area = 0.0
    for (_, x0, y0), (_, x1, y1) in zip(points, points[1:], strict=False):
        area += (x1 - x0) * (y0 + y1) / 2
    area += (1.0 - points[-1][1]) * points[-1][2]
    return [(round(t, 6), round(x, 6), round(y, 6)) for t, x, y in points[1:]], area
