"""Evidence: the sentences of the retrieved passages that best answer the question."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from rag_app.answer import Evidence, Passage
from rag_app.embedding import Embedder
from rag_app.text import (
    ENGLISH,
    MAX_SENTENCE_CHARS,
    content_words,
    coverage,
    normalized,
    split_sentences,
)

SENTENCE_VECTORS = 20_000  # sentence vectors kept (about 30 MB with 384 dimensions)


class SentenceVectors:
    """The vectors of the passages' sentences, by embedder and text, the most recent
    `SENTENCE_VECTORS` kept: the passages of a question, of its drafts and of the next questions
    are mostly the same, and embedding their sentences is most of retrieval's time (0.4 s for
    five passages on two cores). Thread-safe."""

    def __init__(self, capacity: int = SENTENCE_VECTORS) -> None:
        self.capacity = capacity
        self._vectors: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, sentences: Sequence[str], embedder: Embedder) -> np.ndarray:
        """``embedder.encode_sentences(sentences)``, embedding only the sentences not kept."""
        keys = [(embedder.name, s) for s in sentences]
        with self._lock:
            found = {k: self._vectors[k] for k in keys if k in self._vectors}
        missing = [k for k in dict.fromkeys(keys) if k not in found]
        if missing:
            found.update(zip(missing, embedder.encode_sentences([s for _, s in missing]), strict=True))
        with self._lock:
            for key in keys:
                self._vectors[key] = found[key]
                self._vectors.move_to_end(key)
            while len(self._vectors) > self.capacity:
                self._vectors.popitem(last=False)
        return np.stack([found[k] for k in keys])


@dataclass
class PassageSentences:
    """Every sentence of the retrieved passages with its embedding (computed once per question)."""

    passages: list[Passage]
    sentences: list[str]
    owner: list[int]  # index of the passage each sentence comes from
    vectors: np.ndarray
    position: list[int] = field(default_factory=list)  # its place among its passage's sentences
    normalized: list[str] = field(default_factory=list)  # each passage's heading + text, `normalized`

    @classmethod
    def build(cls, passages: Sequence[Passage], embedder: Embedder,
              kept: SentenceVectors | None = None) -> PassageSentences:
        """Split ``passages`` into sentences and embed them (through ``kept`` when given)."""
        sentences: list[str] = []
        owner: list[int] = []
        position: list[int] = []
        for i, passage in enumerate(passages):
            for j, sentence in enumerate(split_sentences(passage.text)):
                if len(content_words(sentence)) >= 2:
                    sentences.append(sentence)
                    owner.append(i)
                    position.append(j)
        if not sentences:
            vectors = np.zeros((0, 1), dtype=np.float32)
        else:
            vectors = kept.encode(sentences, embedder) if kept else embedder.encode_sentences(sentences)
        return cls(list(passages), sentences, owner, vectors, position,
                   [normalized(f"{p.heading} {p.text}") for p in passages])


def sentence_scores(question: str, question_vector: np.ndarray, index: PassageSentences, language: str) -> list[float]:
    """How well each sentence of ``index`` answers ``question``.

    Cosine with the question plus its content-word overlap (for a question not in English the
    overlap counts more: weights tuned with the English-only all-MiniLM-L6-v2, kept with e5),
    with a small bonus for sentences of higher-ranked passages.
    """
    if not index.sentences:
        return []
    cosines = index.vectors @ question_vector
    words = content_words(question)
    lexical_weight = 0.5 if language == ENGLISH else 0.8
    return [(1 - lexical_weight) * float(cosines[i]) + lexical_weight * coverage(words, sentence)
            + 0.05 / (1 + index.owner[i]) for i, sentence in enumerate(index.sentences)]


def compress_passages(index: PassageSentences, scores: Sequence[float], keep: int) -> list[Passage]:
    """Each passage cut to its ``keep`` best sentences and their neighbours, in their order.

    Left-out stretches become " … ". A passage with no scored sentence is kept whole. The
    passages keep their identity (path, page, chunk id): citations still point at them.
    """
    best: dict[int, list[tuple[float, int]]] = {}
    for i, score in enumerate(scores):
        best.setdefault(index.owner[i], []).append((score, index.position[i]))
    out: list[Passage] = []
    for n, passage in enumerate(index.passages):
        ranked = sorted(best.get(n, []), reverse=True)[:keep]
        if not ranked:
            out.append(passage)
            continue
        sentences = split_sentences(passage.text)
        chosen = sorted({j + d for _, j in ranked for d in (-1, 0, 1) if 0 <= j + d < len(sentences)})
        pieces, previous = [], -1
        for j in chosen:
            if j > previous + 1:
                pieces.append("…")
            pieces.append(sentences[j])
            previous = j
        if previous < len(sentences) - 1:
            pieces.append("…")
        out.append(replace(passage, text=" ".join(pieces)))
    return out


def evidence(index: PassageSentences, scores: Sequence[float], limit: int) -> list[Evidence]:
    """The ``limit`` passage sentences that best answer the question, best first.

    ``scores`` are the `sentence_scores` of ``index`` for the question; a sentence that says
    the same as a better one (same content words) is skipped.
    """
    if not index.sentences:
        return [_evidence(p.text[:MAX_SENTENCE_CHARS], p, 0.0) for p in index.passages[:limit]]
    scored = sorted(((score, i) for i, score in enumerate(scores)), key=lambda item: -item[0])
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
