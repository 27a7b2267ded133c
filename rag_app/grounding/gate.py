"""The relevance gate: may the question be answered from these passages at all?

Signals over the best passages: the best dense cosine, the share of the question's content
words one passage holds (lexical), and whether a passage holds one of the question's key terms.
The cosine thresholds belong to the embedder (`rag_app.embedding.Calibration`). With an
English-only embedder, the lexical signal decides for questions in other languages.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag_app.answer import Passage
from rag_app.config import GroundingSettings
from rag_app.embedding import Calibration
from rag_app.grounding.question import Question
from rag_app.text import ENGLISH, coverage

_DEFAULTS = GroundingSettings()


@dataclass(frozen=True)
class GateThresholds:
    """The thresholds of the gate's rule: the cosines from the embedder's calibration, the
    word shares and the number of passages looked at from the grounding settings."""

    dense_high: float
    dense_low: float
    coverage: float = _DEFAULTS.gate_coverage
    coverage_foreign: float = _DEFAULTS.gate_coverage_foreign
    multilingual: bool = False  # the cosine is as good for any language as for English
    passages: int = _DEFAULTS.gate_passages

    @classmethod
    def of(cls, calibration: Calibration, settings: GroundingSettings = _DEFAULTS) -> GateThresholds:
        """The thresholds for the embedder with this calibration, under these settings."""
        return cls(calibration.gate_dense_high, calibration.gate_dense_low, settings.gate_coverage,
                   settings.gate_coverage_foreign, calibration.multilingual, settings.gate_passages)


@dataclass
class GateDecision:
    """Whether the passages are relevant enough to answer from, and the signals behind it."""

    open: bool
    dense: float
    coverage: float
    key_term: bool
    reason: str


def gate(
    question: Question, passages: Sequence[Passage], language: str, thresholds: GateThresholds
) -> GateDecision:
    """Open the gate when the best passages are relevant enough to answer ``question``.

    Signals over the first ``thresholds.passages`` passages: the best dense cosine; the best share of
    the question's content words that one passage holds; whether a passage holds one of the
    question's identifier-like key terms (an acronym such as "BEIR": an exact match that
    survives a question asked in another language than the document).
    Rule: open on a high cosine; or on a key term or enough content words with at least a
    low cosine. For a question not in English with an English-only embedder the cosine is
    unreliable: enough content words suffice.
    """
    top = list(passages[:thresholds.passages])
    if not top:
        return GateDecision(False, 0.0, 0.0, False, "no passage")
    dense = max((p.dense_score for p in top if p.dense_score is not None), default=0.0)
    words = list(question.words)
    texts = [f"{p.heading} {p.text}" for p in top]
    cover = max(coverage(words, text) for text in texts)
    terms = question.key_terms
    lowered = [text.lower() for text in texts]
    key = any(re.search(rf"(?<!\w){re.escape(t)}(?!\w)", text) for t in terms for text in lowered)
    is_open, reason = gate_rule(language, dense, cover, key, thresholds)
    return GateDecision(is_open, dense, cover, key, reason)


def gate_rule(language: str, dense: float, cover: float, key: bool, t: GateThresholds) -> tuple[bool, str]:
    """The gate's verdict from its signals, and which part of the rule opened it ("weak": closed)."""
    if dense >= t.dense_high:
        return True, "dense"
    if key and dense >= t.dense_low:
        return True, "key term"
    if language == ENGLISH or t.multilingual:
        if cover >= t.coverage and dense >= t.dense_low:
            return True, "lexical+dense"
    elif cover >= t.coverage_foreign:
        return True, "lexical"
    return False, "weak"
