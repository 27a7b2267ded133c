"""Plain text (.txt, .text): the whole file as one section.

The bytes are decoded with the encoding detection of ``rag_app.ingest.encoding`` (BOMs, UTF-8,
UTF-16, Windows-1252 / Latin-1, then a confident guess); binary data is rejected there with a
LoadError. An encoding other than UTF-8 is recorded in the metadata (``encoding``).
"""

from __future__ import annotations

from rag_app.ingest.document import Section
from rag_app.ingest.encoding import UNICODE, decode_text
from rag_app.ingest.loaders.common import Loaded

TEXT_EXTENSIONS = frozenset({".txt", ".text"})


def load_text(data: bytes) -> Loaded:
    """The whole file as one section, decoded with encoding detection."""
    text, encoding = decode_text(data)
    return [Section(text=text)], {} if encoding in UNICODE else {"encoding": encoding}
