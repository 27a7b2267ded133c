"""Why there is no verified answer, in the user's language, from facts the app has.

A refusal that only says "not in your documents" leaves a person wondering whether their file
was read at all. `explain` says which of three things happened:

1. a term the question is about is in **no document of the index** (checked over the whole index
   with full-text search, not only the passages found): "none of your documents mention GPT-4;
   the closest passages are about GPT-3";
2. the documents **name the subject but the passages found do not state what is asked**: "your
   documents mention Vicuna, but the passages found give no figure for it";
3. **nothing relevant** was found, or the passages found (about …) do not state the answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from rag_app.answer import Passage
from rag_app.grounding.relevance import NUMBER, YEAR, expected_kind, focus_terms
from rag_app.text import ENGLISH, FRENCH, STOPWORDS, fold

# Plain words shorter than this are not checked against the whole index (too many forms).
MIN_WORD_CHARS = 5
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


def question_terms(question: str) -> list[tuple[str, bool]]:
    """What to look up in the whole index: (term as written, prefix search?).

    The question's focus terms (names, identifiers, years) are looked up as whole words; its
    other words of at least `MIN_WORD_CHARS` letters by their first letters (a plural or a
    conjugated ending still matches).
    """
    terms: dict[str, bool] = {}
    for term in focus_terms(question):
        written = re.search(re.escape(term), question, re.IGNORECASE)
        terms[written.group(0) if written else term] = False
    named = {w for t in terms for w in t.lower().split()}
    for word in re.findall(r"[^\W\d_]+", question):
        if len(word) >= MIN_WORD_CHARS and word.lower() not in STOPWORDS and word.lower() not in named:
            terms.setdefault(word, True)
    return list(terms.items())


def prefix_of(word: str) -> str:
    """The first letters of a word to search by prefix: all but its last three, at least four."""
    folded = fold(word)
    return folded[: max(4, len(folded) - 3)]


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


def explain(question: str, passages: Sequence[Passage], language: str, mentions: Mentions,
            *, relevant: bool = True) -> str:
    """Why ``question`` gets no verified answer from ``passages`` (one clause, no final period).

    ``mentions`` looks a term up in the whole index; ``relevant`` is False when the gate found
    no passage close enough to answer from.
    """
    terms = question_terms(question)
    absent = [t for t, prefix in terms if not mentions(prefix_of(t) if prefix else t, prefix)]
    about = topic(passages)
    if absent:
        reason = _text("absent", language, terms=_join(absent, language))
        return reason + (_text("closest", language, topic=about) if about else "")
    named = [t for t, prefix in terms if not prefix]
    kind = expected_kind(question)
    if named and kind in WHAT:
        what = WHAT[kind].get(language, WHAT[kind][ENGLISH])
        return _text("no_value", language, terms=_join(named, language), what=what)
    if named:
        return _text("not_stated", language, terms=_join(named, language))
    if not relevant or not about:
        return _text("off_topic", language)
    return _text("unstated", language, topic=about)
