"""Scanned pages for the OCR tests: French lines drawn as a 300 dpi scanner would see them, as a
PNG or as a PDF page that is only an image (no text layer)."""

from __future__ import annotations

import io
import os

from PIL import Image, ImageDraw, ImageFont

LINES = ["Le héron cendré niche à l'été près de l'étang.",
         "Où sont les œufs ? Déjà éclos, à côté du château.",
         "Ça coûte très cher : cinquante-sept euros."]


def page_image(lines: list[str] = LINES) -> Image.Image:
    """Lines of French text on a white page, as a 300 dpi scan of them would look."""
    import matplotlib

    font = ImageFont.truetype(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf"), 42)
    image = Image.new("L", (2480, 160 + 120 * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((150, 120 + i * 120), line, fill=0, font=font)
    return image


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def scanned_pdf(image: Image.Image) -> bytes:
    """A PDF whose one page is only that image (no text layer), as a scanner writes it."""
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=(595, 842))
    pdf.add_page()
    pdf.image(image, x=0, y=0, w=595)
    return bytes(pdf.output())
