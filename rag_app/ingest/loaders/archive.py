"""Zip-based formats (Word, OpenDocument, EPUB, PowerPoint, Excel): bounds checked before any part
is unpacked, and parts read by name.

A file whose parts would expand beyond `MAX_UNZIPPED_BYTES` in all, or one part beyond
`MAX_RATIO` times its compressed size once over a megabyte (a zip bomb), is refused unread.
"""

from __future__ import annotations

import io
import zipfile
from xml.etree import ElementTree

from rag_app.ingest.document import LoadError

# Decompression bounds: all parts together, and one part's expansion once it is over a megabyte
# (text and XML compress 5-20x; images barely).
MAX_UNZIPPED_BYTES = 512 * 1024 * 1024
MAX_RATIO = 100
ZIP_BOMB = "its compressed parts would expand to {size:,.0f} MB ({why}): not read, as a zip bomb could be"


def check_zip(data: bytes, invalid: str) -> zipfile.ZipFile:
    """The zip in ``data``, once its table of contents is within the decompression bounds.

    Raises LoadError with ``invalid`` when it is not a zip, or with `ZIP_BOMB` when it is too big.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise LoadError(invalid) from exc
    total = sum(e.file_size for e in entries)
    if total > MAX_UNZIPPED_BYTES:
        raise LoadError(ZIP_BOMB.format(size=total / 1e6, why=f"over {MAX_UNZIPPED_BYTES // 2**20} MB in all"))
    for entry in entries:
        if entry.file_size > 2**20 and entry.file_size > MAX_RATIO * max(entry.compress_size, 1):
            ratio = entry.file_size / max(entry.compress_size, 1)
            raise LoadError(ZIP_BOMB.format(size=total / 1e6, why=f"{entry.filename} expands {ratio:,.0f} times"))
    return archive


def read_part(archive: zipfile.ZipFile, name: str, invalid: str) -> bytes:
    """The bytes of the part ``name``; LoadError with ``invalid`` when it is missing or damaged."""
    try:
        return archive.read(name)
    except (KeyError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise LoadError(f"{invalid}: {name} is missing or damaged") from exc


def parse_xml(data: bytes, invalid: str) -> ElementTree.Element:
    """A part's XML (the standard library's parser: no entity is fetched, and expat bounds
    entity expansion); LoadError with ``invalid`` and the parser's message when it is not XML."""
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise LoadError(f"{invalid}: {exc}") from exc
