"""The signals of one answer: what the decision "is this reply right?" is made from.

Everything here is read from work the pipeline has already done (retrieval, the gate, the
sentence support check, the relevance checks, and the log-probabilities llama.cpp computed while
sampling the reply): collecting them costs no extra prompt. `answer_signals` returns them as a
flat mapping of `FEATURES` to numbers (None when a signal is not available, e.g. a generator that
reports no log-probabilities); `rag_app.grounding.decision` turns them into one probability.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from rag_app.answer import Passage
from rag_app.generation.base import GenerationStats
from rag_app.grounding.evidence import PassageSentences
from rag_app.grounding.gate import GateDecision
from rag_app.grounding.proposition import proposition_signals
from rag_app.grounding.question import Question
from rag_app.grounding.relevance import Judgement, has_kind, missing_subject, support_windows
from rag_app.text import (
    FRENCH,
    STOPWORDS,
    cited_numbers,
    content_words,
    coverage,
    strip_citations,
)

Signals = Mapping[str, float | None]

# The signals, in the order the decision's coefficients are stored in.
FEATURES = (
    "lp_mean",  # mean log-probability of the reply's content tokens
    "lp_min",  # the lowest log-probability among them
    "lp_key_mean",  # mean log-probability of the tokens of its numbers and names (else lp_mean)
    "lp_key_min",  # the lowest among those
    "refusal_start",  # probability of opening a refusal, at the first answer token
    "reply_tokens",  # log(1 + tokens generated)
    "gate_dense",  # best dense cosine of the passages (the gate's signal)
    "gate_coverage",  # best share of the question's content words one passage holds
    "gate_key_term",  # 1 when a passage holds one of the question's identifier-like terms
    "margin_fused",  # fused score of the first passage minus the second's
    "margin_dense",  # best dense cosine minus the second best
    "support_max",  # best support score among the reply's sentences
    "support_min",  # worst support score among them
    "supported_share",  # share of the reply's sentences that a passage supports
    "subject_ok",  # 1 when the question's names, years and numbers are near the support
    "kind_asked",  # 1 when the question asks for a year or a number
    "kind_ok",  # 1 when it does not, or the supported sentences give one
    "cited_overlap",  # share of the reply's content words found in the passages it cites
    "rules_verified",  # 1 when every rule check passed (the previous verdict)
    "french",  # 1 for a French question
    "novelty",  # share of the reply's content words that are not the question's
    "answer_words",  # log(1 + the reply's content words that are not the question's)
    "answer_in_evidence",  # share of those found in the passage sentence that best answers the question
    "answer_in_evidence3",  # … in the three best (the evidence shown)
    "cited_question_coverage",  # share of the question's content words in the passages the reply cites
    "cited_rank",  # 1 / rank of the best-ranked passage the reply cites (0: cites none)
    # At the level of the proposition (rag_app.grounding.proposition): the sentence answered from.
    "constraints_in_sentence",  # share of the question's names, numbers, qualifiers beside it
    "constraints_missing",  # how many of them no cited passage holds
    "echo_missing",  # words the reply repeats from the question that no cited passage holds
    "names_missing",  # the question's names (whole runs), years, numbers no cited passage writes
    "new_in_sentence",  # share of the reply's new words in that sentence (and its neighbours)
)

_WORD_SPAN = re.compile(r"[^\W_]+", re.UNICODE)
_CITATION_SPAN = re.compile(r"\[\s*\d[\d\s,;–-]*\]")


def token_signals(tokens: Sequence[tuple[str, float]]) -> dict[str, float | None]:
    """Log-probability signals of a reply given as (token text, log-probability) pairs.

    A token counts as content when it overlaps a word that is not a stop word, outside citation
    marks; as key when that word holds a digit or is capitalised inside a sentence (a number or
    a name). Without content tokens every token counts; without key tokens the content ones do.
    """
    if not tokens:
        return {"lp_mean": None, "lp_min": None, "lp_key_mean": None, "lp_key_min": None}
    text, spans, at = "", [], 0
    for piece, _ in tokens:
        text += piece
        spans.append((at, at + len(piece)))
        at += len(piece)
    cited = [m.span() for m in _CITATION_SPAN.finditer(text)]
    words = [(m.start(), m.end(), m.group(0)) for m in _WORD_SPAN.finditer(text)
             if not any(a <= m.start() < b for a, b in cited)]
    content: list[float] = []
    key: list[float] = []
    for (start, end), (_, logprob) in zip(spans, tokens, strict=True):
        overlapping = [(s, w) for s, e, w in words if s < end and e > start]
        if any(w.lower() not in STOPWORDS and (len(w) > 1 or w.isdigit()) for _, w in overlapping):
            content.append(logprob)
        if any(_is_key(text, s, w) for s, w in overlapping):
            key.append(logprob)
    content = content or [lp for _, lp in tokens]
    key = key or content
    return {"lp_mean": sum(content) / len(content), "lp_min": min(content),
            "lp_key_mean": sum(key) / len(key), "lp_key_min": min(key)}


def text_signals(question: Question, reply: str, passages: Sequence[Passage], evidence: Sequence[str],
                 valid: int) -> dict[str, float | None]:
    """The signals read from text alone: how much of the reply is new against the question,
    whether those new words are in the sentences that best answer the question (``evidence``,
    best first) and in the passages the reply cites (``valid``: passages in the prompt), and
    the proposition-level signals (`proposition_signals`)."""
    question_words = set(question.words)
    words = content_words(strip_citations(reply))
    new = [w for w in words if w not in question_words]
    cites = [n for n in cited_numbers(reply) if 1 <= n <= min(valid, len(passages))]
    cited = " ".join(f"{passages[n - 1].heading} {passages[n - 1].text}" for n in cites)
    signals: dict[str, float | None] = {
        "novelty": len(new) / len(words) if words else 0.0,
        "answer_words": math.log1p(len(new)),
        "answer_in_evidence": coverage(new, evidence[0]) if new and evidence else 0.0,
        "answer_in_evidence3": coverage(new, " ".join(evidence[:3])) if new and evidence else 0.0,
        "cited_question_coverage": coverage(list(question_words), cited) if cites else 0.0,
        "cited_rank": 1.0 / min(cites) if cites else 0.0,
    }
    signals.update(proposition_signals(question, reply, passages, valid))
    return signals


def _is_key(text: str, start: int, word: str) -> bool:
    """A number, or a capitalised word that does not open a sentence."""
    if any(ch.isdigit() for ch in word):
        return True
    if not word[0].isupper():
        return False
    before = text[:start].rstrip()
    return bool(before) and before[-1] not in ".!?:\n"


def answer_signals(
    question: Question,
    reply: str,
    stats: GenerationStats,
    gate_decision: GateDecision,
    passages: Sequence[Passage],
    index: PassageSentences,
    judgement: Judgement,
    valid: int,
    language: str,
    evidence: Sequence[str] = (),
) -> dict[str, float | None]:
    """Every signal of `FEATURES` for the model's ``reply`` to ``question`` (see the module doc);
    ``evidence`` is the text of the evidence sentences, best first."""
    signals: dict[str, float | None] = dict(token_signals(stats.token_logprobs))
    signals["refusal_start"] = stats.refusal_start
    signals["reply_tokens"] = math.log1p(stats.generated_tokens)
    signals["gate_dense"] = gate_decision.dense
    signals["gate_coverage"] = gate_decision.coverage
    signals["gate_key_term"] = float(gate_decision.key_term)
    fused = [p.score for p in passages]
    dense = sorted((p.dense_score for p in passages if p.dense_score is not None), reverse=True)
    signals["margin_fused"] = fused[0] - fused[1] if len(fused) > 1 else None
    signals["margin_dense"] = dense[0] - dense[1] if len(dense) > 1 else None
    check = judgement.verification
    scores = [s.score for s in check.sentences]
    signals["support_max"] = max(scores, default=0.0)
    signals["support_min"] = min(scores, default=0.0)
    signals["supported_share"] = (sum(s.supported for s in check.sentences) / len(scores)) if scores else 0.0
    supported = " ".join(s.text for s in check.sentences if s.supported)
    windows = support_windows(check, index)
    signals["subject_ok"] = float(bool(windows) and not missing_subject(question, windows))
    kind = question.kind
    signals["kind_asked"] = float(kind is not None)
    signals["kind_ok"] = float(kind is None or has_kind(kind, strip_citations(supported)))
    cites = [n for n in cited_numbers(reply) if 1 <= n <= min(valid, len(passages))] or [1]
    cited_text = " ".join(f"{passages[n - 1].heading} {passages[n - 1].text}" for n in cites if n <= len(passages))
    signals["cited_overlap"] = coverage(content_words(strip_citations(reply)), cited_text)
    signals["rules_verified"] = float(judgement.verified)
    signals["french"] = float(language == FRENCH)
    signals.update(text_signals(question, reply, passages, evidence, valid))
    return {name: (None if value is None else round(float(value), 5)) for name, value in signals.items()}
