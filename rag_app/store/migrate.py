"""Copying an index from one store to another (`rag-app migrate`): documents, chunks, their
stored vectors (nothing is embedded again) and the unreadable-file records, then a check that
both give the same nearest chunks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rag_app.store.base import Store
from rag_app.store.records import IndexUnavailableError, NewChunk

log = logging.getLogger(__name__)

COPY_BATCH_CHUNKS = 2048  # chunks per commit of the copy (a kill loses at most this much work)
CHECK_QUERIES = 20  # stored vectors searched in both stores after the copy
CHECK_K = 10


@dataclass(frozen=True)
class CopyReport:
    """What a copy moved, and how alike the two stores search."""

    documents: int
    chunks: int
    failures: int
    checked_queries: int
    same_top: float  # share of the check's top-`CHECK_K` lists (by path and ordinal) equal in both


def copy_index(source: Store, target: Store, *, progress: Callable[[int, int], None] | None = None) -> CopyReport:
    """Copy everything in ``source`` into ``target``, which must be empty; returns the counts
    and the check. Raises `IndexUnavailableError` when ``source`` is empty or ``target`` is not."""
    model, dimension = source.embedding_model, source.dimension
    if not model or source.chunk_count() == 0:
        raise IndexUnavailableError(f"The index in {source.location} is empty: nothing to copy.")
    chunking = source.meta("chunking")
    tokens, _, overlap = (chunking or "").partition("/")
    chunk_setting = (int(tokens), int(overlap)) if tokens and overlap else None
    with target.writing():
        if target.chunk_count() or target.documents():
            raise IndexUnavailableError(
                f"The index in {target.location} is not empty. Copy into an empty one (another "
                "milvus_collection or index_dir), or delete it first.")
        documents = source.documents()
        done = 0
        for first, end in _batches([d.n_chunks for d in documents]):
            with target.transaction(model, dimension, chunking=chunk_setting) as writer:
                for document in documents[first:end]:
                    chunks = source.document_chunks(document.path)
                    vectors = source.vectors([c.id for c in chunks]) if chunks else np.zeros((0, dimension))
                    writer.add_document(
                        path=document.path, content_hash=document.content_hash, size=document.size,
                        mtime=document.mtime, title=document.title, metadata=document.metadata,
                        chunks=[NewChunk(c.ordinal, c.text, c.text_hash, c.page, c.heading, c.char_start,
                                         c.char_end) for c in chunks],
                        vectors=vectors)
                    done += len(chunks)
            if progress:
                progress(done, sum(d.n_chunks for d in documents))
        failures = source.known_failures()
        if failures:
            with target.transaction(model, dimension, chunking=chunk_setting) as writer:
                for path, (reason, size, mtime) in failures.items():
                    writer.record_failure(path, reason, size, mtime)
        target.update_vector_cache()
    target.refresh()
    checked, same = compare_search(source, target)
    log.info("Copied %d documents (%d chunks) from %s to %s; %d of %d nearest-chunk lists the same",
             len(documents), done, source.location, target.location, same, checked)
    return CopyReport(documents=len(documents), chunks=done, failures=len(failures),
                      checked_queries=checked, same_top=same / checked if checked else 1.0)


def _batches(sizes: list[int]) -> list[tuple[int, int]]:
    """Runs of consecutive documents of about `COPY_BATCH_CHUNKS` chunks (a larger one alone)."""
    runs: list[tuple[int, int]] = []
    start, total = 0, 0
    for i, size in enumerate(sizes):
        if total and total + size > COPY_BATCH_CHUNKS:
            runs.append((start, i))
            start, total = i, 0
        total += size
    if start < len(sizes):
        runs.append((start, len(sizes)))
    return runs


def compare_search(first: Store, second: Store, queries: int = CHECK_QUERIES, k: int = CHECK_K) -> tuple[int, int]:
    """Search both stores with stored vectors of ``first`` (spread over its chunks): (queries
    made, queries whose top-``k`` chunks, by path and ordinal, are the same in both)."""
    ids = first.chunk_ids()
    picks = [ids[i] for i in np.linspace(0, len(ids) - 1, min(queries, len(ids))).astype(int)] if ids else []
    same = 0
    for vector in first.vectors(picks):
        lists = []
        for store in (first, second):
            hits = [i for i, _ in store.dense_search(vector, k)]
            lists.append([(c.path, c.ordinal) for c in store.chunks(hits)])
        same += lists[0] == lists[1]
    return len(picks), same
