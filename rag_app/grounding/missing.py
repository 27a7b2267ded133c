"""Why there is no verified answer, in the user's language, from facts the app has.

A refusal that only says "not in your documents" leaves a person wondering whether their file
was read at all. `explain` says which of three things happened:

1. a term that carries the question's subject (a name, key term, year or number; never an
   ordinary word) is in **no document of the index** in any near spelling (checked over the
   whole index with full-text search, not only the passages found): "none of your documents
   mention GPT-4; the closest passages are about GPT-3";
2. the documents **name the subject but the passages found do not state what is asked**: "your
   documents mention Vicuna, but the passages found give no figure for it";
3. **nothing relevant** was found, or the passages found (about …) do not state the answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from rag_app.answer import Passage
from rag_app.grounding.question import MIN_FUZZY, NUMBER, YEAR, Question, compact
from rag_app.text import ENGLISH, FRENCH, normalized

MAX_TERMS_SHOWN = 3

# (term, whole word or prefix) -> whether any document of the index holds it.
Mentions = Callable[[str, bool], bool]

TEXTS = {
    "absent": {
        ENGLISH: "none of your documents mention {terms}",
        FRENCH: "aucun de vos documents ne mentionne {terms}",
    },
    "closest": {
        ENGLISH: "; the closest passages are about {topic}",
        FRENCH: " ; les passages les plus proches portent sur {topic}",
    },
    "no_value": {
        ENGLISH: "your documents mention {terms}, but the passages found give no {what} for it",
        FRENCH: "vos documents mentionnent {terms}, mais les passages trouvés n'en donnent pas {what}",
    },
    "not_stated": {
        ENGLISH: "your documents mention {terms}, but the passages found do not state what is asked",
        FRENCH: "vos documents mentionnent {terms}, mais les passages trouvés ne disent pas ce qui est demandé",
    },
    "off_topic": {
        ENGLISH: "no passage of your documents is close to the question",
        FRENCH: "aucun passage de vos documents n'est proche de la question",
    },
    "unstated": {
        ENGLISH: "the passages found, about {topic}, do not state the answer",
        FRENCH: "les passages trouvés, sur {topic}, ne donnent pas la réponse",
    },
}
WHAT = {
    NUMBER: {ENGLISH: "figure", FRENCH: "le chiffre"},
    YEAR: {ENGLISH: "year", FRENCH: "l'année"},
}
AND = {ENGLISH: " or ", FRENCH: " ni "}


def _text(kind: str, language: str, **values: str) -> str:
    templates = TEXTS[kind]
    return templates.get(language, templates[ENGLISH]).format(**values)


PRESENT, ABSENT, UNSURE = "present", "absent", "unsure"


def subject_terms(question: Question) -> list[str]:
    """What a reason may name: the terms that carry the question's subject (its names, key
    terms, years and numbers, as written), never an ordinary word ("possible", "après")."""
    terms: dict[str, None] = {}
    for term in [*question.focus, *question.numbers]:
        written = re.search(re.escape(term), question.text, re.IGNORECASE)
        terms[written.group(0) if written else term] = None
    return list(terms)


def lookup(term: str, mentions: Mentions) -> str:
    """Whether the index holds ``term``: `PRESENT` (as written, case and accents aside),
    `ABSENT` (in no spelling `same_name` would accept, as far as the index's words can tell), or
    `UNSURE` (a near spelling is there: "Llama2" for "Llama-2", "Mistrall" for "Mistral")."""
    if mentions(term, False):
        return PRESENT
    joined = compact(term)
    split = " ".join(re.findall(r"[^\W\d_]+|\d+", joined))
    undoubled = {joined[:i] + joined[i + 1:] for i in range(1, len(joined)) if joined[i] == joined[i - 1]}
    variants = ({joined, split} | undoubled) - {normalized(term)}
    if any(mentions(v, False) for v in variants if v):
        return UNSURE
    if len(joined) >= MIN_FUZZY and not any(ch.isdigit() for ch in joined) and (
            mentions(joined[:len(joined) - 2], True) or mentions(joined[:4], True) and len(joined) >= 8):
        return UNSURE  # a word starting alike may be the same name spelled another way
    return ABSENT


def topic(passages: Sequence[Passage]) -> str:
    """What the best passage is about: its heading, or its file's name."""
    if not passages:
        return ""
    best = passages[0]
    heading = best.heading.split(" > ")[-1].strip() if best.heading else ""
    return heading or Path(best.path).stem.replace("_", " ")


def _join(terms: list[str], language: str) -> str:
    shown = [f"“{t}”" for t in terms[:MAX_TERMS_SHOWN]]
    return AND.get(language, AND[ENGLISH]).join(shown)


def explain(question: Question, passages: Sequence[Passage], mentions: Mentions,
            *, relevant: bool = True) -> str:
    """Why ``question`` gets no verified answer from ``passages`` (one clause, no final period,
    in the question's language).

    ``mentions`` looks a term up in the whole index; ``relevant`` is False when the gate found
    no passage close enough to answer from. A term is said to be in no document only when it
    carries the question's subject and no spelling of it is found (`lookup`).
    """
    language = question.language
    found = {t: lookup(t, mentions) for t in subject_terms(question)}
    absent = [t for t, state in found.items() if state == ABSENT]
    about = topic(passages)
    if absent:
        reason = _text("absent", language, terms=_join(absent, language))
        return reason + (_text("closest", language, topic=about) if about else "")
    named = [t for t, state in found.items() if state == PRESENT]
    if named and question.kind in WHAT:
        what = WHAT[question.kind].get(language, WHAT[question.kind][ENGLISH])
        return _text("no_value", language, terms=_join(named, language), what=what)
    if named:
        return _text("not_stated", language, terms=_join(named, language))
    if not relevant or not about:
        return _text("off_topic", language)
    return _text("unstated", language, topic=about)


OUTSIDE_SCOPE = {
    ENGLISH: ("the documents you chose do not answer it", "it may be in: {where}"),
    FRENCH: ("les documents choisis n'y répondent pas", "peut-être dans : {where}"),
}


def outside_scope(elsewhere: Sequence[str], language: str) -> str:
    """Why a question restricted to some documents is refused: they do not answer it, and the
    other documents of the collection that may (``elsewhere``), when a search outside finds some."""
    plain, where = OUTSIDE_SCOPE.get(language, OUTSIDE_SCOPE[ENGLISH])
    return f"{plain} ({where.format(where=', '.join(elsewhere))})" if elsewhere else plain
