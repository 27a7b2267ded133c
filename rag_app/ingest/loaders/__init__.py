"""Read one file into a LoadedDocument: PDF, images (OCR), Markdown, text, HTML, Office,
OpenDocument, CSV, EPUB, RTF and e-mail (docs/formats.md).

``load_document(path)`` picks the loader from the file extension through the registry
(``registry.FORMAT_OF``, run by ``registry.run_loader``); each format has its own module. Every
loader returns sections of normalized text that keep their page (PDF pages, slides, image
frames) or heading path ("Title > Sub"). A file that cannot
be read raises ``LoadError`` with a reason a person understands; an unknown extension raises
``UnsupportedFormatError``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from rag_app.ingest.document import LoadedDocument, LoadError, Section, UnsupportedFormatError
from rag_app.ingest.encoding import clean_text, valid_text
from rag_app.ingest.loaders.common import (
    DOCX_INVALID,
    DOCX_PROTECTED,
    EMPTY_FILE,
    PDF_ENCRYPTED,
    PDF_INVALID,
    PDF_NO_PAGES,
    PDF_NO_TEXT,
    Loaded,
    Metadata,
)
from rag_app.ingest.loaders.docx import DOCX_EXTENSIONS, load_docx
from rag_app.ingest.loaders.html import HTML_EXTENSIONS, load_html
from rag_app.ingest.loaders.markdown import MARKDOWN_EXTENSIONS, load_markdown
from rag_app.ingest.loaders.pdf import PDF_EXTENSIONS, load_pdf
from rag_app.ingest.loaders.registry import NO_TEXT, SUPPORTED_EXTENSIONS, run_loader
from rag_app.ingest.loaders.text import TEXT_EXTENSIONS, load_text
from rag_app.ingest.ocr import PageReader

__all__ = [
    "DOCX_EXTENSIONS",
    "DOCX_INVALID",
    "DOCX_PROTECTED",
    "EMPTY_FILE",
    "HTML_EXTENSIONS",
    "MARKDOWN_EXTENSIONS",
    "PDF_ENCRYPTED",
    "PDF_EXTENSIONS",
    "PDF_INVALID",
    "PDF_NO_PAGES",
    "PDF_NO_TEXT",
    "SUPPORTED_EXTENSIONS",
    "TEXT_EXTENSIONS",
    "LoadError",
    "Loaded",
    "LoadedDocument",
    "Metadata",
    "Section",
    "UnsupportedFormatError",
    "load_bytes",
    "load_document",
    "load_docx",
    "load_html",
    "load_markdown",
    "load_pdf",
    "load_text",
]

log = logging.getLogger(__name__)

TOO_MUCH_TEXT = ("the file holds {length:,} characters of text, over the {limit:,} limit (max_text_chars): "
                 "raise max_text_chars to index it")


def load_document(path: Path, *, max_text_chars: int | None = None, ocr: PageReader | None = None) -> LoadedDocument:
    """Load ``path`` with the loader of its extension (see `load_bytes`)."""
    path = Path(path)
    if path.suffix.lower() not in SUPPORTED_EXTENSIONS:
        raise UnsupportedFormatError(f"unsupported file type {path.suffix.lower() or '(no extension)'}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot read file ({exc.strerror or exc})") from exc
    return load_bytes(path, data, max_text_chars=max_text_chars, ocr=ocr)


def load_bytes(
    path: Path, data: bytes, *, max_text_chars: int | None = None, ocr: PageReader | None = None
) -> LoadedDocument:
    """The document in ``data``, the bytes of the file ``path``, read by the loader of its extension.

    Raises UnsupportedFormatError for extensions not in SUPPORTED_EXTENSIONS and LoadError
    (with ``.reason``) for files that are empty, damaged, encrypted or have no text, and, with
    ``max_text_chars``, for a file whose text is longer than that. Scanned pages and images are
    read by ``ocr`` (a `PageReader` without a cache when None); the pages read so are listed in
    the metadata (``ocr_pages``: "2,3").
    """
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        raise UnsupportedFormatError(f"unsupported file type {suffix or '(no extension)'}")
    if not data.strip():
        raise LoadError(EMPTY_FILE)
    try:
        sections, metadata = run_loader(suffix, data, ocr or PageReader())
    except LoadError:
        raise
    except Exception as exc:  # a parser bug or an odd file must not stop an ingest run
        log.debug("Loader failed on %s", path, exc_info=True)
        raise LoadError(f"could not read the {suffix[1:].upper()} file ({type(exc).__name__}: {exc})") from exc
    length = sum(len(s.text) for s in sections)
    if max_text_chars is not None and length > max_text_chars:
        raise LoadError(TOO_MUCH_TEXT.format(length=length, limit=max_text_chars))
    # The one place every loader's output passes: text, headings and metadata made valid.
    sections = [s for s in (Section(clean_text(s.text), s.page, valid_text(s.heading), s.ocr) for s in sections)
                if s.text]
    metadata = {valid_text(str(k)): valid_text(str(v)) for k, v in metadata.items()}
    if not sections:
        raise LoadError(NO_TEXT.get(suffix, EMPTY_FILE))
    scanned = sorted({s.page for s in sections if s.ocr and s.page is not None})
    if scanned:
        metadata = {**metadata, "ocr_pages": ",".join(map(str, scanned))}
    return LoadedDocument(path=path, sections=sections, metadata=metadata)
