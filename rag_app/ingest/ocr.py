"""OCR for scanned PDF pages and image files, in French and English, with a cache.

The engine is Tesseract 5 (Debian's ``tesseract-ocr`` with the ``fra`` and ``eng`` models),
called through pytesseract, one thread per call (``OMP_THREAD_LIMIT=1``: on 2 cores Tesseract's
own threads make a page 3x slower). It was chosen over RapidOCR 3.10 (PP-OCRv6, ONNX) by
measurement (docs/formats.md): a little less accurate (300 dpi: 98.7 against 99.1% of English
words, 95.8 against 97.4% of French ones) but three times faster (4.4 s a page against 13.7,
both under load on 2 cores) and a fifth of the memory (270 MB against 1.26 GB).

One call reads words with their boxes (``image_to_data``); a page read with low confidence is
tried again after Tesseract's orientation detection turns it upright (a page scanned sideways or
upside down). A page's result is cached under the SHA-256 of its pixels and the engine, as
JSON in the user cache (`ocr_cache`): a re-ingest, a rename or a rebuild never reads a page
twice, and the source viewer finds the words' boxes there to highlight a passage.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag_app.ingest.document import LoadError

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)

LANGUAGES = "fra+eng"
ENGINE = f"tesseract-{LANGUAGES}-1"  # in the cache key: a new engine or setting reads pages again
RETRY_BELOW_CONFIDENCE = 60.0  # mean word confidence (0-100) under which the orientation is checked
NO_TESSERACT = ("needs OCR, and Tesseract is not installed: run `make install`, or `sudo apt install "
                "tesseract-ocr tesseract-ocr-fra tesseract-ocr-eng`, then ingest again")


@dataclass(frozen=True)
class OcrWord:
    """A word read on a page, its box as fractions of the page (left, top, right, bottom)."""

    text: str
    box: tuple[float, float, float, float]
    confidence: float


@dataclass
class OcrPage:
    """What OCR read on one page: the text (lines, and blank lines between paragraphs), its
    words with boxes, and the turn (degrees clockwise) that made the page upright."""

    text: str
    words: list[OcrWord] = field(default_factory=list)
    rotation: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> OcrPage:
        data = json.loads(text)
        words = [OcrWord(w["text"], tuple(w["box"]), float(w["confidence"])) for w in data["words"]]
        return cls(data["text"], words, int(data["rotation"]))


def ocr_cache(cache_dir: Path) -> Path:
    """The OCR cache's folder in the user cache ``cache_dir`` (shared by ingestion and the
    source viewer, which finds a page's words there again)."""
    return cache_dir / "ocr"


def tesseract_available() -> bool:
    """Whether the Tesseract command is installed."""
    return shutil.which("tesseract") is not None


class PageReader:
    """OCR of page images through the cache (see the module docstring).

    ``cache_dir`` None: no cache. ``on_page(done)`` is called after each page read by the engine
    (not for cached ones). Thread-safe: one page is read at a time.
    """

    def __init__(self, cache_dir: Path | None = None, on_page: Callable[[int], None] | None = None) -> None:
        self.cache_dir = cache_dir
        self.on_page = on_page
        self.pages_read = 0
        self.pages_cached = 0
        self.seconds = 0.0
        self._lock = threading.Lock()

    def read(self, image: Image) -> OcrPage:
        """The text and words of ``image`` (a page), from the cache when it was read before.

        Raises LoadError naming what to install when Tesseract is missing.
        """
        key = hashlib.sha256(f"{ENGINE}|{image.mode}|{image.size}".encode() + image.tobytes()).hexdigest()
        cached = self._cached(key)
        if cached is not None:
            self.pages_cached += 1
            return cached
        if not tesseract_available():
            raise LoadError(NO_TESSERACT)
        with self._lock:
            started = time.perf_counter()
            page = read_page(image)
            self.seconds += time.perf_counter() - started
            self.pages_read += 1
            self._store(key, page)
            if self.on_page is not None:
                self.on_page(self.pages_read)
        return page

    def _cached(self, key: str) -> OcrPage | None:
        if self.cache_dir is None:
            return None
        path = self.cache_dir / key[:2] / f"{key}.json"
        try:
            return OcrPage.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("Unreadable OCR cache entry %s: the page is read again", path)
            return None

    def _store(self, key: str, page: OcrPage) -> None:
        if self.cache_dir is None:
            return
        path = self.cache_dir / key[:2] / f"{key}.json"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(page.to_json(), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:  # a full disk loses the cache entry, not the page
            log.warning("OCR cache entry not written (%s)", exc)


def read_page(image: Image) -> OcrPage:
    """OCR one page image: read as it is, and again turned upright when confidence is low."""
    page, confidence = _read(image)
    if confidence >= RETRY_BELOW_CONFIDENCE:
        return page
    turn = _orientation(image)
    if turn:
        turned, turned_confidence = _read(image.rotate(-turn, expand=True))
        if turned_confidence > confidence:
            turned.rotation = turn
            return turned
    return page


def _read(image: Image) -> tuple[OcrPage, float]:
    import pytesseract

    data = _tesseract(pytesseract.image_to_data, image, lang=LANGUAGES, config="--psm 3",
                      output_type=pytesseract.Output.DICT)
    width, height = image.size
    words: list[OcrWord] = []
    lines: list[str] = []
    current: tuple[int, int, int] | None = None
    paragraph: tuple[int, int] | None = None
    line: list[str] = []
    for i, text in enumerate(data["text"]):
        text = text.strip()
        confidence = float(data["conf"][i])
        if data["level"][i] != 5 or not text or confidence < 0:
            continue
        where = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        if where != current:
            if line:
                lines.append(" ".join(line))
            if paragraph is not None and where[:2] != paragraph:
                lines.append("")
            current, paragraph, line = where, where[:2], []
        line.append(text)
        left, top = data["left"][i], data["top"][i]
        box = (left / width, top / height, (left + data["width"][i]) / width, (top + data["height"][i]) / height)
        words.append(OcrWord(text, tuple(round(v, 5) for v in box), confidence))
    if line:
        lines.append(" ".join(line))
    mean = sum(w.confidence for w in words) / len(words) if words else 0.0
    return OcrPage("\n".join(lines).strip(), words), mean


def _orientation(image: Image) -> int:
    """Tesseract's orientation detection: the clockwise turn (0, 90, 180, 270) that makes the
    page upright; 0 when it cannot tell (too little text)."""
    import pytesseract

    try:
        found = _tesseract(pytesseract.image_to_osd, image, config="--psm 0",
                           output_type=pytesseract.Output.DICT)
    except pytesseract.TesseractError:
        return 0
    return int(found.get("rotate", 0)) % 360


def _tesseract(call: Callable[..., Any], image: Image, **kwargs: Any) -> Any:
    """A pytesseract call with Tesseract on one thread (faster on a small CPU, see the docstring)."""
    previous = os.environ.get("OMP_THREAD_LIMIT")
    os.environ["OMP_THREAD_LIMIT"] = "1"
    try:
        return call(image, **kwargs)
    finally:
        if previous is None:
            os.environ.pop("OMP_THREAD_LIMIT", None)
        else:
            os.environ["OMP_THREAD_LIMIT"] = previous
