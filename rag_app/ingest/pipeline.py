"""Incremental ingestion: scan the data folder, diff it against the index, embed, write atomically.

A file whose size and mtime match the index is not opened; one whose content hash matches is
not loaded again; a changed file replaces its chunks; a deleted file's chunks are removed.
A chunk whose embedded text is already in the index reuses its stored vector. The whole run is
one transaction of the store: a crash leaves the previous index, never a mix.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag_app.config import Settings
from rag_app.embedding import Embedder, embedder_from_settings
from rag_app.ingest.chunking import Chunk, Chunker
from rag_app.ingest.document import LoadedDocument, LoadError
from rag_app.ingest.loaders import SUPPORTED_EXTENSIONS, load_document
from rag_app.ingest.report import FailedFile, IngestReport, ProgressCallback
from rag_app.store import DocumentRecord, IndexStore, IndexWriter, NewChunk

log = logging.getLogger(__name__)


class IngestError(RuntimeError):
    """Ingestion cannot start (e.g. the data folder does not exist)."""


@dataclass
class _SourceFile:
    path: Path
    key: str  # path relative to the data folder, with forward slashes
    size: int
    mtime: float


@dataclass
class _Pending:
    source: _SourceFile
    content_hash: str
    document: LoadedDocument
    chunks: list[Chunk]


def file_hash(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scan(data_dir: Path) -> tuple[list[_SourceFile], list[str]]:
    """Supported files under ``data_dir`` (hidden ones excluded) and the unsupported ones."""
    files: list[_SourceFile] = []
    skipped: list[str] = []
    for path in sorted(data_dir.rglob("*")):
        rel = path.relative_to(data_dir)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.suffix.lower() not in SUPPORTED_EXTENSIONS:
            skipped.append(rel.as_posix())
            continue
        stat = path.stat()
        files.append(_SourceFile(path, rel.as_posix(), stat.st_size, stat.st_mtime))
    return files, skipped


def ingest(
    settings: Settings,
    *,
    rebuild: bool = False,
    progress: ProgressCallback | None = None,
    embedder: Embedder | None = None,
) -> IngestReport:
    """Bring the index in ``settings.index_dir`` up to date with ``settings.data_dir``.

    Raises `IngestError` when the data folder is missing and `IndexMismatchError` when the
    index was built with another embedding model (unless ``rebuild``).
    """
    started = time.perf_counter()
    data_dir = Path(settings.data_dir)
    if not data_dir.is_dir():
        raise IngestError(
            f"Data folder not found: {data_dir}. Create it and put your documents in it, "
            "or pass --data-dir."
        )
    embedder = embedder or embedder_from_settings(settings)
    report = IngestReport()
    files, report.skipped = scan(data_dir)
    for name in report.skipped:
        log.info("Skipped %s: unsupported file type", name)

    with IndexStore.open(settings.index_dir) as store:
        with store.writer(embedder.name, embedder.dimension, rebuild=rebuild) as writer:
            known = {} if rebuild else {doc.path: doc for doc in store.documents()}
            failures = {} if rebuild else writer.known_failures()
            pending = _load_changed(files, known, failures, writer, report, embedder, settings, progress)

            for path in sorted(set(known) - {f.key for f in files}):
                writer.remove_document(path)
                report.removed += 1
            for path in set(failures) - {f.key for f in files}:
                writer.forget_failure(path)

            report.chunks_embedded = _write(pending, writer, embedder, progress)
        report.chunks_total = store.chunk_count()
    report.seconds = round(time.perf_counter() - started, 3)
    log.info(
        "Ingested %s: %d added, %d updated, %d removed, %d unchanged, %d failed, "
        "%d chunks embedded, %d in total, %.1f s",
        data_dir, report.added, report.updated, report.removed, report.unchanged,
        len(report.failed), report.chunks_embedded, report.chunks_total, report.seconds,
    )
    return report


def _load_changed(
    files: list[_SourceFile],
    known: dict[str, DocumentRecord],
    failures: dict[str, tuple[str, int, float]],
    writer: IndexWriter,
    report: IngestReport,
    embedder: Embedder,
    settings: Settings,
    progress: ProgressCallback | None,
) -> list[_Pending]:
    """Load and chunk new and changed files; count unchanged ones; record failures.

    The chunker (which needs the embedder's tokenizer, hence the model) is made only when a
    file has to be chunked: an unchanged folder does not load the embedder.
    """
    chunker: Chunker | None = None
    pending: list[_Pending] = []
    for done, source in enumerate(files, start=1):
        if progress:
            progress("load", done, len(files))
        record = known.get(source.key)
        if record and (record.size, record.mtime) == (source.size, source.mtime):
            report.unchanged += 1
            continue
        failure = failures.get(source.key)
        if failure and failure[1:] == (source.size, source.mtime):
            report.failed.append(FailedFile(source.key, failure[0]))
            continue
        try:
            content_hash = file_hash(source.path)
            if record and record.content_hash == content_hash:
                writer.touch_document(source.key, source.mtime)
                report.unchanged += 1
                continue
            document = load_document(source.path)
            chunker = chunker or Chunker(embedder, settings.chunk_tokens, settings.chunk_overlap)
            chunks = chunker.split(document)
            if not chunks:
                raise LoadError("no text to index")
        except (LoadError, OSError) as exc:
            reason = exc.reason if isinstance(exc, LoadError) else f"cannot read file ({exc.strerror})"
            log.warning("Could not ingest %s: %s", source.key, reason)
            report.failed.append(FailedFile(source.key, reason))
            writer.record_failure(source.key, reason, source.size, source.mtime)
            if record:  # the file changed into something unreadable: its old text is gone
                writer.remove_document(source.key)
                report.removed += 1
            continue
        pending.append(_Pending(source, content_hash, document, chunks))
        if record:
            report.updated += 1
        else:
            report.added += 1
    return pending


def _write(
    pending: list[_Pending],
    writer: IndexWriter,
    embedder: Embedder,
    progress: ProgressCallback | None,
) -> int:
    """Embed what is new (reusing stored vectors by text hash) and store it; returns #embedded."""
    all_chunks = [chunk for item in pending for chunk in item.chunks]
    reused = writer.known_vectors([chunk.text_hash for chunk in all_chunks])
    to_embed = list({c.text_hash: c.embed_text for c in all_chunks if c.text_hash not in reused}.items())
    if to_embed:
        callback = (lambda done, total: progress("embed", done, total)) if progress else None
        vectors = embedder.encode([text for _, text in to_embed], progress=callback)
        reused.update({h: vectors[i] for i, (h, _) in enumerate(to_embed)})

    for item in pending:
        writer.add_document(
            path=item.source.key,
            content_hash=item.content_hash,
            size=item.source.size,
            mtime=item.source.mtime,
            title=item.document.title,
            metadata={k: str(v) for k, v in item.document.metadata.items()},
            chunks=[
                NewChunk(c.ordinal, c.text, c.text_hash, c.page, c.heading, c.char_start, c.char_end)
                for c in item.chunks
            ],
            vectors=np.array([reused[c.text_hash] for c in item.chunks], dtype=np.float32).reshape(
                len(item.chunks), embedder.dimension
            ),
        )
    return len(to_embed)
