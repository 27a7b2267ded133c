"""The index's on-disk layout: file names, tables, the schema version and its migrations.

`SCHEMA_VERSION` is the layout this code writes. `create` lays out a new database; `migrate`
brings an older one forward through `MIGRATIONS` (one step per version, each inside the
caller's write transaction, nothing embedded again). An index too old for any migration, or
written by a newer rag_app, is refused with a message saying what to do.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from rag_app.store.records import IndexUnavailableError

log = logging.getLogger(__name__)

DB_NAME = "index.sqlite3"
LOCK_NAME = ".ingest.lock"
SCHEMA_VERSION = 2
REBUILD_HINT = "Run `rag-app ingest --rebuild` to rebuild the index."
BUSY_HINT = "The index in {dir} is being updated by an ingest right now; try again in a moment."

# One embedding per chunk id (float32, normalized), written in the same transaction as its chunk.
VECTORS_TABLE = "CREATE TABLE IF NOT EXISTS vectors (id INTEGER PRIMARY KEY, embedding BLOB NOT NULL)"

# Deleting a chunk removes it from the full-text index and drops its vector.
DELETE_TRIGGER = """CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)
    VALUES ('delete', old.id, old.text, old.heading);
    DELETE FROM vectors WHERE id = old.id;
    INSERT INTO removed_chunks(id) VALUES (old.id);
END;"""
# The full-text index of the chunks (BM25), kept in step by the triggers.
FTS_TABLE = """CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, heading, content='chunks', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2'
)"""
INSERT_TRIGGER = """CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text, heading) VALUES (new.id, new.text, new.heading);
END;"""
# Removed chunk ids in order, so that a reader updates its vectors by what changed (pruned by
# the writer to the last REMOVAL_LOG_KEPT entries; a reader further behind compares all ids).
REMOVAL_LOG = "CREATE TABLE IF NOT EXISTS removed_chunks (seq INTEGER PRIMARY KEY AUTOINCREMENT, id INTEGER NOT NULL)"
REMOVAL_LOG_KEPT = 100_000
# Document frequency of each word (BM25 leaves out the words most chunks contain).
VOCAB_TABLE = "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vocab USING fts5vocab(chunks_fts, 'row')"

SCHEMA = """
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
{vectors_table};
{removal_log};
{vocab_table};
CREATE INDEX IF NOT EXISTS chunks_text_hash ON chunks(text_hash);
{fts_table};
{insert_trigger}
{delete_trigger}
CREATE TABLE IF NOT EXISTS failures (
    path TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT -1,
    mtime REAL NOT NULL DEFAULT -1,
    failed_at REAL NOT NULL
);
""".replace("{fts_table}", FTS_TABLE).replace("{insert_trigger}", INSERT_TRIGGER).replace(
    "{delete_trigger}", DELETE_TRIGGER).replace("{vectors_table}", VECTORS_TABLE).replace(
    "{removal_log}", REMOVAL_LOG
).replace("{vocab_table}", VOCAB_TABLE)


def connect(path: Path, timeout: float = 30.0) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL journal, rows by name."""
    conn = sqlite3.connect(path, timeout=timeout, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def schema_version(conn: sqlite3.Connection) -> int | None:
    """The version a database records (None for a database without tables yet)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
        return None
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return None if row is None else int(row[0])


def set_meta(conn: sqlite3.Connection, values: dict[str, str]) -> None:
    """Insert or replace values of the meta table (inside the caller's transaction)."""
    conn.executemany(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        list(values.items()),
    )


def create(conn: sqlite3.Connection) -> None:
    """Lay out a new, empty index (one transaction; harmless if another process did it first)."""
    try:  # executescript runs its own statements: the transaction is in the script
        conn.executescript(
            f"BEGIN IMMEDIATE; {SCHEMA} INSERT OR IGNORE INTO meta(key, value) "
            f"VALUES ('schema_version', '{SCHEMA_VERSION}'); COMMIT;"
        )
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def check_version(version: int, index_dir: Path) -> None:
    """Raise `IndexUnavailableError` unless an index of ``version`` can be used or upgraded."""
    if version > SCHEMA_VERSION:
        raise IndexUnavailableError(
            f"The index in {index_dir} was written by a newer version of rag_app "
            f"(schema {version}). Upgrade rag_app to use it."
        )
    if version < SCHEMA_VERSION and any(v not in MIGRATIONS for v in range(version, SCHEMA_VERSION)):
        raise IndexUnavailableError(
            f"The index in {index_dir} was written by an old version of rag_app (schema {version}) "
            f"that this one cannot upgrade. {REBUILD_HINT}"
        )


def migrate(conn: sqlite3.Connection, index_dir: Path) -> None:
    """Bring the database to `SCHEMA_VERSION`, inside the caller's write transaction.

    Reads the version again first: another process may have upgraded it meanwhile.
    """
    version = schema_version(conn)
    if version is None or version == SCHEMA_VERSION:
        return
    check_version(version, index_dir)
    while version < SCHEMA_VERSION:
        log.info("Upgrading the index in %s from schema %d to %d", index_dir, version, version + 1)
        MIGRATIONS[version](conn, index_dir)
        version += 1
        set_meta(conn, {"schema_version": str(version)})


def _vectors_into_sqlite(conn: sqlite3.Connection, index_dir: Path) -> None:
    """Schema 1 -> 2: schema 1 kept the vectors in a FAISS file only; copy them into the database."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'faiss_file'").fetchone()
    vectors = faiss.read_index(str(index_dir / row[0])) if row else None
    conn.execute(VECTORS_TABLE)
    conn.execute(REMOVAL_LOG)
    conn.execute(VOCAB_TABLE)
    conn.execute("DROP TRIGGER chunks_ad")
    conn.execute(DELETE_TRIGGER)
    if vectors is not None and vectors.ntotal:
        mapped: Any = faiss.downcast_index(vectors)  # IndexIDMap(IndexFlat), as schema 1 wrote it
        ids = faiss.vector_to_array(mapped.id_map).astype(np.int64)
        rows = mapped.index.reconstruct_n(0, vectors.ntotal)
        conn.executemany(
            "INSERT INTO vectors(id, embedding) VALUES (?, ?)",
            ((int(i), r.astype(np.float32).tobytes()) for i, r in zip(ids, rows, strict=True)),
        )
    conn.execute("DELETE FROM meta WHERE key = 'faiss_file'")


# Version N -> the step that turns an index of schema N into schema N + 1.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection, Path], None]] = {
    1: _vectors_into_sqlite,
}
