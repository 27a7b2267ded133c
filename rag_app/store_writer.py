"""Changes to the index inside one write transaction (opened by `IndexStore.transaction`)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence

import numpy as np

from rag_app.store_records import NewChunk


class IndexWriter:
    """Changes to the index inside one transaction (see `IndexStore.transaction`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def clear(self) -> None:
        """Remove every document, chunk, vector and failure."""
        self._conn.execute("DELETE FROM chunks")
        self._conn.execute("DELETE FROM documents")
        self._conn.execute("DELETE FROM failures")
        self._conn.execute("DELETE FROM vectors")

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
        document_id = int(cur.lastrowid)
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
            ids.append(int(cur.lastrowid))
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
