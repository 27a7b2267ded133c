"""Rich Text Format (.rtf): the text, one section (striprtf; headings and tables do not survive).

RTF is 7-bit: 8-bit characters are ``\\'xx`` escapes in the code page the header declares
(``\\ansicpg1252``), Unicode ones ``\\uN``; both are decoded.
"""

from __future__ import annotations

import re

from rag_app.ingest.document import LoadError, Section
from rag_app.ingest.loaders.common import Loaded

RTF_EXTENSIONS = frozenset({".rtf"})
_CODE_PAGE = re.compile(r"\\ansicpg(\d+)")


def load_rtf(data: bytes) -> Loaded:
    """The document's text as one section."""
    from striprtf.striprtf import rtf_to_text

    raw = data.decode("latin-1")
    if not raw.lstrip().startswith("{\\rtf"):
        raise LoadError("not a valid RTF document (it does not start with {\\rtf)")
    page = _CODE_PAGE.search(raw[:4000])
    encoding = f"cp{page.group(1)}" if page else "cp1252"
    try:
        "".encode(encoding)
    except LookupError:
        encoding = "cp1252"
    text = rtf_to_text(raw, encoding=encoding, errors="replace")
    return [Section("\n".join(line.rstrip() for line in text.splitlines()))], {}
