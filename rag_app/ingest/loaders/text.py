"""Plain text (.txt, .text): the whole file as one section.

The bytes are decoded with the encoding detection of ``rag_app.ingest.encoding`` (BOMs, UTF-8,
UTF-16, Windows-1252 / Latin-1); binary data is rejected there with a LoadError.
"""

from __future__ import annotations

from rag_app.ingest.document import Section
from rag_app.ingest.encoding import decode_bytes
from rag_app.ingest.loaders.common import Loaded

TEXT_EXTENSIONS = frozenset({".txt", ".text"})


def load_text(data: bytes) -> Loaded:
    """The whole file as one section, decoded with encoding detection."""
    return [Section(text=decode_bytes(data))], {}
