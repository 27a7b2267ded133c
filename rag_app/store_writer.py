"""Changes to the index inside one write transaction (opened by `IndexStore.writer`)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence

import faiss
import numpy as np

from rag_app.store_records import NewChunk


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
