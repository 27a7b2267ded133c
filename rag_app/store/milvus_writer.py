"""The changes of one commit to the Milvus store, kept in memory and applied in the safe order
milvus_store.py describes (`MilvusWriter.commit`)."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from rag_app.store.milvus_rows import chunk_row, document_of, document_row, record_row
from rag_app.store.records import DocumentRecord, NewChunk


class MilvusTables(Protocol):
    """What a commit needs of the store (`MilvusStore` has it)."""

    def documents(self) -> list[DocumentRecord]: ...
    def insert_rows(self, rows: list[dict[str, Any]]) -> None: ...
    def upsert_records(self, rows: list[dict[str, Any]]) -> None: ...
    def delete_records(self, names: list[str]) -> None: ...
    def delete_document_chunks(self, document_ids: list[int]) -> None: ...


class MilvusWriter:
    """The changes of one commit to a `MilvusStore`, kept until `commit`."""

    def __init__(self, store: MilvusTables, next_id: int) -> None:
        self._store = store
        self._next_id = next_id
        self._current = {doc.path: doc for doc in store.documents()}
        self._rows: list[dict[str, Any]] = []
        self._records: dict[str, dict[str, Any]] = {}  # key -> record to write
        self._deleted: set[str] = set()  # keys of records to delete
        self._replaced: list[int] = []  # ids of documents whose chunks go

    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _document(self, path: str) -> DocumentRecord | None:
        key = f"doc:{path}"
        if key in self._deleted:
            return None
        if key in self._records:
            return document_of(self._records[key])
        return self._current.get(path)

    def remove_document(self, path: str) -> int:
        """Remove a document with its chunks; returns the number of chunks removed."""
        document = self._document(path)
        if document is None:
            return 0
        self._replaced.append(document.id)
        self._rows = [row for row in self._rows if row["document_id"] != document.id]
        self._records.pop(f"doc:{path}", None)
        self._deleted.add(f"doc:{path}")
        return document.n_chunks

    def add_document(self, *, path: str, content_hash: str, size: int, mtime: float, title: str,
                     metadata: dict[str, str], chunks: Sequence[NewChunk], vectors: np.ndarray) -> list[int]:
        """Store a document (replacing any earlier version) with its chunks and vectors."""
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk is required")
        self.remove_document(path)
        document_id = self._take_id()
        ids = [self._take_id() for _ in chunks]
        rows = np.ascontiguousarray(vectors, dtype=np.float32)
        self._rows += [chunk_row(i, document_id, path, chunk, vector)
                       for i, chunk, vector in zip(ids, chunks, rows, strict=True)]
        self._deleted.discard(f"doc:{path}")
        self._records[f"doc:{path}"] = document_row(DocumentRecord(
            id=document_id, path=path, content_hash=content_hash, size=size, mtime=mtime, title=title,
            metadata=metadata, ingested_at=time.time(), n_chunks=len(chunks)))
        self.forget_failure(path)
        return ids

    def touch_document(self, path: str, mtime: float) -> None:
        """Record a new mtime for a document whose content did not change."""
        document = self._document(path)
        if document is not None:
            self._records[f"doc:{path}"] = document_row(dataclasses.replace(document, mtime=mtime))

    def record_failure(self, path: str, reason: str, size: int = -1, mtime: float = -1) -> None:
        """Remember that a file (of this size and mtime) could not be ingested, and why."""
        self._deleted.discard(f"fail:{path}")
        self._records[f"fail:{path}"] = record_row("fail", path, json.dumps(
            {"reason": reason, "size": size, "mtime": mtime, "failed_at": time.time()}))

    def forget_failure(self, path: str) -> None:
        """Drop a failure record (the file was deleted or is now readable)."""
        self._records.pop(f"fail:{path}", None)
        self._deleted.add(f"fail:{path}")

    def commit(self, meta: dict[str, str]) -> None:
        """Apply the changes: new chunks, then the records with the counter (the commit point),
        then the replaced chunks' removal."""
        store = self._store
        store.insert_rows(self._rows)
        meta = meta | {"next_id": str(self._next_id), "pending": json.dumps(self._replaced)}
        store.upsert_records([*self._records.values(), *(record_row("meta", k, v) for k, v in meta.items())])
        store.delete_records(sorted(self._deleted - set(self._records)))
        store.delete_document_chunks(self._replaced)
        store.upsert_records([record_row("meta", "pending", "[]")])
