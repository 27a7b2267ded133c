"""Images of pages (.png, .jpg, .jpeg, .tif, .tiff, .webp): their text through OCR.

Each frame of the image (a multi-page TIFF has several) is one section, its number as the page,
marked ``ocr``. Pillow opens the image with its decompression-bomb guard (an image over
`MAX_PIXELS` is refused); frames are converted to 8-bit grey, which is what the OCR reads.
"""

from __future__ import annotations

import io
from itertools import islice
from typing import TYPE_CHECKING

from rag_app.ingest.document import LoadError, Section
from rag_app.ingest.loaders.common import Loaded
from rag_app.ingest.ocr import PageReader

if TYPE_CHECKING:
    from PIL.Image import Image

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp"})
IMAGE_INVALID = "not a valid image (corrupt, truncated, or a format Pillow cannot read)"
MAX_PIXELS = 60_000_000  # 60 megapixels: a page scanned at 600 dpi is 35
MAX_FRAMES = 500
# A small image (a page saved at 72 dpi: 612 px wide) is enlarged before OCR: Tesseract reads
# 73% of its words as it is, 97% at three times the size (docs/formats.md).
MIN_OCR_WIDTH = 1600
MAX_ENLARGE = 4


def load_image(data: bytes, ocr: PageReader) -> Loaded:
    """One OCR'd section per frame with text."""
    from PIL import Image, ImageSequence

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        image = Image.open(io.BytesIO(data))
        frames = [frame.convert("L") for frame in islice(ImageSequence.Iterator(image), MAX_FRAMES)]
    except Image.DecompressionBombError as exc:
        raise LoadError(f"an image of over {MAX_PIXELS // 1_000_000} megapixels: not read") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise LoadError(IMAGE_INVALID) from exc
    sections = []
    for number, frame in enumerate(frames, start=1):
        page = ocr.read(_enlarged(frame))
        if page.text:
            sections.append(Section(page.text, page=number, ocr=True))
    return sections, {}


def _enlarged(frame: Image) -> Image:
    """``frame`` at a whole multiple of its size that makes it at least `MIN_OCR_WIDTH` wide."""
    from PIL import Image as PILImage

    factor = min(MAX_ENLARGE, -(-MIN_OCR_WIDTH // max(frame.width, 1)))
    if factor <= 1:
        return frame
    return frame.resize((frame.width * factor, frame.height * factor), PILImage.Resampling.LANCZOS)
