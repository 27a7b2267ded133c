"""Documents that disagree: the reply's value contradicted by another document.

A reply can be fully supported by one passage and still be the wrong thing to certify: the
passage may be a planted instruction ("the deadline is 90 days; older documents are superseded"),
an outdated copy, a draft. Each of them states a value that the true document states
differently. When, among the passages the model read, a *second document* has a sentence about
what the question asks (its names, and two thirds of its qualifiers) that gives a different
value of the same kind as the reply ("30 days" against the reply's "90 days" or "5 years"), the reply is not
shown as verified; both sentences are shown with their sources, and the person decides.

Only quantities are compared (a number with its unit word, or a year): names and phrases differ
between two right sentences too often to be read as a contradiction. Two sentences of one
document are never a disagreement (a table of models with their figures, a before and an after).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

from rag_app.answer import Disagreement, Passage
from rag_app.grounding.proposition import constraint_terms, held
from rag_app.grounding.question import Question
from rag_app.text import ENGLISH, FRENCH, content_words, fold, split_sentences, strip_citations

# A number and the word after it ("30 days", "25 euros", "3 mois", "12 %"); a year on its own.
_QUANTITY = re.compile(r"(?<![\w.,])(\d+(?:[.,]\d+)*)(?:\s*(%|[^\W\d_]+))?", re.UNICODE)
_YEAR = re.compile(r"^(1[0-9]{3}|20[0-9]{2})$")
YEAR_UNIT = "(year)"
MIN_QUALIFIERS = 2 / 3  # share of the question's plain constraint words the other sentence must hold

REASON = {
    ENGLISH: "your documents disagree: {other} [{n}] says “{sentence}”",
    FRENCH: "vos documents ne concordent pas : {other} [{n}] dit « {sentence} »",
}

# Units of time, folded, in days: "5 years" and "90 days" give the same kind of value, and
# "12 months" is "1 year".
DAYS = {
    "hour": 1 / 24, "heure": 1 / 24, "day": 1, "jour": 1, "week": 7, "semaine": 7, "month": 30, "moi": 30,
    "year": 365, "an": 365, "annee": 365,
}
DURATION = "(duration)"


@dataclass(frozen=True)
class Quantity:
    """A value and its unit, folded: ("30", "day"), ("1850", `YEAR_UNIT`)."""

    value: str
    unit: str
    text: str = field(default="", compare=False)  # as written: "90 days"

    @property
    def dimension(self) -> str:
        """What it measures: `DURATION` for a unit of time, else the unit itself."""
        return DURATION if self.unit in DAYS else self.unit

    def same(self, other: Quantity) -> bool:
        """The same value: equal, or the same duration within 5% ("12 months", "1 year")."""
        if self == other:
            return True
        if self.dimension != DURATION or other.dimension != DURATION:
            return False
        a, b = float(self.value) * DAYS[self.unit], float(other.value) * DAYS[other.unit]
        return abs(a - b) <= 0.05 * max(a, b)


def reason(found: Disagreement, language: str) -> str:
    """Why the reply is not verified, naming the other document and quoting it."""
    template = REASON.get(language, REASON[ENGLISH])
    return template.format(other=PurePath(found.path).name, n=found.number, sentence=found.sentence)


def quantities(text: str) -> set[Quantity]:
    """The quantities written in ``text``: numbers with a unit word, and years.

    A bare number that is not a year ("250") carries no unit and is left out: it cannot be told
    apart from a count of something else.
    """
    found = set()
    for match in _QUANTITY.finditer(text):
        value = re.sub(r"(?<=\d)[,.](?=\d{3}\b)", "", match.group(1)).replace(",", ".")
        unit = fold(match.group(2) or "")  # "Days" -> "day", "jours" -> "jour"
        if unit and not unit.isdigit():
            found.add(Quantity(value, unit, match.group(0)))
        if _YEAR.match(match.group(1)):  # "1850", never "1,442"
            found.add(Quantity(value, YEAR_UNIT, match.group(1)))
    return found


def _about(question: Question, text: str) -> bool:
    """Whether ``text`` is about what ``question`` asks: every name, year and number of the
    question, and at least `MIN_QUALIFIERS` of its other constraint words."""
    vocabulary = set(content_words(text))
    terms = constraint_terms(question)
    focus = [t for t in terms if t in question.focus or t in question.values]
    plain = [t for t in terms if t not in focus]
    if not all(held(t, text, vocabulary) for t in focus):
        return False
    if not plain:
        return bool(focus)
    return sum(held(t, text, vocabulary) for t in plain) / len(plain) >= MIN_QUALIFIERS


def disagreement(question: Question, reply: str, passages: Sequence[Passage], valid: int) -> Disagreement | None:
    """The first sentence of another document among the first ``valid`` ``passages`` that gives
    a different value, in the unit of a value of ``reply``, for what ``question`` asks; None when
    the reply states no quantity beyond the question's own, or when no other document disagrees.

    "Another document" is one that does not state the reply's value anywhere in the passages.
    """
    asked = set(question.values) | set(question.years)
    stated = {q for q in quantities(strip_citations(reply)) if q.value not in asked}
    if not stated:
        return None
    shown = list(passages[:valid])
    agreeing = {p.path for p in shown if stated & quantities(f"{p.heading} {p.text}")}
    if not agreeing:
        return None  # the reply's value is in no passage: the support check speaks for it
    for number, passage in enumerate(shown, start=1):
        if passage.path in agreeing:
            continue
        for sentence in split_sentences(passage.text):
            pairs = [(mine, theirs) for theirs in quantities(sentence) for mine in stated
                     if theirs.dimension == mine.dimension]
            if (pairs and not any(mine.same(theirs) for mine, theirs in pairs)
                    and _about(question, f"{passage.heading} {sentence}")):
                mine, theirs = pairs[0]
                return Disagreement(mine.text, theirs.text, sentence.strip(), number, passage.path, passage.page)
    return None
