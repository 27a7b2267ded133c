"""Writing to the index: the one-writer lock on the folder, and the changes of one transaction."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from rag_app.store.records import IndexBusyError, NewChunk
from rag_app.store.schema import LOCK_NAME


@contextlib.contextmanager
def writer_lock(index_dir: Path, *, wait: bool = False) -> Iterator[int]:
    """Hold ``index_dir``'s writer lock (an ``flock`` on `LOCK_NAME`, which records our pid).

    Raises `IndexBusyError` naming the process that holds it, unless ``wait`` (then it blocks
    until that process is done). Yields the lock file's descriptor.
    """
    fd = os.open(index_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            raise IndexBusyError(
                f"An ingest is already updating the index in {index_dir} (process {holder}). "
                "Try again when it has finished (`rag-app ingest --wait` starts as soon as it does)."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield fd
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class IndexWriter:
    """Changes to the index inside one transaction (see `IndexStore.transaction`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def remove_document(self, path: str) -> int:
        """Remove a document with its chunks and vectors; returns the number of chunks removed."""
        removed = self._conn.execute(
            "DELETE FROM chunks WHERE document_id IN (SELECT id FROM documents WHERE path = ?)",
            (path,),
        ).rowcount
        self._conn.execute("DELETE FROM documents WHERE path = ?", (path,))
        return max(removed, 0)

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
        document_id = _rowid(cur)
        ids: list[int] = []
        rows = np.ascontiguousarray(vectors, dtype=np.float32)
        for chunk, vector in zip(chunks, rows, strict=True):
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
            ids.append(_rowid(cur))
            self._conn.execute("INSERT INTO vectors(id, embedding) VALUES (?, ?)", (ids[-1], vector.tobytes()))
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


def _rowid(cursor: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just wrote."""
    assert cursor.lastrowid is not None
    return cursor.lastrowid
