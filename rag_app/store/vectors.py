"""One reader's vector search, kept in step with the generation its snapshot reads.

The vectors live in the database (`rag_app.store`); a `VectorMirror` holds the `VectorIndex`
built from them and brings it forward by deltas: ids above the highest it holds (chunk ids only
grow) and the removal log (`removed_chunks`) since its last sync. It starts from the newest
on-disk cache when there is one (see docs/architecture.md), and it writes that cache for the
writer when the vectors have moved on by more than `CACHE_REWRITE_SHARE`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag_app.store.records import IndexUnavailableError
from rag_app.store.schema import REBUILD_HINT
from rag_app.store.vector_index import VectorIndex, cache_name, cached_generations

log = logging.getLogger(__name__)

# Rewrite the on-disk vector cache when the vectors changed since it by more than this share.
CACHE_REWRITE_SHARE = 0.1
EXACT_SCOPE = 20_000  # a scope of at most this many chunks in an IVF index is searched exactly
_READ_BATCH = 500


def _contains(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Mask of the ``ids`` present in the ascending array ``sorted_ids``."""
    if not len(sorted_ids):
        return np.zeros(len(ids), dtype=bool)
    positions = np.searchsorted(sorted_ids, ids).clip(max=len(sorted_ids) - 1)
    return sorted_ids[positions] == ids


class VectorMirror:
    """The vectors of one index as a searchable `VectorIndex`, at a known generation.

    Every method runs inside the caller's read transaction on ``conn`` (and under its lock).
    """

    def __init__(self, index_dir: Path, conn: sqlite3.Connection) -> None:
        self.index_dir = index_dir
        self._conn = conn
        self.index: VectorIndex | None = None
        self.cache_generation = -1  # generation of the on-disk cache the vectors came from
        self.changed_since_cache = 0  # vectors added or removed since that cache
        self._removed_seen = 0  # last entry of the removal log the vectors reflect

    @property
    def generation(self) -> int:
        """The generation the vectors reflect (-1 before the first sync)."""
        return -1 if self.index is None else self.index.generation

    def sync(self, generation: int, dimension: int, cache_record: str | None) -> None:
        """Bring the vectors to ``generation``; ``cache_record`` is ``meta.vector_cache``
        ("<generation> <removal log position>" of the last cache written)."""
        if dimension == 0:
            self.index = None
            return
        if self.index is None or self.index.dimension != dimension:
            self.index = self._load_cache(generation, dimension)
            if self.index is None:
                current = self._all_chunk_ids()
                self.index = VectorIndex.build(current, self.read(current, dimension), dimension, generation)
                self.cache_generation, self.changed_since_cache = -1, len(current)
                self._removed_seen = self.removed_seq()
                return
            recorded = (cache_record or "").split()
            if len(recorded) == 2 and int(recorded[0]) == self.cache_generation:
                self._removed_seen = int(recorded[1])  # the log from there on is the delta
                added, removed = self._delta_since_sync()
            else:
                added, removed = self._delta_by_ids()
        else:
            added, removed = self._delta_since_sync()
        self.index.apply(added, self.read(added, dimension), removed, generation)
        self.changed_since_cache += len(added) + len(removed)

    def save_cache_if_stale(self) -> tuple[VectorIndex | None, int]:
        """Rebuild the structure if its kind no longer suits the size, and write it as the cache
        when the last cache is missing or lags by more than `CACHE_REWRITE_SHARE`.

        Returns (the index written, its removal log position), or (None, 0) when nothing was
        written. For the writer, after `sync`.
        """
        vectors = self.index
        if vectors is None:
            return None, 0
        if vectors.needs_rebuild():
            current = vectors.ids()
            vectors = VectorIndex.build(current, self.read(current, vectors.dimension), vectors.dimension,
                                        vectors.generation)
            self.index, self.cache_generation = vectors, -1
        stale = self.changed_since_cache > CACHE_REWRITE_SHARE * max(vectors.count, 1)
        if self.cache_generation >= 0 and not stale:
            return None, 0
        vectors.save(self.index_dir)
        self.cache_generation, self.changed_since_cache = vectors.generation, 0
        return vectors, self._removed_seen

    def search(self, query: np.ndarray, k: int, within: Sequence[int] | None, dimension: int
               ) -> list[tuple[int, float]]:
        """The ``k`` best of the synced index for ``query``, only among the ids ``within`` when
        given: inside the search (an id selector), or, for a scope of at most `EXACT_SCOPE`
        chunks in an IVF index (whose probed lists could miss them), exactly over their stored
        vectors."""
        if self.index is None:
            return []
        if within is None:
            return self.index.search(query, k)
        ids = np.asarray(within, dtype=np.int64)
        if not self.index.approximate or len(ids) > EXACT_SCOPE:
            return self.index.search(query, k, within=ids)
        scores = self.read(ids, dimension) @ np.asarray(query, dtype=np.float32)
        return [(int(ids[i]), float(scores[i])) for i in np.argsort(-scores)[:k]]

    def read(self, ids: Sequence[int] | np.ndarray, dimension: int) -> np.ndarray:
        """The stored vectors of ``ids``, in that order (ids without a vector are an error)."""
        ids = [int(i) for i in ids]
        if not ids:
            return np.empty((0, dimension), dtype=np.float32)
        found: dict[int, bytes] = {}
        if len(ids) > 20 * _READ_BATCH:  # many: one range scan beats many lookups
            wanted = set(ids)
            for row in self._conn.execute("SELECT id, embedding FROM vectors WHERE id >= ?", (min(ids),)):
                if row[0] in wanted:
                    found[row[0]] = row[1]
        else:
            for start in range(0, len(ids), _READ_BATCH):
                batch = ids[start : start + _READ_BATCH]
                marks = ",".join("?" * len(batch))
                found.update(self._conn.execute(f"SELECT id, embedding FROM vectors WHERE id IN ({marks})", batch))
        missing = [i for i in ids if i not in found]
        if missing:
            raise IndexUnavailableError(
                f"The index in {self.index_dir} has chunks without vectors (e.g. chunk {missing[0]}). {REBUILD_HINT}"
            )
        return np.frombuffer(b"".join(found[i] for i in ids), dtype=np.float32).reshape(len(ids), -1)

    def removed_seq(self) -> int:
        """Sequence number of the last chunk removal ever recorded (0 if none)."""
        row = self._conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'removed_chunks'").fetchone()
        return int(row[0]) if row else 0

    def _delta_by_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """(added, removed) chunk ids against the held vectors, by comparing every id."""
        assert self.index is not None
        current, held = self._all_chunk_ids(), self.index.ids()
        self._removed_seen = self.removed_seq()
        return (np.setdiff1d(current, held, assume_unique=True),
                np.setdiff1d(held, current, assume_unique=True))

    def _delta_since_sync(self) -> tuple[np.ndarray, np.ndarray]:
        """(added, removed) chunk ids since the last sync, from the new ids (ids only grow) and
        the removal log; falls back to comparing every id if the log was pruned past us."""
        assert self.index is not None
        held = self.index.ids()
        last = int(held[-1]) if len(held) else 0
        added = np.array([r[0] for r in self._conn.execute("SELECT id FROM chunks WHERE id > ? ORDER BY id", (last,))],
                         dtype=np.int64)
        removed = np.empty(0, dtype=np.int64)
        if self.removed_seq() > self._removed_seen:
            rows = self._conn.execute("SELECT seq, id FROM removed_chunks WHERE seq > ? ORDER BY seq",
                                      (self._removed_seen,)).fetchall()
            if not rows or rows[0][0] != self._removed_seen + 1:  # pruned: the log has a gap
                return self._delta_by_ids()
            ids = np.array([r[1] for r in rows], dtype=np.int64)
            removed = ids[_contains(held, ids)]
            self._removed_seen = int(rows[-1][0])
        return added, removed

    def _load_cache(self, generation: int, dimension: int) -> VectorIndex | None:
        """The newest cached vector index not newer than ``generation``, or None."""
        for cached in cached_generations(self.index_dir):
            if cached > generation:
                continue
            try:
                vectors = VectorIndex.load(self.index_dir / cache_name(cached), cached)
            except (OSError, RuntimeError) as exc:  # removed meanwhile, or damaged: try the next
                log.info("Vector cache %s not used: %s", cache_name(cached), exc)
                continue
            if vectors.dimension == dimension:
                self.cache_generation, self.changed_since_cache = cached, 0
                return vectors
        return None

    def _all_chunk_ids(self) -> np.ndarray:
        rows = self._conn.execute("SELECT id FROM chunks").fetchall()
        return np.sort(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))
