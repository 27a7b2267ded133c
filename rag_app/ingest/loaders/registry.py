"""Which loader reads which file extension: one ``Format`` line per supported file format.

``FORMAT_OF`` maps a lower-case extension (with its dot) to its `Format`, whose loader turns the
file's bytes into ``(sections, metadata)`` (`run_loader` calls it, with the OCR page reader for
the formats that have page images); ``NO_TEXT`` maps it to the reason given when the file yields no text
once cleaned. To add a format, write a module with its extensions and loader and add one line to
``FORMATS``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import PurePath
from typing import NamedTuple, cast

from rag_app.ingest.document import LoadError, Section, UnsupportedFormatError
from rag_app.ingest.loaders.common import EMPTY_FILE, PDF_NO_TEXT, Loaded
from rag_app.ingest.loaders.delimited import CSV_EXTENSIONS, load_csv
from rag_app.ingest.loaders.docx import DOCX_EXTENSIONS, load_docx
from rag_app.ingest.loaders.epub import EPUB_EXTENSIONS, load_epub
from rag_app.ingest.loaders.html import HTML_EXTENSIONS, load_html
from rag_app.ingest.loaders.images import IMAGE_EXTENSIONS, load_image
from rag_app.ingest.loaders.legacy_office import DOC_EXTENSIONS, PPT_EXTENSIONS, load_doc, load_ppt
from rag_app.ingest.loaders.mail import EML_EXTENSIONS, load_eml
from rag_app.ingest.loaders.markdown import MARKDOWN_EXTENSIONS, load_markdown
from rag_app.ingest.loaders.opendocument import ODF_EXTENSIONS, load_opendocument
from rag_app.ingest.loaders.outlook import MSG_EXTENSIONS, load_msg
from rag_app.ingest.loaders.pdf import PDF_EXTENSIONS, load_pdf
from rag_app.ingest.loaders.pptx import PPTX_EXTENSIONS, load_pptx
from rag_app.ingest.loaders.rtf import RTF_EXTENSIONS, load_rtf
from rag_app.ingest.loaders.spreadsheet import XLS_EXTENSIONS, XLSX_EXTENSIONS, load_xls, load_xlsx
from rag_app.ingest.loaders.text import TEXT_EXTENSIONS, load_text
from rag_app.ingest.ocr import PageReader

log = logging.getLogger(__name__)

Loader = Callable[[bytes], Loaded]
OcrLoader = Callable[[bytes, PageReader], Loaded]  # reads page images through OCR


def read_attachment(name: str, data: bytes) -> list[Section]:
    """The sections of a file held inside another (an e-mail's attachment), by its extension.

    Raises `UnsupportedFormatError` for a type not read, `LoadError` for one that fails."""
    suffix = PurePath(name).suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        raise UnsupportedFormatError(f"unsupported file type {suffix or '(no extension)'}")
    try:
        return run_loader(suffix, data, PageReader())[0]
    except LoadError:
        raise
    except Exception as exc:  # a parser bug or an odd file must not lose the message
        log.debug("Loader failed on the attachment %s", name, exc_info=True)
        raise LoadError(f"could not read the {suffix[1:].upper()} file ({type(exc).__name__})") from exc


class Format(NamedTuple):
    """A file format: its extensions, its loader (an `OcrLoader` when ``ocr``), and the reason
    when a file of it has no text."""

    extensions: frozenset[str]
    load: Loader | OcrLoader
    no_text: str = EMPTY_FILE
    ocr: bool = False


FORMATS: tuple[Format, ...] = (
    Format(PDF_EXTENSIONS, load_pdf, PDF_NO_TEXT, ocr=True),
    Format(IMAGE_EXTENSIONS, load_image, "no text found on the image (OCR)", ocr=True),
    Format(MARKDOWN_EXTENSIONS, load_markdown),
    Format(TEXT_EXTENSIONS, load_text),
    Format(HTML_EXTENSIONS, load_html, "no visible text in the HTML page"),
    Format(DOCX_EXTENSIONS, load_docx, "no text in the Word document"),
    Format(CSV_EXTENSIONS, load_csv, "no cell with text in the table"),
    Format(EPUB_EXTENSIONS, load_epub, "no text in the e-book's chapters"),
    Format(ODF_EXTENSIONS, load_opendocument, "no text in the OpenDocument file"),
    Format(PPTX_EXTENSIONS, load_pptx, "no text on the slides"),
    Format(XLSX_EXTENSIONS, load_xlsx, "no cell with text in the workbook"),
    Format(XLS_EXTENSIONS, load_xls, "no cell with text in the workbook"),
    Format(RTF_EXTENSIONS, load_rtf, "no text in the RTF document"),
    Format(MSG_EXTENSIONS, partial(load_msg, read_attachment=read_attachment), "no text in the message"),
    Format(DOC_EXTENSIONS, load_doc, "no text in the Word document"),
    Format(PPT_EXTENSIONS, load_ppt, "no text on the slides"),
    Format(EML_EXTENSIONS, partial(load_eml, read_attachment=read_attachment), "no text in the e-mail"),
)

FORMAT_OF: dict[str, Format] = {ext: fmt for fmt in FORMATS for ext in fmt.extensions}
NO_TEXT: dict[str, str] = {ext: fmt.no_text for fmt in FORMATS for ext in fmt.extensions}
SUPPORTED_EXTENSIONS = frozenset(FORMAT_OF)


def run_loader(suffix: str, data: bytes, ocr: PageReader) -> Loaded:
    """The loader of ``suffix`` (a supported extension) on ``data``; ``ocr`` reads page images."""
    fmt = FORMAT_OF[suffix]
    if fmt.ocr:
        return cast(OcrLoader, fmt.load)(data, ocr)
    return cast(Loader, fmt.load)(data)
