"""Small real files of every format rag_app reads beyond PDF, Markdown, text, HTML and Word,
written by the libraries or the standard formats themselves (no binary blob in the repository,
except the two in tests/fixtures that no library here can write)."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pptx_bytes() -> bytes:
    """Two slides: a title and body, then a table and speaker notes."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[1])
    first.shapes.title.text = "Les hérons cendrés"
    first.placeholders[1].text = "Ils nichent en colonies dans les grands arbres."
    second = deck.slides.add_slide(deck.slide_layouts[5])
    second.shapes.title.text = "Counts per year"
    table = second.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(4), Inches(1.5)).table
    for r, row in enumerate([("Year", "Nests"), ("2022", "41"), ("2023", "57")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    second.notes_slide.notes_text_frame.text = "Say that the colony grew by a third."
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def xlsx_bytes() -> bytes:
    """Two sheets: a title row above a header, figures and a date; a second sheet of words."""
    import datetime as dt

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Nests"
    sheet.append(["Heron survey, Loire valley"])
    sheet.append(["Site", "Nests", "Counted on"])
    sheet.append(["Île de Béhuard", 57, dt.datetime(2023, 4, 12)])
    sheet.append(["Montjean", 12.0, dt.datetime(2023, 4, 13)])
    words = book.create_sheet("Glossary")
    words.append(["Term", "Meaning"])
    words.append(["héronnière", "a heron colony"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes() -> bytes:
    """A French Excel export: semicolons, Windows-1252, a quoted cell holding the delimiter."""
    return ("Ville;Population;Remarque\nNantes;320732;\"Préfecture; port\"\nAngers;157175;\n").encode("cp1252")


def eml_bytes() -> bytes:
    """A message with a plain body and two attachments: a text file read, a binary one not."""
    message = EmailMessage()
    message["From"] = "Élise Martin <elise@example.org>"
    message["To"] = "team@example.org"
    message["Subject"] = "Compte rendu du comptage"
    message["Date"] = "Tue, 02 May 2023 09:30:00 +0200"
    message.set_content("Bonjour,\n\nLe comptage des nids est terminé : 57 nids à Béhuard.\n")
    message.add_attachment("The full table of counts is in this attached note about egrets.",
                           filename="counts.txt")
    message.add_attachment(b"\x89PNG\r\n\x1a\n" + b"\0" * 64, maintype="image", subtype="png", filename="map.png")
    return message.as_bytes()


def epub_bytes(chapters: tuple[tuple[str, str], ...] = (("Chapter One", "The lighthouse keeper counted ships."),
                                                         ("Chapter Two", "Fog came in over the harbour."))) -> bytes:
    """A minimal valid EPUB 3: container, package (with a nav document in the spine), chapters."""
    items = "".join(f'<item id="c{i}" href="text/c{i}.xhtml" media-type="application/xhtml+xml"/>'
                    for i in range(len(chapters)))
    spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters)))
    opf = ('<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
           '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Harbour Tales</dc:title>'
           '<dc:creator>A. Writer</dc:creator><dc:language>en</dc:language></metadata>'
           f'<manifest><item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>{items}'
           f'</manifest><spine><itemref idref="nav"/>{spine}</spine></package>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("mimetype", "application/epub+zip")
        z.writestr("META-INF/container.xml",
                   '<?xml version="1.0"?><container xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
                   'version="1.0"><rootfiles><rootfile full-path="OEBPS/content.opf" '
                   'media-type="application/oebps-package+xml"/></rootfiles></container>')
        z.writestr("OEBPS/content.opf", opf)
        z.writestr("OEBPS/nav.xhtml", "<html><body><nav><ol><li>Contents</li></ol></nav></body></html>")
        for i, (title, text) in enumerate(chapters):
            z.writestr(f"OEBPS/text/c{i}.xhtml", f'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml">'
                                                 f"<head><title>{title}</title></head><body><h1>{title}</h1>"
                                                 f"<p>{text}</p></body></html>")
    return out.getvalue()


_ODF_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
           'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
           'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
           'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
           'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0"')


def _odf(mimetype: str, body: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("mimetype", mimetype)
        z.writestr("content.xml", f'<?xml version="1.0"?><office:document-content {_ODF_NS}>'
                                  f"<office:body>{body}</office:body></office:document-content>")
    return out.getvalue()


def odt_bytes() -> bytes:
    """Two headings, a paragraph with a spacing element, a list and a table."""
    return _odf("application/vnd.oasis.opendocument.text", (
        '<office:text><text:h text:outline-level="1">Rapport</text:h>'
        '<text:p>Les hérons<text:s text:c="2"/>gris nichent tôt.</text:p>'
        '<text:h text:outline-level="2">Méthode</text:h>'
        "<text:list><text:list-item><text:p>Compter les nids au printemps.</text:p></text:list-item></text:list>"
        "<table:table><table:table-row><table:table-cell><text:p>Site</text:p></table:table-cell>"
        "<table:table-cell><text:p>Nids</text:p></table:table-cell></table:table-row>"
        "<table:table-row><table:table-cell><text:p>Béhuard</text:p></table:table-cell>"
        "<table:table-cell><text:p>57</text:p></table:table-cell></table:table-row></table:table>"
        "</office:text>"))


def ods_bytes() -> bytes:
    """One sheet, with a million repeated empty rows declared at its end (not expanded)."""
    return _odf("application/vnd.oasis.opendocument.spreadsheet", (
        '<office:spreadsheet><table:table table:name="Comptage">'
        "<table:table-row><table:table-cell><text:p>Site</text:p></table:table-cell>"
        "<table:table-cell><text:p>Nids</text:p></table:table-cell></table:table-row>"
        "<table:table-row><table:table-cell><text:p>Montjean</text:p></table:table-cell>"
        "<table:table-cell><text:p>12</text:p></table:table-cell></table:table-row>"
        '<table:table-row table:number-rows-repeated="1048570"><table:table-cell '
        'table:number-columns-repeated="16384"/></table:table-row>'
        "</table:table></office:spreadsheet>"))


def odp_bytes() -> bytes:
    """Two slides: a title frame and a text frame; notes on the second."""
    def frame(cls: str, text: str) -> str:
        return (f'<draw:frame presentation:class="{cls}"><draw:text-box><text:p>{text}</text:p>'
                "</draw:text-box></draw:frame>")

    return _odf("application/vnd.oasis.opendocument.presentation", (
        '<office:presentation><draw:page draw:name="page1">' + frame("title", "Bienvenue")
        + frame("outline", "Le programme de la journée.") + "</draw:page>"
        '<draw:page draw:name="page2">' + frame("title", "Questions")
        + frame("outline", "Posez-les à la fin.")
        + "<presentation:notes>" + frame("notes", "Remercier les bénévoles.") + "</presentation:notes>"
        + "</draw:page></office:presentation>"))


def rtf_bytes() -> bytes:
    """RTF with a Windows-1252 escape and a Unicode escape."""
    return (rb"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0 Times;}}\f0 Le caf\'e9 ouvre \u224? sept heures.\par"
            rb" Second paragraph about tides.\par}")


def msg_bytes() -> bytes:
    return (FIXTURES / "outlook.msg").read_bytes()


def xls_bytes() -> bytes:
    return (FIXTURES / "legacy.xls").read_bytes()
