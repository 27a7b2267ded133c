"""What the application service gives the views to show: the index (`IndexInfo`, its
`DocumentInfo` files) and a source in its page or section (`SourceView`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rag_app.sources import pdf_pages
from rag_app.sources.context import SourceContext, SourceError
from rag_app.store import DocumentRecord, Store


@dataclass(frozen=True)
class DocumentInfo:
    """One indexed file as a view lists it."""

    path: str
    passages: int
    title: str
    indexed_at: datetime
    encoding: str = ""  # the text encoding it was read in, when not UTF-8 (e.g. "cp932", guessed)
    addresses_assistant: str = ""  # its words to the assistant: its passages are not used to answer


@dataclass(frozen=True)
class IndexInfo:
    """What the index holds (`rag-app info`, the chat page's status and Documents tab)."""

    index_dir: Path
    documents: int
    chunks: int
    embedding_model: str
    dimension: int
    size_bytes: int
    last_ingest: datetime | None
    failures: list[tuple[str, str]]  # (path, reason) of the files that could not be read
    files: list[DocumentInfo]
    location: str = ""  # where the index is: its folder, or a Milvus URI and collection

    @property
    def last_ingest_text(self) -> str:
        """When the index last changed, for a person: "2026-12-01 09:30:00" or "never"."""
        return self.last_ingest.isoformat(sep=" ", timespec="seconds") if self.last_ingest else "never"


@dataclass(frozen=True)
class SourceView:
    """A document as the source viewer shows it: a page of a PDF, or the section of another
    format, with the cited passage (and its supporting sentence) located in it."""

    path: str  # relative to the data folder, as the index names it
    title: str
    heading: str
    context: SourceContext
    chunk_id: int | None = None  # the passage shown, if any
    passage: str = ""
    sentence: str = ""
    page: int | None = None  # the PDF page shown
    pages: int | None = None  # the PDF's page count
    passage_page: int | None = None  # the page (a PDF's, a slide's) the passage is on
    changed: bool = False  # the file changed since it was indexed: the highlight may be off
    addressed: str = ""  # the passage's words that address the assistant (it is not used to answer)

    @property
    def is_pdf(self) -> bool:
        """True when the document is a PDF (shown as rendered pages)."""
        return self.pages is not None


def changed_since_indexed(file: Path, document: DocumentRecord) -> bool:
    """True when ``file`` is no longer the version the index read."""
    stat = file.stat()
    return stat.st_size != document.size or abs(stat.st_mtime - document.mtime) > 1e-3


def page_count(file: Path) -> int:
    """The page count of the PDF ``file`` (`SourceError` when it cannot be read)."""
    try:
        return pdf_pages.page_count(file)
    except pdf_pages.PdfPageError as exc:
        raise SourceError(str(exc)) from exc


def index_info(store: Store) -> IndexInfo:
    """What ``store`` holds, as `rag-app info` and the page show it."""
    stats = store.stats()
    files = [DocumentInfo(d.path, d.n_chunks, d.title, datetime.fromtimestamp(d.ingested_at),
                          d.metadata.get("encoding", ""), d.metadata.get("addresses_assistant", ""))
             for d in store.documents()]
    return IndexInfo(
        index_dir=store.index_dir,
        documents=stats.documents,
        chunks=stats.chunks,
        embedding_model=stats.embedding_model,
        dimension=stats.dimension,
        size_bytes=stats.size_bytes,
        last_ingest=datetime.fromtimestamp(stats.last_ingest) if stats.last_ingest else None,
        failures=store.failures(),
        files=files,
        location=store.location,
    )
