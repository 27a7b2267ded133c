"""Loaders: every format keeps its text, pages and headings; broken files give a clear reason."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from rag_app.ingest.document import LoadError, UnsupportedFormatError
from rag_app.ingest.loaders import SUPPORTED_EXTENSIONS, load_document

from broken_files import (
    docx_bytes,
    make_broken_corpus,
    owner_only_encrypted_pdf_bytes,
    pdf_bytes,
    truncated,
)
from conftest import DEMO_DATA
from demo_facts import DEMO_FACTS

FRENCH = "Les modèles de langue génèrent du texte. À l'école, on apprend « déjà » ça : été, où, çà."


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).lower()


def full_text(path: Path) -> str:
    return "\n".join(section.text for section in load_document(path).sections)


# ----------------------------------------------------------------------------- demo corpus


def test_demo_corpus_covers_every_format_and_loads_cleanly() -> None:
    files = sorted(p for p in DEMO_DATA.iterdir() if p.is_file())
    assert {p.suffix for p in files} >= {".pdf", ".docx", ".html", ".md", ".txt"}
    for path in files:
        assert path.suffix in SUPPORTED_EXTENSIONS
        document = load_document(path)
        assert document.sections, path
        for section in document.sections:
            assert section.text.strip() and "\x00" not in section.text and "\n\n\n" not in section.text


@pytest.mark.parametrize("fact", DEMO_FACTS, ids=lambda f: f"{f.file}:{f.answer}")
def test_demo_facts_are_where_demo_facts_say(fact) -> None:
    sections = load_document(DEMO_DATA / fact.file).sections
    holding = [s for s in sections if flat(fact.answer) in flat(s.text)]
    assert holding, f"{fact.answer!r} not found in {fact.file}"
    if fact.page is not None:
        assert [s.page for s in holding] == [fact.page]
    if fact.heading is not None:
        assert any(fact.heading in s.heading for s in holding), [s.heading for s in holding]


def test_demo_pdf_has_one_section_per_page_with_page_numbers() -> None:
    document = load_document(DEMO_DATA / "how_llms_work.pdf")
    assert [s.page for s in document.sections] == [1, 2, 3, 4, 5]
    assert "Q4_K_M uses about 4.8 bits per weight" in flat(document.sections[3].text).replace("q4_k_m", "Q4_K_M")
    assert "lora" not in flat(document.sections[0].text)
    assert document.metadata["title"] == "How large language models work"


def test_demo_docx_keeps_heading_path_and_table_rows() -> None:
    document = load_document(DEMO_DATA / "rag_app_user_guide.docx")
    headings = [s.heading for s in document.sections]
    assert "rag_app user guide > Command line > Asking questions" in headings
    formats = next(s for s in document.sections if s.heading.endswith("Supported formats"))
    assert "Markdown | .md, .markdown | text, heading path and front matter" in formats.text.splitlines()
    # The table stays after the paragraph that introduces it.
    assert formats.text.index("The table lists") < formats.text.index("PDF | .pdf")


def test_demo_html_drops_scripts_styles_and_hidden_parts() -> None:
    document = load_document(DEMO_DATA / "hybrid_search.html")
    text = "\n".join(s.text for s in document.sections)
    assert "SHOULD-NOT-APPEAR" not in text and "font-family" not in text and "hidden element" not in text
    assert document.metadata["title"] == "Lexical, dense and hybrid search"
    headings = [s.heading for s in document.sections]
    assert "Lexical, dense and hybrid search > Hybrid search > Reciprocal rank fusion" in headings


def test_demo_french_files_decode() -> None:
    assert "mémoire" in full_text(DEMO_DATA / "quantification_memoire.txt")  # Latin-1 on disk
    markdown = load_document(DEMO_DATA / "rag_en_pratique.md")
    assert markdown.metadata["lang"] == "fr" and markdown.metadata["title"] == "Le RAG en pratique"
    assert any("Savoir dire « je ne sais pas »" in s.heading for s in markdown.sections)


# ----------------------------------------------------------------------------- small files


def test_pdf_pages_and_empty_pages_skipped(tmp_path: Path) -> None:
    path = tmp_path / "three.pdf"
    path.write_bytes(pdf_bytes(["Alpha page about tokens.", " ", "Gamma page about LoRA."]))
    document = load_document(path)
    pages = [(s.page, s.text) for s in document.sections]
    assert pages == [(1, "Alpha page about tokens."), (3, "Gamma page about LoRA.")]


def test_pdf_encrypted_with_empty_user_password_is_read(tmp_path: Path) -> None:
    path = tmp_path / "owner_only.pdf"
    path.write_bytes(owner_only_encrypted_pdf_bytes())
    assert "attention heads" in full_text(path)


def test_markdown_front_matter_heading_path_and_code_fences(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text(
        "---\ntitle: My notes\ntags: [a, b]\nyear: 2024\n---\n"
        "Intro before any heading.\n\n"
        "# Title\n\nTop text.\n\n"
        "## Sub\n\nSub text.\n\n"
        "```bash\n# not a heading\necho hi\n```\n\n"
        "### Subsub ###\n\nDeep text.\n\n"
        "## Other\n\nOther text.\n\n"
        "Setext heading\n--------------\n\nUnder setext.\n",
        encoding="utf-8",
    )
    document = load_document(path)
    assert document.metadata == {"title": "My notes", "tags": "a, b", "year": "2024"}
    pairs = [(s.heading, s.text) for s in document.sections]
    assert pairs[0] == ("", "Intro before any heading.")
    assert pairs[1] == ("Title", "Top text.")
    assert pairs[2][0] == "Title > Sub" and "# not a heading" in pairs[2][1]
    assert pairs[3] == ("Title > Sub > Subsub", "Deep text.")
    assert pairs[4] == ("Title > Other", "Other text.")
    assert pairs[5] == ("Title > Setext heading", "Under setext.")
    assert "title: My notes" not in full_text(path)


def test_markdown_without_front_matter_takes_title_from_first_heading(tmp_path: Path) -> None:
    path = tmp_path / "plain.md"
    path.write_text("Some text\n\n---\n\n# Heading one\n\nBody.\n", encoding="utf-8")
    document = load_document(path)
    assert document.title == "Heading one"
    assert document.sections[0].text.startswith("Some text")


def test_html_visible_text_headings_and_tables(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Page title</title><style>p{color:red}</style>"
        "<script>var secret = 'SCRIPT';</script></head><body>"
        "<nav>Menu</nav><h1>Main</h1><p>First   paragraph\nwith  spaces.</p>"
        "<noscript>NOSCRIPT</noscript><template>TEMPLATE</template><!-- COMMENT -->"
        "<h2>Part</h2><table><tr><th>Name</th><th>Bits</th></tr><tr><td>Q8_0</td><td>8.5</td></tr></table>"
        "<h3>Detail</h3><p>Deep<br>line</p><h2>Second</h2><p style='display: none'>HIDDEN</p><p>End.</p>"
        "<img src='http://example.com/x.png'></body></html>",
        encoding="utf-8",
    )
    document = load_document(path)
    assert document.metadata["title"] == "Page title"
    sections = {s.heading: s.text for s in document.sections}
    assert sections["Main"] == "First paragraph with spaces."
    assert sections["Main > Part"] == "Name | Bits\nQ8_0 | 8.5"
    assert sections["Main > Part > Detail"] == "Deep\nline"
    assert sections["Main > Second"] == "End."
    text = full_text(path)
    for hidden in ("SCRIPT", "NOSCRIPT", "TEMPLATE", "COMMENT", "HIDDEN", "color:red", "Page title"):
        assert hidden not in text


def test_html_in_latin1_with_meta_charset(tmp_path: Path) -> None:
    path = tmp_path / "latin.htm"
    html = f'<html><head><meta charset="iso-8859-1"></head><body><p>{FRENCH}</p></body></html>'
    path.write_bytes(html.encode("latin-1"))
    assert full_text(path) == FRENCH


def test_docx_paragraphs_tables_in_order_and_heading_styles(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Guide", level=0)
    document.add_paragraph("Intro paragraph.")
    document.add_heading("Install", level=1)
    document.add_paragraph("Before table.")
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([["Format", "Bits"], ["Q4_K_M", "4.8"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph("After table.")
    document.add_heading("Details", level=2)
    document.add_paragraph("Deep text.")
    localized = document.add_paragraph("Titre localisé")  # a heading by outline level, not by name
    localized.paragraph_format.element.get_or_add_pPr().append(_outline_level_element(0))
    document.add_paragraph("Texte français.")
    path = tmp_path / "guide.docx"
    document.save(str(path))

    loaded = load_document(path)
    pairs = [(s.heading, s.text) for s in loaded.sections]
    assert pairs == [
        ("Guide", "Intro paragraph."),
        ("Guide > Install", "Before table.\n\nFormat | Bits\nQ4_K_M | 4.8\n\nAfter table."),
        ("Guide > Install > Details", "Deep text."),
        ("Guide > Titre localisé", "Texte français."),
    ]
    assert loaded.title == "Guide"


def _outline_level_element(level: int):
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    element = OxmlElement("w:outlineLvl")
    element.set(qn("w:val"), str(level))
    return element


@pytest.mark.parametrize(
    "name, data",
    [
        ("utf8.txt", FRENCH.encode("utf-8")),
        ("utf8_bom.txt", b"\xef\xbb\xbf" + FRENCH.encode("utf-8")),
        ("utf16le_bom.txt", b"\xff\xfe" + FRENCH.encode("utf-16-le")),
        ("utf16be_bom.text", b"\xfe\xff" + FRENCH.encode("utf-16-be")),
        ("utf16le_no_bom.txt", FRENCH.encode("utf-16-le")),
        ("latin1.txt", FRENCH.encode("latin-1")),
        ("cp1252.txt", (FRENCH + " Prix : 5 €, l’été.").encode("cp1252")),
        ("latin1.md", f"# Titre\n\n{FRENCH}".encode("latin-1")),
        ("utf16.html", b"\xff\xfe" + f"<p>{FRENCH}</p>".encode("utf-16-le")),
    ],
)
def test_text_encodings_decode(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    text = full_text(path)
    assert FRENCH in text
    assert "\ufeff" not in text and "\x00" not in text
    if name.startswith("cp1252"):
        assert text.endswith("Prix : 5 €, l’été.")


def test_text_is_normalized(tmp_path: Path) -> None:
    path = tmp_path / "messy.txt"
    path.write_bytes(b"Line one   \r\n\r\n\r\n\r\n\r\n"
                     b"Line two\x00 end, a stray NUL among many ordinary words.\x0c\r\n\n\n")
    assert full_text(path) == "Line one\n\nLine two end, a stray NUL among many ordinary words."


# ----------------------------------------------------------------------------- broken files


def test_broken_files_give_clear_reasons(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    expected = make_broken_corpus(tmp_path)
    assert len(expected) >= 10
    caplog.set_level(logging.WARNING)
    for name, fragment in expected.items():
        with pytest.raises(LoadError) as info:
            load_document(tmp_path / name)
        assert fragment in info.value.reason, (name, info.value.reason)
        assert not isinstance(info.value, UnsupportedFormatError)
    assert len([r for r in caplog.records if r.name.startswith("pypdf")]) < 5


def test_truncated_demo_pdf_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "half.pdf"
    path.write_bytes(truncated((DEMO_DATA / "how_llms_work.pdf").read_bytes()))
    with pytest.raises(LoadError, match=re.escape("not a valid PDF (corrupt or truncated)")):
        load_document(path)


def test_a_good_docx_truncated_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "ok.docx"
    path.write_bytes(docx_bytes())
    assert "rotary position" in full_text(path)
    path.write_bytes(truncated(path.read_bytes()))
    with pytest.raises(LoadError, match="not a valid Word document"):
        load_document(path)


def test_html_without_visible_text(tmp_path: Path) -> None:
    path = tmp_path / "scripts_only.html"
    path.write_text("<html><head><title>T</title><script>x=1</script></head><body> </body></html>", encoding="utf-8")
    with pytest.raises(LoadError, match="no visible text"):
        load_document(path)


@pytest.mark.parametrize("name", ["notes.xyz", "archive.zip", "program.exe", "README"])
def test_unsupported_extension(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("some text", encoding="utf-8")
    with pytest.raises(UnsupportedFormatError):
        load_document(path)


def test_extension_is_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "UPPER.MD"
    path.write_text("# Head\n\nBody.\n", encoding="utf-8")
    assert load_document(path).sections[0].heading == "Head"
