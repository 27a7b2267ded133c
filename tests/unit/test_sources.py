"""The source viewer's service: a passage located and highlighted in its PDF page or in its
section, page by page, and files given out only from the data folder (fake embedder)."""

from __future__ import annotations

import shutil

import pytest

from rag_app.service.app import App, SourceError
from rag_app.sources.locate import squeezed
from rag_app.store import ChunkRecord

from conftest import DEMO_DATA, make_settings
from fakes import FakeEmbedder, FakeGenerator


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> App:
    root = tmp_path_factory.mktemp("sources")
    shutil.copytree(DEMO_DATA, root / "data")
    outside = root / "secret.md"
    outside.write_text("# Secret\n\nThe vault code is 4321.\n", encoding="utf-8")
    (root / "data" / "linked.md").symlink_to(outside)  # a link out of the data folder
    with App(make_settings(root / "data", root / "index"), embedder=FakeEmbedder(), generator=FakeGenerator(),
             create=True) as app:
        app.ingest()
        yield app


def chunk(app: App, path: str, words: str) -> ChunkRecord:
    return next(c for c in app.store.document_chunks(path) if words in c.text)


def shown(view_text: str, span: tuple[int, int] | None) -> str:
    assert span is not None
    return squeezed(view_text[span[0]:span[1]])[0]


def test_a_pdf_passage_is_shown_on_its_page_with_the_sentence_inside_it(app: App) -> None:
    record = chunk(app, "how_llms_work.pdf", "Q4_K_M")
    sentence = "GGUF is the file format of llama.cpp."
    view = app.source(record.id, sentence=sentence)
    assert view.is_pdf and (view.page, view.pages, view.passage_page) == (record.page, 5, record.page)
    assert shown(view.context.text, view.context.passage) == squeezed(record.text)[0]
    assert shown(view.context.text, view.context.sentence) == squeezed(sentence)[0]
    assert view.context.passage[0] <= view.context.sentence[0] < view.context.sentence[1] <= view.context.passage[1]
    assert not view.changed

    png, highlights = app.page_image(view.path, view.page, chunk_id=record.id, sentence=sentence)
    assert png.startswith(b"\x89PNG") and highlights.found and highlights.sentence
    top = min(r[1] for r in highlights.passage)
    bottom = max(r[3] for r in highlights.passage)
    assert all(top <= r[1] and r[3] <= bottom for r in highlights.sentence)


def test_leafing_through_the_pdf_shows_other_pages_without_a_highlight(app: App) -> None:
    record = chunk(app, "how_llms_work.pdf", "Q4_K_M")
    other = 1 if record.page != 1 else 2
    view = app.source(record.id, page=other)
    assert view.page == other and view.passage_page == record.page and view.context.passage is None
    assert view.context.text.startswith("How large language models work")
    _, highlights = app.page_image(view.path, other, chunk_id=record.id)
    assert not highlights.found
    with pytest.raises(SourceError, match="no page 9"):
        app.source(record.id, page=9)


def test_a_markdown_passage_is_shown_in_its_section_under_its_heading(app: App) -> None:
    record = chunk(app, "rag_en_pratique.md", " ")
    view = app.source(record.id)
    assert not view.is_pdf and view.heading == record.heading and view.heading
    assert shown(view.context.text, view.context.passage) == squeezed(record.text)[0]
    whole = app.document_source("rag_en_pratique.md")
    assert record.text.split()[0] in whole.context.text and whole.context.passage is None


def test_files_are_given_out_only_from_the_data_folder_and_only_when_indexed(app: App) -> None:
    assert app.document_file("how_llms_work.pdf").name == "how_llms_work.pdf"
    for path in ("../secret.md", "/etc/passwd", "linked.md", "missing.md", "../../../../etc/passwd"):
        with pytest.raises(SourceError):
            app.document_file(path)
    linked = app.store.document_chunks("linked.md")
    if linked:  # indexed through the link (until the data folder refuses such links)
        with pytest.raises(SourceError):
            app.source(linked[0].id)
    with pytest.raises(SourceError, match="no longer in the index"):
        app.source(10**9)


def test_a_slide_is_shown_with_its_number_and_title_and_a_long_sheet_around_the_cited_rows(tmp_path) -> None:  # noqa: ANN001
    import openpyxl

    from rag_app.ui.source_view import CONTEXT_LINES, render_source_page

    from format_files import pptx_bytes

    data = tmp_path / "data"
    data.mkdir()
    (data / "herons.pptx").write_bytes(pptx_bytes())
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Relevés"
    sheet.append(["Site", "Nids"])
    for n in range(1, 401):
        sheet.append([f"Site {n}", n * 3])
    book.save(data / "releves.xlsx")
    with App(make_settings(data, tmp_path / "index"), embedder=FakeEmbedder(), generator=FakeGenerator(),
             create=True) as app:
        app.ingest()
        slide = next(c for c in app.store.document_chunks("herons.pptx") if "Nests" in c.text)
        html_page = render_source_page(app.source(slide.id))
        assert "slide 2" in html_page and "Counts per year" in html_page and '<mark class="passage"' in html_page
        row = next(c for c in app.store.document_chunks("releves.xlsx") if "Site: Site 200;" in c.text)
        view = app.source(row.id)
        html_page = render_source_page(view)
    assert view.heading == "Relevés" and '<mark class="passage"' in html_page
    shown_rows = html_page.count("Site: Site ")
    assert shown_rows < 400 and shown_rows >= row.text.count("Site: Site ") + CONTEXT_LINES
    assert "more lines ⋯" in html_page  # what is left out is said
