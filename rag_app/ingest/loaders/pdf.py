"""PDF (.pdf): one section per page that has text, with its 1-based page number.

Text comes from PDFium (pypdfium2): 14x faster than pypdf on the FinanceBench filings, with the
same words in the same order (docs/evaluation.md). PDFium's CRLF line ends, soft hyphens (U+FFFE)
and ligatures are undone. A PDF with an empty user password opens as PDF readers open it; one
with a real password, a damaged file and a PDF without extractable text (scanned) are each
reported with their own reason. Unreadable pages are skipped with a warning. Scanned pages are
read by OCR (`rag_app.ingest.ocr`).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING, Any

from rag_app.ingest.document import LoadError, Section
from rag_app.ingest.loaders.common import PDF_ENCRYPTED, PDF_INVALID, PDF_NO_PAGES, PDF_NO_TEXT, Loaded, Metadata
from rag_app.ingest.loaders.pdf_tables import may_hold_table, page_words, table_rows
from rag_app.ingest.ocr import PageReader

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)

PDF_EXTENSIONS = frozenset({".pdf"})
# PDFium is not thread-safe: every use in this process (this loader, the source viewer) holds it.
PDFIUM_LOCK = threading.RLock()


# A page with less text than this that holds an image is a scan: it is read by OCR, rendered at
# OCR_DPI (Tesseract reads best at 300 dpi; docs/formats.md).
OCR_MIN_CHARS = 25
OCR_DPI = 300


def load_pdf(data: bytes, ocr: PageReader | None = None) -> Loaded:
    """One section per page with text, with its 1-based page number; a page holding a table
    has a second section with the table's rows as "row / column: value" lines (`pdf_tables`).

    Text comes from PDFium (pypdfium2): 14x faster than pypdf on the FinanceBench filings, with
    the same words in the same order (docs/evaluation.md). A page without a text layer (under
    `OCR_MIN_CHARS` characters) that holds an image is read by ``ocr`` when given, and marked
    so. A PDF with an empty user password opens as PDF readers open it; one with a real
    password is reported.
    """
    import pypdfium2 as pdfium

    if b"%PDF-" not in data[:1024] or b"%%EOF" not in data[-4096:]:
        raise LoadError(PDF_INVALID)
    with PDFIUM_LOCK:
        return _load(pdfium, data, ocr)


def _load(pdfium: Any, data: bytes, ocr: PageReader | None) -> Loaded:
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        log.debug("PDFium could not open the file", exc_info=True)
        # PDFium's error code can be left over from an earlier file: trust it only for a file
        # that is encrypted indeed.
        encrypted = "password" in str(exc).lower() and b"/Encrypt" in data
        raise LoadError(PDF_ENCRYPTED if encrypted else PDF_INVALID) from exc
    try:
        count = len(document)
        if not count:
            raise LoadError(PDF_NO_PAGES)
        sections: list[Section] = []
        broken_pages = 0
        ocr_failure = ""
        for number in range(1, count + 1):
            try:
                text, table = _page_text(document, number - 1)
            except pdfium.PdfiumError:
                log.debug("No text from page %d", number, exc_info=True)
                broken_pages += 1
                continue
            if len(text.strip()) < OCR_MIN_CHARS and ocr is not None and _has_image(document[number - 1]):
                try:
                    scanned = _ocr_page(document, number - 1, ocr)
                except LoadError as exc:  # no OCR engine: the pages with text are still read
                    ocr_failure, scanned = exc.reason, ""
                if scanned:
                    sections.append(Section(text=scanned, page=number, ocr=True))
                    continue
            if text.strip():
                sections.append(Section(text=text, page=number))
            if table:
                sections.append(Section(text="\n".join(table), page=number))
        metadata = _pdf_metadata(document)
    finally:
        document.close()
    if not sections:
        raise LoadError(ocr_failure or (PDF_INVALID if broken_pages == count else PDF_NO_TEXT))
    if ocr_failure:
        log.warning("Scanned pages left out: the PDF %s", ocr_failure)
    if broken_pages:
        log.warning("%d of %d PDF pages could not be read and were skipped", broken_pages, count)
    return sections, metadata


# PDFium ends lines with CRLF and marks a word hyphenated across lines with U+FFFE.
_HYPHENATED = re.compile("\ufffe\r?\n?")
_LIGATURES = str.maketrans(
    {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st"}
)


def _page_text(document: Any, index: int) -> tuple[str, list[str]]:
    """The page's text as read, and its tables' rows ("row / column: value", `pdf_tables`)
    when the text looks like it holds one."""
    page = document[index]
    try:
        textpage = page.get_textpage()
        try:
            text = textpage.get_text_range()
            table = table_rows(page_words(textpage)) if may_hold_table(text) else []
        finally:
            textpage.close()
    finally:
        page.close()
    return page_text_as_read(text), table


def _has_image(page: Any) -> bool:
    import pypdfium2.raw as pdfium_c

    try:
        return any(True for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=3))
    finally:
        page.close()


def _ocr_page(document: Any, index: int, ocr: PageReader) -> str:
    """The OCR'd text of page ``index``."""
    page = document[index]
    try:
        image = ocr_image(page)
    finally:
        page.close()
    return ocr.read(image).text


def ocr_image(page: Any) -> Image:
    """A PDFium page as OCR reads it: upright (its /Rotate applied), in grey, at `OCR_DPI`. The
    source viewer renders a scanned page the same way, so its pixels find the OCR cache entry."""
    return page.render(scale=OCR_DPI / 72, grayscale=True).to_pil()


def page_text_as_read(raw: str) -> str:
    """PDFium's text of a page as the loader keeps it: words broken across lines joined again,
    ``\n`` line ends, ligatures spelled out."""
    return _HYPHENATED.sub("", raw).replace("\r\n", "\n").replace("\r", "\n").translate(_LIGATURES)


def _pdf_metadata(document: Any) -> Metadata:
    try:
        info = document.get_metadata_dict()
    except Exception:
        return {}
    found = {"title": info.get("Title"), "author": info.get("Author")}
    return {key: str(value).strip() for key, value in found.items() if value and str(value).strip()}
