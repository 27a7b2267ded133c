"""The one text toolkit: words, stop words, the language of a text, sentences, numbers, names
and citation marks. Every module that cuts text into words or sentences uses these.

Two word lists, for two jobs:
- `FUNCTION_WORDS`: the most common English and French function words. They tell a text's
  language (`guess_language`) and are left out of BM25 queries (`search_words` callers).
- `STOPWORDS`: a broader list of words that carry no meaning for grounding (`content_words`).

Grounding compares words folded (lower case, no accents, a plural ``s``/``x`` dropped) so that
"Modèles" matches "modele".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

MAX_SENTENCE_CHARS = 400

# Search words: letters and digits of any script (operators and punctuation fall away).
_SEARCH_WORD = re.compile(r"\w+", re.UNICODE)


def search_words(text: str) -> list[str]:
    """The words of ``text`` as full-text search reads them: lowercased runs of letters and digits."""
    return _SEARCH_WORD.findall(text.lower())


# ----- language ------------------------------------------------------------------------
ENGLISH = "en"
FRENCH = "fr"
OTHER = "other"

_LETTER_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)

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
FUNCTION_WORDS = _EN | _FR

# Letters that occur in French words and (almost) never in English ones.
_FR_LETTERS = frozenset("éèêëàâîïôûùüçœ")


def _words(text: str) -> list[str]:
    words: list[str] = []
    for word in _LETTER_WORD.findall(text.lower()[:5000]):
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


# ----- words, numbers and sentences -----------------------------------------------------

_STOP_EN = frozenset(
    [
        "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are",
        "aren", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but",
        "by", "can", "cannot", "could", "did", "didn", "do", "does", "doesn", "doing", "don", "down",
        "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her",
        "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "isn", "it",
        "its", "itself", "just", "let", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of",
        "off", "on", "once", "only", "or", "other", "ought", "our", "ours", "ourselves", "out", "over", "own",
        "same", "shall", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs",
        "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too",
        "under", "until", "up", "use", "used", "uses", "using", "very", "was", "we", "were", "what", "when",
        "where", "which", "while", "who", "whom", "whose", "why", "will", "with", "would", "you", "your",
        "yours", "yourself", "yourselves", "tell", "give", "get", "many", "much", "one", "two", "there",
        "default", "usually", "usual"
    ]
)
_STOP_FR = frozenset(
    [
        "a", "à", "afin", "ai", "aie", "aient", "ainsi", "alors", "au", "aucun", "aucune", "aupres", "auquel",
        "aussi", "autre", "autres", "aux", "avais", "avait", "avant", "avec", "avez", "avoir", "c", "ça",
        "car", "ce", "ceci", "cela", "celle", "celles", "celui", "ces", "cet", "cette", "ceux", "chaque",
        "chez", "comme", "comment", "d", "dans", "de", "des", "desquels", "dont", "du", "elle", "elles", "en",
        "encore", "est", "et", "étaient", "était", "été", "être", "eu", "faire", "fait", "faut", "il", "ils",
        "j", "je", "l", "la", "laquelle", "le", "lequel", "les", "leur", "leurs", "lors", "lorsque", "lui",
        "m", "ma", "mais", "me", "même", "mes", "moi", "mon", "n", "ne", "ni", "nos", "notre", "nous", "on",
        "ont", "ou", "où", "par", "parce", "pas", "peu", "peut", "plus", "pour", "pourquoi", "qu", "quand",
        "que", "quel", "quelle", "quelles", "quels", "qui", "quoi", "s", "sa", "sans", "se", "ses", "si",
        "son", "sont", "sous", "sur", "t", "ta", "te", "tes", "toi", "ton", "tous", "tout", "toute", "toutes",
        "très", "tu", "un", "une", "vos", "votre", "vous", "y", "combien", "faut-il", "est-ce", "quelle",
        "quel", "utilise", "utiliser"
    ]
)
STOPWORDS = frozenset(_STOP_EN | _STOP_FR)

_WORD = re.compile(r"[^\W_]+(?:[.,][0-9]+)*", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CITATION = re.compile(r"\[\s*(\d+(?:\s*[,;–-]\s*\d+)*)\s*\]")
_ONLY_CITATIONS = re.compile(r"^(?:\[[\d\s,;–-]*\]\s*)+[.!?]?$")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"'«(\[]?[A-ZÀ-Ý0-9])|\n\s*\n|\n(?=\s*[-*•]\s)")
# A capitalised word, with the number that may follow it as part of the name ("Llama 3").
_NAME = re.compile(r"(?<![\w.])[A-ZÀ-Ý][\w'’-]*[^\W_](?: [0-9]+(?:\.[0-9]+)?\b(?![.,][0-9]))?", re.UNICODE)


def fold(word: str) -> str:
    """A word lowercased, without accents, with a plural ``s`` (or ``x``) dropped."""
    word = unicodedata.normalize("NFKD", word.lower())
    word = "".join(ch for ch in word if not unicodedata.combining(ch))
    if len(word) > 3 and word[-1] in "sx" and not word[-2].isdigit():
        word = word[:-1]
    return word


def content_words(text: str) -> list[str]:
    """The folded words of ``text`` that carry meaning (no stop words), in order, once each."""
    words: dict[str, None] = {}
    for raw in _WORD.findall(text[:20000]):
        lower = raw.lower()
        if lower in STOPWORDS or (len(lower) < 2 and not lower.isdigit()):
            continue
        words[fold(lower)] = None
    return list(words)


def numbers(text: str) -> set[str]:
    """Numbers written in ``text``, with thousands separators removed ("50,257" -> "50257")."""
    found = set()
    for raw in _NUMBER.findall(text):
        found.add(re.sub(r"(?<=\d)[,.](?=\d{3}\b)", "", raw).replace(",", "."))
    return found


def matches(word: str, vocabulary: set[str]) -> bool:
    """``word`` is in ``vocabulary``, or shares its first 6 letters with a word there."""
    if word in vocabulary:
        return True
    if len(word) >= 6 and not word[0].isdigit():
        stem = word[:6]
        return any(other.startswith(stem) for other in vocabulary)
    return False


def coverage(query_words: Sequence[str], text: str) -> float:
    """Share of ``query_words`` (from `content_words`) found in ``text``; 0 when there are none."""
    if not query_words:
        return 0.0
    vocabulary = set(content_words(text))
    return sum(1 for w in query_words if matches(w, vocabulary)) / len(query_words)


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (also split at blank lines and list items), stripped, non-empty."""
    sentences: list[str] = []
    for part in _SENTENCE_END.split(text.strip()):
        part = " ".join(part.split())
        if not part:
            continue
        if sentences and _ONLY_CITATIONS.match(part):  # "... weight. [1]" belongs to the sentence
            sentences[-1] = f"{sentences[-1]} {part}"
        else:
            sentences.append(part)
    return [s[:MAX_SENTENCE_CHARS] for s in sentences]


def cited_numbers(text: str) -> list[int]:
    """Citation numbers in ``text`` ("[1]", "[2, 3]", "[1-2]"), in order, once each."""
    found: dict[int, None] = {}
    for match in _CITATION.finditer(text):
        for number in re.findall(r"\d+", match.group(1)):
            found[int(number)] = None
    return list(found)


def remove_invalid_citations(text: str, valid: int) -> str:
    """``text`` without citation numbers outside 1..``valid`` (an empty bracket goes entirely)."""

    def keep(match: re.Match[str]) -> str:
        kept = [n for n in re.findall(r"\d+", match.group(1)) if 1 <= int(n) <= valid]
        kept = list(dict.fromkeys(kept))
        return f"[{', '.join(kept)}]" if kept else ""

    cleaned = _CITATION.sub(keep, text)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)
    return re.sub(r"[ \t]{2,}", " ", cleaned).strip()


def strip_citations(text: str) -> str:
    """``text`` without any citation brackets."""
    return " ".join(_CITATION.sub(" ", text).split())



def key_terms(text: str) -> list[str]:
    """Identifier-like words of ``text``, lowercased: acronyms and names mixing letters and digits.

    "BEIR", "GGUF", "FP16", "Q4_K_M", "GPT-2" are key terms; plain words and numbers are not.
    """
    found: dict[str, None] = {}
    for raw in re.findall(r"[^\W_](?:[\w.-]*[^\W_])?", text[:20000]):
        upper = sum(ch.isupper() for ch in raw)
        has_digit = any(ch.isdigit() for ch in raw)
        has_alpha = any(ch.isalpha() for ch in raw)
        if has_alpha and (upper >= 2 or (has_digit and len(raw) >= 3)):
            found[raw.lower()] = None
    return list(found)


def names(text: str) -> set[str]:
    """Names in ``text``, lowercased: capitalised words that do not open a sentence, and key terms.

    "The Denver Broncos won Super Bowl 50." gives {"denver", "broncos", "super", "bowl"}; a
    sentence's first word is not taken for a name (it is capitalised anyway). Compare them with
    `holds_phrase`.
    """
    found: set[str] = set()
    for sentence in split_sentences(text):
        body = strip_citations(sentence)
        first = re.match(r"\W*[\w'’-]+", body)
        start = first.end() if first else 0
        for match in _NAME.finditer(body, start):
            word = match.group(0).lower()
            if word not in STOPWORDS:
                found.add(word)
        found.update(key_terms(body))
    return found


def normalized(text: str) -> str:
    """``text`` folded for phrase search: lower case, no accents, words separated by one space."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(re.findall(r"[^\W_]+", text))


def holds_phrase(text_normalized: str, phrase: str) -> bool:
    """``phrase`` occurs as whole words in an already `normalized` text (a plural ``s`` allowed)."""
    words = normalized(phrase)
    if not words:
        return True
    haystack = f" {text_normalized} "
    return f" {words} " in haystack or f" {words}s " in haystack or (
        words.endswith("s") and f" {words[:-1]} " in haystack)


# ----- terms a question is about: names, years, numbers ------------------------------------
# A run of capitalised words ("Super Bowl", "Jean-Paul Sartre"); a trailing number belongs to it
# only when glued ("Llama-2"): "Super Bowl 50" keeps 50 as a number of its own.
_NAME_RUN = re.compile(r"(?<![\w'’-])[A-ZÀ-Ý][\w'’-]*[^\W_](?:\s+[A-ZÀ-Ý][\w'’-]*[^\W_])*")
_TERM_YEAR = re.compile(r"(?<![\w.,])(1[0-9]{3}|20[0-9]{2})(?![\w.,]?\d)")
_TERM_NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)*(?![\w.,]?\d)")
# Words a capitalised run may not consist of alone (question openers, pronouns).
_NOT_NAMES = frozenset([
    "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "in", "on", "at", "the", "a",
    "an", "of", "for", "from", "by", "to", "is", "are", "was", "were", "did", "does", "do", "quel", "quelle",
    "quels", "quelles", "qui", "que", "quoi", "quand", "où", "comment", "combien", "pourquoi", "le", "la",
    "les", "un", "une", "des", "du", "de", "en", "dans", "est", "sont", "a", "ont", "lors", "selon",
    "however", "after", "before", "during", "although", "while", "since", "this", "these", "those", "it",
    "its", "he", "she", "they", "there", "as", "with", "for", "but", "and", "also", "il", "elle", "ils",
    "elles", "ce", "cette", "ces", "après", "avant", "pendant", "depuis", "au", "aux", "avec", "pour", "par",
    "sur", "mais", "puis", "ainsi", "cependant",
])


@dataclass(frozen=True)
class Span:
    """A swappable term of a text: its kind ("name", "year", "number") and where it stands."""

    kind: str
    text: str
    start: int
    end: int


def term_spans(text: str, *, skip_first_word: bool = True) -> list[Span]:
    """The names, years and numbers of ``text`` (a sentence's opening question word or article is
    not taken for a name)."""
    found: list[Span] = []
    for match in _TERM_YEAR.finditer(text):
        found.append(Span("year", match.group(0), match.start(), match.end()))
    for match in _TERM_NUMBER.finditer(text):
        if not any(s.start <= match.start() < s.end for s in found):
            found.append(Span("number", match.group(0), match.start(), match.end()))
    for match in _NAME_RUN.finditer(text):
        start, term = match.start(), match.group(0)
        opener = term.split()[0].lower() in _NOT_NAMES or len(term.split()) == 1
        if skip_first_word and not text[:start].strip(" \"'«¿¡") and opener:
            gap = re.search(r"\s+", term)  # "What Super Bowl", "Contre": the opener is no name
            if gap is None:
                continue
            start, term = start + gap.end(), term[gap.end():]
        if re.search(r"['’]s$", term):  # "Edison's": the name without its possessive
            term = term[:-2]
        if all(w.lower() in _NOT_NAMES for w in term.split()) or len(term) < 3:
            continue
        found.append(Span("name", term, start, start + len(term)))
    return sorted(found, key=lambda s: s.start)


# ----- numbers written as words ------------------------------------------------------------
_UNITS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
    "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20,
    "thirtieth": 30, "fortieth": 40, "fiftieth": 50,
    "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "sept": 7, "huit": 8, "neuf": 9,
    "dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14, "quinze": 15, "seize": 16,
    "vingt": 20, "trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60,
    "premier": 1, "première": 1, "deuxième": 2, "troisième": 3, "quatrième": 4, "cinquième": 5,
    "sixième": 6, "septième": 7, "huitième": 8, "neuvième": 9, "dixième": 10,
}
# Words that are numbers too often to be read as a constraint when a question uses them ("which
# one", "the first time", "a second opinion", "un livre").
AMBIGUOUS_NUMBER_WORDS = frozenset({"one", "first", "second", "un", "une", "premier", "première"})
_NUMBER_WORD = re.compile(r"(?<![\w-])(" + "|".join(sorted(_UNITS, key=len, reverse=True))
                          + r")(?:[- ](" + "|".join(sorted(_UNITS, key=len, reverse=True)) + r"))?(?![\w-])",
                          re.IGNORECASE)


def number_words(text: str, *, ambiguous: bool = True) -> set[str]:
    """The numbers ``text`` writes in English or French words, as digits: "thirty-fourth" ->
    "34", "deux" -> "2" (ordinals as their number). ``ambiguous=False`` leaves out the words in
    `AMBIGUOUS_NUMBER_WORDS` standing alone."""
    found = set()
    for match in _NUMBER_WORD.finditer(text):
        first, second = match.group(1).lower(), (match.group(2) or "").lower()
        if not ambiguous and not second and first in AMBIGUOUS_NUMBER_WORDS:
            continue
        value = _UNITS[first] + (_UNITS[second] if second and _UNITS[first] >= 20 and _UNITS[second] < 10 else 0)
        found.add(str(value))
    return found
