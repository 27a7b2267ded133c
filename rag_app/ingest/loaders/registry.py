"""Which loader reads which file extension: one ``Format`` line per supported file format.

``LOADERS`` maps a lower-case extension (with its dot) to the loader that turns the file's bytes
into ``(sections, metadata)``; ``NO_TEXT`` maps it to the reason given when the file yields no text
once cleaned. To add a format, write a module with its extensions and loader and add one line to
``FORMATS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from rag_app.ingest.loaders.common import EMPTY_FILE, PDF_NO_TEXT, Loaded
from rag_app.ingest.loaders.docx import DOCX_EXTENSIONS, load_docx
from rag_app.ingest.loaders.html import HTML_EXTENSIONS, load_html
from rag_app.ingest.loaders.markdown import MARKDOWN_EXTENSIONS, load_markdown
from rag_app.ingest.loaders.pdf import PDF_EXTENSIONS, load_pdf
from rag_app.ingest.loaders.text import TEXT_EXTENSIONS, load_text

Loader = Callable[[bytes], Loaded]


class Format(NamedTuple):
    """A file format: its extensions, its loader, and the reason when a file of it has no text."""

    extensions: frozenset[str]
    load: Loader
    no_text: str = EMPTY_FILE


FORMATS: tuple[Format, ...] = (
    Format(PDF_EXTENSIONS, load_pdf, PDF_NO_TEXT),
    Format(MARKDOWN_EXTENSIONS, load_markdown),
    Format(TEXT_EXTENSIONS, load_text),
    Format(HTML_EXTENSIONS, load_html, "no visible text in the HTML page"),
    Format(DOCX_EXTENSIONS, load_docx, "no text in the Word document"),
)

LOADERS: dict[str, Loader] = {ext: fmt.load for fmt in FORMATS for ext in fmt.extensions}
NO_TEXT: dict[str, str] = {ext: fmt.no_text for fmt in FORMATS for ext in fmt.extensions}
SUPPORTED_EXTENSIONS = frozenset(LOADERS)
