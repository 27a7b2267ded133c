"""What a loader returns: the text of one file as sections that keep page and heading."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Section:
    """A run of text with one page number (PDF) and one heading path.

    ``page`` is 1-based and set only for paged formats. ``heading`` is the heading path,
    e.g. ``"Quantization > GGUF"``; empty when the text is not under a heading. ``ocr``: the
    text was read from the page's image (a scan, a photo).
    """

    text: str
    page: int | None = None
    heading: str = ""
    ocr: bool = False


@dataclass
class LoadedDocument:
    """All sections of one file, in reading order, with metadata such as front matter."""

    path: Path
    sections: list[Section]
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """The document title from its metadata, else its file name."""
        return self.metadata.get("title") or self.path.name


class LoadError(Exception):
    """A file could not be read; ``reason`` is a sentence a person understands."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnsupportedFormatError(LoadError):
    """The file's extension is not one rag_app can read."""
