"""The SQL of an embedded index's reads that return records: chunks, documents, stored vectors
(`IndexStore` runs them under its lock, through its ``rows`` query function)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Sequence

import numpy as np

from rag_app.store.records import ChunkRecord, DocumentRecord, chunk_from_row, document_from_row

Rows = Callable[[str, Sequence[object]], list[sqlite3.Row]]  # SQL and its parameters -> the rows
CHUNK_COLUMNS = ("SELECT c.*, d.path, d.title, d.metadata AS doc_metadata "
                 "FROM chunks c JOIN documents d ON d.id = c.document_id ")


def chunks(rows: Rows, ids: Sequence[int]) -> list[ChunkRecord]:
    """The chunks with these ids, in the order of ``ids`` (unknown ids are skipped)."""
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    by_id = {row["id"]: chunk_from_row(row)
             for row in rows(CHUNK_COLUMNS + f"WHERE c.id IN ({marks})", [int(i) for i in ids])}
    return [by_id[i] for i in ids if i in by_id]


def document_chunks(rows: Rows, path: str) -> list[ChunkRecord]:
    """All chunks of one document, in order."""
    return [chunk_from_row(row) for row in rows(CHUNK_COLUMNS + "WHERE d.path = ? ORDER BY c.ordinal", (path,))]


def documents(rows: Rows, path: str | None = None) -> list[DocumentRecord]:
    """Every indexed document with its chunk count, by path (only ``path``'s, when given)."""
    where, params = ("WHERE d.path = ?", (path,)) if path is not None else ("", ())
    found = rows("SELECT d.*, (SELECT COUNT(*) FROM chunks c WHERE c.document_id = d.id) AS n_chunks "
                 f"FROM documents d {where} ORDER BY d.path", params)
    return [document_from_row(r) for r in found]


def known_vectors(rows: Rows, text_hashes: Sequence[str]) -> dict[str, np.ndarray]:
    """Stored vectors of chunks whose text hash is among ``text_hashes`` (for reuse)."""
    found: dict[str, np.ndarray] = {}
    unique = list(dict.fromkeys(text_hashes))
    for start in range(0, len(unique), 500):
        batch = unique[start : start + 500]
        marks = ",".join("?" * len(batch))
        for row in rows(
            "SELECT c.text_hash, v.embedding FROM vectors v JOIN chunks c ON c.id = v.id "
            f"WHERE c.id IN (SELECT MIN(id) FROM chunks WHERE text_hash IN ({marks}) GROUP BY text_hash)",
            batch,
        ):
            found[row["text_hash"]] = np.frombuffer(row["embedding"], dtype=np.float32)
    return found


def chunk_ids_of(rows: Rows, paths: Collection[str]) -> list[int]:
    """The ids of the chunks of the documents at ``paths``, ascending."""
    if not paths:
        return []
    marks = ",".join("?" * len(paths))
    found = rows("SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id "
                 f"WHERE d.path IN ({marks}) ORDER BY c.id", list(paths))
    return [int(r[0]) for r in found]
