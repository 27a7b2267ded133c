"""What a public question set becomes (`EvalDataset`: documents and questions with their gold
answers and relevant units), and the careful JSON reading every format's reader shares (a bad or
partial file raises `DatasetError` naming the file, line or field)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

UNITS = ("paragraph", "article")  # what a document of the corpus is: a paragraph, or a whole article

Unit = tuple[str, int | None]


class DatasetError(ValueError):
    """The dataset cannot be read; the message names the file and the line or field."""


@dataclass
class EvalDocument:
    """One corpus file: ``name`` is its path in the corpus folder.

    Either ``text`` (written as a text file, ``title`` as its first line) or ``source`` (a file
    copied as it is, e.g. a PDF) is set.
    """

    name: str
    text: str = ""
    title: str = ""
    source: Path | None = None

    def fingerprint(self) -> str:
        """Hash of what the file will hold (used to key the index cache).

        A copied file is hashed by its bytes, not its path or time stamp: the same PDFs
        unpacked again elsewhere reuse the cached index.
        """
        digest = hashlib.sha256(self.name.encode())
        if self.source is not None:
            digest.update(self.source.read_bytes())
        else:
            digest.update(self.title.encode() + b"\0" + self.text.encode())
        return digest.hexdigest()


@dataclass
class EvalQuestion:
    """A question with its gold answers and relevant units (empty when unanswerable)."""

    id: str
    question: str
    answers: list[str] = field(default_factory=list)
    relevant: list[Unit] = field(default_factory=list)
    answerable: bool = True


@dataclass
class EvalDataset:
    """Documents and questions of one evaluation set."""

    name: str
    format: str
    documents: list[EvalDocument]
    questions: list[EvalQuestion]
    page_level: bool = False  # relevance is judged per page (FinanceBench)

    def limited(self, limit: int | None) -> EvalDataset:
        """The same corpus with at most ``limit`` questions, spread evenly over the set."""
        if not limit or limit >= len(self.questions):
            return self
        n = len(self.questions)
        picked = [self.questions[i * n // limit] for i in range(limit)]
        return EvalDataset(self.name, self.format, self.documents, picked, self.page_level)


def slug(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:limit]
    return slug or "doc"


def read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason})") from exc


def jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSON Lines file."""
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path}, line {number}: not valid JSON ({exc.msg})") from exc
                if not isinstance(obj, dict):
                    raise DatasetError(f"{path}, line {number}: expected a JSON object")
                yield number, obj
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason})") from exc


def field_of(obj: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...] = str) -> Any:
    if key not in obj:
        raise DatasetError(f"{where}: missing field '{key}'")
    value = obj[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DatasetError(f"{where}: field '{key}' should be {names}, not {type(value).__name__}")
    return value
