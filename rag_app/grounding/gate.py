"""The relevance gate: may the question be answered from these passages at all?

Signals over the best passages: the best dense cosine, the share of the question's content
words one passage holds (lexical), and whether a passage holds one of the question's key terms.
The bundled embedder only knows English, so for other languages the lexical signal decides.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag_app.answer import Passage
from rag_app.grounding.text import content_words, coverage, key_terms
from rag_app.language import ENGLISH

# Gate: open when the best dense cosine reaches GATE_DENSE_HIGH, or when the lexical coverage
# of the question's content words reaches GATE_COVERAGE (English: with a dense cosine of at
# least GATE_DENSE_LOW; other languages: coverage alone, the embedder being English-only).
GATE_DENSE_HIGH = 0.55
GATE_DENSE_LOW = 0.30
GATE_COVERAGE = 0.5
GATE_COVERAGE_FOREIGN = 0.5
GATE_PASSAGES = 5  # how many of the best passages the gate looks at


@dataclass(frozen=True)
class GateThresholds:
    """The thresholds of the gate's rule (defaults: the tuned module constants)."""

    dense_high: float = GATE_DENSE_HIGH
    dense_low: float = GATE_DENSE_LOW
    coverage: float = GATE_COVERAGE
    coverage_foreign: float = GATE_COVERAGE_FOREIGN


@dataclass
class GateDecision:
    """Whether the passages are relevant enough to answer from, and the signals behind it."""

    open: bool
    dense: float
    coverage: float
    key_term: bool
    reason: str


def gate(
    question: str, passages: Sequence[Passage], language: str,
    thresholds: GateThresholds = GateThresholds(),
) -> GateDecision:
    """Open the gate when the best passages are relevant enough to answer ``question``.

    Signals over the first `GATE_PASSAGES` passages: the best dense cosine; the best share of
    the question's content words that one passage holds; whether a passage holds one of the
    question's identifier-like key terms (an acronym such as "BEIR": an exact match that
    survives a question asked in another language than the document).
    Rule: open on a high cosine; or on a key term or enough content words with at least a
    low cosine. For a question not in English the cosine is unreliable (English-only
    embedder): enough content words suffice.
    """
    top = list(passages[:GATE_PASSAGES])
    if not top:
        return GateDecision(False, 0.0, 0.0, False, "no passage")
    dense = max((p.dense_score for p in top if p.dense_score is not None), default=0.0)
    words = content_words(question)
    texts = [f"{p.heading} {p.text}" for p in top]
    cover = max(coverage(words, text) for text in texts)
    terms = key_terms(question)
    lowered = [text.lower() for text in texts]
    key = any(re.search(rf"(?<!\w){re.escape(t)}(?!\w)", text) for t in terms for text in lowered)
    return GateDecision(*_gate_rule(language, dense, cover, key, thresholds))


def _gate_rule(
    language: str, dense: float, cover: float, key: bool, t: GateThresholds
) -> tuple[bool, float, float, bool, str]:
    if dense >= t.dense_high:
        return True, dense, cover, key, "dense"
    if key and dense >= t.dense_low:
        return True, dense, cover, key, "key term"
    if language == ENGLISH:
        if cover >= t.coverage and dense >= t.dense_low:
            return True, dense, cover, key, "lexical+dense"
    elif cover >= t.coverage_foreign:
        return True, dense, cover, key, "lexical"
    return False, dense, cover, key, "weak"


def gate_rule(language: str, dense: float, cover: float, key: bool, thresholds: GateThresholds) -> bool:
    """The gate's decision from its signals (used to tune the thresholds)."""
    return _gate_rule(language, dense, cover, key, thresholds)[0]
