"""Grounding that does not trust the model: the relevance gate, evidence, and verification.

- The **gate** decides from retrieval signals alone whether any passage is relevant enough to
  answer from: the dense cosine of the best passage and how many of the question's content
  words the best passages hold (BM25-style lexical match). The bundled embedder only knows
  English, so for other languages the lexical signal decides. A closed gate means "not in
  your documents", said in the question's language, without calling the model.
- **Evidence**: the few sentences of the retrieved passages that best answer the question
  (embedding similarity + lexical overlap), always returned with file, page and heading.
- **Verification**: each sentence of the model's answer is compared with the sentences of the
  passages it cites, then of the others (lexical + embedding overlap; numbers must appear in
  the passage). Citation numbers that point to no passage are removed.

Thresholds were tuned on ../shared/eval and the demo corpus (see `rag_app.eval.tune_gate`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rag_app.answer import Citation, Evidence, Passage, SentenceVerdict
from rag_app.embedding import Embedder
from rag_app.language import ENGLISH, FRENCH

# ----- thresholds (tuned: see the module docstring) -------------------------------------------
# Gate: open when the best dense cosine reaches GATE_DENSE_HIGH, or when the lexical coverage
# of the question's content words reaches GATE_COVERAGE (English: with a dense cosine of at
# least GATE_DENSE_LOW; other languages: coverage alone, the embedder being English-only).
GATE_DENSE_HIGH = 0.55
GATE_DENSE_LOW = 0.30
GATE_COVERAGE = 0.5
GATE_COVERAGE_FOREIGN = 0.5
GATE_PASSAGES = 5  # how many of the best passages the gate looks at
# Verification: a sentence is supported when its best passage sentence gives a combined
# score of at least SUPPORT_SCORE (and every number of the sentence is in that passage).
SUPPORT_SCORE = 0.55
SUPPORT_LEXICAL_WEIGHT = 0.5
EVIDENCE_SENTENCES = 3
MAX_SENTENCE_CHARS = 400

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

_STOP_EN = frozenset(
    """a about above after again against all also am an and any are aren as at be because been
    before being below between both but by can cannot could did didn do does doesn doing don down
    during each few for from further had has have having he her here hers herself him himself his
    how i if in into is isn it its itself just let me more most my myself no nor not now of off on
    once only or other ought our ours ourselves out over own same shall she should so some such
    than that the their theirs them themselves then there these they this those through to too
    under until up use used uses using very was we were what when where which while who whom whose
    why will with would you your yours yourself yourselves tell give get many much one two there
    default usually usual""".split()
)
_STOP_FR = frozenset(
    """a à afin ai aie aient ainsi alors au aucun aucune aupres auquel aussi autre autres aux
    avais avait avant avec avez avoir c ça car ce ceci cela celle celles celui ces cet cette ceux
    chaque chez comme comment d dans de des desquels dont du elle elles en encore est et étaient
    était été être eu faire fait faut il ils j je l la laquelle le lequel les leur leurs lors
    lorsque lui m ma mais me même mes moi mon n ne ni nos notre nous on ont ou où par parce pas
    peu peut plus pour pourquoi qu quand que quel quelle quelles quels qui quoi s sa sans se ses
    si son sont sous sur t ta te tes toi ton tous tout toute toutes très tu un une vos votre vous
    y combien faut-il est-ce quelle quel utilise utiliser""".split()
)
STOPWORDS = frozenset(_STOP_EN | _STOP_FR)

_WORD = re.compile(r"[^\W_]+(?:[.,][0-9]+)*", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CITATION = re.compile(r"\[\s*(\d+(?:\s*[,;–-]\s*\d+)*)\s*\]")
_ONLY_CITATIONS = re.compile(r"^(?:\[[\d\s,;–-]*\]\s*)+[.!?]?$")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"'«(\[]?[A-ZÀ-Ý0-9])|\n\s*\n|\n(?=\s*[-*•]\s)")


# ----- text helpers --------------------------------------------------------------------------
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


def _matches(word: str, vocabulary: set[str]) -> bool:
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
    return sum(1 for w in query_words if _matches(w, vocabulary)) / len(query_words)


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


def message(kind: str, language: str) -> str:
    """A fixed message ("refused" or "unverified") in ``language`` (English by default)."""
    return MESSAGES[kind].get(language, MESSAGES[kind][ENGLISH])


# ----- the gate ------------------------------------------------------------------------------
@dataclass(frozen=True)
class GateThresholds:
    """The thresholds of the gate's rule (defaults: the tuned module constants)."""

    dense_high: float = GATE_DENSE_HIGH
    dense_low: float = GATE_DENSE_LOW
    coverage: float = GATE_COVERAGE
    coverage_foreign: float = GATE_COVERAGE_FOREIGN


@dataclass
class GateDecision:
    """Whether the passages are relevant enough to answer from, and the signals behind it."""

    open: bool
    dense: float
    coverage: float
    key_term: bool
    reason: str


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


def gate(
    question: str, passages: Sequence[Passage], language: str,
    thresholds: GateThresholds = GateThresholds(),
) -> GateDecision:
    """Open the gate when the best passages are relevant enough to answer ``question``.

    Signals over the first `GATE_PASSAGES` passages: the best dense cosine; the best share of
    the question's content words that one passage holds; whether a passage holds one of the
    question's identifier-like key terms (an acronym such as "BEIR": an exact match that
    survives a question asked in another language than the document).
    Rule: open on a high cosine; or on a key term or enough content words with at least a
    low cosine. For a question not in English the cosine is unreliable (English-only
    embedder): enough content words suffice.
    """
    top = list(passages[:GATE_PASSAGES])
    if not top:
        return GateDecision(False, 0.0, 0.0, False, "no passage")
    dense = max((p.dense_score for p in top if p.dense_score is not None), default=0.0)
    words = content_words(question)
    texts = [f"{p.heading} {p.text}" for p in top]
    cover = max(coverage(words, text) for text in texts)
    terms = key_terms(question)
    lowered = [text.lower() for text in texts]
    key = any(re.search(rf"(?<!\w){re.escape(t)}(?!\w)", text) for t in terms for text in lowered)
    return GateDecision(*_gate_rule(language, dense, cover, key, thresholds))


def _gate_rule(
    language: str, dense: float, cover: float, key: bool, t: GateThresholds
) -> tuple[bool, float, float, bool, str]:
    if dense >= t.dense_high:
        return True, dense, cover, key, "dense"
    if key and dense >= t.dense_low:
        return True, dense, cover, key, "key term"
    if language == ENGLISH:
        if cover >= t.coverage and dense >= t.dense_low:
            return True, dense, cover, key, "lexical+dense"
    elif cover >= t.coverage_foreign:
        return True, dense, cover, key, "lexical"
    return False, dense, cover, key, "weak"


def gate_rule(language: str, dense: float, cover: float, key: bool, thresholds: GateThresholds) -> bool:
    """The gate's decision from its signals (used to tune the thresholds)."""
    return _gate_rule(language, dense, cover, key, thresholds)[0]


# ----- sentences of the passages ---------------------------------------------------------------
@dataclass
class PassageSentences:
    """Every sentence of the retrieved passages with its embedding (computed once per question)."""

    passages: list[Passage]
    sentences: list[str]
    owner: list[int]  # index of the passage each sentence comes from
    vectors: np.ndarray

    @classmethod
    def build(cls, passages: Sequence[Passage], embedder: Embedder) -> PassageSentences:
        """Split ``passages`` into sentences and embed them."""
        sentences: list[str] = []
        owner: list[int] = []
        for i, passage in enumerate(passages):
            for sentence in split_sentences(passage.text):
                if len(content_words(sentence)) >= 2:
                    sentences.append(sentence)
                    owner.append(i)
        vectors = embedder.encode(sentences) if sentences else np.zeros((0, 1), dtype=np.float32)
        return cls(list(passages), sentences, owner, vectors)


def evidence(
    question: str,
    question_vector: np.ndarray,
    index: PassageSentences,
    language: str,
    limit: int = EVIDENCE_SENTENCES,
) -> list[Evidence]:
    """The ``limit`` passage sentences that best answer ``question``, best first.

    Score: cosine with the question plus its content-word overlap (for a question not in
    English the overlap counts more, the embedder being English-only), with a small bonus for
    higher-ranked passages.
    """
    if not index.sentences:
        return [_evidence(p.text[:MAX_SENTENCE_CHARS], p, 0.0) for p in index.passages[:limit]]
    cosines = index.vectors @ question_vector
    words = content_words(question)
    lexical_weight = 0.5 if language == ENGLISH else 0.8
    scored = []
    for i, sentence in enumerate(index.sentences):
        lexical = coverage(words, sentence)
        rank_bonus = 0.05 / (1 + index.owner[i])
        score = (1 - lexical_weight) * float(cosines[i]) + lexical_weight * lexical + rank_bonus
        scored.append((score, i))
    scored.sort(key=lambda item: -item[0])
    chosen: list[Evidence] = []
    seen: set[str] = set()
    for score, i in scored:
        key = " ".join(content_words(index.sentences[i]))
        if key in seen:
            continue
        seen.add(key)
        chosen.append(_evidence(index.sentences[i], index.passages[index.owner[i]], score))
        if len(chosen) >= limit:
            break
    return chosen


def _evidence(text: str, passage: Passage, score: float) -> Evidence:
    return Evidence(text=text, path=passage.path, page=passage.page, heading=passage.heading,
                    score=round(float(score), 4), chunk_id=passage.chunk_id)


# ----- verification -------------------------------------------------------------------------
@dataclass
class Verification:
    """The verdict on a generated answer."""

    text: str  # the answer with invalid citations removed and repeated sentences dropped
    sentences: list[SentenceVerdict]
    cited: list[int] = field(default_factory=list)  # valid citation numbers, in order
    supporting: list[int] = field(default_factory=list)  # passage numbers that support sentences
    best_support: dict[int, str] = field(default_factory=dict)  # n -> best supporting sentence

    @property
    def verified(self) -> bool:
        """At least one sentence is supported."""
        return any(s.supported for s in self.sentences)


def verify(answer: str, index: PassageSentences, embedder: Embedder, valid: int) -> Verification:
    """Check every sentence of ``answer`` against the passages (numbered 1..len(passages)).

    ``valid`` is how many passages were in the prompt: citations outside 1..``valid`` are
    removed. A sentence is supported when one sentence of a passage (its cited passages are
    tried first, then the others) scores at least `SUPPORT_SCORE` on
    ``w * lexical + (1 - w) * cosine`` and holds every number the sentence states.
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
    vectors = embedder.encode(plain) if plain else np.zeros((0, 1), dtype=np.float32)
    verdicts: list[SentenceVerdict] = []
    supporting: dict[int, None] = {}
    best_support: dict[int, tuple[float, str]] = {}
    for sentence, clean, vector in zip(sentences, plain, vectors):
        cites = [n for n in cited_numbers(sentence) if 1 <= n <= valid]
        score, n, source = _support(clean, vector, index, cites)
        supported = score >= SUPPORT_SCORE
        verdicts.append(SentenceVerdict(text=sentence, supported=supported, score=round(score, 4),
                                        citations=cites))
        if supported and n is not None:
            supporting[n] = None
            if score > best_support.get(n, (-1.0, ""))[0]:
                best_support[n] = (score, source)
    cited = list(dict.fromkeys(n for v in verdicts for n in v.citations))
    return Verification(text, verdicts, cited, list(supporting),
                        {n: s for n, (_, s) in best_support.items()})


def _support(
    sentence: str, vector: np.ndarray, index: PassageSentences, cites: list[int]
) -> tuple[float, int | None, str]:
    """Best support score of ``sentence``, the passage number giving it, and its sentence."""
    words = content_words(sentence)
    if not words or not index.sentences:
        return 0.0, None, ""
    stated = numbers(sentence)
    cosines = index.vectors @ vector
    best: tuple[float, int | None, str] = (0.0, None, "")
    # Cited passages first: a supported sentence there wins ties with other passages.
    order = sorted(range(len(index.sentences)), key=lambda i: (index.owner[i] + 1) not in cites)
    passage_numbers = {i: numbers(p.text) for i, p in enumerate(index.passages)}
    for i in order:
        owner = index.owner[i]
        if stated and not stated <= passage_numbers[owner]:
            continue
        lexical = coverage(words, index.sentences[i])
        score = SUPPORT_LEXICAL_WEIGHT * lexical + (1 - SUPPORT_LEXICAL_WEIGHT) * float(cosines[i])
        if score > best[0] + 1e-9:
            best = (score, owner + 1, index.sentences[i])
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
