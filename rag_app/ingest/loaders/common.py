"""What every loader shares: the return type, the reasons a file cannot be read, and the heading path.

A loader takes the bytes of one file and returns ``(sections, metadata)``: sections of text that
keep their page (PDF) or heading path ("Title > Sub"), and metadata such as the title. The reason
constants are the ``LoadError.reason`` sentences a person sees; the tests check files against them.
"""

from __future__ import annotations

import re

from rag_app.ingest.document import Section

EMPTY_FILE = "empty file"
PDF_INVALID = "not a valid PDF (corrupt or truncated)"
PDF_ENCRYPTED = "encrypted PDF, no password"
PDF_NO_TEXT = "no extractable text (scanned PDF?)"
PDF_NO_PAGES = "a PDF without any page"
DOCX_INVALID = "not a valid Word document (corrupt or truncated)"
DOCX_PROTECTED = "not a valid Word document (password-protected, or an old .doc file renamed .docx)"

Metadata = dict[str, str]
Loaded = tuple[list[Section], Metadata]

# Runs of spaces, tabs and no-break spaces, collapsed to one space in HTML text and Word headings/cells.
_SPACES = re.compile(r"[ \t\u00a0]+")


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


def title_from_headings(sections: list[Section], metadata: Metadata) -> None:
    """Without a title in ``metadata``, take the top of the first heading path as the title."""
    if "title" not in metadata:
        first = next((s.heading.split(" > ")[0] for s in sections if s.heading), "")
        if first:
            metadata["title"] = first
