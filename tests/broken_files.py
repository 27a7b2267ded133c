"""Builders of broken input files, shared by the loader tests and the ingestion tests.

``make_broken_corpus(folder)`` writes one file per kind of damage and returns, for each file
name, a fragment of the reason the loader must give for it. ``make_hostile_corpus`` adds the
rest of the 40+ kinds of issue 16 (links out of the folder, limits, odd names and encodings,
files that change while being read) beside good files. Nothing here is a committed blob:
``python tests/broken_files.py FOLDER`` writes the corpus to look at.
"""

from __future__ import annotations

import io
import os
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from rag_app.ingest.encoding import NOT_TEXT
from rag_app.ingest.loaders import DOCX_INVALID, EMPTY_FILE, PDF_ENCRYPTED, PDF_INVALID, PDF_NO_TEXT


def pdf_bytes(pages: list[str]) -> bytes:
    """A small real PDF with one page of text per entry of ``pages``."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def image_only_pdf_bytes() -> bytes:
    """A PDF whose pages have drawings but no text, like a scan."""
    pdf = FPDF()
    for _ in range(2):
        pdf.add_page()
        pdf.set_fill_color(90, 90, 90)
        pdf.rect(20, 20, 120, 80, style="F")
    return bytes(pdf.output())


def encrypted_pdf_bytes(user_password: str = "secret") -> bytes:
    """A real PDF encrypted with a user password (it cannot be opened without it)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes(["Top secret page about attention heads."]))))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def owner_only_encrypted_pdf_bytes() -> bytes:
    """A PDF encrypted with an empty user password: readable without asking anyone."""
    return encrypted_pdf_bytes(user_password="")


def truncated(data: bytes) -> bytes:
    """The first half of ``data``, like an interrupted download."""
    return data[: len(data) // 2]


def docx_bytes() -> bytes:
    """A small real Word document with a heading and a paragraph."""
    import docx

    document = docx.Document()
    document.add_heading("Notes", level=1)
    document.add_paragraph("A paragraph about rotary position embeddings. " * 20)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def binary_bytes(size: int = 4096, seed: int = 1) -> bytes:
    """Binary data with NUL bytes, like an image or an executable."""
    rng = random.Random(seed)
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + rng.randbytes(size)


def invalid_utf8_bytes(size: int = 4096, seed: int = 2) -> bytes:
    """Random bytes without NULs: not UTF-8, and no plausible 8-bit text either."""
    rng = random.Random(seed)
    return bytes(b for b in rng.randbytes(size) if b)


def make_broken_corpus(folder: Path) -> dict[str, str]:
    """Write broken files into ``folder``; return {file name: expected reason fragment}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    good_pdf = pdf_bytes([f"Page {n} explains tokens and attention in some detail. " * 12 for n in range(1, 5)])
    files: dict[str, tuple[bytes, str]] = {
        "corrupt.pdf": (b"%PDF-1.7\n" + random.Random(3).randbytes(3000) + b"\n%%EOF\n", PDF_INVALID),
        "not_a_pdf.pdf": (b"<html><body>This is a web page saved with a .pdf name</body></html>", PDF_INVALID),
        "truncated.pdf": (truncated(good_pdf), PDF_INVALID),
        "encrypted.pdf": (encrypted_pdf_bytes(), PDF_ENCRYPTED),
        "scanned.pdf": (image_only_pdf_bytes(), PDF_NO_TEXT),
        "empty.pdf": (b"", EMPTY_FILE),
        "empty.txt": (b"", EMPTY_FILE),
        "empty.md": (b"", EMPTY_FILE),
        "blank.txt": (b"  \n\n\t \r\n ", EMPTY_FILE),
        "binary.txt": (binary_bytes(), NOT_TEXT),
        "binary.md": (binary_bytes(seed=4), NOT_TEXT),
        "invalid_utf8.txt": (invalid_utf8_bytes(), NOT_TEXT),
        "corrupt.docx": (b"PK\x03\x04" + random.Random(5).randbytes(2000), DOCX_INVALID),
        "truncated.docx": (truncated(docx_bytes()), DOCX_INVALID),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    return {name: reason for name, (_, reason) in files.items()}


# ----- the hostile corpus (issue 16): 40+ kinds of bad input beside good files ---------------------
ZIP_BOMB_MB = 200
DEEP_LEVELS = 60
HUGE_LINE_BYTES = 10 * 1024 * 1024


def zero_page_pdf_bytes() -> bytes:
    """A well-formed PDF with no page at all."""
    out = io.BytesIO()
    PdfWriter().write(out)
    return out.getvalue()


def broken_pages_pdf_bytes() -> bytes:
    """A PDF whose every page's content stream is garbage that claims to be compressed."""
    from pypdf.generic import NameObject, StreamObject

    reader = PdfReader(io.BytesIO(pdf_bytes(["Page one has text.", "Page two has text."])))
    writer = PdfWriter()
    for page in reader.pages:
        stream = StreamObject()
        stream._data = b"\x00garbage\xff" * 50
        stream[NameObject("/Filter")] = NameObject("/FlateDecode")
        page[NameObject("/Contents")] = writer._add_object(stream)
        writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _docx_with(replace: dict[str, bytes]) -> bytes:
    """A real .docx with some parts replaced or added."""
    source = zipfile.ZipFile(io.BytesIO(docx_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            target.writestr(name, replace.pop(name, None) or source.read(name))
        for name, data in replace.items():
            target.writestr(name, data)
    return out.getvalue()


def entity_bomb_docx_bytes() -> bytes:
    """A .docx whose document.xml is a "billion laughs" XML entity bomb."""
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {n} "{("&" + p + ";") * 10}">' for p, n in zip("abcdefg", "bcdefgh", strict=True))
    xml = (f'<?xml version="1.0"?><!DOCTYPE w [{entities}]><w:document xmlns:w="http://schemas.openxmlformats.org/'
           'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>&h;</w:t></w:r></w:p></w:body></w:document>')
    return _docx_with({"word/document.xml": xml.encode()})


def zip_bomb_docx_bytes() -> bytes:
    """A .docx carrying a part of ZIP_BOMB_MB of zeros (it compresses about 1,000 times)."""
    return _docx_with({"word/media/filler.bin": b"\0" * (ZIP_BOMB_MB * 1024 * 1024)})


def zip_without_document_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "not a Word document")
    return out.getvalue()


@dataclass
class HostileCorpus:
    """What `make_hostile_corpus` wrote: bad files with a fragment of their expected reason, good
    files with a phrase of their text, and the two files a test changes while ingestion runs."""

    bad: dict[str, str]
    good: dict[str, str]
    replaced: str = "zz_replaced.md"  # rewritten after the scan, before it is read: the new text counts
    vanished: str = "zz_vanished.txt"  # deleted after the scan, before it is read
    new_text: str = "The replaced file now speaks of marmalade from Seville."


def make_hostile_corpus(folder: Path, outside: Path) -> HostileCorpus:
    """Write into ``folder`` 40+ kinds of bad input beside good files; ``outside`` (a folder that is
    not inside ``folder``) receives the targets of the links that lead out."""
    folder.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    bad = make_broken_corpus(folder)
    files: dict[str, tuple[bytes, str]] = {
        "zero_pages.pdf": (zero_page_pdf_bytes(), PDF_INVALID),  # PDFium refuses a PDF without pages
        "broken_pages.pdf": (broken_pages_pdf_bytes(), PDF_NO_TEXT),
        "only_scripts.html": (b"<html><head><script>var a = 1;</script></head><body><script>alert(1)</script>"
                              b"<style>p { color: red }</style></body></html>", "no visible text"),
        "only_svg.html": (b"<html><body><svg><text>a drawing</text></svg></body></html>", "no visible text"),
        "whitespace.html": (b"<html><body>  \n\t </body></html>", "no visible text"),
        "empty.html": (b"", EMPTY_FILE),
        "binary.html": (binary_bytes(seed=6), NOT_TEXT),
        "deeply_nested.html": (b"<html><body>" + b"<div>" * 100_000 + b"deep" + b"</div>" * 100_000
                               + b"</body></html>", "could not read the HTML file"),
        "huge_line.txt": (b"word " * (HUGE_LINE_BYTES // 5), "characters of text, over the"),
        "zip_bomb.docx": (zip_bomb_docx_bytes(), "zip bomb"),
        "entity_bomb.docx": (entity_bomb_docx_bytes(), "Word document"),
        "old_word.docx": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "old .doc file"),
        "web_page.docx": (b"<html><body>saved with the wrong name</body></html>", DOCX_INVALID),
        "no_document.docx": (zip_without_document_bytes(), DOCX_INVALID),
        "empty.docx": (b"", EMPTY_FILE),
        "front_matter_only.md": (b"---\ntitle: Nothing else\n---\n", EMPTY_FILE),
        "control_chars.txt": (bytes(range(1, 9)) * 100, NOT_TEXT),
        "gif.md": (b"GIF89a" + bytes(range(256)) * 20, NOT_TEXT),
        "bad_utf16.txt": (b"\xff\xfe" + b"a\x00b\x00\x00\xd8c", NOT_TEXT),
        "one_byte_repeated.md": (bytes([200]) * 4000, NOT_TEXT),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    bad.update({name: reason for name, (_, reason) in files.items()})

    # Links: out of the folder (a file and a folder), dangling, a loop, one to itself.
    (outside / "secret.txt").write_text("The vault code is 4321 and lives outside the data folder.")
    (outside / "private").mkdir(exist_ok=True)
    (outside / "private" / "diary.md").write_text("# Diary\n\nA private diary outside the data folder.")
    (folder / "external_link.txt").symlink_to(outside / "secret.txt")
    (folder / "external_folder").symlink_to(outside / "private")
    (folder / "dangling.md").symlink_to(folder / "no_such_file.md")
    (folder / "self_loop.md").symlink_to(folder / "self_loop.md")
    (folder / "loop").mkdir()
    (folder / "loop" / "up").symlink_to(folder)  # a folder loop: walked once, not reported
    bad.update({"external_link.txt": "links outside the data folder are not followed",
                "external_folder": "links outside the data folder are not followed",
                "dangling.md": "does not exist", "self_loop.md": "loop"})

    # Names and permissions.
    bad_name = os.fsdecode(b"bad_\xff_name.txt")
    (folder / bad_name).write_text("A file whose name is not UTF-8.")
    bad["bad_\\xff_name.txt"] = "not valid UTF-8"
    if os.geteuid() != 0:  # root reads everything
        (folder / "unreadable.txt").write_text("No one may read this.")
        (folder / "unreadable.txt").chmod(0)
        bad["unreadable.txt"] = "Permission denied"
    too_big = folder / "too_big.txt"
    with open(too_big, "wb") as handle:  # sparse: nothing is written, and it is never read
        handle.truncate(30 * 1024 * 1024)
    bad["too_big.txt"] = "over the 20 MB limit (max_file_mb)"

    # Good files: every one must be ingested and searchable by its phrase.
    good = {
        "latin1_fr.txt": "brioche",
        "shift_jis.txt": "東京は日本の首都",
        "cp1251.txt": "Москва",
        "readable_encrypted.pdf": "attention heads",
        "notes.pdf/inside.md": "folder named like a PDF",
        "tab\tname.md": "control character in its name",
        "/".join(["deep"] * DEEP_LEVELS) + "/bottom.md": "bottom of a deep folder",
        "linked_target.md": "reachable under two names",
        "zz_replaced.md": "marmalade from Seville",
    }
    (folder / "latin1_fr.txt").write_bytes("La brioche de Noël est dorée au four à 180 °C.".encode("latin-1"))
    (folder / "shift_jis.txt").write_bytes("東京は日本の首都であり、人口は約千四百万人です。".encode("shift_jis"))
    (folder / "cp1251.txt").write_bytes("Москва — столица России и крупнейший город страны.".encode("cp1251"))
    (folder / "readable_encrypted.pdf").write_bytes(owner_only_encrypted_pdf_bytes())
    (folder / "notes.pdf").mkdir()
    (folder / "notes.pdf" / "inside.md").write_text("# Inside\n\nA file in a folder named like a PDF.")
    (folder / "tab\tname.md").write_text("# Odd name\n\nThis file has a control character in its name.")
    deep = folder.joinpath(*["deep"] * DEEP_LEVELS)
    deep.mkdir(parents=True)
    (deep / "bottom.md").write_text("# Deep\n\nThis file sits at the bottom of a deep folder.")
    (folder / "linked_target.md").write_text("# Twice\n\nThis file is reachable under two names.")
    (folder / "in_folder_link.md").symlink_to(folder / "linked_target.md")
    (folder / "zz_replaced.md").write_text("# Before\n\nThe old text of the replaced file, about apricots.")
    (folder / "zz_vanished.txt").write_text("This file is deleted while the folder is being read.")
    bad["zz_vanished.txt"] = "removed while the folder was being read"
    return HostileCorpus(bad, good)


if __name__ == "__main__":  # write the corpus to look at: python tests/broken_files.py FOLDER
    import sys

    target = Path(sys.argv[1])
    corpus = make_hostile_corpus(target / "data", target / "outside")
    print(f"{len(corpus.bad)} bad and {len(corpus.good)} good files in {target / 'data'}")  # noqa: T201
