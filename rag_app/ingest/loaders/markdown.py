"""Markdown (.md, .markdown): one section per heading block, with its heading path.

ATX (``#``) and setext (``===`` / ``---`` underlined) headings open sections; fenced code blocks
are kept as they are, so a ``#`` inside them is not a heading. YAML front matter between ``---``
lines becomes metadata (scalar values as strings, lists joined with ", "); without a ``title``
there, the first top-level heading is the title. The bytes are decoded with encoding detection.
"""

from __future__ import annotations

import logging
import re

from rag_app.ingest.document import Section
from rag_app.ingest.encoding import UNICODE, decode_text
from rag_app.ingest.loaders.common import Loaded, Metadata, _HeadingPath, title_from_headings

log = logging.getLogger(__name__)

MARKDOWN_EXTENSIONS = frozenset({".md", ".markdown"})

_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_FENCE_CLOSE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")
_NOT_SETEXT_TITLE = re.compile(r"^\s*([-*+>|]|\d+[.)])(\s|$)")
_FRONT_MATTER_END = re.compile(r"^(---|\.\.\.)[ \t]*$")


def load_markdown(data: bytes) -> Loaded:
    """Sections per heading block with the heading path; YAML front matter becomes metadata."""
    text, encoding = decode_text(data)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    metadata, lines = _front_matter(lines)
    if encoding not in UNICODE:
        metadata["encoding"] = encoding

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

    title_from_headings(sections, metadata)
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
