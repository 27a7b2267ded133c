"""Does the supported answer answer *this* question?

Sentence support (`rag_app.grounding.support`) says that the words of the answer are stated by
a passage. That is not enough: asked for a figure the documents do not give, a model copies a
neighbouring figure that the passages do hold (about another model, another year), and every
word of it is "supported". So, on top of support:

1. **refusal**: the model's own "this is not in the documents" reply, in English or French, is
   recognised as a refusal (not checked as an answer);
2. **subject**: the question's focus terms (names, identifiers such as "GPT-2" or "Q4_K_M",
   years) must be in a passage that supports the answer;
3. **kind**: a question that asks for a year or a number must get one in a supported sentence
   (the numbers and names of a supported sentence are already in its passage).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag_app.config import GroundingSettings
from rag_app.embedding import Embedder
from rag_app.grounding.evidence import PassageSentences
from rag_app.grounding.question import NUMBER, YEAR, YEAR_VALUE, Question, holds_name
from rag_app.grounding.support import Verification, verify
from rag_app.text import (
    ENGLISH,
    FRENCH,
    normalized,
    number_words,
    numbers,
    split_sentences,
    strip_citations,
)

# The thresholds (how far around the supporting sentence the subject may stand: a sentence
# refers back to its subject, "the adapter", "it", rarely ahead; the model check's probability
# of "yes") are grounding settings.
_DEFAULTS = GroundingSettings()

# (supporting passages, question, answer) -> probability that the passages state the answer.
ModelCheck = Callable[[str, str, str], float]

_REFUSAL = re.compile(
    r"\b(not|n't|never|no)\b[^.]{0,60}\b(in|from|within|among|by)\b[^.]{0,20}\b"
    r"(documents?|passages?|sources?|(provided|given) (context|texts?|information))\b"
    r"|\b(documents?|passages?|sources?|context)\b[^.]{0,40}\b(do|does|did)\s*(not|n't)\b"
    r"[^.]{0,20}\b(contain|mention|say|state|provide|include|give|specify|answer|describe|indicate)"
    r"|\b(no|any)\s+(information|mention|answer|data|details?)\b[^.]{0,40}\b(about|on|regarding|for|in)\b"
    r"|\b(cannot|can't|can ?not|unable to|not able to)\s+(find|answer|determine|be determined|tell|say)"
    r"|\bnot (mentioned|stated|specified|provided|given|found|available|included)\b"
    r"|\bne (les? |la |l['’]|y |en |se )?(figure|trouve|trouve|contien(nen)?t|mentionne(nt)?|précise(nt)?"
    r"|indique(nt)?|donne(nt)?|fourni(ssen)?t|parle(nt)?|dit|disent|répond(ent)?|permet(tent)?)\b[^.]{0,30}\bpas\b"
    r"|\bn['’](est|sont|y a|existe|apparaît|apparaissent|indique(nt)?|évoque(nt)?|aborde(nt)?)\b[^.]{0,40}"
    r"\b(pas|aucune?|nulle part)\b"
    r"|\b(aucune?|pas d['’]) ?(information|mention|réponse|donnée|précision|indication)s?\b"
    r"|\b(impossible|je ne peux pas|on ne peut pas) (de )?(trouver|répondre|déterminer|dire|savoir)",
    re.IGNORECASE,
)
_NUMBER_WORDS = frozenset(
    [
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty", "thirty",
        "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "thousand", "million", "billion",
        "trillion", "dozen", "half", "once", "twice", "none", "zero", "deux", "trois", "quatre", "cinq",
        "six", "sept", "huit", "neuf", "dix", "onze", "douze", "treize", "quatorze", "quinze", "seize",
        "vingt", "trente", "quarante", "cinquante", "soixante", "cent", "cents", "mille", "million",
        "millions", "milliard", "milliards", "douzaine", "moitié", "aucun", "aucune", "zéro"
    ]
)

REASONS = {
    "subject": {
        ENGLISH: "the passages that support it do not mention {terms}",
        FRENCH: "les passages qui l'appuient ne mentionnent pas {terms}",
    },
    YEAR: {
        ENGLISH: "the question asks for a year and the supported answer gives none",
        FRENCH: "la question demande une année et la réponse vérifiée n'en donne pas",
    },
    NUMBER: {
        ENGLISH: "the question asks for a number and the supported answer gives none",
        FRENCH: "la question demande un nombre et la réponse vérifiée n'en donne pas",
    },
    "model": {
        ENGLISH: "asked again, the model does not find this answer stated in the passages",
        FRENCH: "interrogé à nouveau, le modèle ne trouve pas cette réponse dans les passages",
    },
}


@dataclass
class Relevance:
    """Whether the supported sentences answer the question, and if not, why (for a person)."""

    answers: bool
    reason: str = ""


def is_refusal(reply: str) -> bool:
    """True when the model's reply says that the documents do not answer (English or French).

    Only the first sentence counts: "The passages do not say X." is a refusal; an answer that
    ends by noting what the passages leave out is not.
    """
    sentences = split_sentences(reply)
    return bool(sentences) and bool(_REFUSAL.search(sentences[0]))


def has_kind(kind: str, answer: str) -> bool:
    """True when ``answer`` holds a value of ``kind``: a year, or a number (digits or words)."""
    if kind == YEAR:
        return bool(YEAR_VALUE.search(answer))
    if kind == NUMBER:
        words = set(normalized(answer).split())
        return bool(numbers(answer)) or bool(words & _NUMBER_WORDS)
    return True


def check_relevance(
    question: Question, answer: str, windows: Sequence[str], language: str = ENGLISH
) -> Relevance:
    """Whether ``answer`` (the supported sentences of a reply) answers ``question``.

    ``windows`` are the passage texts that support those sentences (see `support_windows`).
    Fails when a focus term or a number of the question is in none of them, or when the
    question asks for a year or a number and the answer gives none.
    """
    answer = strip_citations(answer)
    if not answer:
        return Relevance(False)
    missing = missing_subject(question, windows)
    if missing:
        return Relevance(False, _reason("subject", language, terms=", ".join(missing)))
    if question.kind is not None and not has_kind(question.kind, answer):
        return Relevance(False, _reason(question.kind, language))
    return Relevance(True)


def missing_subject(question: Question, windows: Sequence[str]) -> list[str]:
    """The question's focus terms and numbers that none of ``windows`` holds, spelling-tolerantly
    (`holds_name`), or spells out as an acronym."""
    missing = [t for t in question.focus
               if not any(holds_name(w, t) for w in windows) and not any(spells(w, t) for w in windows)]
    window_numbers = set().union(*(numbers(w) | number_words(w) for w in windows))
    return missing + sorted(set(question.values) - window_numbers - set(missing))


def support_windows(verification: Verification, index: PassageSentences, whole: bool = False,
                    settings: GroundingSettings = _DEFAULTS) -> list[str]:
    """For each supported sentence, the passage text around the passage sentence supporting it.

    The window is the passage's heading and the sentences from ``settings.subject_before``
    before the supporting one to ``settings.subject_after`` after it (``whole``: the whole passage).
    """
    before, after = settings.subject_before, settings.subject_after
    windows = []
    for i in verification.sources:
        owner = index.owner[i]
        passage = index.passages[owner]
        if whole:
            windows.append(f"{passage.heading} {passage.text}")
            continue
        near = [index.sentences[j] for j in range(len(index.sentences))
                if index.owner[j] == owner
                and -before <= index.position[j] - index.position[i] <= after]
        windows.append(" ".join([passage.heading, *near]))
    return windows


def spells(text: str, acronym: str) -> bool:
    """True when capitalised words of ``text`` spell ``acronym`` ("European Union" for "EU")."""
    letters = acronym.replace(".", "").lower()
    if not (2 <= len(letters) <= 6 and letters.isalpha()):
        return False
    pattern = r"\b" + r"\W+".join(rf"{re.escape(ch.upper())}[\w'’-]*" for ch in letters) + r"\b"
    return re.search(pattern, text) is not None


def _reason(kind: str, language: str, **values: str) -> str:
    templates = REASONS[kind]
    return templates.get(language, templates[ENGLISH]).format(**values)


@dataclass
class Judgement:
    """The verdict on a model's reply: a refusal, or its verification and relevance."""

    refusal: bool  # the model said the documents do not answer
    verification: Verification
    relevance: Relevance

    @property
    def verified(self) -> bool:
        """The reply is shown as the answer: supported, and it answers the question."""
        return not self.refusal and self.verification.verified and self.relevance.answers


def judge_reply(
    question: Question,
    reply: str,
    index: PassageSentences,
    embedder: Embedder,
    valid: int,
    language: str,
    model_check: ModelCheck | None = None,
    settings: GroundingSettings = _DEFAULTS,
) -> Judgement:
    """Judge the model's ``reply`` to ``question`` over the passages of ``index``.

    ``valid`` is how many passages were in the prompt (citations beyond are removed). When
    ``model_check`` is given, a reply that passed every other check must also get a
    probability of at least ``settings.model_check_threshold`` from it (passages, question, answer).
    """
    if is_refusal(reply):
        return Judgement(True, Verification(reply, []), Relevance(False))
    verification = verify(reply, index, embedder, valid, settings.support_lexical_weight)
    answer = " ".join(v.text for v in verification.sentences if v.supported)
    relevance = check_relevance(question, answer, support_windows(verification, index, settings=settings), language)
    if relevance.answers and model_check is not None and not model_agrees(
            question, verification, index, model_check, settings.model_check_threshold):
        relevance = Relevance(False, _reason("model", language))
    return Judgement(False, verification, relevance)


def model_agrees(question: Question, verification: Verification, index: PassageSentences, model_check: ModelCheck,
                 threshold: float = _DEFAULTS.model_check_threshold) -> bool:
    """Whether the model, asked again, finds the reply's supported sentences stated by the passages
    that support them (a probability of "yes" of at least ``threshold``)."""
    answer = " ".join(v.text for v in verification.sentences if v.supported) or verification.text
    passages = "\n".join(dict.fromkeys(support_windows(verification, index, whole=True)))
    return model_check(passages, question.text, strip_citations(answer)) >= threshold


def model_reason(language: str) -> str:
    """Why a reply the model itself does not confirm is not verified."""
    return _reason("model", language)
