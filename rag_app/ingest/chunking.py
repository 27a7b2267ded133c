"""Split loaded documents into chunks sized in tokens of the embedding model's own tokenizer.

Splitting prefers paragraph, then line, then sentence boundaries (langchain-text-splitters),
with overlap between neighbouring chunks. A chunk never crosses a section, so each keeps one
page and one heading path. The heading path is embedded with the chunk text (it often names
the subject a passage is about), and counts against the token budget, so nothing the model
reads is silently truncated.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag_app.embedding import Embedder
from rag_app.ingest.document import LoadedDocument
from rag_app.store import NewChunk

if TYPE_CHECKING:  # imported when a document is split: LangChain takes a tenth of a second to load,
    # which every `rag-app` command that imports the application service would pay
    from langchain_text_splitters import RecursiveCharacterTextSplitter

log = logging.getLogger(__name__)

SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ": ", ", ", " ", ""]
SECTION_JOINER = "\n\n"  # sections are joined by this in the document's character offsets
MIN_BODY_TOKENS = 32


@dataclass(frozen=True)
class Chunk(NewChunk):
    """A piece of a document ready to embed, and to store as it is (a `NewChunk`).

    ``char_start``/``char_end`` are offsets in the document's text: its sections joined by a
    blank line. ``embed_text`` is what the embedder reads; ``text_hash`` identifies it, so an
    identical chunk is never embedded twice.
    """

    embed_text: str


def embed_text_for(text: str, heading: str) -> str:
    """The text the embedder reads for a chunk: its heading path, then its text."""
    return f"{heading}\n{text}" if heading else text


def text_hash(text: str) -> str:
    """Stable content hash of a chunk's embedded text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Chunker:
    """Token-aware splitter bound to one embedding model."""

    def __init__(self, embedder: Embedder, chunk_tokens: int, overlap: int) -> None:
        # Leave room for the [CLS]/[SEP] tokens the model adds around every input.
        self.limit = min(chunk_tokens, embedder.max_tokens - 2)
        self.overlap = min(overlap, self.limit // 2)
        self._count = embedder.count_tokens
        self._splitters: dict[int, RecursiveCharacterTextSplitter] = {}

    def _splitter(self, size: int) -> RecursiveCharacterTextSplitter:
        if size not in self._splitters:
            from langchain_text_splitters import RecursiveCharacterTextSplitter

            self._splitters[size] = RecursiveCharacterTextSplitter(
                chunk_size=size,
                chunk_overlap=min(self.overlap, size // 2),
                length_function=self._count,
                separators=SEPARATORS,
                keep_separator="end",
                add_start_index=True,
                strip_whitespace=True,
            )
        return self._splitters[size]

    def split(self, document: LoadedDocument) -> list[Chunk]:
        """All chunks of a document, in reading order."""
        chunks: list[Chunk] = []
        offset = 0
        for section in document.sections:
            heading_tokens = self._count(section.heading) + 1 if section.heading else 0
            size = max(MIN_BODY_TOKENS, self.limit - heading_tokens)
            for piece in self._splitter(size).create_documents([section.text]):
                text = piece.page_content
                if not text.strip():
                    continue
                start = offset + int(piece.metadata.get("start_index", 0))
                embed_text = embed_text_for(text, section.heading)
                chunks.append(
                    Chunk(
                        ordinal=len(chunks),
                        text=text,
                        page=section.page,
                        heading=section.heading,
                        char_start=start,
                        char_end=start + len(text),
                        embed_text=embed_text,
                        text_hash=text_hash(embed_text),
                    )
                )
            offset += len(section.text) + len(SECTION_JOINER)
        return chunks
