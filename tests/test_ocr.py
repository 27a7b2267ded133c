"""OCR with the real Tesseract (make install puts it in): French accents kept, a page turned
sideways read upright, a scanned PDF and an image ingested, cited as OCR and highlighted on the
page image, the cache reused."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from rag_app.ingest.loaders import load_document
from rag_app.ingest.ocr import PageReader, tesseract_available
from rag_app.service.app import App

from conftest import make_settings
from scans import LINES, page_image, png, scanned_pdf

if not tesseract_available():
    pytest.fail("Tesseract is not installed: run `make install` (sudo apt install tesseract-ocr "
                "tesseract-ocr-fra tesseract-ocr-eng)", pytrace=False)


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
        # The source panel highlights the passage on the scanned page, on the words OCR read
        # (found again in the OCR cache), and the sentence more strongly.
        second_line = [line for line in best.text.splitlines() if line.strip()][1]  # as OCR read it
        _, highlights = app.page_image("compte-rendu.pdf", 1, chunk_id=best.chunk_id, sentence=second_line)
    text_bottom = 842 * 1.5 * (160 + 120 * len(LINES)) / 2480 * 595 / 842  # the image's lines, in pixels
    assert highlights.found and all(0 < top < bottom < text_bottom for _, top, _, bottom in highlights.passage)
    assert 0 < len(highlights.sentence) < len(highlights.passage)
    sentence_top = min(top for _, top, _, _ in highlights.sentence)
    assert sentence_top > min(top for _, top, _, _ in highlights.passage)  # the second line, not the first


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
