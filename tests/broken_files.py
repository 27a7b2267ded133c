"""Builders of broken input files, shared by the loader tests and the ingestion tests.

``make_broken_corpus(folder)`` writes one file per kind of damage and returns, for each file
name, a fragment of the reason the loader must give for it.
"""

from __future__ import annotations

import io
import random
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
