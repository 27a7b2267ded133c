"""The outcome of one ingestion run (the `rag-app ingest --json` object)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

# (stage, done, total): ("files", files looked at, files found), ("ocr", pages read by OCR so
# far, 0) and ("chunks", chunks committed so far, 0): those counts are not known before the
# files are read.
ProgressCallback = Callable[[str, int, int], None]
# How each stage is named to a person (the chat page's and the command line's progress).
INGEST_STAGES = {"files": "Reading files", "ocr": "Scanned pages read (OCR)", "chunks": "Passages indexed"}


@dataclass
class FailedFile:
    """A file that could not be ingested, with a reason a person understands."""

    path: str
    reason: str


@dataclass
class IngestReport:
    """File counts, failures, chunk counts and duration of one ingestion run."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: list[FailedFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # unsupported extensions
    chunks_embedded: int = 0
    chunks_total: int = 0
    seconds: float = 0.0

    @property
    def ingested_anything(self) -> bool:
        """True when the index holds at least one document after the run."""
        return self.chunks_total > 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the keys scripts rely on."""
        return asdict(self)
