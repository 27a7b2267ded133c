"""HTML (.html, .htm): the visible text, one section per h1-h6 heading block, with its heading path.

Parsed with BeautifulSoup (lxml when installed, else Python's html.parser); the bytes are decoded
with encoding detection that honours a ``<meta charset>``. Scripts, styles, ``<head>`` and other
invisible or embedded content, and elements marked hidden, are dropped; nothing is fetched. Block
elements become line breaks, table rows become ``a | b`` lines and ``<pre>`` keeps its layout. The
``<title>`` (else the first heading) and ``<html lang>`` become metadata.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from rag_app.ingest.document import Section
from rag_app.ingest.encoding import UNICODE, decode_text
from rag_app.ingest.loaders.common import _SPACES, Loaded, Metadata, _HeadingPath, title_from_headings

HTML_EXTENSIONS = frozenset({".html", ".htm"})

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


def load_html(data: bytes) -> Loaded:
    """Visible text split by h1-h6 headings; scripts, styles and <head> dropped; nothing fetched."""
    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning
    from bs4.element import NavigableString, PreformattedString, Tag

    declared = _META_CHARSET.search(data[:4096])
    text, encoding = decode_text(data, declared.group(1).decode("ascii") if declared else None)
    with warnings.catch_warnings():  # XHTML (e-book chapters) reads as HTML: the warning says nothing
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(text, _html_parser())

    metadata: Metadata = {} if encoding in UNICODE else {"encoding": encoding}
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
    title_from_headings(sections, metadata)
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
