"""Incremental, streaming ingestion: scan the data folder, diff it against the index, and load,
chunk, embed and commit the changed files batch by batch.

A file whose size and mtime match the index is not opened; one whose content hash matches is
not loaded again; a changed file replaces its chunks; a deleted file's chunks are removed.
A chunk whose embedded text is already in the index reuses its stored vector.

Files are committed in batches of about ``settings.ingest.ingest_batch_chunks`` chunks, each in one
short transaction that holds only the writes (loading and embedding happen before it). A file
is never split across commits. A crash, kill or Ctrl+C loses at most the batch in flight; the
next run sees the committed files as unchanged and goes on from there. Memory holds one batch.
Questions can be asked meanwhile: readers see each committed batch, never half of one.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag_app.config import Settings
from rag_app.embedding import Embedder, embedder_from_settings
from rag_app.grounding.addressed import addressed_to_assistant
from rag_app.ingest.chunking import Chunk, Chunker
from rag_app.ingest.document import LoadedDocument, LoadError, Section
from rag_app.ingest.loaders import load_bytes
from rag_app.ingest.ocr import PageReader, ocr_cache
from rag_app.ingest.report import FailedFile, IngestReport, ProgressCallback
from rag_app.ingest.scan import SourceFile, read_stable, scan
from rag_app.store import DocumentRecord, Store, open_store, rebuild_store

log = logging.getLogger(__name__)


class IngestError(RuntimeError):
    """Ingestion cannot start (e.g. the data folder does not exist)."""


@dataclass
class _Pending:
    source: SourceFile
    content_hash: str
    document: LoadedDocument
    chunks: list[Chunk]
    had_record: bool = False  # an earlier version of the file is in the index


def ingest(
    settings: Settings,
    *,
    rebuild: bool = False,
    progress: ProgressCallback | None = None,
    embedder: Embedder | None = None,
    wait: bool = False,
) -> IngestReport:
    """Bring the index in ``settings.paths.index_dir`` up to date with ``settings.paths.data_dir``.

    Raises `IngestError` when the data folder is missing, `IndexMismatchError` when the
    index was built with another embedding model or other chunk settings (unless ``rebuild``)
    and `IndexBusyError` when another ingest is writing to the same index (unless ``wait``:
    then it waits for it). ``rebuild`` builds the index again from nothing, the way its store
    does it (`store.rebuild_store`: the embedded index beside the old one, swapped in one step).
    """
    data_dir = Path(settings.paths.data_dir)
    if not data_dir.is_dir():
        raise IngestError(
            f"Data folder not found: {data_dir}. Create it and put your documents in it, "
            "or pass --data-dir."
        )
    embedder = embedder or embedder_from_settings(settings)
    if not rebuild:
        return _ingest(settings, embedder, progress=progress, wait=wait)

    def fill(index_dir: Path) -> IngestReport:
        return _ingest(settings.replace(index_dir=index_dir), embedder, progress=progress)

    return rebuild_store(settings.paths.index_dir, settings.index, fill, embedding_model=embedder.name,
                         dimension=embedder.dimension,
                         chunking=(settings.ingest.chunk_tokens, settings.ingest.chunk_overlap), wait=wait)


def _ingest(
    settings: Settings, embedder: Embedder, *, progress: ProgressCallback | None = None, wait: bool = False
) -> IngestReport:
    """The incremental ingest of `ingest`, into ``settings.paths.index_dir``."""
    started = time.perf_counter()
    data_dir = Path(settings.paths.data_dir)
    report = IngestReport()
    found = scan(data_dir, follow_external_links=settings.ingest.follow_external_links,
                 max_file_mb=settings.ingest.max_file_mb)
    files, report.skipped = found.files, found.skipped
    for name in report.skipped:
        log.info("Skipped %s: unsupported file type", name)
    for item in found.refused:
        log.warning("Not ingesting %s: %s", item.path, item.reason)

    chunking = (settings.ingest.chunk_tokens, settings.ingest.chunk_overlap)
    with open_store(settings.paths.index_dir, settings.index) as store, store.writing(wait=wait):
        store.check_model(embedder.name, embedder.dimension)
        store.check_chunking(*chunking)
        known = {doc.path: doc for doc in store.documents()}
        failures = store.known_failures()
        present = {f.key for f in files}
        gone = sorted(set(known) - present)
        # Files the scan refused are failures too (recorded when new: nothing was read).
        refused = {r.path for r in found.refused}
        new_refusals = [r for r in found.refused if failures.get(r.path, ("",))[0] != r.reason]
        forgotten = set(failures) - present - refused
        if gone or forgotten or new_refusals:
            with store.transaction(embedder.name, embedder.dimension, chunking=chunking) as writer:
                for path in gone:
                    writer.remove_document(path)
                for path in forgotten:
                    writer.forget_failure(path)
                for failure in new_refusals:
                    writer.record_failure(failure.path, failure.reason)
            report.removed += len(gone)
        report.failed.extend(found.refused)

        batches = _Batches(store, embedder, settings, report, progress)
        for done, source in enumerate(files, start=1):
            batches.take(source, known.get(source.key), failures.get(source.key))
            if progress:
                progress("files", done, len(files))
        batches.flush()
        if store.update_vector_cache():
            log.info("Vector search cache written for %d chunks", store.vector_count)
        report.chunks_total = store.chunk_count()
    report.seconds = round(time.perf_counter() - started, 3)
    log.info(
        "Ingested %s: %d added, %d updated, %d removed, %d unchanged, %d failed, "
        "%d chunks embedded, %d in total, %.1f s",
        data_dir, report.added, report.updated, report.removed, report.unchanged,
        len(report.failed), report.chunks_embedded, report.chunks_total, report.seconds,
    )
    return report


class _Batches:
    """Files waiting to be embedded and committed, flushed every ``ingest_batch_chunks`` chunks."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        settings: Settings,
        report: IngestReport,
        progress: ProgressCallback | None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.report = report
        self.progress = progress
        self.pending: list[_Pending] = []
        self.touched: list[SourceFile] = []
        self.failed: list[tuple[SourceFile, str, bool]] = []  # (file, reason, had an old version)
        self.committed = 0  # chunks committed by this run
        self._chunker: Chunker | None = None  # made on first use: an unchanged folder loads no model
        # Scanned pages and images: read once, then from the cache, whatever index or name.
        self.ocr = PageReader(ocr_cache(settings.paths.cache_dir),
                              on_page=(lambda n: progress("ocr", n, 0)) if progress else None)

    def take(self, source: SourceFile, record: DocumentRecord | None, failure: tuple[str, int, float] | None) -> None:
        """Classify one scanned file: unchanged, known failure, touched, failed now, or to embed."""
        report = self.report
        if record and (record.size, record.mtime) == (source.size, source.mtime):
            report.unchanged += 1
            return
        if failure and failure[1:] == (source.size, source.mtime):
            report.failed.append(FailedFile(source.key, failure[0]))
            return
        try:
            data, status = read_stable(source)
            source.size, source.mtime = status.st_size, status.st_mtime  # the version read
            content_hash = hashlib.sha256(data).hexdigest()
            if record and record.content_hash == content_hash:
                self.touched.append(source)
                report.unchanged += 1
                return
            document = load_bytes(source.path, data, max_text_chars=self.settings.ingest.max_text_chars,
                                  ocr=self.ocr)
            del data
            if self._chunker is None:
                ingest = self.settings.ingest
                self._chunker = Chunker(self.embedder, ingest.chunk_tokens, ingest.chunk_overlap)
            chunks = self._chunker.split(document)
            if not chunks:
                raise LoadError("no text to index")
            _note_addressed(source.key, document, chunks)
        except (LoadError, OSError) as exc:
            self._fail(source, exc.reason if isinstance(exc, LoadError) else f"cannot read file ({exc.strerror})",
                       had_record=record is not None)
            return
        except Exception as exc:  # a bug or an odd character past the loader costs this file, not the run
            log.debug("Chunking failed on %s", source.key, exc_info=True)
            self._blame_file(exc, self._probe_chunker)
            self._fail(source, _unexpected("cut", exc), had_record=record is not None)
            return
        self.pending.append(_Pending(source, content_hash, document, chunks, had_record=record is not None))
        if record:
            report.updated += 1
        else:
            report.added += 1
        if sum(len(item.chunks) for item in self.pending) >= self.settings.ingest.ingest_batch_chunks:
            self.flush()

    def _probe_chunker(self) -> None:
        if self._chunker is None:
            raise RuntimeError("no chunker")
        self._chunker.split(_PROBE)

    @staticmethod
    def _blame_file(exc: Exception, probe: Callable[[], object]) -> None:
        """Re-raise ``exc`` unless the step that raised it still works on plain text (``probe``):
        a broken model or a bug that fails every file must stop the run, not mark every file
        unreadable and take their old versions out of the index."""
        try:
            probe()
        except Exception:
            raise exc from None

    def _fail(self, source: SourceFile, reason: str, *, had_record: bool) -> None:
        """Report ``source`` as not ingested (recorded at the next commit; an old version of it
        leaves the index, since the file changed into something unreadable)."""
        log.warning("Could not ingest %s: %s", source.key, reason)
        self.report.failed.append(FailedFile(source.key, reason))
        self.failed.append((source, reason, had_record))
        if had_record:
            self.report.removed += 1

    def flush(self) -> None:
        """Embed the pending files (reusing stored vectors) and commit them with the other
        changes seen since the last commit, in one short transaction."""
        if not (self.pending or self.touched or self.failed):
            return
        vectors = self._vectors()
        with self.store.transaction(self.embedder.name, self.embedder.dimension,
                                    chunking=(self.settings.ingest.chunk_tokens,
                                              self.settings.ingest.chunk_overlap)) as writer:
            for source in self.touched:
                writer.touch_document(source.key, source.mtime)
            for source, reason, had_record in self.failed:
                writer.record_failure(source.key, reason, source.size, source.mtime)
                if had_record:
                    writer.remove_document(source.key)
            for item in self.pending:
                writer.add_document(
                    path=item.source.key,
                    content_hash=item.content_hash,
                    size=item.source.size,
                    mtime=item.source.mtime,
                    title=item.document.title,
                    metadata={k: str(v) for k, v in item.document.metadata.items()},
                    chunks=item.chunks,
                    vectors=np.array([vectors[c.text_hash] for c in item.chunks], dtype=np.float32).reshape(
                        len(item.chunks), self.embedder.dimension
                    ),
                )
        self.committed += sum(len(item.chunks) for item in self.pending)
        if self.progress:
            self.progress("chunks", self.committed, 0)
        self.pending, self.touched, self.failed = [], [], []

    def _vectors(self) -> dict[str, np.ndarray]:
        """Vectors of the pending chunks by text hash: stored ones reused, the others embedded.

        When the embedder fails on the batch, each file is embedded alone, and a file it still
        fails on is reported and left out of the commit (the others go in)."""
        try:
            return self._embed(self.pending)
        except Exception as exc:  # find the file that makes it fail; the others must not pay for it
            log.debug("Embedding a batch of %d files failed; embedding them one by one", len(self.pending),
                      exc_info=True)
            self._blame_file(exc, lambda: self.embedder.encode([_PROBE.sections[0].text]))
        vectors: dict[str, np.ndarray] = {}
        kept: list[_Pending] = []
        for item in self.pending:
            try:
                vectors.update(self._embed([item]))
            except Exception as exc:
                log.debug("Embedding failed on %s", item.source.key, exc_info=True)
                self._fail(item.source, _unexpected("embed", exc), had_record=item.had_record)
                if item.had_record:
                    self.report.updated -= 1
                else:
                    self.report.added -= 1
                continue
            kept.append(item)
        self.pending = kept
        return vectors

    def _embed(self, pending: list[_Pending]) -> dict[str, np.ndarray]:
        """Vectors of the chunks of ``pending`` by text hash (stored ones reused)."""
        chunks = [chunk for item in pending for chunk in item.chunks]
        vectors = self.store.known_vectors([chunk.text_hash for chunk in chunks])
        to_embed = list({c.text_hash: c.embed_text for c in chunks if c.text_hash not in vectors}.items())
        if to_embed:
            embedded = self.embedder.encode([text for _, text in to_embed])
            vectors.update({h: embedded[i] for i, (h, _) in enumerate(to_embed)})
            self.report.chunks_embedded += len(to_embed)
        return vectors


def _note_addressed(key: str, document: LoadedDocument, chunks: list[Chunk]) -> None:
    """Record in ``document``'s metadata (``addresses_assistant``: the words) when one of its
    chunks addresses the assistant: indexed as data, set aside at question time, listed."""
    for chunk in chunks:
        quote = addressed_to_assistant(chunk.text)
        if quote:
            log.warning("%s addresses the assistant (“%s”): indexed as data; its passage will not be used to answer",
                        key, quote)
            document.metadata["addresses_assistant"] = quote
            return


# Plain text every working chunker and embedder handle (see `_Batches._blame_file`).
_PROBE = LoadedDocument(Path("probe.txt"), [Section("The harbour opens at six in the morning.")])


def _unexpected(step: str, exc: Exception) -> str:
    """The reason given for a file a step failed on unexpectedly (a bug, or text it refuses)."""
    return f"could not {step} its text ({type(exc).__name__}: {exc}); please report this file"
