"""Backups of the SQLite index and putting one back (`rag-app backup`, `rag-app restore`).

A backup is a folder holding one ``index.sqlite3``, written by SQLite's online backup API from one
read transaction: a committed state, whole, while questions are answered and an ingest commits
(WAL readers do not stop writers). The copy is checked (`integrity.check_database`) before it is
given its name, so a folder holding ``index.sqlite3`` holds a whole, checked index; a kill leaves
at most an ``index.sqlite3.partial``. The vector cache is not copied: it is rebuilt from the
stored vectors on first use.

`restore_index` checks the backup, copies it beside the index, and swaps the two folders in one
step (`durable.exchange`) under the writer lock; the index it replaces is kept in
``<index>.before-restore``. A kill at any point leaves the old index or the new one in place.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from pathlib import Path

from rag_app.durable import exchange, fsync_dir
from rag_app.store import integrity, schema
from rag_app.store.records import Damage, IndexDamagedError, IndexUnavailableError
from rag_app.store.schema import DB_NAME
from rag_app.store.writer import writer_lock

log = logging.getLogger(__name__)

PARTIAL = DB_NAME + ".partial"


def backup_database(conn: sqlite3.Connection, destination: Path) -> Path:
    """Copy the database ``conn`` reads into ``destination`` (a new or empty folder) and check
    the copy; returns its path. Raises `IndexUnavailableError` when ``destination`` already
    holds an index or the copy cannot be written, `IndexDamagedError` when the copy is damaged
    (the source is: see `rag-app check`)."""
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / DB_NAME
    if target.exists():
        raise IndexUnavailableError(f"{destination} already holds an index: back up into a new or empty folder.")
    partial = destination / PARTIAL
    partial.unlink(missing_ok=True)
    copy = sqlite3.connect(partial, isolation_level=None)
    try:
        conn.backup(copy)  # all pages in one step: one read transaction, one committed state
        damage = integrity.check_database(copy, full=True)
    except sqlite3.Error as exc:
        copy.close()
        partial.unlink(missing_ok=True)
        if isinstance(exc, sqlite3.DatabaseError) and integrity.is_damage(exc):
            raise integrity.unreadable(destination, exc) from exc
        raise IndexUnavailableError(f"Could not write the backup in {destination} ({exc}).") from exc
    copy.close()
    if damage:
        partial.unlink(missing_ok=True)
        report = integrity.IntegrityReport(str(destination), True, damage)
        raise IndexDamagedError(f"The backup is not whole, so it was not kept: {report.message()}", damage)
    os.replace(partial, target)
    fsync_dir(destination)
    return target


def before_upgrade(conn: sqlite3.Connection, index_dir: Path, version: int) -> Path:
    """Keep the index of schema ``version`` in ``<index>.schema-<version>`` before a migration
    changes it (with its vector files: schema 1 kept the vectors there). Returns that folder."""
    kept = index_dir.with_name(f"{index_dir.name}.schema-{version}")
    if (kept / DB_NAME).exists():  # kept by an earlier attempt at this upgrade
        return kept
    shutil.rmtree(kept, ignore_errors=True)
    backup_database(conn, kept)
    for vectors in index_dir.glob("*.faiss"):
        shutil.copy2(vectors, kept / vectors.name)
    return kept


def restore_index(source: Path, index_dir: Path) -> Path | None:
    """Put the backup in ``source`` (the folder `backup_database` wrote, or its file) in place of
    the index in ``index_dir``; returns where the replaced index is kept (None when there was
    none). Raises `IndexUnavailableError` when ``source`` is not a usable backup (nothing is
    changed then) and `IndexBusyError` while an ingest writes to the index."""
    source_db = source / DB_NAME if source.is_dir() else source
    if not source_db.is_file():
        raise IndexUnavailableError(f"No backup in {source}: give the folder `rag-app backup` wrote "
                                    f"(it holds {DB_NAME}).")
    staging = index_dir.with_name(index_dir.name + ".restoring")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        reader = sqlite3.connect(f"file:{source_db}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise IndexUnavailableError(f"Cannot read the backup {source_db} ({exc}).") from exc
    try:
        version = schema.schema_version(reader)
        if version is None:
            raise IndexUnavailableError(f"{source_db} is not a rag_app index.")
        schema.check_version(version, source)  # one from a newer rag_app is refused
        backup_database(reader, staging)  # a checked copy beside the index
    except sqlite3.DatabaseError as exc:
        raise IndexDamagedError(f"The backup {source_db} is damaged ({exc}); nothing was changed.",
                                [Damage("database file", str(exc))]) from exc
    finally:
        reader.close()
    index_dir.mkdir(parents=True, exist_ok=True)
    with writer_lock(index_dir):
        if not (index_dir / DB_NAME).exists():
            os.replace(staging / DB_NAME, index_dir / DB_NAME)
            fsync_dir(index_dir)
            shutil.rmtree(staging)
            return None
        exchange(staging, index_dir)  # the backup in place, the old index at the staging name
    kept = index_dir.with_name(index_dir.name + ".before-restore")
    shutil.rmtree(kept, ignore_errors=True)
    os.replace(staging, kept)
    log.info("Restored the index in %s from %s; the replaced index is in %s", index_dir, source, kept)
    return kept
