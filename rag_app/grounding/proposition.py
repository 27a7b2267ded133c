"""Checks at the level of the proposition: does the sentence the reply answers from say what
the question asks, about what it asks?

The typical wrong reply to a near-miss question (SQuAD 2.0 style: one name, number or qualifier
of the question swapped) restates a passage with the question's swapped term put back in: "X is
one of the largest *music* schools in *Lyon*" where the passage speaks of another kind of school
in another city. Every word of it but one is supported, so passage-level support passes it. What
gives it away is at the level of one sentence:

- the question's constraint terms (its names, numbers and qualifiers) are not in the sentence
  the reply's answer comes from;
- the reply repeats a term of the question that the passage it cites does not hold;
- the words the reply adds to the question are not in that sentence.

All of it is read from text (question, reply, the passages in the prompt): cheap, and computed
again from an evaluation report without the model (`benchmarks/fit_decision.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rag_app.answer import Evidence, Passage
from rag_app.grounding.question import Question, holds_name
from rag_app.grounding.relevance import has_kind
from rag_app.text import (
    cited_numbers,
    content_words,
    matches,
    number_words,
    numbers,
    split_sentences,
    strip_citations,
)

MAX_COUNT = 3  # counts are capped: one missing term is the signal, more add little


@dataclass(frozen=True)
class AnswerSentence:
    """The sentence of a cited passage that the reply's answer comes from, with its heading."""

    sentence: str
    heading: str

    @property
    def text(self) -> str:
        """The heading and the sentence: a list item's neighbours are other items, not context."""
        return f"{self.heading} {self.sentence}"


def cited_passages(reply: str, passages: Sequence[Passage], valid: int) -> list[Passage]:
    """The passages the reply cites among the first ``valid``; the first passage if it cites none."""
    cites = [n for n in cited_numbers(reply) if 1 <= n <= min(valid, len(passages))]
    return [passages[n - 1] for n in cites] or list(passages[:1])


def answer_sentence(question: Question, reply: str, cited: Sequence[Passage]) -> AnswerSentence | None:
    """The sentence of ``cited`` holding most of the reply's new words (those not in the
    question), ties going to the one holding more of the question's words."""
    asked = set(question.words)
    new = [w for w in content_words(strip_citations(reply)) if w not in asked]
    best: tuple[tuple[int, int], AnswerSentence] | None = None
    for passage in cited:
        sentences = split_sentences(passage.text)
        for sentence in sentences:
            vocabulary = set(content_words(sentence))
            score = (sum(matches(w, vocabulary) for w in new), sum(matches(w, vocabulary) for w in asked))
            if best is None or score > best[0]:
                best = (score, AnswerSentence(sentence, passage.heading))
    return best[1] if best else None


def word_held(word: str, vocabulary: set[str]) -> bool:
    """A folded word in ``vocabulary``: `matches`, or one of at least four letters that starts
    the other ("found" / "founded", "music" / "musical")."""
    if matches(word, vocabulary):
        return True
    return len(word) >= 4 and any(len(v) >= 4 and (v.startswith(word) or word.startswith(v)) for v in vocabulary)


def held(term: str, text: str, vocabulary: set[str]) -> bool:
    """A constraint word by its stem, a name or number spelling-tolerantly."""
    if " " in term or any(ch.isdigit() for ch in term) or not term.isalpha():
        return holds_name(text, term) or term in numbers(text) | number_words(text)
    return word_held(term, vocabulary) or holds_name(text, term)


def constraint_terms(question: Question) -> list[str]:
    """What the answer sentence must be about: the question's names, years, numbers and
    qualifiers (`Question.constraints`)."""
    named_words = {w for n in question.focus for w in content_words(n)}
    plain = [w for w in question.constraints if w not in named_words and not number_words(w)]
    return list(dict.fromkeys([*question.focus, *question.values, *plain]))


def proposition_signals(question: Question, reply: str, passages: Sequence[Passage],
                        valid: int) -> dict[str, float]:
    """The proposition-level signals of ``reply`` (see the module doc):

    - ``constraints_in_sentence``: share of the question's constraint terms in the answer
      sentence or its passage's heading (1 when the question has none);
    - ``constraints_missing``: how many of them no cited passage holds (capped at `MAX_COUNT`);
    - ``echo_missing``: how many words the reply repeats from the question that no cited passage
      holds (capped): the swapped term put back in;
    - ``names_missing``: how many of the question's names (whole runs: "Ocarina Princess"),
      years and numbers no cited passage writes, in any spelling `holds_name` accepts (capped);
    - ``new_in_sentence``: share of the reply's new words in the answer sentence.
    """
    cited = cited_passages(reply, passages, valid)
    cited_text = " ".join(f"{p.heading} {p.text}" for p in cited)
    cited_vocabulary = set(content_words(cited_text))
    found = answer_sentence(question, reply, cited)
    window = found.text if found else ""
    window_vocabulary = set(content_words(window))
    terms = constraint_terms(question)
    in_window = sum(held(t, window, window_vocabulary) for t in terms)
    missing = sum(not held(t, cited_text, cited_vocabulary) for t in terms)
    reply_words = content_words(strip_citations(reply))
    asked = set(question.words)
    echoed = [w for w in reply_words if w in asked]
    new = [w for w in reply_words if w not in asked]
    return {
        "constraints_in_sentence": in_window / len(terms) if terms else 1.0,
        "constraints_missing": float(min(MAX_COUNT, missing)),
        "echo_missing": float(min(MAX_COUNT, sum(not word_held(w, cited_vocabulary) for w in echoed))),
        "names_missing": float(min(MAX_COUNT, sum(not held(t, cited_text, cited_vocabulary)
                                                  for t in question.terms))),
        "new_in_sentence": (sum(word_held(w, window_vocabulary) for w in new) / len(new)) if new else 0.0,
    }


def answering_sentence(question: Question, evidence: Sequence[Evidence], look: int = 3) -> Evidence | None:
    """The first of the ``look`` best evidence sentences that answers ``question`` by itself: it
    holds every constraint term of the question (names, numbers, qualifiers), gives a value of
    the kind asked for (a year, a number), and says something the question does not."""
    terms = constraint_terms(question)
    for item in evidence[:look]:
        text = f"{item.heading} {item.text}"
        vocabulary = set(content_words(text))
        new = [w for w in content_words(item.text) if w not in set(question.words)]
        if (terms and all(held(t, text, vocabulary) for t in terms) and new
                and (question.kind is None or has_kind(question.kind, item.text))):
            return item
    return None
