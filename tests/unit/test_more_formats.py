"""Slides, spreadsheets, CSV, e-books, OpenDocument, RTF and e-mail: each format's units, headings
and page/slide/sheet metadata, and each broken kind reported by name and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag_app.ingest.document import LoadError
from rag_app.ingest.loaders import SUPPORTED_EXTENSIONS, load_document
from rag_app.ingest.loaders.tables import table_lines

import format_files as ff
from broken_files import truncated


def load(tmp_path: Path, name: str, data: bytes):  # noqa: ANN201
    path = tmp_path / name
    path.write_bytes(data)
    return load_document(path)


def test_every_new_format_is_supported() -> None:
    assert {".pptx", ".xlsx", ".xls", ".csv", ".tsv", ".epub", ".odt", ".ods", ".odp", ".rtf", ".eml", ".msg",
            ".doc", ".ppt"} <= SUPPORTED_EXTENSIONS


def test_pptx_one_unit_per_slide_with_title_table_and_notes(tmp_path: Path) -> None:
    doc = load(tmp_path, "deck.pptx", ff.pptx_bytes())
    first, second = doc.sections
    assert (first.page, first.heading) == (1, "Les hérons cendrés") and "colonies" in first.text
    assert (second.page, second.heading) == (2, "Counts per year")
    assert "Year: 2023; Nests: 57" in second.text  # a figure next to its column header
    assert "Notes: Say that the colony grew by a third." in second.text
    assert doc.metadata["title"] == "Les hérons cendrés"


def test_xlsx_one_unit_per_sheet_rows_under_their_header(tmp_path: Path) -> None:
    doc = load(tmp_path, "survey.xlsx", ff.xlsx_bytes())
    nests, glossary = doc.sections
    assert nests.heading == "Nests" and glossary.heading == "Glossary"
    lines = nests.text.splitlines()
    assert lines[0] == "Heron survey, Loire valley"  # a title above the header stays as it is
    assert "Site: Île de Béhuard; Nests: 57; Counted on: 2023-04-12" in lines
    assert "Site: Montjean; Nests: 12; Counted on: 2023-04-13" in lines  # 12.0 reads as 12
    assert "Term: héronnière; Meaning: a heron colony" in glossary.text


def test_legacy_xls_sheets(tmp_path: Path) -> None:
    doc = load(tmp_path, "old.xls", ff.xls_bytes())
    assert [s.heading for s in doc.sections] == ["Sheet1", "09060124-b5e7-4717-9d07-3c046eb"]
    assert "6ff4173b-42a5-4784-9b19-f49caff4d93d" in doc.sections[0].text


def test_csv_french_export_semicolons_and_windows_1252(tmp_path: Path) -> None:
    doc = load(tmp_path, "villes.csv", ff.csv_bytes())
    assert doc.metadata["encoding"] == "cp1252"
    assert "Ville: Nantes; Population: 320732; Remarque: Préfecture; port" in doc.sections[0].text
    tsv = load(tmp_path, "cups.tsv", b"Stanley Cups\t\t\nTeam\tLocation\tCups\nMaple Leafs\tTOR\t13\n")
    assert "Team: Maple Leafs; Location: TOR; Cups: 13" in tsv.sections[0].text


def test_epub_chapters_in_spine_order_without_the_navigation(tmp_path: Path) -> None:
    doc = load(tmp_path, "book.epub", ff.epub_bytes())
    assert [s.heading for s in doc.sections] == ["Chapter One", "Chapter Two"]
    assert "lighthouse keeper" in doc.sections[0].text and "Contents" not in doc.sections[0].text
    assert doc.metadata == {"title": "Harbour Tales", "author": "A. Writer", "language": "en"}


def test_opendocument_text_sheet_and_slides(tmp_path: Path) -> None:
    odt = load(tmp_path, "rapport.odt", ff.odt_bytes())
    assert [s.heading for s in odt.sections] == ["Rapport", "Rapport > Méthode"]
    assert "Les hérons gris nichent tôt." in odt.sections[0].text
    assert "Compter les nids" in odt.sections[1].text and "Site: Béhuard; Nids: 57" in odt.sections[1].text
    ods = load(tmp_path, "comptage.ods", ff.ods_bytes())  # a million declared empty rows: not expanded
    assert [(s.heading, s.text) for s in ods.sections] == [("Comptage", "Site | Nids\nSite: Montjean; Nids: 12")]
    odp = load(tmp_path, "journee.odp", ff.odp_bytes())
    assert [(s.page, s.heading) for s in odp.sections] == [(1, "Bienvenue"), (2, "Questions")]
    assert "Notes: Remercier les bénévoles." in odp.sections[1].text


def test_rtf_code_page_and_unicode_escapes(tmp_path: Path) -> None:
    doc = load(tmp_path, "note.rtf", ff.rtf_bytes())
    assert "Le café ouvre à sept heures." in doc.sections[0].text and "tides" in doc.sections[0].text


def test_eml_headers_body_and_attachment_under_its_own_name(tmp_path: Path) -> None:
    doc = load(tmp_path, "mail.eml", ff.eml_bytes())
    headers, body, attachment = doc.sections
    assert "From: Élise Martin <elise@example.org>" in headers.text and "Attachment: counts.txt" in headers.text
    assert "Attachment: map.png (not read: not a valid image" in headers.text  # a broken one
    assert "57 nids à Béhuard" in body.text and body.heading == "Compte rendu du comptage"
    assert attachment.heading == "Compte rendu du comptage > counts.txt" and "egrets" in attachment.text
    assert doc.metadata["title"] == "Compte rendu du comptage"


def test_outlook_msg(tmp_path: Path) -> None:
    doc = load(tmp_path, "message.msg", ff.msg_bytes())
    assert doc.metadata["title"] == "Test Email Message"
    assert doc.metadata["author"].startswith("M. C. Kurtuluş")  # its encoded word decoded
    assert any("This is the body of the test email message" in s.text for s in doc.sections)


def test_table_lines_find_the_header_below_a_title_and_keep_years_as_headers() -> None:
    assert table_lines([["Figures"], ["", "2022", "2023"], ["Net sales", "63,355", "63,948"]]) == [
        "Figures", "2022 | 2023", "Net sales; 2022: 63,355; 2023: 63,948"]
    assert table_lines([["1", "2"], ["3", "4"]]) == ["1 | 2", "3 | 4"]  # no header: cells joined


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("corrupt.pptx", b"PK\x03\x04" + bytes(range(256)) * 8, "not a valid PowerPoint file"),
    ("truncated.pptx", truncated(ff.pptx_bytes()), "not a valid PowerPoint file"),
    ("truncated.xlsx", truncated(ff.xlsx_bytes()), "not a valid Excel workbook"),
    ("corrupt.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "not a valid Excel 97-2003 workbook"),
    ("truncated.epub", truncated(ff.epub_bytes()), "not a valid EPUB"),
    ("not_a_zip.odt", b"<html>saved with the wrong name</html>", "not a valid OpenDocument file"),
    ("no_content.ods", b"PK\x05\x06" + b"\0" * 18, "content.xml is missing"),
    ("not_rtf.rtf", b"just some text named .rtf", "not a valid RTF document"),
    ("not_mail.eml", b"\x00\x01\x02 binary", "not an e-mail message"),
    ("corrupt.msg", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "not a valid Outlook message"),
])
def test_broken_files_are_reported_by_reason(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    with pytest.raises(LoadError, match=reason):
        load(tmp_path, name, data)


def test_drm_epub_and_zip_bomb_are_refused(tmp_path: Path) -> None:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(ff.epub_bytes())) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item))
        dst.writestr("META-INF/encryption.xml", "<encryption/>")
    with pytest.raises(LoadError, match="DRM"):
        load(tmp_path, "drm.epub", out.getvalue())
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ppt/filler.bin", b"\0" * (8 * 1024 * 1024))  # 1,000 times its compressed size
    with pytest.raises(LoadError, match="zip bomb"):
        load(tmp_path, "bomb.pptx", bomb.getvalue())


def test_legacy_word_without_libreoffice_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    with pytest.raises(LoadError, match="install LibreOffice"):
        load(tmp_path, "old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)


def test_without_tesseract_a_scan_says_what_to_install_and_text_pages_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fpdf import FPDF
    from PIL import Image

    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="The first page has a text layer about lighthouses.")
    pdf.add_page()
    pdf.image(Image.new("L", (600, 800), 200), x=0, y=0, w=210)  # a scanned page
    both = pdf.output()
    doc = load(tmp_path, "mixed.pdf", bytes(both))
    assert [s.page for s in doc.sections] == [1] and "lighthouses" in doc.sections[0].text
    scan = FPDF()
    scan.add_page()
    scan.image(Image.new("L", (600, 800), 200), x=0, y=0, w=210)
    with pytest.raises(LoadError, match="needs OCR, and Tesseract is not installed"):
        load(tmp_path, "scan.pdf", bytes(scan.output()))
