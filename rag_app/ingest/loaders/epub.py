"""E-books (.epub): the chapters in reading order, each read by the HTML loader.

An EPUB is a zip (bounds checked first, `archive.check_zip`): ``META-INF/container.xml`` names
the package file (OPF), whose spine lists the chapter documents in reading order. Each chapter's
sections keep their heading path; a chapter without headings takes its ``<title>`` (else
"Chapter N") as heading. The package's ``dc:title``, ``dc:creator`` and ``dc:language`` become
metadata. Navigation documents and non-HTML items are skipped.
"""

from __future__ import annotations

import posixpath

from rag_app.ingest.document import LoadError, Section
from rag_app.ingest.loaders.archive import check_zip, parse_xml, read_part
from rag_app.ingest.loaders.common import Loaded, Metadata
from rag_app.ingest.loaders.html import load_html

EPUB_EXTENSIONS = frozenset({".epub"})
EPUB_INVALID = "not a valid EPUB e-book (corrupt, truncated, or DRM-protected)"
_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_OPF = "{http://www.idpf.org/2007/opf}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_HTML_TYPES = frozenset({"application/xhtml+xml", "text/html"})


def load_epub(data: bytes) -> Loaded:
    """The spine's chapters in order (see the module docstring)."""
    archive = check_zip(data, EPUB_INVALID)
    if "META-INF/encryption.xml" in archive.namelist():
        raise LoadError("an EPUB e-book with encrypted chapters (DRM): it cannot be read")
    container = parse_xml(read_part(archive, "META-INF/container.xml", EPUB_INVALID), EPUB_INVALID)
    rootfile = container.find(f".//{_CONTAINER}rootfile")
    opf_path = rootfile.get("full-path", "") if rootfile is not None else ""
    if not opf_path:
        raise LoadError(f"{EPUB_INVALID}: no package file named in META-INF/container.xml")
    package = parse_xml(read_part(archive, opf_path, EPUB_INVALID), EPUB_INVALID)
    base = posixpath.dirname(opf_path)
    items = {item.get("id"): item for item in package.iter(f"{_OPF}item")}
    sections: list[Section] = []
    for number, ref in enumerate(package.iter(f"{_OPF}itemref"), start=1):
        item = items.get(ref.get("idref"))
        if item is None or item.get("media-type") not in _HTML_TYPES or "nav" in (item.get("properties") or ""):
            continue
        href = posixpath.normpath(posixpath.join(base, item.get("href", "")))
        chapter, meta = load_html(read_part(archive, href, EPUB_INVALID))
        fallback = meta.get("title") or f"Chapter {number}"
        sections.extend(Section(s.text, None, s.heading or fallback) for s in chapter)
    metadata: Metadata = {}
    for key, tag in (("title", "title"), ("author", "creator"), ("language", "language")):
        element = package.find(f".//{_DC}{tag}")
        if element is not None and (element.text or "").strip():
            metadata[key] = " ".join(element.text.split()) if element.text else ""
    return sections, metadata

