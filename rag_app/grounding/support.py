"""Sentence-level support: is each sentence of the model's answer stated by a passage?

Each sentence is compared with the sentences of the passages it cites, then of the others
(lexical + embedding overlap); every number and name it states must be in that passage.
Citation numbers that point to no passage are removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rag_app.answer import Citation, Passage, SentenceVerdict
from rag_app.config import GroundingSettings
from rag_app.embedding import Embedder
from rag_app.grounding.evidence import PassageSentences
from rag_app.text import (
    ENGLISH,
    FRENCH,
    cited_numbers,
    content_words,
    coverage,
    holds_phrase,
    names,
    numbers,
    remove_invalid_citations,
    split_sentences,
    strip_citations,
)

# A sentence is supported when its best passage sentence gives a combined score of at least the
# embedder's `support_score` (and every number and name of the sentence is in that passage); the
# weight of shared words in that score is the `support_lexical_weight` grounding setting.
_LEXICAL_WEIGHT = GroundingSettings().support_lexical_weight

MESSAGES = {
    "refused": {
        ENGLISH: "This is not in your documents: no passage answers the question.",
        FRENCH: "Ce n'est pas dans vos documents : aucun passage ne répond à la question.",
    },
    "unverified": {
        ENGLISH: "The model's reply could not be verified against your documents. "
                 "Here is what they say:",
        FRENCH: "La réponse du modèle n'a pas pu être vérifiée dans vos documents. "
                "Voici ce qu'ils disent :",
    },
}


def message(kind: str, language: str, reason: str = "") -> str:
    """A fixed message ("refused" or "unverified") in ``language`` (English by default).

    A ``reason`` (why the reply was not verified) goes into the message's first sentence.
    """
    text = MESSAGES[kind].get(language, MESSAGES[kind][ENGLISH])
    if reason and kind == "refused":  # "This is not in your documents: <reason>."
        return f"{text.partition(':')[0].rstrip()}{' :' if language == FRENCH else ':'} {reason}."
    if reason:
        first, dot, rest = text.partition(". ")
        text = f"{first} ({reason}){dot}{rest}"
    return text



@dataclass
class Verification:
    """The verdict on a generated answer."""

    text: str  # the answer with invalid citations removed and repeated sentences dropped
    sentences: list[SentenceVerdict]
    cited: list[int] = field(default_factory=list)  # valid citation numbers, in order
    supporting: list[int] = field(default_factory=list)  # passage numbers that support sentences
    best_support: dict[int, str] = field(default_factory=dict)  # n -> best supporting sentence
    sources: list[int] = field(default_factory=list)  # index sentences that support sentences

    @property
    def verified(self) -> bool:
        """At least one sentence is supported."""
        return any(s.supported for s in self.sentences)


def verify(answer: str, index: PassageSentences, embedder: Embedder, valid: int,
           lexical_weight: float = _LEXICAL_WEIGHT) -> Verification:
    """Check every sentence of ``answer`` against the passages (numbered 1..len(passages)).

    ``valid`` is how many passages were in the prompt: citations outside 1..``valid`` are
    removed. A sentence is supported when one sentence of a passage (its cited passages are
    tried first, then the others) scores at least the embedder's ``calibration.support_score``
    on ``w * lexical + (1 - w) * cosine`` (``w``: ``lexical_weight``) and holds every number and
    name the sentence states.
    """
    cleaned = remove_invalid_citations(answer, valid)
    sentences: list[str] = []
    seen: set[str] = set()
    for sentence in split_sentences(cleaned):
        key = strip_citations(sentence).lower()
        if key and key not in seen:  # a looping model repeats itself: keep one copy
            seen.add(key)
            sentences.append(sentence)
    text = " ".join(sentences)
    plain = [strip_citations(s) for s in sentences]
    vectors = embedder.encode_sentences(plain) if plain else np.zeros((0, 1), dtype=np.float32)
    verdicts: list[SentenceVerdict] = []
    supporting: dict[int, None] = {}
    best_support: dict[int, tuple[float, str]] = {}
    sources: list[int] = []
    for sentence, clean, vector in zip(sentences, plain, vectors, strict=True):
        cites = [n for n in cited_numbers(sentence) if 1 <= n <= valid]
        score, i = _support(clean, vector, index, cites, lexical_weight)
        supported = score >= embedder.calibration.support_score and i is not None
        verdicts.append(SentenceVerdict(text=sentence, supported=supported, score=round(score, 4),
                                        citations=cites))
        if supported and i is not None:
            n, source = index.owner[i] + 1, index.sentences[i]
            supporting[n] = None
            sources.append(i)
            if score > best_support.get(n, (-1.0, ""))[0]:
                best_support[n] = (score, source)
    cited = list(dict.fromkeys(n for v in verdicts for n in v.citations))
    return Verification(text, verdicts, cited, list(supporting),
                        {n: s for n, (_, s) in best_support.items()}, sources)


def _support(
    sentence: str, vector: np.ndarray, index: PassageSentences, cites: list[int], weight: float
) -> tuple[float, int | None]:
    """Best support score of ``sentence`` and the index of the passage sentence giving it."""
    words = content_words(sentence)
    if not words or not index.sentences:
        return 0.0, None
    stated = numbers(sentence)
    stated_names = names(sentence)
    cosines = index.vectors @ vector
    best: tuple[float, int | None] = (0.0, None)
    # Cited passages first: a supported sentence there wins ties with other passages.
    order = sorted(range(len(index.sentences)), key=lambda i: (index.owner[i] + 1) not in cites)
    passage_numbers = {i: numbers(p.text) for i, p in enumerate(index.passages)}
    for i in order:
        owner = index.owner[i]
        if stated and not stated <= passage_numbers[owner]:
            continue
        if stated_names and not all(holds_phrase(index.normalized[owner], n) for n in stated_names):
            continue
        lexical = coverage(words, index.sentences[i])
        score = weight * lexical + (1 - weight) * float(cosines[i])
        if score > best[0] + 1e-9:
            best = (score, i)
    return best


def citations_for(
    numbers_: Sequence[int], passages: Sequence[Passage], support: dict[int, str] | None = None
) -> list[Citation]:
    """`Citation` objects for passage numbers (1-based), in the given order."""
    support = support or {}
    out = []
    for n in numbers_:
        if 1 <= n <= len(passages):
            p = passages[n - 1]
            out.append(Citation(n=n, path=p.path, page=p.page, heading=p.heading, text=p.text,
                                score=p.score, chunk_id=p.chunk_id,
                                supporting_sentence=support.get(n, "")))
    return out
