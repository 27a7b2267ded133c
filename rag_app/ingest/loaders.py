"""Read one file into a LoadedDocument: PDF, Markdown, plain text, HTML and DOCX.

``load_document(path)`` picks the loader from the file extension. Every loader returns
sections of normalized text that keep their page (PDF) or heading path ("Title > Sub").
A file that cannot be read raises ``LoadError`` with a reason a person understands;
an unknown extension raises ``UnsupportedFormatError``.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rag_app.ingest.document import LoadedDocument, LoadError, Section, UnsupportedFormatError
from rag_app.ingest.encoding import clean_text, decode_bytes

log = logging.getLogger(__name__)

PDF_EXTENSIONS = frozenset({".pdf"})
MARKDOWN_EXTENSIONS = frozenset({".md", ".markdown"})
TEXT_EXTENSIONS = frozenset({".txt", ".text"})
HTML_EXTENSIONS = frozenset({".html", ".htm"})
DOCX_EXTENSIONS = frozenset({".docx"})
SUPPORTED_EXTENSIONS = PDF_EXTENSIONS | MARKDOWN_EXTENSIONS | TEXT_EXTENSIONS | HTML_EXTENSIONS | DOCX_EXTENSIONS

EMPTY_FILE = "empty file"
PDF_INVALID = "not a valid PDF (corrupt or truncated)"
PDF_ENCRYPTED = "encrypted PDF, no password"
PDF_NO_TEXT = "no extractable text (scanned PDF?)"
DOCX_INVALID = "not a valid Word document (corrupt or truncated)"
DOCX_PROTECTED = "not a valid Word document (password-protected, or an old .doc file renamed .docx)"

Metadata = dict[str, str]
Loaded = tuple[list[Section], Metadata]


def load_document(path: Path) -> LoadedDocument:
    """Load ``path`` with the loader of its extension.

    Raises UnsupportedFormatError for extensions not in SUPPORTED_EXTENSIONS and LoadError
    (with ``.reason``) for files that are empty, damaged, encrypted or have no text.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    loader = _LOADERS.get(suffix)
    if loader is None:
        raise UnsupportedFormatError(f"unsupported file type {suffix or '(no extension)'}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot read file ({exc.strerror or exc})") from exc
    if not data.strip():
        raise LoadError(EMPTY_FILE)
    try:
        sections, metadata = loader(data)
    except LoadError:
        raise
    except Exception as exc:  # a parser bug or an odd file must not stop an ingest run
        log.debug("Loader failed on %s", path, exc_info=True)
        raise LoadError(f"could not read the {suffix[1:].upper()} file ({type(exc).__name__}: {exc})") from exc
    sections = [s for s in (Section(clean_text(s.text), s.page, s.heading) for s in sections) if s.text]
    if not sections:
        raise LoadError(_NO_TEXT.get(suffix, EMPTY_FILE))
    return LoadedDocument(path=path, sections=sections, metadata=metadata)


class _HeadingPath:
    """The current heading path: a stack of (level, title) where a heading closes deeper ones."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []

    def enter(self, level: int, title: str) -> None:
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        if title:
            self._stack.append((level, title))

    def __str__(self) -> str:
        return " > ".join(title for _, title in self._stack)


# --------------------------------------------------------------------------- PDF


def load_pdf(data: bytes) -> Loaded:
    """One section per page with text, with its 1-based page number.

    Text comes from PDFium (pypdfium2): 14x faster than pypdf on the FinanceBench filings, with
    the same words in the same order (docs/evaluation.md). A PDF with an empty user password
    opens as PDF readers open it; one with a real password is reported.
    """
    import pypdfium2 as pdfium

    if b"%PDF-" not in data[:1024] or b"%%EOF" not in data[-4096:]:
        raise LoadError(PDF_INVALID)
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        log.debug("PDFium could not open the file", exc_info=True)
        raise LoadError(PDF_ENCRYPTED if "password" in str(exc).lower() else PDF_INVALID) from exc
    try:
        count = len(document)
        if not count:
            raise LoadError(PDF_INVALID)
        sections: list[Section] = []
        broken_pages = 0
        for number in range(1, count + 1):
            try:
                text = _page_text(document, number - 1)
            except pdfium.PdfiumError:
                log.debug("No text from page %d", number, exc_info=True)
                broken_pages += 1
                continue
            if text.strip():
                sections.append(Section(text=text, page=number))
        metadata = _pdf_metadata(document)
    finally:
        document.close()
    if not sections:
        raise LoadError(PDF_INVALID if broken_pages == count else PDF_NO_TEXT)
    if broken_pages:
        log.warning("%d of %d PDF pages could not be read and were skipped", broken_pages, count)
    return sections, metadata


# PDFium ends lines with CRLF and marks a word hyphenated across lines with U+FFFE.
_HYPHENATED = re.compile("\ufffe\r?\n?")
_LIGATURES = str.maketrans(
    {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st"}
)


def _page_text(document: Any, index: int) -> str:
    page = document[index]
    try:
        textpage = page.get_textpage()
        try:
            text = textpage.get_text_range()
        finally:
            textpage.close()
    finally:
        page.close()
    return _HYPHENATED.sub("", text).replace("\r\n", "\n").replace("\r", "\n").translate(_LIGATURES)


def _pdf_metadata(document: Any) -> Metadata:
    try:
        info = document.get_metadata_dict()
    except Exception:
        return {}
    found = {"title": info.get("Title"), "author": info.get("Author")}
    return {key: str(value).strip() for key, value in found.items() if value and str(value).strip()}


# --------------------------------------------------------------------------- plain text


def load_text(data: bytes) -> Loaded:
    """The whole file as one section, decoded with encoding detection."""
    return [Section(text=decode_bytes(data))], {}


# --------------------------------------------------------------------------- Markdown

_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_FENCE_CLOSE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")
_NOT_SETEXT_TITLE = re.compile(r"^\s*([-*+>|]|\d+[.)])(\s|$)")
_FRONT_MATTER_END = re.compile(r"^(---|\.\.\.)[ \t]*$")


def load_markdown(data: bytes) -> Loaded:
    """Sections per heading block with the heading path; YAML front matter becomes metadata."""
    lines = decode_bytes(data).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    metadata, lines = _front_matter(lines)

    sections: list[Section] = []
    path = _HeadingPath()
    body: list[str] = []
    fence: str | None = None

    def flush() -> None:
        if any(line.strip() for line in body):
            sections.append(Section(text="\n".join(body), heading=str(path)))
        body.clear()

    for line in lines:
        if fence is not None:
            closing = _FENCE_CLOSE.match(line)
            if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence):
                fence = None
            body.append(line)
            continue
        fence_match = _FENCE.match(line)
        if fence_match:
            fence = fence_match.group(1)
            body.append(line)
            continue
        heading = _ATX_HEADING.match(line)
        if heading:
            flush()
            path.enter(len(heading.group(1)), _heading_text(heading.group(2) or ""))
            continue
        underline = _SETEXT_UNDERLINE.match(line)
        if (
            underline
            and body
            and body[-1].strip()
            and (len(body) == 1 or not body[-2].strip())
            and not _NOT_SETEXT_TITLE.match(body[-1])
        ):
            title = body.pop()
            flush()
            path.enter(1 if underline.group(1)[0] == "=" else 2, _heading_text(title))
            continue
        body.append(line)
    flush()

    if "title" not in metadata:
        first_h1 = next((s.heading.split(" > ")[0] for s in sections if s.heading), "")
        if first_h1:
            metadata["title"] = first_h1
    return sections, metadata


def _heading_text(raw: str) -> str:
    return raw.replace("`", "").replace("**", "").strip()


def _front_matter(lines: list[str]) -> tuple[Metadata, list[str]]:
    """Split ``--- yaml ---`` front matter off the top; its scalar values become strings."""
    if not lines or lines[0].strip() != "---":
        return {}, lines
    end = next((i for i in range(1, len(lines)) if _FRONT_MATTER_END.match(lines[i])), None)
    if end is None:
        return {}, lines
    import yaml

    try:
        parsed = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        log.warning("Front matter is not valid YAML, kept as text: %s", str(exc).splitlines()[0])
        return {}, lines
    if not isinstance(parsed, dict):  # a thematic break, not front matter
        return {}, lines
    metadata: Metadata = {}
    for key, value in parsed.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple, set)):
            metadata[str(key)] = ", ".join(str(item) for item in value)
        else:
            metadata[str(key)] = str(value)
    return metadata, lines[end + 1 :]


# --------------------------------------------------------------------------- HTML

_DROPPED_TAGS = ("script", "style", "noscript", "template", "head", "svg", "iframe", "object", "embed", "canvas")
_HEADING_TAGS = {f"h{level}": level for level in range(1, 7)}
_BLOCK_TAGS = frozenset(
    [
        "address", "article", "aside", "blockquote", "body", "dd", "details", "dialog", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "header", "hr", "li", "main", "nav", "ol", "p",
        "pre", "section", "summary", "table", "tbody", "thead", "tfoot", "ul", "caption"
    ]
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\u00a0]+")


def load_html(data: bytes) -> Loaded:
    """Visible text split by h1-h6 headings; scripts, styles and <head> dropped; nothing fetched."""
    from bs4 import BeautifulSoup
    from bs4.element import NavigableString, PreformattedString, Tag

    declared = _META_CHARSET.search(data[:4096])
    text = decode_bytes(data, declared.group(1).decode("ascii") if declared else None)
    soup = BeautifulSoup(text, _html_parser())

    metadata: Metadata = {}
    if soup.title and soup.title.get_text(strip=True):
        metadata["title"] = _SPACES.sub(" ", soup.title.get_text(" ", strip=True))
    html_tag = soup.find("html")
    if isinstance(html_tag, Tag) and html_tag.get("lang"):
        metadata["lang"] = str(html_tag.get("lang"))
    for tag in soup.find_all(_DROPPED_TAGS):
        tag.decompose()
    for tag in soup.find_all(_is_hidden):
        tag.decompose()

    sections: list[Section] = []
    path = _HeadingPath()
    parts: list[str] = []

    def flush() -> None:
        sections.append(Section(text=_tidy_lines("".join(parts)), heading=str(path)))
        parts.clear()

    def walk(node: Any) -> None:
        if isinstance(node, PreformattedString):  # comments, doctype, CDATA, processing instructions
            return
        if isinstance(node, NavigableString):
            parts.append(str(node) if _inside_pre(node) else _SPACES.sub(" ", str(node).replace("\n", " ")))
            return
        if not isinstance(node, Tag):
            return
        name = node.name.lower() if node.name else ""
        if name in _HEADING_TAGS:
            flush()
            path.enter(_HEADING_TAGS[name], _SPACES.sub(" ", node.get_text(" ", strip=True)))
            return
        if name == "br":
            parts.append("\n")
            return
        if name == "tr":
            cells = [_SPACES.sub(" ", c.get_text(" ", strip=True))
                     for c in node.find_all(["td", "th"], recursive=False)]
            if parts and not parts[-1].endswith("\n"):
                parts.append("\n")
            parts.append(" | ".join(cells) + "\n")
            return
        block = name in _BLOCK_TAGS
        if block:
            parts.append("\n\n" if name in ("p", "pre", "table", "blockquote", "ul", "ol", "dl") else "\n")
        for child in node.children:
            walk(child)
        if block:
            parts.append("\n")

    walk(soup.body or soup)
    flush()
    if "title" not in metadata:
        first = next((s.heading.split(" > ")[0] for s in sections if s.heading), "")
        if first:
            metadata["title"] = first
    return sections, metadata


def _html_parser() -> str:
    try:
        import lxml  # noqa: F401

        return "lxml"
    except ImportError:
        return "html.parser"


def _is_hidden(tag: Any) -> bool:
    attrs = getattr(tag, "attrs", None) or {}
    style = str(attrs.get("style", "")).replace(" ", "").lower()
    return "hidden" in attrs or str(attrs.get("aria-hidden", "")).lower() == "true" or "display:none" in style


def _inside_pre(node: Any) -> bool:
    return any(parent.name == "pre" for parent in node.parents if getattr(parent, "name", None))


def _tidy_lines(text: str) -> str:
    lines = [line.strip() if not line.startswith("    ") else line.rstrip() for line in text.split("\n")]
    return "\n".join(lines)


# --------------------------------------------------------------------------- DOCX

_HEADING_STYLE = re.compile(r"^heading\s+([1-9])$", re.IGNORECASE)
_W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def load_docx(data: bytes) -> Loaded:
    """Paragraphs and tables in body order, split by headings (from paragraph styles)."""
    import docx

    if data.startswith(_OLE_MAGIC):
        raise LoadError(DOCX_PROTECTED)
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


_LOADERS: dict[str, Callable[[bytes], Loaded]] = {
    **{ext: load_pdf for ext in PDF_EXTENSIONS},
    **{ext: load_markdown for ext in MARKDOWN_EXTENSIONS},
    **{ext: load_text for ext in TEXT_EXTENSIONS},
    **{ext: load_html for ext in HTML_EXTENSIONS},
    **{ext: load_docx for ext in DOCX_EXTENSIONS},
}
_NO_TEXT = {
    **{ext: "no visible text in the HTML page" for ext in HTML_EXTENSIONS},
    **{ext: "no text in the Word document" for ext in DOCX_EXTENSIONS},
    **{ext: PDF_NO_TEXT for ext in PDF_EXTENSIONS},
}
