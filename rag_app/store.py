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
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

log = logging.getLogger(__name__)

DB_NAME = "index.sqlite3"
LOCK_NAME = ".ingest.lock"
SCHEMA_VERSION = "1"
REBUILD_HINT = "Run `rag-app ingest --rebuild` to rebuild the index."

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    content_hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    metadata TEXT NOT NULL DEFAULT '{}',
    ingested_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    page INTEGER,
    heading TEXT NOT NULL DEFAULT '',
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks(document_id);
CREATE INDEX IF NOT EXISTS chunks_text_hash ON chunks(text_hash);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, heading, content='chunks', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text, heading) VALUES (new.id, new.text, new.heading);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)
    VALUES ('delete', old.id, old.text, old.heading);
END;
CREATE TABLE IF NOT EXISTS failures (
    path TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT -1,
    mtime REAL NOT NULL DEFAULT -1,
    failed_at REAL NOT NULL
);
"""

# Words for BM25: letters and digits of any script (FTS5 operators and punctuation fall away).
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_TERMS = 64


class IndexUnavailableError(RuntimeError):
    """The index cannot be used as it is; the message tells the user what to do."""


class IndexMismatchError(IndexUnavailableError):
    """The index was built with another embedding model or dimension."""


@dataclass(frozen=True)
class DocumentRecord:
    """One indexed file."""

    id: int
    path: str
    content_hash: str
    size: int
    mtime: float
    title: str
    metadata: dict[str, str]
    ingested_at: float
    n_chunks: int


@dataclass(frozen=True)
class ChunkRecord:
    """One stored chunk with where it came from."""

    id: int
    document_id: int
    path: str
    title: str
    ordinal: int
    text: str
    page: int | None
    heading: str
    char_start: int
    char_end: int


@dataclass(frozen=True)
class NewChunk:
    """A chunk to store, with its embedding."""

    ordinal: int
    text: str
    text_hash: str
    page: int | None
    heading: str
    char_start: int
    char_end: int


@dataclass(frozen=True)
class IndexStats:
    """What `rag-app info` shows."""

    documents: int
    chunks: int
    embedding_model: str
    dimension: int
    size_bytes: int
    last_ingest: float | None
    failures: int


def fts_query(text: str, max_terms: int = MAX_QUERY_TERMS) -> str:
    """An FTS5 MATCH expression for any user text: its words, each quoted, joined by OR.

    Quoting every word makes FTS5 operators, quotes and punctuation in the user's text inert.
    Returns an empty string when the text holds no word.
    """
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        if word not in seen:
            seen[word] = None
        if len(seen) >= max_terms:
            break
    return " OR ".join(f'"{word}"' for word in seen)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
            conn = _connect(db_path)
            conn.executescript(_SCHEMA)
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
                + REBUILD_HINT
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
        by_id = {row["id"]: _chunk(row) for row in rows}
        return [by_id[i] for i in ids if i in by_id]

    def document_chunks(self, path: str) -> list[ChunkRecord]:
        """All chunks of one document, in order."""
        rows = self._conn.execute(
            "SELECT c.*, d.path, d.title FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE d.path = ? ORDER BY c.ordinal",
            (path,),
        ).fetchall()
        return [_chunk(row) for row in rows]

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
            conn = _connect(self.index_dir / DB_NAME)
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
        _fsync_dir(self.index_dir)
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


class IndexWriter:
    """Changes to the index inside one transaction (see `IndexStore.writer`)."""

    def __init__(self, conn: sqlite3.Connection, vectors: faiss.Index) -> None:
        self._conn = conn
        self.vectors = vectors

    def clear(self) -> None:
        """Remove every document, chunk, vector and failure."""
        self._conn.execute("DELETE FROM chunks")
        self._conn.execute("DELETE FROM documents")
        self._conn.execute("DELETE FROM failures")
        self.vectors.reset()

    def known_vectors(self, text_hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors of chunks whose text hash is among ``text_hashes`` (for reuse)."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(text_hashes))
        for start in range(0, len(unique), 500):
            batch = unique[start : start + 500]
            marks = ",".join("?" * len(batch))
            for row in self._conn.execute(
                f"SELECT text_hash, MIN(id) AS id FROM chunks WHERE text_hash IN ({marks}) "
                "GROUP BY text_hash",
                batch,
            ):
                found[row["text_hash"]] = self.vectors.reconstruct(int(row["id"]))
        return found

    def remove_document(self, path: str) -> int:
        """Remove a document with its chunks and vectors; returns the number of chunks removed."""
        ids = [
            r[0]
            for r in self._conn.execute(
                "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id "
                "WHERE d.path = ?",
                (path,),
            )
        ]
        if ids:
            self.vectors.remove_ids(np.asarray(ids, dtype=np.int64))
        self._conn.execute(
            "DELETE FROM chunks WHERE document_id IN (SELECT id FROM documents WHERE path = ?)",
            (path,),
        )
        self._conn.execute("DELETE FROM documents WHERE path = ?", (path,))
        return len(ids)

    def add_document(
        self,
        *,
        path: str,
        content_hash: str,
        size: int,
        mtime: float,
        title: str,
        metadata: dict[str, str],
        chunks: Sequence[NewChunk],
        vectors: np.ndarray,
    ) -> list[int]:
        """Store a document (replacing any earlier version) with its chunks and vectors."""
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk is required")
        self.remove_document(path)
        cur = self._conn.execute(
            "INSERT INTO documents(path, content_hash, size, mtime, title, metadata, ingested_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (path, content_hash, size, mtime, title, json.dumps(metadata), time.time()),
        )
        document_id = int(cur.lastrowid)
        ids: list[int] = []
        for chunk in chunks:
            cur = self._conn.execute(
                "INSERT INTO chunks(document_id, ordinal, text, text_hash, page, heading, "
                "char_start, char_end) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    document_id,
                    chunk.ordinal,
                    chunk.text,
                    chunk.text_hash,
                    chunk.page,
                    chunk.heading,
                    chunk.char_start,
                    chunk.char_end,
                ),
            )
            ids.append(int(cur.lastrowid))
        if ids:
            self.vectors.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
            )
        self._conn.execute("DELETE FROM failures WHERE path = ?", (path,))
        return ids

    def touch_document(self, path: str, mtime: float) -> None:
        """Record a new mtime for a document whose content did not change."""
        self._conn.execute("UPDATE documents SET mtime = ? WHERE path = ?", (mtime, path))

    def record_failure(self, path: str, reason: str, size: int = -1, mtime: float = -1) -> None:
        """Remember that a file (of this size and mtime) could not be ingested, and why."""
        self._conn.execute(
            "INSERT INTO failures(path, reason, size, mtime, failed_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(path) DO UPDATE SET reason = excluded.reason, size = excluded.size, "
            "mtime = excluded.mtime, failed_at = excluded.failed_at",
            (path, reason, size, mtime, time.time()),
        )

    def forget_failure(self, path: str) -> None:
        """Drop a failure record (the file was deleted or is now readable)."""
        self._conn.execute("DELETE FROM failures WHERE path = ?", (path,))

    def known_failures(self) -> dict[str, tuple[str, int, float]]:
        """Recorded failures as path -> (reason, size, mtime)."""
        return {
            r["path"]: (r["reason"], r["size"], r["mtime"])
            for r in self._conn.execute("SELECT path, reason, size, mtime FROM failures")
        }


def _chunk(row: sqlite3.Row) -> ChunkRecord:
    return ChunkRecord(
        id=row["id"],
        document_id=row["document_id"],
        path=row["path"],
        title=row["title"],
        ordinal=row["ordinal"],
        text=row["text"],
        page=row["page"],
        heading=row["heading"],
        char_start=row["char_start"],
        char_end=row["char_end"],
    )
