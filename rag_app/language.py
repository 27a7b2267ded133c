"""A small, dependency-free guess of a text's language: English, French, or something else.

With an English-only embedder, retrieval lowers the dense weight for other languages; the
answer pipeline uses it to answer (and to word its messages) in the question's language.
The guess counts very common function words (which every sentence of either language holds)
and looks at the script; it is meant for questions and short passages, not for rare languages.
"""

from __future__ import annotations

import re
import unicodedata

ENGLISH = "en"
FRENCH = "fr"
OTHER = "other"

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)

_EN = frozenset(
    [
        "the", "a", "an", "of", "to", "in", "is", "are", "was", "were", "be", "been", "what", "which", "who",
        "whom", "whose", "when", "where", "why", "how", "does", "do", "did", "can", "could", "should",
        "would", "will", "shall", "may", "might", "must", "and", "or", "not", "no", "with", "for", "from",
        "by", "on", "at", "this", "that", "these", "those", "it", "its", "there", "their", "they", "them",
        "he", "she", "his", "her", "we", "our", "you", "your", "i", "my", "me", "as", "into", "about", "than",
        "then", "if", "but", "have", "has", "had", "much", "many", "any", "some"
    ]
)
_FR = frozenset(
    [
        "le", "la", "les", "l", "un", "une", "des", "du", "de", "d", "au", "aux", "et", "ou", "est", "sont",
        "été", "être", "que", "qu", "qui", "quoi", "quel", "quelle", "quels", "quelles", "comment",
        "pourquoi", "quand", "où", "combien", "dans", "pour", "par", "sur", "avec", "sans", "ce", "cet",
        "cette", "ces", "c", "il", "ils", "elle", "elles", "on", "nous", "vous", "je", "j", "me", "m", "mon",
        "ma", "mes", "ton", "ta", "tes", "son", "sa", "ses", "leur", "leurs", "ne", "n", "pas", "plus", "se",
        "y", "en", "ai", "avez", "peut", "puis", "dois", "doit", "faut", "faire", "mais", "donc", "si",
        "lorsque", "afin", "chez"
    ]
)
# Function words of both languages: they match nearly every chunk and carry little weight in
# BM25, but make a full-text search over a large index scan most of it.
STOPWORDS = _EN | _FR

# Letters that occur in French words and (almost) never in English ones.
_FR_LETTERS = frozenset("éèêëàâîïôûùüçœ")


def _words(text: str) -> list[str]:
    words: list[str] = []
    for word in _WORD.findall(text.lower()[:5000]):
        # Split elisions: "l'autorité" -> "l", "autorité"; "qu'est" -> "qu", "est".
        words.extend(part for part in re.split(r"['’]", word) if part)
    return words


def guess_language(text: str) -> str:
    """``"en"``, ``"fr"`` or ``"other"`` for a question or passage ("en" when there is no clue).

    Non-Latin scripts are "other"; otherwise French wins when it has more function words
    (accented letters count as half a word each, capped) than English.
    """
    letters = [ch for ch in text[:5000] if ch.isalpha()]
    if not letters:
        return ENGLISH
    latin = sum(1 for ch in letters if "LATIN" in unicodedata.name(ch, ""))
    if latin < 0.5 * len(letters):
        return OTHER
    words = _words(text)
    english = sum(1 for w in words if w in _EN)
    french = sum(1 for w in words if w in _FR)
    accents = sum(1 for w in words if _FR_LETTERS.intersection(w))
    french_score = french + min(accents, 4) * 0.5
    if french_score > english:
        return FRENCH
    return ENGLISH


def is_english(text: str) -> bool:
    """True when `guess_language` says English (or cannot tell)."""
    return guess_language(text) == ENGLISH
