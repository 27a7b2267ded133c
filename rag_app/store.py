"""The index: documents, chunks and an FTS5 table in SQLite, vectors in FAISS, committed atomically.

Layout of an index folder::

    index.sqlite3          documents, chunks, chunks_fts (BM25), failures, meta
    vectors-<N>.faiss      FAISS IndexIDMap2 over inner product; ids are chunk ids

Atomicity: a write builds the new FAISS file under a new generation name, fsyncs it, and only
then commits the SQLite transaction that points ``meta.faiss_file`` at it. A crash before the
commit leaves the previous SQLite state pointing at the previous FAISS file; a crash after it
leaves the new pair. Stale FAISS files are deleted on the next write. Nothing is pickled.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import faiss
import numpy as np

from rag_app.store_records import (  # noqa: F401  (re-exported: the store's public types)
    DB_NAME,
    LOCK_NAME,
    REBUILD_HINT,
    SCHEMA_VERSION,
    ChunkRecord,
    DocumentRecord,
    IndexMismatchError,
    IndexStats,
    IndexUnavailableError,
    NewChunk,
    chunk_from_row,
    connect,
    fts_query,
    SCHEMA,
)
from rag_app.durable import fsync_dir
from rag_app.store_writer import IndexWriter

log = logging.getLogger(__name__)


class IndexStore:
    """An index folder opened for reading, with `writer()` for the one process that writes.

    ``embedding_model``/``dimension`` given to `open` must match what the index records; an
    index that does not exist yet is created empty for them.
    """

    def __init__(self, index_dir: Path, conn: sqlite3.Connection) -> None:
        self.index_dir = index_dir
        self._conn = conn
        self._faiss_file: str | None = None
        self._faiss: faiss.Index | None = None
        self._vectors_lock = threading.Lock()
        self._load_vectors()

    # ----- opening -----------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        index_dir: Path | str,
        embedding_model: str | None = None,
        dimension: int | None = None,
        *,
        create: bool = True,
    ) -> IndexStore:
        """Open (or create) the index in ``index_dir``.

        With ``embedding_model`` and ``dimension`` given, an index built with another model is
        an `IndexMismatchError`. Without them (``info``), any index opens.
        """
        index_dir = Path(index_dir)
        db_path = index_dir / DB_NAME
        if not db_path.exists():
            if not create:
                raise IndexUnavailableError(
                    f"No index in {index_dir}. Run `rag-app ingest` (or `make ingest`) first."
                )
            index_dir.mkdir(parents=True, exist_ok=True)
        try:
            conn = connect(db_path)
            conn.executescript(SCHEMA)
            conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                (SCHEMA_VERSION,),
            )
        except sqlite3.DatabaseError as exc:
            raise IndexUnavailableError(f"The index in {index_dir} is unreadable ({exc}). {REBUILD_HINT}")
        store = cls(index_dir, conn)
        if embedding_model is not None and dimension is not None:
            store.check_model(embedding_model, dimension)
        return store

    def check_model(self, embedding_model: str, dimension: int) -> None:
        """Raise `IndexMismatchError` unless the index is empty or built with this model."""
        recorded = self.meta("embedding_model")
        recorded_dim = self.meta("dimension")
        if recorded is None:
            return
        if recorded != embedding_model or int(recorded_dim or 0) != dimension:
            raise IndexMismatchError(
                f"The index in {self.index_dir} was built with embedding model '{recorded}' "
                f"(dimension {recorded_dim}), not '{embedding_model}' (dimension {dimension}). "
                f"To keep using it, set embedding_model = \"{recorded}\" in rag_app.toml "
                f"(or RAG_APP_EMBEDDING_MODEL); to move to '{embedding_model}', {REBUILD_HINT[0].lower()}{REBUILD_HINT[1:]}"
            )

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    def __enter__(self) -> IndexStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- metadata ----------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        """One value of the meta table."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row["value"]

    @property
    def embedding_model(self) -> str:
        """Name of the embedding model the index was built with ('' when empty)."""
        return self.meta("embedding_model") or ""

    @property
    def dimension(self) -> int:
        """Vector dimension ('0' when the index is still empty)."""
        return int(self.meta("dimension") or 0)

    # ----- vectors -----------------------------------------------------------------------
    def _load_vectors(self) -> None:
        with self._vectors_lock:
            name = self.meta("faiss_file")
            if name == self._faiss_file:
                return
            if name is None:
                self._faiss, self._faiss_file = None, None
                return
            path = self.index_dir / name
            if not path.is_file():
                raise IndexUnavailableError(f"The vector file {path} is missing. {REBUILD_HINT}")
            self._faiss = faiss.read_index(str(path))
            self._faiss_file = name

    def refresh(self) -> None:
        """Pick up what another process or thread committed since the index was opened."""
        self._load_vectors()

    @property
    def vector_count(self) -> int:
        """Number of vectors in the loaded FAISS index."""
        return 0 if self._faiss is None else int(self._faiss.ntotal)

    def vector_ids(self) -> np.ndarray:
        """All chunk ids held by the FAISS index."""
        if self._faiss is None:
            return np.empty(0, dtype=np.int64)
        return faiss.vector_to_array(faiss.downcast_index(self._faiss).id_map).astype(np.int64)

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of these chunk ids, in order."""
        if self._faiss is None or not ids:
            return np.empty((0, self.dimension), dtype=np.float32)
        return np.vstack([self._faiss.reconstruct(int(i)) for i in ids]).astype(np.float32)

    def dense_search(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Chunk ids and cosine scores of the ``k`` nearest vectors (normalized vectors)."""
        if self._faiss is None or self._faiss.ntotal == 0 or k <= 0:
            return []
        query = np.asarray(query_vector, dtype=np.float32).reshape(1, -1)
        scores, ids = self._faiss.search(query, min(k, int(self._faiss.ntotal)))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    # ----- text search -------------------------------------------------------------------
    def bm25_search(self, text: str, k: int) -> list[tuple[int, float]]:
        """Chunk ids and BM25 scores (higher is better) for any user text; [] if it has no word."""
        expr = fts_query(text)
        if not expr or k <= 0:
            return []
        rows = self._conn.execute(
            "SELECT rowid, bm25(chunks_fts, 1.0, 0.5) AS score FROM chunks_fts "
            "WHERE chunks_fts MATCH ? ORDER BY score LIMIT ?",
            (expr, k),
        ).fetchall()
        return [(int(r["rowid"]), -float(r["score"])) for r in rows]

    # ----- reading -----------------------------------------------------------------------
    def chunks(self, ids: Sequence[int]) -> list[ChunkRecord]:
        """The chunks with these ids, in the order of ``ids`` (unknown ids are skipped)."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._conn.execute(
            "SELECT c.*, d.path, d.title FROM chunks c JOIN documents d ON d.id = c.document_id "
            f"WHERE c.id IN ({marks})",
            [int(i) for i in ids],
        ).fetchall()
        by_id = {row["id"]: chunk_from_row(row) for row in rows}
        return [by_id[i] for i in ids if i in by_id]

    def document_chunks(self, path: str) -> list[ChunkRecord]:
        """All chunks of one document, in order."""
        rows = self._conn.execute(
            "SELECT c.*, d.path, d.title FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE d.path = ? ORDER BY c.ordinal",
            (path,),
        ).fetchall()
        return [chunk_from_row(row) for row in rows]

    def documents(self) -> list[DocumentRecord]:
        """Every indexed document with its chunk count, by path."""
        rows = self._conn.execute(
            "SELECT d.*, (SELECT COUNT(*) FROM chunks c WHERE c.document_id = d.id) AS n_chunks "
            "FROM documents d ORDER BY d.path"
        ).fetchall()
        return [
            DocumentRecord(
                id=r["id"],
                path=r["path"],
                content_hash=r["content_hash"],
                size=r["size"],
                mtime=r["mtime"],
                title=r["title"],
                metadata=json.loads(r["metadata"]),
                ingested_at=r["ingested_at"],
                n_chunks=r["n_chunks"],
            )
            for r in rows
        ]

    def failures(self) -> list[tuple[str, str]]:
        """Files the last ingestions could not read, as (path, reason)."""
        rows = self._conn.execute("SELECT path, reason FROM failures ORDER BY path").fetchall()
        return [(r["path"], r["reason"]) for r in rows]

    def chunk_count(self) -> int:
        """Number of stored chunks."""
        return int(self._conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def fts_count(self) -> int:
        """Number of rows in the FTS5 index (equals `chunk_count` in a consistent index)."""
        return int(self._conn.execute("SELECT COUNT(*) FROM chunks_fts_docsize").fetchone()[0])

    def chunk_ids(self) -> list[int]:
        """All chunk ids, ascending."""
        return [r[0] for r in self._conn.execute("SELECT id FROM chunks ORDER BY id")]

    def stats(self) -> IndexStats:
        """Counts, model and size on disk."""
        last = self.meta("last_ingest")
        size = sum(p.stat().st_size for p in self.index_dir.iterdir() if p.is_file())
        return IndexStats(
            documents=int(self._conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]),
            chunks=self.chunk_count(),
            embedding_model=self.embedding_model,
            dimension=self.dimension,
            size_bytes=size,
            last_ingest=float(last) if last else None,
            failures=int(self._conn.execute("SELECT COUNT(*) FROM failures").fetchone()[0]),
        )

    # ----- writing -----------------------------------------------------------------------
    @contextlib.contextmanager
    def writer(
        self, embedding_model: str, dimension: int, *, rebuild: bool = False
    ) -> Iterator[IndexWriter]:
        """A write transaction: everything done through the writer commits together, or not at all.

        Only one writer runs at a time per index folder (a file lock). ``rebuild`` empties the
        index first, inside the same transaction, and accepts a new embedding model.
        """
        lock_path = self.index_dir / LOCK_NAME
        with open(lock_path, "w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            conn = connect(self.index_dir / DB_NAME)
            try:
                self._load_vectors()
                if not rebuild:
                    self.check_model(embedding_model, dimension)
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if rebuild or self._faiss is None:
                        vectors = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
                    else:
                        vectors = faiss.clone_index(self._faiss)
                    writer = IndexWriter(conn, vectors)
                    if rebuild:
                        writer.clear()
                    yield writer
                    self._commit(conn, writer.vectors, embedding_model, dimension)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            finally:
                conn.close()
                fcntl.flock(lock_file, fcntl.LOCK_UN)
        self._load_vectors()
        self._remove_stale_vector_files()

    def _commit(
        self, conn: sqlite3.Connection, vectors: faiss.Index, embedding_model: str, dimension: int
    ) -> None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        generation = int(row[0] if row else 0) + 1
        name = f"vectors-{generation}.faiss"
        tmp = self.index_dir / (name + ".tmp")
        faiss.write_index(vectors, str(tmp))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, self.index_dir / name)
        fsync_dir(self.index_dir)
        values = {
            "generation": str(generation),
            "faiss_file": name,
            "embedding_model": embedding_model,
            "dimension": str(dimension),
            "last_ingest": repr(time.time()),
        }
        conn.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            list(values.items()),
        )
        conn.execute("COMMIT")

    def _remove_stale_vector_files(self) -> None:
        current = self.meta("faiss_file")
        for path in self.index_dir.glob("vectors-*.faiss*"):
            if path.name != current:
                with contextlib.suppress(OSError):
                    path.unlink()
