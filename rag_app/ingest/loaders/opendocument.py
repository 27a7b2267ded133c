"""OpenDocument text, spreadsheets and presentations (.odt, .ods, .odp), from their content.xml.

The zip is checked first (`archive.check_zip`), then ``content.xml`` is read with the standard
library's XML parser (no entity is fetched; expat bounds entity expansion):
- text: headings (``text:h`` and its outline level) make the heading path; paragraphs, list
  items and tables (rows through `tables.table_lines`) are the body, in document order;
- spreadsheet: one section per sheet, under the sheet's name, rows as "header: value" lines
  (repeated empty rows and columns are not expanded: a sheet may declare a million of them);
- presentation: one section per slide (its number as the page), the title frame as heading,
  the other frames' text and tables, then the speaker notes.
The document's title (meta.xml) becomes metadata.
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree import ElementTree

from rag_app.ingest.document import LoadError, Section
from rag_app.ingest.loaders.archive import check_zip, parse_xml, read_part
from rag_app.ingest.loaders.common import Loaded, Metadata, _HeadingPath, title_from_headings
from rag_app.ingest.loaders.tables import table_lines

ODF_EXTENSIONS = frozenset({".odt", ".ods", ".odp"})
ODF_INVALID = "not a valid OpenDocument file (corrupt or truncated)"
MAX_REPEAT = 100  # a repeated row or cell with content is written at most this many times

_NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "draw": "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0",
    "presentation": "urn:oasis:names:tc:opendocument:xmlns:presentation:1.0",
    "dc": "http://purl.org/dc/elements/1.1/",
}


def _q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{_NS[prefix]}}}{local}"


def load_opendocument(data: bytes) -> Loaded:
    """The sections of an .odt, .ods or .odp file (see the module docstring)."""
    archive = check_zip(data, ODF_INVALID)
    names = set(archive.namelist())
    if "META-INF/manifest.xml" in names and b"encryption-data" in archive.read("META-INF/manifest.xml"):
        raise LoadError("a password-protected OpenDocument file: it cannot be read")
    root = parse_xml(read_part(archive, "content.xml", ODF_INVALID), ODF_INVALID)
    body = root.find(_q("office:body"))
    if body is None:
        raise LoadError(f"{ODF_INVALID}: content.xml has no body")
    sections: list[Section] = []
    for kind in body:
        if kind.tag == _q("office:spreadsheet"):
            sections.extend(_sheets(kind))
        elif kind.tag == _q("office:presentation"):
            sections.extend(_slides(kind))
        elif kind.tag == _q("office:text"):
            sections.extend(_text_document(kind))
    metadata: Metadata = {}
    if "meta.xml" in names:
        title = parse_xml(archive.read("meta.xml"), ODF_INVALID).find(f".//{_q('dc:title')}")
        if title is not None and (title.text or "").strip():
            metadata["title"] = " ".join((title.text or "").split())
    title_from_headings(sections, metadata)
    return sections, metadata


def _text_document(element: ElementTree.Element) -> list[Section]:
    sections: list[Section] = []
    path = _HeadingPath()
    body: list[str] = []

    def flush() -> None:
        if body:
            sections.append(Section("\n\n".join(body), heading=str(path)))
        body.clear()

    for kind, value, level in _blocks(element):
        if kind == "heading":
            flush()
            path.enter(level, value)
        elif value:
            body.append(value)
    flush()
    return sections


def _blocks(element: ElementTree.Element) -> Iterator[tuple[str, str, int]]:
    """("heading", text, level) and ("text", text, 0) in document order."""
    for child in element:
        if child.tag == _q("text:h"):
            yield "heading", _inline(child), int(child.get(_q("text:outline-level"), "1") or 1)
        elif child.tag == _q("text:p"):
            yield "text", _inline(child), 0
        elif child.tag == _q("table:table"):
            yield "text", "\n".join(table_lines(_rows(child))), 0
        elif child.tag in (_q("text:list"), _q("text:list-item"), _q("text:section"), _q("text:list-header")):
            yield from _blocks(child)


def _sheets(element: ElementTree.Element) -> Iterator[Section]:
    for number, sheet in enumerate(element.iter(_q("table:table")), start=1):
        lines = table_lines(_rows(sheet))
        if lines:
            yield Section("\n".join(lines), heading=sheet.get(_q("table:name")) or f"Sheet {number}")


def _slides(element: ElementTree.Element) -> Iterator[Section]:
    title_frame = f"{_q('draw:frame')}[@{_q('presentation:class')}='title']"
    for number, page in enumerate(element.iter(_q("draw:page")), start=1):
        frame = page.find(title_frame)
        title = " ".join(_inline(p) for p in frame.iter(_q("text:p"))) if frame is not None else ""
        body = _shape_text(page, skip=frame)
        notes = page.find(_q("presentation:notes"))
        spoken = _shape_text(notes) if notes is not None else []
        if spoken:
            body.append("Notes: " + "\n".join(spoken))
        text = "\n".join(body)
        if text or title:
            yield Section(text or title, page=number, heading=title or page.get(_q("draw:name"), ""))


def _shape_text(element: ElementTree.Element, skip: ElementTree.Element | None = None) -> list[str]:
    """The paragraphs and tables of a slide's shapes (frames, custom shapes, groups), in order;
    not its notes, nor the slide thumbnail of the notes view, nor ``skip`` (the title)."""
    out: list[str] = []
    for child in element:
        if child is skip or child.tag == _q("presentation:notes") or child.get(_q("presentation:class")) == "page":
            continue
        if child.tag == _q("table:table"):
            out.extend(table_lines(_rows(child)))
        elif child.tag in (_q("text:p"), _q("text:h")):
            text = _inline(child)
            if text:
                out.append(text)
        else:
            out.extend(_shape_text(child))
    return out


def _rows(table: ElementTree.Element) -> list[list[str]]:
    rows: list[list[str]] = []
    for row in table.iter(_q("table:table-row")):
        cells: list[str] = []
        for cell in row:
            if cell.tag not in (_q("table:table-cell"), _q("table:covered-table-cell")):
                continue
            text = " ".join(_inline(p) for p in cell.iter(_q("text:p")))
            repeat = int(cell.get(_q("table:number-columns-repeated"), "1") or 1)
            cells.extend([text] * (min(repeat, MAX_REPEAT) if text else min(repeat, 1)))
        if any(cells):
            repeat = int(row.get(_q("table:number-rows-repeated"), "1") or 1)
            rows.extend([cells] * min(repeat, MAX_REPEAT))
    return rows


def _inline(element: ElementTree.Element) -> str:
    """The text of a paragraph: spans, spaces (``text:s``), tabs and line breaks."""
    parts: list[str] = [element.text or ""]
    for child in element:
        if child.tag == _q("text:s"):
            parts.append(" " * int(child.get(_q("text:c"), "1") or 1))
        elif child.tag in (_q("text:tab"), _q("text:line-break")):
            parts.append(" ")
        elif child.tag not in (_q("office:annotation"), _q("text:note")):
            parts.append(_inline(child))
        parts.append(child.tail or "")
    return " ".join("".join(parts).split())

