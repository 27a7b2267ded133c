"""The index's on-disk layout and plain records: schema, file names, errors, row types."""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from dataclasses import dataclass
from pathlib import Path

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
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, heading, content='chunks', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text, heading) VALUES (new.id, new.text, new.heading);
END;
{delete_trigger}
CREATE TABLE IF NOT EXISTS failures (
    path TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT -1,
    mtime REAL NOT NULL DEFAULT -1,
    failed_at REAL NOT NULL
);
""".replace("{delete_trigger}", DELETE_TRIGGER).replace("{vectors_table}", VECTORS_TABLE).replace(
    "{removal_log}", REMOVAL_LOG
).replace("{vocab_table}", VOCAB_TABLE)

# Words for BM25: letters and digits of any script (FTS5 operators and punctuation fall away).
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_TERMS = 64


class IndexUnavailableError(RuntimeError):
    """The index cannot be used as it is; the message tells the user what to do."""


class IndexMismatchError(IndexUnavailableError):
    """The index was built with another embedding model or dimension."""


class IndexBusyError(IndexUnavailableError):
    """Another process holds the index for writing (an ingest is running); nothing is wrong."""


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


def query_terms(text: str, max_terms: int = MAX_QUERY_TERMS) -> list[str]:
    """The distinct words of any user text, lowercased, in order (at most ``max_terms``)."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        seen.setdefault(word, None)
        if len(seen) >= max_terms:
            break
    return list(seen)


def fts_query(terms: list[str]) -> str:
    """An FTS5 MATCH expression: the terms, each quoted, joined by OR ('' for no terms).

    Quoting every word makes FTS5 operators, quotes and punctuation in the user's text inert.
    """
    return " OR ".join(f'"{word}"' for word in terms)


def fts_token(word: str) -> str:
    """``word`` as the FTS5 tokenizer stores it (lowercase, diacritics removed)."""
    decomposed = unicodedata.normalize("NFD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def connect(path: Path, timeout: float = 30.0) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL journal, rows by name."""
    conn = sqlite3.connect(path, timeout=timeout, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def chunk_from_row(row: sqlite3.Row) -> ChunkRecord:
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
