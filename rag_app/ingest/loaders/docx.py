"""Word (.docx): paragraphs and tables in body order, one section per heading, with its heading path.

Read with python-docx, walking the document body so that tables and content controls keep their
place; a table becomes one ``a | b`` line per row. Headings come from paragraph styles: "Title",
"Heading N", else the outline level of the paragraph or its style. The core properties give title
(else the first top-level heading) and author. An OLE file (a password-protected document, or an
old .doc renamed .docx) and a damaged file are reported with their own reasons. Before any part
is parsed, the zip's table of contents is checked (`archive.check_zip`): a file whose parts would expand
beyond `MAX_UNZIPPED_BYTES`, or one part beyond `MAX_RATIO` times its compressed size (a zip bomb),
is refused unread.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from typing import Any

from rag_app.ingest.document import LoadError, Section
from rag_app.ingest.loaders.archive import check_zip
from rag_app.ingest.loaders.common import _SPACES, DOCX_INVALID, DOCX_PROTECTED, Loaded, Metadata, _HeadingPath

log = logging.getLogger(__name__)

DOCX_EXTENSIONS = frozenset({".docx"})

_HEADING_STYLE = re.compile(r"^heading\s+([1-9])$", re.IGNORECASE)
_W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
def load_docx(data: bytes) -> Loaded:
    """Paragraphs and tables in body order, split by headings (from paragraph styles)."""
    import docx

    if data.startswith(_OLE_MAGIC):
        raise LoadError(DOCX_PROTECTED)
    check_zip(data, DOCX_INVALID)
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = list(_docx_blocks(document))
    except Exception as exc:
        log.debug("python-docx could not open the file", exc_info=True)
        raise LoadError(DOCX_INVALID) from exc

    sections: list[Section] = []
    path = _HeadingPath()
    body: list[str] = []
    first_title = ""

    def flush() -> None:
        if body:
            sections.append(Section(text="\n\n".join(body), heading=str(path)))
        body.clear()

    for kind, item in blocks:
        if kind == "table":
            body.append(item)
            continue
        text = item.text.strip()
        if not text:
            continue
        level = _docx_heading_level(item)
        if level is None:
            body.append(text)
            continue
        flush()
        path.enter(level, _SPACES.sub(" ", text))
        first_title = first_title or (text if level <= 1 else "")
    flush()

    metadata: Metadata = {}
    props = document.core_properties
    if props.title and props.title.strip():
        metadata["title"] = props.title.strip()
    elif first_title:
        metadata["title"] = first_title
    if props.author and props.author.strip():
        metadata["author"] = props.author.strip()
    return sections, metadata


def _docx_blocks(document: Any) -> Iterator[tuple[str, Any]]:
    """("paragraph", Paragraph) and ("table", text) in body order, including content controls."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    def visit(element: Any) -> Iterator[tuple[str, Any]]:
        for child in element.iterchildren():
            tag = child.tag
            if tag == f"{{{_W_NS}}}p":
                yield "paragraph", Paragraph(child, document)
            elif tag == f"{{{_W_NS}}}tbl":
                yield "table", _docx_table_text(Table(child, document))
            elif tag in (f"{{{_W_NS}}}sdt", f"{{{_W_NS}}}sdtContent"):
                yield from visit(child)

    yield from visit(document.element.body)


def _docx_table_text(table: Any) -> str:
    """A table as text: cells joined with " | ", one row per line (merged cells once)."""
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if previous is not None and cell._tc is previous:
                continue
            previous = cell._tc
            cells.append(_SPACES.sub(" ", cell.text.replace("\n", " ")).strip())
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _docx_heading_level(paragraph: Any) -> int | None:
    """0 for Title, N for "Heading N", else the outline level of the paragraph or its style."""
    style = paragraph.style
    name = (style.name or "") if style is not None else ""
    if name.lower() == "title":
        return 0
    match = _HEADING_STYLE.match(name)
    if match:
        return int(match.group(1))
    level = _outline_level(paragraph._p.pPr)
    while level is None and style is not None:
        level = _outline_level(style.element.pPr)
        style = style.base_style
    return level


def _outline_level(ppr: Any) -> int | None:
    """w:outlineLvl (0-8; 9 means body text) as a heading level 1-9."""
    if ppr is None:
        return None
    found = ppr.find(f"{{{_W_NS}}}outlineLvl")
    if found is None:
        return None
    try:
        value = int(found.get(f"{{{_W_NS}}}val"))
    except (TypeError, ValueError):
        return None
    return value + 1 if 0 <= value <= 8 else None
