"""Images of pages (.png, .jpg, .jpeg, .tif, .tiff, .webp): their text through OCR.

Each frame of the image (a multi-page TIFF has several) is one section, its number as the page,
marked ``ocr``. Pillow opens the image with its decompression-bomb guard (an image over
`MAX_PIXELS` is refused); frames are converted to 8-bit grey, which is what the OCR reads.
"""

from __future__ import annotations

import io
from itertools import islice

from rag_app.ingest.document import LoadError, Section
from rag_app.ingest.loaders.common import Loaded
from rag_app.ingest.ocr import PageReader

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp"})
IMAGE_INVALID = "not a valid image (corrupt, truncated, or a format Pillow cannot read)"
MAX_PIXELS = 60_000_000  # 60 megapixels: a page scanned at 600 dpi is 35
MAX_FRAMES = 500


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
        page = ocr.read(frame)
        if page.text:
            sections.append(Section(page.text, page=number, ocr=True))
    return sections, {}
