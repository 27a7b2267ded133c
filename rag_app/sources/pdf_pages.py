"""PDF pages for the source viewer: the page's text, its rendering, and the passage highlighted.

PDFium (pypdfium2, already used to read PDFs) renders the page; the passage is located in the
page's own text (`locate.find_span`), and PDFium gives the rectangles of those characters, so
the highlight sits on the words themselves, line by line. The supporting sentence gets a
stronger highlight. On a scanned page (no text layer) the passage is located in the page's OCR
text, found again in the OCR cache by the page's pixels, and highlighted on the boxes of the
words OCR read. Rendered pages are kept in a small in-memory cache (keyed by the file's
size and modification time), so going back and forth between pages costs nothing.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag_app.ingest.document import LoadError
from rag_app.ingest.loaders.pdf import OCR_MIN_CHARS, PDFIUM_LOCK, ocr_image
from rag_app.ingest.ocr import OcrPage, PageReader
from rag_app.sources.locate import find_span

# Pixels per PDF point: 1.5 renders an A4 page 893 pixels wide, readable beside the chat.
SCALE = 1.5
CACHE_PAGES = 32
PASSAGE_FILL = (255, 221, 0, 80)  # RGBA
SENTENCE_FILL = (255, 136, 0, 120)
SENTENCE_LINE = (204, 85, 0, 255)

Rect = tuple[float, float, float, float]  # left, top, right, bottom, in pixels of the rendered page


class PdfPageError(ValueError):
    """The page cannot be shown (no such page, or the file is no longer a readable PDF)."""


@dataclass(frozen=True)
class Highlights:
    """Where the passage and its supporting sentence are on one page (pixel rectangles)."""

    passage: list[Rect]
    sentence: list[Rect]

    @property
    def found(self) -> bool:
        """True when the passage was located on the page."""
        return bool(self.passage)


def page_count(path: Path) -> int:
    """Number of pages of the PDF at ``path``."""
    with _open(path) as document:
        return len(document)


def page_text(path: Path, page: int) -> str:
    """The text of 1-based ``page`` as PDFium reads it (line ends and hyphen marks included)."""
    with _open(path) as document:
        textpage = _page(document, page).get_textpage()
        try:
            return str(textpage.get_text_range())
        finally:
            textpage.close()


def render_page(path: Path, page: int, passage: str = "", sentence: str = "",
                ocr: PageReader | None = None) -> tuple[bytes, Highlights]:
    """1-based ``page`` of the PDF as PNG bytes, with ``passage`` and ``sentence`` highlighted
    where they are found on it: in its text layer, or, on a scanned page, in what ``ocr`` reads
    (from its cache when the page was ingested). Raises `PdfPageError`."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, page, passage, sentence)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    rendered = _render(path, page, passage, sentence, ocr)
    with _cache_lock:
        _cache[key] = rendered
        while len(_cache) > CACHE_PAGES:
            _cache.popitem(last=False)
    return rendered


_cache: OrderedDict[tuple[object, ...], tuple[bytes, Highlights]] = OrderedDict()
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every rendered page (benchmarks measure a first showing with it)."""
    with _cache_lock:
        _cache.clear()


def _render(path: Path, page: int, passage: str, sentence: str,
            ocr: PageReader | None) -> tuple[bytes, Highlights]:
    from PIL import Image, ImageDraw

    with _open(path) as document:
        pdf_page = _page(document, page)
        height = pdf_page.get_height()
        textpage = pdf_page.get_textpage()
        try:
            text = textpage.get_text_range()
            span, inner = _spans(text, passage, sentence)
            highlights = Highlights(_rects(textpage, span, height), _rects(textpage, inner, height))
        finally:
            textpage.close()
        image = pdf_page.render(scale=SCALE).to_pil().convert("RGBA")
        scanned = not highlights.found and passage.strip() and ocr is not None and len(text.strip()) < OCR_MIN_CHARS
        scan = ocr_image(pdf_page) if scanned else None
    if scan is not None and ocr is not None:  # read outside the PDFium lock (Tesseract, on a cache miss)
        highlights = _ocr_highlights(scan, passage, sentence, ocr, image.size)
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for rect in highlights.passage:
        draw.rectangle(rect, fill=PASSAGE_FILL)
    for rect in highlights.sentence:
        draw.rectangle(rect, fill=SENTENCE_FILL, outline=SENTENCE_LINE)
    out = io.BytesIO()
    Image.alpha_composite(image, overlay).convert("RGB").save(out, format="PNG", compress_level=1)
    return out.getvalue(), highlights


def _spans(text: str, passage: str, sentence: str) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """Where ``passage`` is in ``text``, and ``sentence`` inside it (None: not found)."""
    span = find_span(text, passage) if passage.strip() else None
    inner = find_span(text, sentence, start=span[0], end=span[1]) if span and sentence.strip() else None
    return span, inner


def _ocr_highlights(scan: Any, passage: str, sentence: str, ocr: PageReader,
                    size: tuple[int, int]) -> Highlights:
    """The passage and sentence located in the OCR of page image ``scan`` (rendered as ingestion
    rendered it, so the cache has it), as rectangles of the read words on an image of ``size``.
    Empty when the page cannot be read (no Tesseract)."""
    try:
        read = ocr.read(scan)
    except LoadError:
        return Highlights([], [])
    span, inner = _spans(read.text, passage, sentence)
    return Highlights(_word_rects(read, span, size), _word_rects(read, inner, size))


def _word_rects(read: OcrPage, span: tuple[int, int] | None, size: tuple[int, int]) -> list[Rect]:
    """Pixel rectangles of the OCR'd words that the characters ``span`` of ``read.text`` cover.

    The text is the words in order, joined by spaces and line ends, so each word is found by a
    forward search; boxes read on a page OCR turned upright are turned back."""
    if span is None:
        return []
    width, height = size
    rects: list[Rect] = []
    at = 0
    for word in read.words:
        start = read.text.find(word.text, at)
        if start < 0:
            continue
        at = start + len(word.text)
        if start < span[1] and at > span[0]:
            left, top, right, bottom = _upright_box(word.box, read.rotation)
            rects.append((left * width - 1, top * height - 1, right * width + 1, bottom * height + 1))
    return rects


def _upright_box(box: tuple[float, float, float, float], turn: int) -> tuple[float, float, float, float]:
    """A box (fractions of the page) read on the page turned ``turn`` degrees clockwise, as a box
    of the page as it is shown."""
    left, top, right, bottom = box
    if turn == 90:  # shown (u, v) was read at (1 - v, u)
        return top, 1 - right, bottom, 1 - left
    if turn == 180:
        return 1 - right, 1 - bottom, 1 - left, 1 - top
    if turn == 270:  # shown (u, v) was read at (v, 1 - u)
        return 1 - bottom, left, 1 - top, right
    return box


def _rects(textpage: Any, span: tuple[int, int] | None, page_height: float) -> list[Rect]:
    """Pixel rectangles of the characters ``span`` covers (one per line run, as PDFium groups them)."""
    if span is None:
        return []
    start, end = span
    count = textpage.count_rects(start, end - start)
    rects: list[Rect] = []
    for i in range(count):
        left, bottom, right, top = textpage.get_rect(i)
        pad = 1.0
        rects.append(((left - pad) * SCALE, (page_height - top - pad) * SCALE,
                      (right + pad) * SCALE, (page_height - bottom + pad) * SCALE))
    return rects


@contextlib.contextmanager
def _open(path: Path) -> Iterator[Any]:
    """The PdfDocument at ``path``, under the process's PDFium lock; errors as `PdfPageError`."""
    import pypdfium2 as pdfium

    with PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(path)
        except pdfium.PdfiumError as exc:
            raise PdfPageError(f"{path.name} can no longer be read as a PDF ({exc}).") from exc
        try:
            yield document
        finally:
            document.close()


def _page(document: Any, page: int) -> Any:
    count = len(document)
    if not 1 <= page <= count:
        raise PdfPageError(f"There is no page {page}: the document has {count} page(s).")
    return document[page - 1]
