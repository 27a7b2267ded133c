"""The index: documents, chunks, their vectors and an FTS5 table in one SQLite database.

Layout of an index folder::

    index.sqlite3          documents, chunks, vectors, chunks_fts (BM25), failures, meta
    vectors-<G>.faiss      a cache of the vector search structure as of generation G (derived)
    .ingest.lock           held by the one process that writes (an ingest)

SQLite holds everything that matters, so a commit is one short SQLite transaction whose cost is
what changed (a batch of chunks with their vectors); ``meta.generation`` counts commits. In WAL
mode readers never wait for it. Each reader keeps a `VectorIndex` in memory and brings it to
the generation it reads with a delta (ids added and removed), inside the same read transaction
as its BM25 and chunk reads: `IndexStore.snapshot` gives one question one consistent state. The
``vectors-<G>.faiss`` cache (written after an ingest when the delta has grown) only saves a
new reader from building that structure again. Nothing is pickled.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

import numpy as np

from rag_app.store import backup, checks, fts, integrity, schema, sqlite_reads
from rag_app.store.base import StoreBasics
from rag_app.store.checks import chunking_key
from rag_app.store.records import (
    ChunkRecord,
    Damage,
    DocumentRecord,
    IndexDamagedError,
    IndexStats,
    IndexUnavailableError,
)
from rag_app.store.schema import DB_NAME, REMOVAL_LOG_KEPT, connect
from rag_app.store.sqlite_io import (
    database_inode,
    end_read,
    folder_bytes,
    open_error,
    read_error,
    write_transaction,
)
from rag_app.store.vector_index import VectorIndex, cached_generations, remove_stale_caches
from rag_app.store.vectors import VectorMirror
from rag_app.store.writer import IndexWriter, writer_lock

log = logging.getLogger(__name__)

# A reader never holds a lock a writer needs (WAL), so it waits only for a database being
# created or upgraded; the writer waits longer for the rare checkpoint.
READ_TIMEOUT_S = 5.0
# Below this many vectors, building the search structure from SQLite is quicker than a cache.
CACHE_MIN_VECTORS = 20_000


class IndexStore(StoreBasics):
    """An index folder: reads for any number of processes, `writing` for the one that writes.

    Opening an existing index writes nothing. ``embedding_model``/``dimension`` given to `open`
    must match what the index records (checked again when another process commits).
    """

    def __init__(self, index_dir: Path, conn: sqlite3.Connection, expected: tuple[str, int] | None) -> None:
        self.index_dir = index_dir
        self._conn = conn
        self._expected = expected
        self._lock = threading.RLock()  # one connection: one thread's read or write at a time
        self._in_snapshot = False
        self._mirror = VectorMirror(index_dir, conn)  # the vector search, in step with a generation
        self._write_lock: int | None = None  # file descriptor of .ingest.lock while writing
        self._inode = database_inode(index_dir)  # which database file this connection reads (see `snapshot`)

    # ----- opening -----------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        index_dir: Path | str,
        embedding_model: str | None = None,
        dimension: int | None = None,
        *,
        create: bool = True,
        verify: bool = True,
    ) -> IndexStore:
        """Open (or, with ``create``, create) the index in ``index_dir``.

        With ``embedding_model`` and ``dimension`` given, an index built with another model is
        an `IndexMismatchError`. Without them (``info``), any index opens. An index written by
        the previous schema is upgraded in place once, after a backup beside it (nothing is
        embedded again). With ``verify``, the quick check (`check`) runs first and a damaged
        index is an `IndexDamagedError` saying what to do; `rag-app check` and a rebuild open
        without it.
        """
        index_dir = Path(index_dir)
        db_path = index_dir / DB_NAME
        if not db_path.exists():
            if not create:
                raise IndexUnavailableError(
                    f"No index in {index_dir}. Run `rag-app ingest` (or `make ingest`) first."
                )
            index_dir.mkdir(parents=True, exist_ok=True)
        expected = (embedding_model, dimension) if embedding_model is not None and dimension is not None else None
        conn: sqlite3.Connection | None = None
        try:
            conn = connect(db_path, timeout=READ_TIMEOUT_S)
            store = cls(index_dir, conn, expected)
            store._prepare_schema()
            if verify:
                report = store.check(vectors=False)
                if not report.ok:
                    raise integrity.damaged(report)
            if expected:
                store.check_model(*expected)
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise open_error(exc, index_dir) from exc
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return store

    def _prepare_schema(self) -> None:
        """Create the tables of a new index; upgrade an old one; refuse one from a newer version."""
        with self._lock:
            version = schema.schema_version(self._conn)
            if version is None:
                if self._conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'chunks'").fetchone():
                    raise integrity.damaged(integrity.IntegrityReport(str(self.index_dir), False, [
                        Damage("tables", "the schema version is not recorded")]))
                schema.create(self._conn)
                return
        if version == schema.SCHEMA_VERSION:
            return
        schema.check_version(version, self.index_dir)
        with self.writing(wait=False):
            if schema.schema_version(self._conn) != schema.SCHEMA_VERSION:  # not upgraded meanwhile
                kept = backup.before_upgrade(self._conn, self.index_dir, version)
                log.info("Upgrading the index in %s; the index as it was is kept in %s", self.index_dir, kept)
            with self._write_transaction():
                schema.migrate(self._conn, self.index_dir)

    def check_model(self, embedding_model: str, dimension: int) -> None:
        """Raise `IndexMismatchError` unless the index is empty or built with this model."""
        checks.check_model(str(self.index_dir), self.meta("embedding_model"), self.meta("dimension"),
                           embedding_model, dimension)

    def check_chunking(self, chunk_tokens: int, chunk_overlap: int) -> None:
        """Raise `IndexMismatchError` when the index's chunks were cut with other settings (an
        index that records none, empty or from before they were recorded, accepts any)."""
        checks.check_chunking(str(self.index_dir), self.meta("chunking"), chunk_tokens, chunk_overlap)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    # ----- consistent reads --------------------------------------------------------------
    @contextlib.contextmanager
    def snapshot(self) -> Iterator[IndexStore]:
        """Every read inside sees one committed state, the vectors included.

        Reentrant; other threads using this store wait until the block ends (keep it short:
        one question's retrieval). Commits by an ingest meanwhile are seen by the next snapshot.
        """
        with self._lock:
            if self._in_snapshot:
                yield self
                return
            self._follow_rebuild()
            try:
                self._conn.execute("BEGIN")
                self._in_snapshot = True
                yield self
            except sqlite3.DatabaseError as exc:
                raise read_error(exc, self.index_dir) from exc
            finally:
                self._in_snapshot = False
                end_read(self._conn)

    def _follow_rebuild(self) -> None:
        """Reopen the index when a rebuild has put a new database in its place (a new file at the
        same name): the next read sees the new index, from a fresh vector mirror."""
        inode = database_inode(self.index_dir)
        if inode is None or inode == self._inode or self._write_lock is not None:
            return
        old = self._conn
        self._conn = connect(self.index_dir / DB_NAME, timeout=READ_TIMEOUT_S)
        self._mirror = VectorMirror(self.index_dir, self._conn)
        self._inode = inode
        old.close()
        log.info("The index in %s was rebuilt: reading the new one", self.index_dir)
        if self._expected:
            self.check_model(*self._expected)

    def refresh(self) -> None:
        """Bring the in-memory vectors up to what is committed now."""
        with self.snapshot():
            self._sync_vectors()

    def _sync_vectors(self) -> VectorIndex | None:
        """Bring the vectors to the generation this (open) read transaction sees, and return
        their search structure (None when the index has no vector).

        Called by the vector reads, inside a snapshot; cheap when nothing was committed since.
        """
        generation = int(self.meta("generation") or 0)
        if self._mirror.generation == generation:
            return self._mirror.index
        if self._expected:
            self.check_model(*self._expected)
        self._mirror.sync(generation, self.dimension, self.meta("vector_cache"))
        return self._mirror.index

    # ----- metadata ----------------------------------------------------------------------
    @property
    def location(self) -> str:
        """The index's folder, for messages."""
        return str(self.index_dir)

    def meta(self, key: str) -> str | None:
        """One value of the meta table."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row["value"]

    def _set_meta(self, values: dict[str, str]) -> None:
        schema.set_meta(self._conn, values)

    # ----- vectors and searches ---------------------------------------------------------
    @property
    def vector_count(self) -> int:
        """Number of searchable vectors."""
        with self.snapshot():
            return 0 if (index := self._sync_vectors()) is None else index.count

    @property
    def approximate(self) -> bool:
        """True when dense search uses the approximate (IVF) index."""
        with self.snapshot():
            return (index := self._sync_vectors()) is not None and index.approximate

    def vector_ids(self) -> np.ndarray:
        """All chunk ids the vector search holds, ascending."""
        with self.snapshot():
            return np.empty(0, dtype=np.int64) if (index := self._sync_vectors()) is None else index.ids().copy()

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of these chunk ids, in order."""
        with self.snapshot():
            return self._mirror.read(ids, self.dimension)

    def dense_search(self, query_vector: np.ndarray, k: int,
                     within: Collection[str] | None = None) -> list[tuple[int, float]]:
        """Chunk ids and cosine scores of the ``k`` nearest vectors (`Store.dense_search`)."""
        with self.snapshot():
            self._sync_vectors()
            ids = None if within is None else sqlite_reads.chunk_ids_of(self._rows, within)
            return self._mirror.search(query_vector, k, ids, self.dimension)

    def bm25_search(self, text: str, k: int, within: Collection[str] | None = None) -> list[tuple[int, float]]:
        """Chunk ids and BM25 scores (`Store.bm25_search`; common words left out: `fts.bm25_search`)."""
        with self.snapshot():
            total = index.count if (index := self._sync_vectors()) is not None else self.chunk_count()
            ids = None if within is None else sqlite_reads.chunk_ids_of(self._rows, within)
            with self._lock:
                return fts.bm25_search(self._conn, text, k, total, ids)

    def mentions(self, term: str, prefix: bool = False) -> bool:
        """Whether any chunk of the index holds ``term`` (its words in a row; ``prefix``: a word
        starting with it), whatever its case and accents. A term with no word is not held."""
        query = fts.phrase_query(term, prefix=prefix)
        return bool(query) and bool(self._rows(
            "SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT 1", (query,)))

    # ----- reading -----------------------------------------------------------------------
    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def chunks(self, ids: Sequence[int]) -> list[ChunkRecord]:
        """The chunks with these ids, in the order of ``ids`` (unknown ids are skipped)."""
        return sqlite_reads.chunks(self._rows, ids)

    def document_chunks(self, path: str) -> list[ChunkRecord]:
        """All chunks of one document, in order."""
        return sqlite_reads.document_chunks(self._rows, path)

    def documents(self, path: str | None = None) -> list[DocumentRecord]:
        """Every indexed document with its chunk count, by path (only ``path``'s, when given)."""
        return sqlite_reads.documents(self._rows, path)

    def failures(self) -> list[tuple[str, str]]:
        """Files the last ingestions could not read, as (path, reason)."""
        return [(r["path"], r["reason"]) for r in self._rows("SELECT path, reason FROM failures ORDER BY path")]

    def known_failures(self) -> dict[str, tuple[str, int, float]]:
        """Recorded failures as path -> (reason, size, mtime)."""
        rows = self._rows("SELECT path, reason, size, mtime FROM failures")
        return {r["path"]: (r["reason"], r["size"], r["mtime"]) for r in rows}

    def known_vectors(self, text_hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors of chunks whose text hash is among ``text_hashes`` (for reuse)."""
        return sqlite_reads.known_vectors(self._rows, text_hashes)

    def chunk_count(self) -> int:
        """Number of stored chunks."""
        return int(self._rows("SELECT COUNT(*) FROM chunks")[0][0])

    def fts_count(self) -> int:
        """Number of rows in the FTS5 index (equals `chunk_count` in a consistent index)."""
        return int(self._rows("SELECT COUNT(*) FROM chunks_fts_docsize")[0][0])

    def chunk_ids(self) -> list[int]:
        """All chunk ids, ascending."""
        return [r[0] for r in self._rows("SELECT id FROM chunks ORDER BY id")]

    def stats(self) -> IndexStats:
        """Counts, model and size on disk."""
        with self.snapshot():
            last = self.meta("last_ingest")
            documents = int(self._rows("SELECT COUNT(*) FROM documents")[0][0])
            chunks = self.chunk_count()
            failures = int(self._rows("SELECT COUNT(*) FROM failures")[0][0])
        return IndexStats(documents=documents, chunks=chunks, embedding_model=self.embedding_model,
                          dimension=self.dimension, size_bytes=folder_bytes(self.index_dir),
                          last_ingest=float(last) if last else None, failures=failures)

    # ----- integrity and backup ----------------------------------------------------------
    def check(self, *, full: bool = False, vectors: bool = True) -> integrity.IntegrityReport:
        """What is damaged in the index (`integrity`): the file, its tables and their agreement;
        with ``full`` also SQLite's and FTS5's full checks; with ``vectors`` the vector search
        against the stored vectors. Reads only; one consistent state."""
        started = time.perf_counter()
        report = integrity.IntegrityReport(str(self.index_dir), full)
        try:
            with self.snapshot():  # holds the store's lock
                report.damage = integrity.check_database(self._conn, full=full)
                if vectors and not report.damage:
                    index = self._sync_vectors()
                    report.damage = integrity.vector_damage(self.chunk_ids(), None if index is None else index.ids())
        except IndexDamagedError as exc:
            report.damage = exc.damage
        except IndexUnavailableError as exc:  # e.g. a chunk whose vector is gone, met while syncing
            report.damage = [integrity.Damage("vectors", str(exc))]
        return integrity.timed(report, started)

    def repair(self) -> integrity.IntegrityReport:
        """Rebuild what `check` finds damaged among the derived parts (the full-text index, the
        vector cache) from the chunks and vectors; returns the check afterwards. Damage to the
        chunks, vectors or file is left as found (restore a backup or rebuild)."""
        report = self.check(full=True)
        if not report.mendable:
            return report
        with self.writing(), self._write_transaction():
            integrity.mend(self._conn, report.damage)
        if any(d.part == integrity.VECTOR_CACHE for d in report.damage):
            remove_stale_caches(self.index_dir, keep=-1)
            with self._lock:
                self._mirror = VectorMirror(self.index_dir, self._conn)
        return self.check(full=True)

    def backup(self, destination: Path) -> Path:
        """Copy the index into the folder ``destination`` (`backup.backup_database`): one
        committed state, taken while questions and an ingest go on. Returns the copy's path."""
        with self._lock:
            return backup.backup_database(self._conn, Path(destination))

    # ----- writing -----------------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self, *, wait: bool = False) -> Iterator[IndexStore]:
        """Hold the index for writing (one process at a time per index folder).

        Raises `IndexBusyError` naming the process that holds it, unless ``wait`` (then it
        blocks until that process is done). Readers are not affected either way.
        """
        if self._write_lock is not None:  # already held by this store
            yield self
            return
        with writer_lock(self.index_dir, wait=wait) as fd:
            self._write_lock = fd
            try:
                yield self
            finally:
                self._write_lock = None

    @contextlib.contextmanager
    def _write_transaction(self) -> Iterator[None]:
        """One SQLite write transaction (`sqlite_io.write_transaction`) under the store's lock."""
        with self._lock, write_transaction(self._conn, self.index_dir):
            yield

    @contextlib.contextmanager
    def transaction(
        self, embedding_model: str, dimension: int, *, chunking: tuple[int, int] | None = None,
    ) -> Iterator[IndexWriter]:
        """One commit: what is done through the writer becomes visible together, or not at all.

        Must be called inside `writing`. Keep it to the writes themselves (load and embed
        before it). ``chunking`` (chunk tokens, overlap) is recorded with the embedding model
        (see `check_chunking`); a rebuild writes a new index (`store.rebuild.rebuild_store`).
        """
        if self._write_lock is None:
            raise RuntimeError("IndexStore.transaction() needs IndexStore.writing() first")
        self.check_model(embedding_model, dimension)
        with self._write_transaction():
            yield IndexWriter(self._conn)
            oldest_kept = self._mirror.removed_seq() - REMOVAL_LOG_KEPT
            self._conn.execute("DELETE FROM removed_chunks WHERE seq <= ?", (oldest_kept,))
            self._set_meta({
                "generation": str(int(self.meta("generation") or 0) + 1),
                "embedding_model": embedding_model,
                "dimension": str(dimension),
                "last_ingest": repr(time.time()),
            } | ({"chunking": chunking_key(*chunking)} if chunking else {}))

    def update_vector_cache(self) -> bool:
        """Bring the on-disk vector cache up to date when it lags by more than a small share.

        Must be called inside `writing`. Builds the search structure (IVF above its size
        threshold) when its kind no longer suits the index. Returns True when it wrote a cache.
        """
        if self._write_lock is None:
            raise RuntimeError("IndexStore.update_vector_cache() needs IndexStore.writing() first")
        with self.snapshot():
            if self.chunk_count() < CACHE_MIN_VECTORS:
                remove_stale_caches(self.index_dir, keep=-1)
                return False
            cached = cached_generations(self.index_dir)
            if cached and cached[0] == self.generation:
                return False
            self._sync_vectors()
            try:
                vectors, removed_seen = self._mirror.save_cache_if_stale()
            except OSError as exc:  # the cache only saves time: a full disk must not fail the ingest
                log.warning("Vector search cache not written in %s: %s", self.index_dir, exc)
                return False
            if vectors is None:
                return False
        with self._write_transaction():  # where the cache stands in the removal log (no new generation)
            self._set_meta({"vector_cache": f"{vectors.generation} {removed_seen}"})
        remove_stale_caches(self.index_dir, keep=vectors.generation)
        return True
