"""OCR with the real Tesseract (make install puts it in): French accents kept, a page turned
sideways read upright, a scanned PDF and an image ingested and cited as OCR, the cache reused."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from rag_app.app import App
from rag_app.ingest.loaders import load_document
from rag_app.ingest.ocr import PageReader, tesseract_available

from conftest import make_settings

LINES = ["Le héron cendré niche à l'été près de l'étang.",
         "Où sont les œufs ? Déjà éclos, à côté du château.",
         "Ça coûte très cher : cinquante-sept euros."]

if not tesseract_available():
    pytest.fail("Tesseract is not installed: run `make install` (sudo apt install tesseract-ocr "
                "tesseract-ocr-fra tesseract-ocr-eng)", pytrace=False)


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


def words(text: str) -> list[str]:
    return " ".join(text.split()).split(" ")


def test_french_page_is_read_with_its_accents(tmp_path: Path) -> None:
    (tmp_path / "scan.png").write_bytes(png(page_image()))
    document = load_document(tmp_path / "scan.png")
    (section,) = document.sections
    assert section.ocr and section.page == 1 and document.metadata["ocr_pages"] == "1"
    expected = words(" ".join(LINES))
    read = set(words(section.text))
    assert sum(w in read for w in expected) / len(expected) >= 0.95, section.text
    assert {"héron", "cendré", "l'été", "œufs", "Déjà", "château.", "Ça", "coûte", "très"} <= read


def test_a_page_turned_sideways_is_read_upright(tmp_path: Path) -> None:
    page = PageReader().read(page_image().rotate(90, expand=True))
    assert page.rotation in (90, 270) and "château" in page.text and "héron cendré" in page.text


def test_a_scanned_pdf_is_ingested_searchable_and_cited_as_ocr(tmp_path: Path, embedder) -> None:  # noqa: ANN001
    data = tmp_path / "data"
    data.mkdir()
    (data / "compte-rendu.pdf").write_bytes(scanned_pdf(page_image()))
    (data / "notes.md").write_text("# Notes\n\nRien sur les oiseaux ici.", encoding="utf-8")
    seen: list[tuple[str, int]] = []
    with App(make_settings(data, tmp_path / "index"), embedder=embedder) as app:
        report = app.ingest(progress=lambda stage, done, total: seen.append((stage, done)))
        assert not report.failed and ("ocr", 1) in seen  # the progress shows the page read by OCR
        best = app.search("Où niche le héron cendré ?", k=1)[0]
    assert best.path == "compte-rendu.pdf" and best.page == 1 and best.ocr and "héron" in best.text


def test_the_ocr_cache_serves_a_page_again_after_a_rename(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    image = png(page_image(LINES[:1]))
    first, again = PageReader(cache), PageReader(cache)
    (tmp_path / "a.png").write_bytes(image)
    (tmp_path / "b.png").write_bytes(image)  # the same page under another name
    assert load_document(tmp_path / "a.png", ocr=first).sections[0].text == \
        load_document(tmp_path / "b.png", ocr=again).sections[0].text
    assert (first.pages_read, again.pages_read, again.pages_cached) == (1, 0, 1)


def test_a_small_image_is_enlarged_before_it_is_read(tmp_path: Path) -> None:
    small = page_image().resize((620, 140), Image.Resampling.LANCZOS)  # a page saved at about 72 dpi
    (tmp_path / "small.png").write_bytes(png(small))
    read = set(words(load_document(tmp_path / "small.png").sections[0].text))
    assert {"héron", "château.", "coûte"} <= read
