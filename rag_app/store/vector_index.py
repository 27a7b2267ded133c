"""The in-memory search structure over chunk vectors: exact below a size, IVF above it.

The vectors themselves live in SQLite with their chunks (the single source of truth, see
`rag_app.store`); a `VectorIndex` is derived from them, kept in memory by each reader, brought
up to date by small deltas (ids added and removed since it was built) and cached on disk as
``vectors-<generation>.faiss`` so that opening a large index does not rebuild it.

- Fewer than `IVF_MIN_VECTORS` vectors: ``IndexIDMap2(IndexFlatIP)``, exact inner product.
- From `IVF_MIN_VECTORS` on: ``IndexIVFFlat`` (inner product) with about sqrt(n) lists, trained
  on a sample, searched with `nprobe` lists (recall@10 against exact search is measured by
  ``make bench-scale``; see docs/architecture.md).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from rag_app.durable import fsync_dir

log = logging.getLogger(__name__)

IVF_MIN_VECTORS = 50_000
# k-means on at most this many points per list: enough for stable centroids, bounded time.
TRAIN_POINTS_PER_LIST = 64
# Lists probed per query, as a fraction of the lists (at least MIN_NPROBE): recall@10 0.96
# against exact search at 100k (make bench-scale).
NPROBE_FRACTION = 1 / 5
MIN_NPROBE = 16
CACHE_PREFIX = "vectors-"
CACHE_SUFFIX = ".faiss"


def cache_name(generation: int) -> str:
    """File name of the cached index built at ``generation``."""
    return f"{CACHE_PREFIX}{generation}{CACHE_SUFFIX}"


def cached_generations(index_dir: Path) -> list[int]:
    """Generations of the cached indexes in ``index_dir``, newest first."""
    found = []
    for path in index_dir.glob(f"{CACHE_PREFIX}*{CACHE_SUFFIX}"):
        number = path.name[len(CACHE_PREFIX) : -len(CACHE_SUFFIX)]
        if number.isdigit():
            found.append(int(number))
    return sorted(found, reverse=True)


def ivf_lists(n: int) -> int:
    """Number of IVF lists for ``n`` vectors (about sqrt(n))."""
    return max(1, int(math.sqrt(n)))


class VectorIndex:
    """Vectors searchable by inner product, with the chunk ids they belong to."""

    def __init__(self, index: faiss.Index, generation: int) -> None:
        self.index: Any = index  # faiss's stubs do not know remove_ids(array) or downcasts
        self.generation = generation
        self._ivf = _ivf_of(index)
        if self._ivf is not None:
            self._ivf.nprobe = max(MIN_NPROBE, int(self._ivf.nlist * NPROBE_FRACTION))
        self._ids = np.sort(self._held_ids())

    # ----- making ------------------------------------------------------------------------
    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, dimension: int, generation: int) -> VectorIndex:
        """An index over ``vectors`` (rows normalized, one per id): exact or IVF by size."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dimension)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids) >= IVF_MIN_VECTORS:
            nlist = ivf_lists(len(ids))
            quantizer = faiss.IndexFlatIP(dimension)
            index: Any = faiss.IndexIVFFlat(quantizer, dimension, nlist, faiss.METRIC_INNER_PRODUCT)
            index.cp.max_points_per_centroid = TRAIN_POINTS_PER_LIST
            sample = np.random.default_rng(0).choice(len(ids), min(len(ids), nlist * TRAIN_POINTS_PER_LIST),
                                                     replace=False)
            index.train(vectors[np.sort(sample)])
            log.info("Built an IVF index of %d lists over %d vectors", nlist, len(ids))
        else:
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        if len(ids):
            index.add_with_ids(vectors, ids)
        return cls(index, generation)

    @classmethod
    def load(cls, path: Path, generation: int) -> VectorIndex:
        """The cached index in ``path`` (raises OSError or RuntimeError when unreadable)."""
        return cls(faiss.read_index(str(path)), generation)

    def save(self, index_dir: Path) -> Path:
        """Write this index as the cache of its generation (atomically); returns the path."""
        path = index_dir / cache_name(self.generation)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        faiss.write_index(self.index, str(tmp))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(index_dir)
        return path

    # ----- reading -----------------------------------------------------------------------
    @property
    def dimension(self) -> int:
        """Vector dimension."""
        return int(self.index.d)

    @property
    def count(self) -> int:
        """Number of vectors."""
        return int(self.index.ntotal)

    @property
    def approximate(self) -> bool:
        """True for an IVF index (search probes `nprobe` lists), False for exact search."""
        return self._ivf is not None

    @property
    def trained_on(self) -> int:
        """For IVF, the number of lists it was trained with (0 for exact search)."""
        return 0 if self._ivf is None else int(self._ivf.nlist)

    def ids(self) -> np.ndarray:
        """The chunk ids held, ascending."""
        return self._ids

    def _held_ids(self) -> np.ndarray:
        if self._ivf is None:
            mapped: Any = faiss.downcast_index(self.index)
            return faiss.vector_to_array(mapped.id_map).astype(np.int64)
        lists: Any = self._ivf.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
            for i in range(self._ivf.nlist)
            if lists.list_size(i)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, dtype=np.int64)

    def search(self, query: np.ndarray, k: int, within: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Ids and inner products of the ``k`` best vectors for one query vector; only among the
        ids ``within`` when given (inside the search: a FAISS id selector). For IVF, ``within``
        is searched in the `nprobe` lists the query probes; `IndexStore` reads small scopes
        exactly instead."""
        if self.count == 0 or k <= 0 or (within is not None and len(within) == 0):
            return []
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if within is None:
            scores, ids = self.index.search(query, min(k, self.count))
        else:
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(within, dtype=np.int64))
            params: Any = faiss.SearchParameters() if self._ivf is None else faiss.SearchParametersIVF()
            params.sel = selector
            if self._ivf is not None:
                params.nprobe = self._ivf.nprobe
            scores, ids = self.index.search(query, min(k, len(within)), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    # ----- changing ----------------------------------------------------------------------
    def apply(self, added_ids: np.ndarray, added: np.ndarray, removed_ids: np.ndarray, generation: int) -> None:
        """Add and remove vectors so that the index matches ``generation``."""
        removed_ids = np.asarray(removed_ids, dtype=np.int64)
        added_ids = np.asarray(added_ids, dtype=np.int64)
        if len(removed_ids):
            self.index.remove_ids(np.ascontiguousarray(removed_ids))
            self._ids = self._ids[~np.isin(self._ids, removed_ids, assume_unique=True)]
        if len(added_ids):
            self.index.add_with_ids(
                np.ascontiguousarray(added, dtype=np.float32).reshape(-1, self.dimension),
                np.ascontiguousarray(added_ids),
            )
            if len(self._ids) and added_ids.min() <= self._ids[-1]:
                self._ids = np.union1d(self._ids, added_ids)
            else:  # the usual case: new ids are larger than every held one
                self._ids = np.concatenate([self._ids, np.sort(added_ids)])
        self.generation = generation

    def needs_rebuild(self) -> bool:
        """True when the kind of index no longer suits its size (exact grown past the IVF
        threshold, IVF shrunk below it, or IVF grown to 4x the size it was trained for)."""
        if self._ivf is None:
            return self.count >= IVF_MIN_VECTORS
        return self.count < IVF_MIN_VECTORS // 2 or ivf_lists(self.count) >= 2 * self._ivf.nlist


def remove_stale_caches(index_dir: Path, keep: int) -> None:
    """Delete cached indexes other than generation ``keep`` (and leftover temporary files)."""
    for generation in cached_generations(index_dir):
        if generation != keep:
            with contextlib.suppress(OSError):
                (index_dir / cache_name(generation)).unlink()
    for tmp in index_dir.glob(f"{CACHE_PREFIX}*{CACHE_SUFFIX}.*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()


def _ivf_of(index: faiss.Index) -> faiss.IndexIVF | None:
    with contextlib.suppress(RuntimeError):
        return faiss.extract_index_ivf(index)
    return None
