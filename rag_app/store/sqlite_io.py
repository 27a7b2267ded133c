"""Talking to an index's SQLite database beyond its schema: the write transaction that turns a
full disk into a `DiskFullError` a person can act on, telling a busy database and a full disk
apart, and which database file a connection reads (its inode)."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from rag_app.store import integrity
from rag_app.store.records import DiskFullError, IndexBusyError
from rag_app.store.schema import BUSY_HINT, DB_NAME


def database_inode(index_dir: Path) -> int | None:
    """The inode of the index's database file (None while it is missing)."""
    try:
        return (index_dir / DB_NAME).stat().st_ino
    except OSError:
        return None


def is_disk_full(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` says the disk is full."""
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)


def disk_full_message(folder: Path) -> str:
    """What to tell a person whose disk filled up while the index in ``folder`` was written."""
    try:
        free = f"{shutil.disk_usage(folder).free / 1e6:.0f} MB free"
    except OSError:
        free = "no space left"
    return (f"The disk is full ({free} in {folder}): the index is as it was at its last commit. "
            "Free some space, then run `rag-app ingest` again; it goes on from there.")


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` says another connection holds the database (locked, busy)."""
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection, index_dir: Path) -> Iterator[None]:
    """BEGIN IMMEDIATE … COMMIT on ``conn``; rolled back on any error. SQLite rolls back by itself
    on a full disk, so ROLLBACK is sent only while a transaction is open, and a full disk is a
    `DiskFullError` saying how much space is left in ``index_dir``. The caller holds the
    connection's lock."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except sqlite3.OperationalError as exc:
        if is_disk_full(exc):
            raise DiskFullError(disk_full_message(index_dir)) from exc
        raise


def open_error(exc: sqlite3.Error, index_dir: Path) -> Exception:
    """What opening the index in ``index_dir`` failed with, for a person: busy (an upgrade or a
    creation in another process), or unreadable."""
    if is_busy(exc):
        return IndexBusyError(BUSY_HINT.format(dir=index_dir))
    return integrity.unreadable(index_dir, exc)


def read_error(exc: sqlite3.DatabaseError, index_dir: Path) -> Exception:
    """What a read of the index in ``index_dir`` failed with: busy, a damaged page (nothing is
    answered from it), or ``exc`` itself."""
    if is_busy(exc):
        return IndexBusyError(BUSY_HINT.format(dir=index_dir))
    if integrity.is_damage(exc):
        return integrity.unreadable(index_dir, exc)
    return exc


def end_read(conn: sqlite3.Connection) -> None:
    """End a read transaction (it loses nothing), whatever state the connection is in."""
    for statement in ("COMMIT", "ROLLBACK"):
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.DatabaseError):
                conn.execute(statement)


def folder_bytes(folder: Path) -> int:
    """The size of the files in ``folder`` (a file replaced meanwhile, a cache, counts as 0)."""
    size = 0
    for path in folder.iterdir():
        with contextlib.suppress(OSError):
            size += path.stat().st_size if path.is_file() else 0
    return size
