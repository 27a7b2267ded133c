"""Synthetic near-miss questions, built the way SQuAD 2.0's crowd workers wrote theirs.

An answerable question is turned into one that still looks answerable from its paragraph but
is not: one of its names, numbers or years is swapped for another of the same kind taken from
*another paragraph of the same article* ("When did the Broncos win Super Bowl 50?" -> "... Super
Bowl 48?"). The paragraph stays in the index, so retrieval finds it and a model tempted to
restate it with the swapped term put back in gives a plausible wrong answer: the failure the
verified decision must catch.

A swap is kept only when the new question is very likely unanswerable from the whole corpus:

- the swapped-out term is written in the question's own paragraph (the swap changes what the
  paragraph is asked about), and the swapped-in term is not;
- no paragraph of the corpus that holds the swapped-in term holds half or more of the
  question's other content words (the question is then not answered elsewhere either).

Deterministic: the same question always gets the same swap (chosen by a hash of its id).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from rag_app.text import content_words, holds_phrase, matches, normalized, term_spans

MAX_OTHER_COVERAGE = 0.5  # a paragraph with the new term and this share of the other words answers


def _pool(paragraphs: Sequence[str]) -> dict[str, dict[str, str]]:
    """kind -> {normalized term: term as written} over ``paragraphs`` (names need 1-4 words)."""
    pool: dict[str, dict[str, str]] = {"name": {}, "year": {}, "number": {}}
    lower = set(re.findall(r"(?<![.!?]\s)\b[a-zà-ÿ][\w'’-]*", " ".join(paragraphs)))
    for paragraph in paragraphs:
        for sentence in re.split(r"(?<=[.!?:;])\s+|\n+", paragraph):
            for span in term_spans(sentence):
                if span.kind == "name" and (not 1 <= len(span.text.split()) <= 4
                                            or any(w.lower() in lower for w in span.text.split())):
                    continue  # a common word written with a capital ("Machine"), not a name
                if span.kind == "number" and span.text.startswith("0"):
                    continue  # a piece of "100 000"
                pool[span.kind].setdefault(normalized(span.text), span.text)
    return pool


def _pick(options: Sequence[str], key: str) -> str:
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return options[int.from_bytes(digest[:8], "big") % len(options)]


class Corpus:
    """Every paragraph the index holds, read once: its `normalized` text and its content words."""

    def __init__(self, paragraphs: Sequence[str]) -> None:
        self.texts = [normalized(p) for p in paragraphs]
        self.words = [set(content_words(p)) for p in paragraphs]

    def answers_elsewhere(self, term: str, others: Sequence[str]) -> bool:
        """Whether a paragraph holds ``term`` and at least `MAX_OTHER_COVERAGE` of ``others``."""
        return any(holds_phrase(text, term)
                   and sum(matches(w, words) for w in others) >= MAX_OTHER_COVERAGE * len(others)
                   for text, words in zip(self.texts, self.words, strict=True))


def near_miss(question_id: str, question: str, paragraph: str, article_others: Sequence[str],
              corpus: Corpus) -> str | None:
    """The near-miss version of ``question`` (answered by ``paragraph``), or None when no safe
    swap exists. ``article_others`` are the other paragraphs of its article (where the new
    term comes from); see the module doc for what makes a swap safe."""
    in_paragraph = normalized(paragraph)
    pool = _pool(article_others)
    candidates = [s for s in term_spans(question) if holds_phrase(in_paragraph, s.text)]
    for span in sorted(candidates, key=lambda s: _pick(["0", "1", "2", "3"], question_id + s.text)):
        words = len(span.text.split())
        options = sorted(term for norm, term in pool[span.kind].items()
                         if norm != normalized(span.text) and not holds_phrase(in_paragraph, term)
                         and (span.kind != "name" or len(term.split()) == words))
        others = content_words(question[:span.start] + " " + question[span.end:])
        while options and len(others) >= 2:
            term = _pick(options, question_id + span.text)
            options.remove(term)
            if not corpus.answers_elsewhere(term, others):
                return question[:span.start] + term + question[span.end:]
    return None
