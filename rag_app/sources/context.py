"""A passage in its surroundings, as the source viewer and `rag-app show` present it.

For a PDF, the surroundings are the page (its text as the loader reads it); for Markdown, text,
HTML and Word, the section the passage belongs to, under its heading path. Ingestion records
each chunk's character offsets in its document's text, so the section is found by offset; the
passage is then located by its words (`locate.find_span`), which also copes with a file edited
since it was indexed, as far as the passage itself is still there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rag_app.ingest.chunking import SECTION_JOINER
from rag_app.ingest.document import LoadError
from rag_app.ingest.encoding import clean_text
from rag_app.ingest.loaders import PDF_EXTENSIONS, load_document
from rag_app.ingest.loaders.pdf import page_text_as_read
from rag_app.sources import pdf_pages
from rag_app.sources.locate import find_span

Span = tuple[int, int]


class SourceError(ValueError):
    """The source cannot be shown; the message says why and what to do."""


@dataclass(frozen=True)
class SourceContext:
    """Text around a passage: ``passage`` and ``sentence`` are spans of ``text`` (None: not found)."""

    text: str
    heading: str
    passage: Span | None
    sentence: Span | None


def is_pdf(path: Path | str) -> bool:
    """True for a file the PDF loader reads."""
    return Path(path).suffix.lower() in PDF_EXTENSIONS


def locate(text: str, passage: str, sentence: str, heading: str = "") -> SourceContext:
    """``passage`` and, inside it, ``sentence`` located in ``text``."""
    span = find_span(text, passage) if passage.strip() else None
    inner = find_span(text, sentence, start=span[0], end=span[1]) if span and sentence.strip() else None
    return SourceContext(text, heading, span, inner)


def pdf_page_context(path: Path, page: int, passage: str = "", sentence: str = "") -> SourceContext:
    """Page ``page`` of a PDF as text, with the passage located on it."""
    try:
        text = clean_text(page_text_as_read(pdf_pages.page_text(path, page)))
    except pdf_pages.PdfPageError as exc:
        raise SourceError(str(exc)) from exc
    return locate(text, passage, sentence)


def section_context(path: Path, char_start: int, passage: str = "", sentence: str = "") -> SourceContext:
    """The section of a Markdown, text, HTML or Word file that holds the offset ``char_start``
    (as ingestion counted it), with the passage located in it."""
    try:
        document = load_document(path)
    except LoadError as exc:
        raise SourceError(f"{path.name} can no longer be read: {exc.reason}.") from exc
    offset = 0
    chosen = document.sections[0]
    for section in document.sections:
        if offset + len(section.text) + len(SECTION_JOINER) > char_start:
            chosen = section
            break
        offset += len(section.text) + len(SECTION_JOINER)
    found = locate(chosen.text, passage, sentence, chosen.heading)
    if found.passage is None and passage.strip():  # edited since: look through the whole file
        for section in document.sections:
            other = locate(section.text, passage, sentence, section.heading)
            if other.passage is not None:
                return other
    return found
