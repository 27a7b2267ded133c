"""What the rest of the app reads and writes an index through, whichever engine keeps it:
`IndexStore` (one SQLite file, the default) or `MilvusStore` (collections on a Milvus server).

Both give the same records, the same errors and the same two lists a question is fused from
(dense cosine and BM25, by chunk id); the fusion, the gate and everything above stay the same.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol, Self

import numpy as np

from rag_app.store.integrity import IntegrityReport
from rag_app.store.records import ChunkRecord, DocumentRecord, IndexStats, NewChunk


class StoreWriter(Protocol):
    """The changes of one commit (`Store.transaction`): visible together when it ends."""

    def remove_document(self, path: str) -> int:
        """Remove a document with its chunks and vectors; returns the number of chunks removed."""
        ...

    def add_document(self, *, path: str, content_hash: str, size: int, mtime: float, title: str,
                     metadata: dict[str, str], chunks: Sequence[NewChunk], vectors: np.ndarray) -> list[int]:
        """Store a document (replacing any earlier version) with its chunks and vectors; returns
        the chunks' ids."""
        ...

    def touch_document(self, path: str, mtime: float) -> None:
        """Record a new mtime for a document whose content did not change."""
        ...

    def record_failure(self, path: str, reason: str, size: int = -1, mtime: float = -1) -> None:
        """Remember that a file (of this size and mtime) could not be ingested, and why."""
        ...

    def forget_failure(self, path: str) -> None:
        """Drop a failure record (the file was deleted or is now readable)."""
        ...


class StoreBasics:
    """What both stores do the same way: the recorded values, read from their own `meta`, and
    closing at the end of a ``with`` block."""

    def meta(self, key: str) -> str | None:
        """One recorded value of the index, or None."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the store holds (its connection, its client)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def embedding_model(self) -> str:
        """Name of the embedding model the index was built with ('' when empty)."""
        return self.meta("embedding_model") or ""

    @property
    def dimension(self) -> int:
        """Vector dimension (0 when the index is still empty)."""
        return int(self.meta("dimension") or 0)

    @property
    def generation(self) -> int:
        """Number of commits so far (0 for a new index)."""
        return int(self.meta("generation") or 0)


class IndexReader(Protocol):
    """What answering and retrieval read: one consistent state, the vectors, the two searches,
    the chunks and documents."""

    def snapshot(self) -> AbstractContextManager[IndexReader]:
        """Reads inside see one committed state, as far as the engine allows."""
        ...

    def refresh(self) -> None:
        """See what was committed since the last read."""
        ...

    def meta(self, key: str) -> str | None:
        """One recorded value of the index (``embedding_model``, ``dimension``, ``chunking``, …)."""
        ...

    @property
    def embedding_model(self) -> str: ...
    @property
    def dimension(self) -> int: ...
    @property
    def generation(self) -> int: ...
    @property
    def vector_count(self) -> int: ...

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of these chunk ids, in order."""
        ...

    def dense_search(self, query_vector: np.ndarray, k: int,
                     within: Collection[str] | None = None) -> list[tuple[int, float]]:
        """Chunk ids and cosine scores of the ``k`` nearest vectors; with ``within``, only among
        the chunks of the documents at those paths, inside the search (a scope of one file
        among many still gives that file's ``k`` best)."""
        ...

    def bm25_search(self, text: str, k: int, within: Collection[str] | None = None) -> list[tuple[int, float]]:
        """Chunk ids and BM25 scores (higher is better) for any user text; [] if it has no word;
        ``within``: as for `dense_search`."""
        ...

    def mentions(self, term: str, prefix: bool = False) -> bool:
        """Whether any chunk holds ``term`` (its words in a row), whatever the case and accents."""
        ...

    def chunks(self, ids: Sequence[int]) -> list[ChunkRecord]:
        """The chunks with these ids, in the order of ``ids`` (unknown ids are skipped)."""
        ...

    def document_chunks(self, path: str) -> list[ChunkRecord]:
        """All chunks of one document, in order."""
        ...

    def documents(self, path: str | None = None) -> list[DocumentRecord]:
        """Every indexed document with its chunk count, by path (only ``path``'s, when given)."""
        ...

    def failures(self) -> list[tuple[str, str]]:
        """Files the last ingestions could not read, as (path, reason)."""
        ...

    def chunk_count(self) -> int: ...
    def chunk_ids(self) -> list[int]: ...
    def stats(self) -> IndexStats: ...



class IndexWriting(Protocol):
    """What an ingest writes through: the checks that it writes with the same model and
    chunking, what it can reuse, and the commits of the one process that writes."""

    def check_model(self, embedding_model: str, dimension: int) -> None:
        """Raise `IndexMismatchError` unless the index is empty or built with this model."""
        ...

    def check_chunking(self, chunk_tokens: int, chunk_overlap: int) -> None:
        """Raise `IndexMismatchError` when the index's chunks were cut with other settings."""
        ...

    def known_failures(self) -> dict[str, tuple[str, int, float]]:
        """Recorded failures as path -> (reason, size, mtime)."""
        ...

    def known_vectors(self, text_hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors of chunks whose text hash is among ``text_hashes`` (for reuse)."""
        ...

    def writing(self, *, wait: bool = False) -> AbstractContextManager[IndexWriting]:
        """Hold the index for writing; `IndexBusyError` when another process does (unless ``wait``)."""
        ...

    def transaction(self, embedding_model: str, dimension: int, *,
                    chunking: tuple[int, int] | None = None) -> AbstractContextManager[StoreWriter]:
        """One commit, inside `writing`."""
        ...

    def update_vector_cache(self) -> bool:
        """Whatever the engine keeps beside the committed data, brought up to date (inside `writing`)."""
        ...


class IndexLifecycle(Protocol):
    """What keeps an index whole: its checks, their repair, a backup (a rebuild from nothing is
    `store.rebuild.rebuild_store`, each store its own way)."""

    def check(self, *, full: bool = False, vectors: bool = True) -> IntegrityReport:
        """What is damaged or disagrees in the index (reads only); ``full``: every check there
        is; ``vectors``: the vector search against the stored vectors too."""
        ...

    def repair(self) -> IntegrityReport:
        """Rebuild the derived parts `check` finds damaged; the check afterwards."""
        ...

    def backup(self, destination: Path) -> Path:
        """A whole, checked copy of the index in the folder ``destination`` (an embedded SQLite
        index, whatever the store), taken while questions and an ingest go on; its file."""
        ...


class Store(IndexReader, IndexWriting, IndexLifecycle, Protocol):
    """An index: reads for any number of processes (`IndexReader`), `writing` for the one that
    writes (`IndexWriting`), its checks and backups (`IndexLifecycle`). Each store passes the
    same contract (tests/store_contract.py)."""

    index_dir: Path  # the local folder of the index (its writer lock; SQLite keeps everything there)

    @property
    def location(self) -> str:
        """Where the index is, for messages: a folder, or a Milvus URI and collection."""
        ...

    def close(self) -> None: ...
    def __enter__(self) -> Store: ...
    def __exit__(self, *exc: object) -> None: ...
