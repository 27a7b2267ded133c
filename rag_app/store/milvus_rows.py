"""The rows the Milvus store keeps, and the records they stand for: one chunk row (text,
vector, where it came from) per chunk in ``<name>_chunks``, and one keyed row per document,
failed file or meta value in ``<name>_records`` (milvus_store.py has the layout)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Collection, Iterable
from typing import Any

import numpy as np

from rag_app.store.records import ChunkRecord, DocumentRecord, NewChunk

TEXT_BYTES = 65_535  # Milvus's VARCHAR limit
CHUNK_FIELDS = ["id", "document_id", "path", "ordinal", "text", "text_hash", "page", "heading", "char_start",
                "char_end"]


def cut(text: str, limit: int = TEXT_BYTES) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, on a character boundary."""
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", errors="ignore")


def ids_literal(values: Iterable[int]) -> str:
    """A Milvus list literal of integers."""
    return "[" + ",".join(str(int(v)) for v in values) + "]"


def chunk_row(chunk_id: int, document_id: int, path: str, chunk: NewChunk, vector: np.ndarray) -> dict[str, Any]:
    """The Milvus row of one chunk."""
    return {
        "id": int(chunk_id), "document_id": int(document_id), "path": path, "ordinal": int(chunk.ordinal),
        "text": cut(chunk.text), "text_hash": chunk.text_hash,
        "page": -1 if chunk.page is None else int(chunk.page), "heading": cut(chunk.heading, 4096),
        "char_start": int(chunk.char_start), "char_end": int(chunk.char_end),
        "dense": np.asarray(vector, dtype=np.float32).tolist(),
    }


def record_key(kind: str, name: str) -> str:
    """The primary key of record ``name`` of ``kind``: hex, safe in any Milvus expression."""
    return hashlib.sha256(f"{kind}:{name}".encode()).hexdigest()


def record_row(kind: str, name: str, value: str) -> dict[str, Any]:
    """The records row of ``name`` of ``kind`` (doc, fail, meta) holding ``value``."""
    return {"key": record_key(kind, name), "kind": kind, "name": name, "value": value, "unused": [0.0, 0.0]}


def document_row(document: DocumentRecord) -> dict[str, Any]:
    """The records row of a document."""
    value = {k: v for k, v in dataclasses.asdict(document).items() if k != "path"}
    return record_row("doc", document.path, json.dumps(value))


def document_of(row: dict[str, Any]) -> DocumentRecord:
    """The document a records row of kind ``doc`` holds."""
    value = json.loads(row["value"])
    return DocumentRecord(path=row["name"], **value)


def chunk_of(row: dict[str, Any], document: DocumentRecord) -> ChunkRecord:
    """The chunk of a chunk row (its ``CHUNK_FIELDS``), in ``document``."""
    page = None if int(row["page"]) < 0 else int(row["page"])
    ocr_pages = set(str(document.metadata.get("ocr_pages", "")).split(","))
    return ChunkRecord(
        id=int(row["id"]), document_id=document.id, path=document.path, title=document.title,
        ordinal=int(row["ordinal"]), text=row["text"], page=page, heading=row["heading"],
        char_start=int(row["char_start"]), char_end=int(row["char_end"]),
        ocr=page is not None and str(page) in ocr_pages, text_hash=row["text_hash"],
    )


def paths_filter(paths: Collection[str] | None) -> str:
    """A filter expression keeping the chunks of the documents at ``paths`` ("" for all)."""
    if paths is None:
        return ""
    return f"path in {json.dumps(sorted(paths), ensure_ascii=False)}"
