"""The index's plain records and errors: what the store hands out and raises."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass


class IndexUnavailableError(RuntimeError):
    """The index cannot be used as it is; the message tells the user what to do."""


class IndexMismatchError(IndexUnavailableError):
    """The index was built with another embedding model or dimension."""


class IndexBusyError(IndexUnavailableError):
    """Another process holds the index for writing (an ingest is running); nothing is wrong."""


@dataclass(frozen=True)
class Damage:
    """One thing found wrong in an index: which ``part``, what, and whether it is derived data
    that `rag-app check --repair` rebuilds from the rest (``mendable``)."""

    part: str
    detail: str
    mendable: bool = False


class IndexDamagedError(IndexUnavailableError):
    """The index is damaged (the message says what and what to do); nothing is answered from it."""

    def __init__(self, message: str, damage: list[Damage]) -> None:
        super().__init__(message)
        self.damage = damage


class DiskFullError(IndexUnavailableError):
    """The disk holding the index filled up during a write; the index is as it was before it."""


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
    ocr: bool = False  # its page was read by OCR (the document's ``ocr_pages`` metadata)
    text_hash: str = ""  # identifies what was embedded (vectors are reused by it)


@dataclass(frozen=True)
class NewChunk:
    """A chunk to store (its vector is given beside it). Ingestion's `Chunk` extends it."""

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


def document_from_row(row: sqlite3.Row) -> DocumentRecord:
    """A `DocumentRecord` from a row of ``documents`` with an ``n_chunks`` column."""
    return DocumentRecord(
        id=row["id"],
        path=row["path"],
        content_hash=row["content_hash"],
        size=row["size"],
        mtime=row["mtime"],
        title=row["title"],
        metadata=json.loads(row["metadata"]),
        ingested_at=row["ingested_at"],
        n_chunks=row["n_chunks"],
    )


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
        ocr=row["page"] is not None and str(row["page"]) in _ocr_pages(row),
        text_hash=row["text_hash"],
    )


def _ocr_pages(row: sqlite3.Row) -> set[str]:
    """The pages of the chunk's document read by OCR (its metadata's ``ocr_pages``, "2,3")."""
    if "doc_metadata" not in row.keys() or '"ocr_pages"' not in row["doc_metadata"]:  # noqa: SIM118 (a Row)
        return set()
    try:
        return set(str(json.loads(row["doc_metadata"]).get("ocr_pages", "")).split(","))
    except (ValueError, AttributeError):
        return set()
