"""Hybrid retrieval: dense (FAISS) and BM25 (SQLite FTS5) rankings fused into one.

Fusion is a convex combination of standardized scores over the union of the first
``candidates`` chunks of each list::

    score(chunk) = w * z(cosine) + (1 - w) * z(bm25)

where ``z`` is the z-score over that union for this query (the cosine is known for every
candidate; a chunk outside the BM25 list gets the lowest BM25 z-score) and ``w`` is
``settings.dense_weight``. Unlike rank fusion it keeps how far ahead a list's best chunk is:
a clear dense winner is not pulled down by a middling BM25 rank (see docs/evaluation.md). With
an English-only embedder (all-MiniLM-L6-v2) the dense term of a question in another language is
multiplied by ``settings.foreign_dense_factor``, so BM25 leads; a multilingual embedder (the
default, multilingual-e5-small) keeps its weight. Optional MMR re-orders the fused list to avoid
near-duplicate passages.

Any text is a valid query: the store quotes every word for FTS5, so operators and punctuation
are inert; very long text is cut for both searches. An empty (or blank) query raises
`EmptyQueryError`, a `ValueError` whose message can be shown as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rag_app.answer import Passage
from rag_app.config import RetrievalSettings
from rag_app.embedding import Embedder
from rag_app.retrieval.fusion import mmr_order, zscore_fuse
from rag_app.retrieval.scope import resolve_scope
from rag_app.store import ChunkRecord, IndexReader
from rag_app.text import ENGLISH, FUNCTION_WORDS, guess_language, search_words

log = logging.getLogger(__name__)

MODES = ("hybrid", "dense", "bm25")
# The embedder reads at most 256 word pieces (~1,000 characters of English); cut long pastes
# well beyond that so a 100 KB paste is not tokenized for nothing.
MAX_DENSE_QUERY_CHARS = 2000
# BM25 uses the first distinct words (the store caps them at 64); this bounds the scan.
MAX_BM25_QUERY_CHARS = 5000


def bm25_text(query: str) -> str:
    """The words BM25 searches for: the query's words without English/French function words.

    Function words ("the", "what", "les", "est") match nearly every chunk: dropping them keeps
    the ranking (their IDF is tiny) and makes the full-text search over a large index many
    times faster. A query made only of function words is searched as it is.
    """
    words = search_words(query[:MAX_BM25_QUERY_CHARS])
    content = [word for word in words if word not in FUNCTION_WORDS]
    return " ".join(content or words)


class EmptyQueryError(ValueError):
    """The query holds no text to search for."""

    def __init__(self) -> None:
        super().__init__("The question is empty: type a few words to search for.")


def _check_query(query: object) -> None:
    if not isinstance(query, str) or not query.strip():
        raise EmptyQueryError()


@dataclass
class Ranked:
    """The raw candidate lists of one query, before fusion (ids with scores, best first)."""

    query_vector: np.ndarray | None
    dense: list[tuple[int, float]]
    bm25: list[tuple[int, float]]
    language: str
    cosines: dict[int, float] = field(default_factory=dict)  # query cosines known so far

    def __post_init__(self) -> None:
        self.cosines = {**dict(self.dense), **self.cosines}

    def union(self, depth: int) -> list[int]:
        """The ids of the first ``depth`` of each list, dense first, without repeats."""
        return list(dict.fromkeys([i for i, _ in self.dense[:depth]] + [i for i, _ in self.bm25[:depth]]))


class HybridRetriever:
    """Search one index by meaning (dense), by words (BM25), or both fused (the default)."""

    def __init__(self, store: IndexReader, embedder: Embedder, settings: RetrievalSettings) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings

    # ----- public ------------------------------------------------------------------------
    def search(self, query: str, k: int | None = None, mode: str = "hybrid", *,
               vector: np.ndarray | None = None, within: Collection[str] | None = None) -> list[Passage]:
        """The ``k`` best passages (``settings.top_k`` by default) for any user text.

        ``mode`` is "hybrid" (fused, what the product uses), "dense" or "bm25"; ``vector`` is
        the query's embedding when the caller has it (`query_vector`); ``within``: only the
        documents at these paths (a scope, `retrieval.scope`), searched inside both lists.
        Raises `EmptyQueryError` for an empty or blank query.
        """
        return self.search_modes(query, k, modes=(mode,), vector=vector, within=within)[mode]

    def search_modes(
        self,
        query: str,
        k: int | None = None,
        modes: Iterable[str] = MODES,
        *,
        candidates: int | None = None,
        vector: np.ndarray | None = None,
        within: Collection[str] | None = None,
    ) -> dict[str, list[Passage]]:
        """Several rankings of one query from a single embedding and BM25 pass (for evaluation).

        ``candidates`` overrides how many chunks each list contributes (default: the setting,
        at least ``k``). Everything is read from one committed state of the index.
        """
        modes = tuple(modes)
        for mode in modes:
            if mode not in MODES:
                raise ValueError(f"Unknown retrieval mode {mode!r}: use one of {', '.join(MODES)}.")
        _check_query(query)
        k = self.settings.top_k if k is None else k
        depth = max(candidates or self.settings.candidates, k)
        if vector is None and ("dense" in modes or "hybrid" in modes):
            vector = self.query_vector(query)
        with self.store.snapshot():
            ranked = self._ranked(query, vector, depth, bm25="bm25" in modes or "hybrid" in modes, within=within)
            results: dict[str, list[Passage]] = {}
            for mode in modes:
                if mode == "dense":
                    order = ranked.dense[:k]
                elif mode == "bm25":
                    order = ranked.bm25[:k]
                else:
                    order = self._fuse(ranked, k)
                results[mode] = self._passages(order, ranked)
        return results

    def scope(self, patterns: Sequence[str]) -> frozenset[str] | None:
        """The paths of this index's documents that ``patterns`` choose (`scope.resolve_scope`),
        for ``within``; None without any. Raises `ScopeError` naming a pattern that matches none."""
        return resolve_scope(patterns, (d.path for d in self.store.documents())) if patterns else None

    def ranked_lists(self, query: str, depth: int, *, dense: bool = True, bm25: bool = True) -> Ranked:
        """The dense and BM25 candidate lists of ``query`` (each up to ``depth`` chunks), both
        read from one committed state of the index."""
        _check_query(query)
        vector = self.query_vector(query) if dense else None
        with self.store.snapshot():
            return self._ranked(query, vector, depth, bm25=bm25)

    def query_vector(self, query: str) -> np.ndarray:
        """The query's embedding (computed outside any snapshot: other questions need not wait).
        Raises `EmptyQueryError` for an empty or blank query."""
        _check_query(query)
        return self.embedder.encode_query(query[:MAX_DENSE_QUERY_CHARS])

    def _ranked(self, query: str, vector: np.ndarray | None, depth: int, *, bm25: bool,
                within: Collection[str] | None = None) -> Ranked:
        dense_hits = self.store.dense_search(vector, depth, within) if vector is not None else []
        bm25_hits = self.store.bm25_search(bm25_text(query), depth, within) if bm25 else []
        return Ranked(vector, dense_hits, bm25_hits, guess_language(query))

    def weights(self, language: str) -> tuple[float, float]:
        """(dense, BM25) fusion weights for a query in ``language``."""
        dense = self.settings.dense_weight
        bm25 = 1.0 - dense
        if language != ENGLISH and not self.embedder.calibration.multilingual:
            dense *= self.settings.foreign_dense_factor
        return dense, bm25

    # ----- internals ---------------------------------------------------------------------
    def _fuse(self, ranked: Ranked, k: int) -> list[tuple[int, float]]:
        """Fuse the first ``settings.candidates`` of each list (what the product ranks).

        When the lists are deeper (evaluation asks for 100), the chunks beyond follow in the
        order of the fusion of the whole lists, so the head is the product's ranking.
        """
        weights = self.weights(ranked.language)
        depth = self.settings.candidates
        full = max(len(ranked.dense), len(ranked.bm25))

        def fuse(n: int) -> list[tuple[int, float]]:
            ids = ranked.union(n)
            cosines = self._cosines(ids, ranked)  # BM25-only chunks need their cosine too
            return zscore_fuse(ids, cosines, dict(ranked.bm25[:n]), weights)

        fused = fuse(depth)
        if self.settings.mmr and len(fused) > 1 and self.store.vector_count:
            ids = [i for i, _ in fused]
            order = mmr_order([s for _, s in fused], self.store.vectors(ids), k, self.settings.mmr_lambda)
            fused = [fused[i] for i in order]
        if len(fused) < k and full > depth:
            seen = {i for i, _ in fused}
            fused += [(i, s) for i, s in fuse(full) if i not in seen]
        return fused[:k]

    def _passages(self, order: list[tuple[int, float]], ranked: Ranked) -> list[Passage]:
        ids = [chunk_id for chunk_id, _ in order]
        records = {record.id: record for record in self.store.chunks(ids)}
        dense = {cid: rank for rank, (cid, _) in enumerate(ranked.dense, start=1)}
        bm25 = {cid: (rank, score) for rank, (cid, score) in enumerate(ranked.bm25, start=1)}
        cosines = self._cosines([i for i in ids if i in records], ranked)
        passages: list[Passage] = []
        for chunk_id, score in order:
            record = records.get(chunk_id)
            if record is None:  # removed by an ingestion since the search: skip it
                continue
            bm25_rank, bm25_score = bm25.get(chunk_id, (None, None))
            passages.append(_passage(record, score, cosines.get(chunk_id), bm25_score, dense.get(chunk_id),
                                     bm25_rank, len(passages) + 1))
        return passages

    def _cosines(self, ids: list[int], ranked: Ranked) -> dict[int, float]:
        """The query's cosine with each of ``ids`` (read from the index once, kept in ``ranked``)."""
        missing = [i for i in ids if i not in ranked.cosines]
        if missing and ranked.query_vector is not None:
            vectors = self.store.vectors(missing)
            ranked.cosines.update((i, float(s)) for i, s in zip(missing, vectors @ ranked.query_vector, strict=True))
        return ranked.cosines


def _passage(
    record: ChunkRecord,
    score: float,
    dense_score: float | None,
    bm25_score: float | None,
    dense_rank: int | None,
    bm25_rank: int | None,
    fused_rank: int,
) -> Passage:
    return Passage(
        chunk_id=record.id,
        path=record.path,
        page=record.page,
        heading=record.heading,
        text=record.text,
        score=float(score),
        dense_score=dense_score,
        bm25_score=bm25_score,
        dense_rank=dense_rank,
        bm25_rank=bm25_rank,
        fused_rank=fused_rank,
        ocr=record.ocr,
    )
