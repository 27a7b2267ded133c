"""Is the index whole? The checks `rag-app check` runs, and the quick ones every open runs.

An index is one SQLite file plus a vector cache derived from it. What can go wrong, and how each
part is checked (each check reads, nothing is written):

- the file itself (a disk error, bytes overwritten, a truncated copy): ``PRAGMA quick_check``
  (every page, b-tree and record format; ``integrity_check`` with ``full``, which also checks
  every index against its table);
- the tables the code needs, and the rows that must agree: every chunk has a document and one
  vector of the recorded dimension, every vector a chunk, the full-text index one row per chunk
  (with ``full``, FTS5's own check of its index against the chunks' text);
- the in-memory vector search against the stored vectors: the same ids (`vector_check`).

The full-text index and the vector cache are derived from the chunks and their vectors, so
damage there is mended (`mend`, run by `rag-app check --repair`); damage to the chunks, their
vectors or the file itself needs the backup (`rag-app restore`) or a rebuild.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from rag_app.store.records import Damage, IndexDamagedError
from rag_app.store.schema import FTS_TABLE, INSERT_TRIGGER, SCHEMA_VERSION, VOCAB_TABLE

# The tables and triggers every index of this schema holds.
TABLES = ("meta", "documents", "chunks", "vectors", "removed_chunks", "failures", "chunks_fts",
          "chunks_fts_docsize", "chunks_vocab")
TRIGGERS = ("chunks_ai", "chunks_ad")
MAX_LISTED = 3  # problems of one kind listed in a message
VECTOR_CACHE = "vector search cache"
FULL_TEXT = "full-text index"
# What SQLite says when the bytes it reads are not a database it wrote.
_DAMAGE_WORDS = ("malformed", "not a database", "corrupt", "disk i/o error")


@dataclass
class IntegrityReport:
    """The outcome of a check of the index in ``location``."""

    location: str
    full: bool
    damage: list[Damage] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Nothing found wrong."""
        return not self.damage

    @property
    def mendable(self) -> bool:
        """Everything found wrong is derived data that `mend` rebuilds."""
        return bool(self.damage) and all(d.mendable for d in self.damage)

    def message(self) -> str:
        """What is damaged and what to do, in a few sentences (empty when nothing is)."""
        if self.ok:
            return ""
        found = "; ".join(f"{d.part}: {d.detail}" for d in self.damage)
        if self.mendable:
            todo = "Run `rag-app check --repair` to rebuild those parts from the stored chunks."
        else:
            todo = ("Answers from it could be wrong, so questions are refused. Restore a backup "
                    "(`rag-app restore BACKUP`), or rebuild it from your documents (`rag-app ingest --rebuild`).")
        return f"The index in {self.location} is damaged ({found}). {todo}"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (`rag-app check --json`)."""
        return {"location": self.location, "ok": self.ok, "full": self.full, "seconds": round(self.seconds, 3),
                "damage": [asdict(d) for d in self.damage], "message": self.message()}


def check_database(conn: sqlite3.Connection, *, full: bool = False) -> list[Damage]:
    """The damage found in the database ``conn`` reads (inside the caller's read transaction).
    ``full`` adds SQLite's ``integrity_check`` and FTS5's check of its index against the chunks
    (seconds per GB)."""
    try:
        damage = _file_damage(conn, full)
        if damage:  # the tables cannot be trusted; reading them could fail or mislead
            return damage
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if version is None or int(version[0]) != SCHEMA_VERSION:  # older: its file only, until upgraded
            return [] if version else [Damage("tables", "the schema version is not recorded")]
        damage = _missing_parts(conn)
        if damage:
            return damage
        row = conn.execute("SELECT value FROM meta WHERE key = 'dimension'").fetchone()
        dimension = int(row[0]) if row else 0
        return _disagreements(conn, dimension) + (_fts_damage(conn) if full else [])
    except sqlite3.DatabaseError as exc:  # "database disk image is malformed", "file is not a database"
        return [Damage("database file", str(exc))]


def vector_damage(chunk_ids: Sequence[int], searched_ids: np.ndarray | None) -> list[Damage]:
    """Damage when the vector search holds other ids than the chunks (both ascending; None: the
    search holds none)."""
    stored = np.array(chunk_ids, dtype=np.int64)
    searched = np.empty(0, np.int64) if searched_ids is None else searched_ids
    if np.array_equal(stored, searched):
        return []
    missing = np.setdiff1d(stored, searched)
    extra = np.setdiff1d(searched, stored)
    return [Damage(VECTOR_CACHE, f"{len(missing)} chunks not searchable, {len(extra)} searched ids "
                   "with no chunk", mendable=True)]


def mend(conn: sqlite3.Connection, damage: list[Damage]) -> None:
    """Rebuild the derived parts named in ``damage`` (inside the caller's write transaction):
    the full-text index from the chunks. The vector cache files are the caller's to remove."""
    if any(d.part == FULL_TEXT for d in damage):
        conn.execute(FTS_TABLE)
        conn.execute(VOCAB_TABLE)
        conn.execute(INSERT_TRIGGER)
        conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')")


def is_damage(exc: sqlite3.DatabaseError) -> bool:
    """Whether SQLite's error means the file is damaged (not busy, not a bug in a query)."""
    return any(word in str(exc).lower() for word in _DAMAGE_WORDS)


def unreadable(location: object, exc: sqlite3.Error) -> IndexDamagedError:
    """The error for an index SQLite cannot read at all."""
    return damaged(IntegrityReport(str(location), False, [Damage("database file", str(exc))]))


def damaged(report: IntegrityReport) -> IndexDamagedError:
    """The error that refuses to use the index ``report`` found damaged."""
    return IndexDamagedError(report.message(), report.damage)


def timed(check: IntegrityReport, started: float) -> IntegrityReport:
    """``check`` with the seconds since ``started``."""
    check.seconds = time.perf_counter() - started
    return check


def _file_damage(conn: sqlite3.Connection, full: bool) -> list[Damage]:
    rows = [r[0] for r in conn.execute("PRAGMA integrity_check" if full else "PRAGMA quick_check")]
    if rows == ["ok"]:
        return []
    listed = "; ".join(rows[:MAX_LISTED]) + (f" (and {len(rows) - MAX_LISTED} more)" if len(rows) > MAX_LISTED else "")
    return [Damage("database file", listed)]


def _missing_parts(conn: sqlite3.Connection) -> list[Damage]:
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    damage = [Damage(FULL_TEXT, f"table {name} is missing", mendable=True) if name.startswith("chunks_")
              else Damage("tables", f"table {name} is missing") for name in TABLES if name not in present]
    damage += [Damage(FULL_TEXT, f"trigger {name} is missing", mendable=True) if name == "chunks_ai"
               else Damage("tables", f"trigger {name} is missing") for name in TRIGGERS if name not in present]
    return damage


def _disagreements(conn: sqlite3.Connection, dimension: int) -> list[Damage]:
    def count(sql: str, *params: object) -> int:
        return int(conn.execute(sql, params).fetchone()[0])

    damage = []
    orphans = count("SELECT COUNT(*) FROM chunks WHERE document_id NOT IN (SELECT id FROM documents)")
    if orphans:
        damage.append(Damage("chunks", f"{orphans} chunks belong to no document"))
    without = count("SELECT COUNT(*) FROM chunks WHERE id NOT IN (SELECT id FROM vectors)")
    if without:
        damage.append(Damage("vectors", f"{without} chunks have no vector"))
    stray = count("SELECT COUNT(*) FROM vectors WHERE id NOT IN (SELECT id FROM chunks)")
    if stray:
        damage.append(Damage("vectors", f"{stray} vectors belong to no chunk"))
    if dimension:
        wrong = count("SELECT COUNT(*) FROM vectors WHERE length(embedding) != ?", 4 * dimension)
        if wrong:
            damage.append(Damage("vectors", f"{wrong} vectors are not of the recorded dimension {dimension}"))
    chunks, indexed = count("SELECT COUNT(*) FROM chunks"), count("SELECT COUNT(*) FROM chunks_fts_docsize")
    if chunks != indexed:
        damage.append(Damage(FULL_TEXT, f"{indexed} rows for {chunks} chunks", mendable=True))
    return damage


def _fts_damage(conn: sqlite3.Connection) -> list[Damage]:
    try:  # FTS5's own check, rank 1: the index against the chunks' text (a "command", it writes nothing)
        conn.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)")
    except sqlite3.DatabaseError as exc:
        return [Damage(FULL_TEXT, f"does not match the chunks' text ({exc})", mendable=True)]
    return []
