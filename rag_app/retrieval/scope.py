"""A question's scope: the documents it may be answered from, chosen by path, glob or folder.

    resolve_scope(["reports/", "*.pdf", "contract.docx"], paths) -> the paths they match

A pattern is an indexed document's path ("reports/2024.pdf"), a glob over the paths ("*.pdf",
"reports/*-2024.*"), a folder ("reports" or "reports/": everything below it), or a file name
without its folder ("2024.pdf" matches "reports/2024.pdf"). Retrieval then searches inside the
scope (`HybridRetriever.search`'s ``within``), never the whole index filtered afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from pathlib import PurePosixPath


class ScopeError(ValueError):
    """A pattern of the scope matches no document; the message names it and says what to do."""


def matches(pattern: str, path: str) -> bool:
    """Whether the document at ``path`` is in the scope of ``pattern`` (see the module doc)."""
    pattern = pattern.strip().replace("\\", "/")
    folder = pattern.rstrip("/")
    if not folder:
        return False
    if path == folder or path.startswith(folder + "/"):
        return True
    if fnmatchcase(path, pattern):
        return True
    return "/" not in pattern and fnmatchcase(PurePosixPath(path).name, pattern)


def resolve_scope(patterns: Sequence[str], paths: Iterable[str]) -> frozenset[str] | None:
    """The paths among ``paths`` that any of ``patterns`` matches; None without patterns (the
    whole collection). Raises `ScopeError` naming each pattern that matches no document."""
    if not patterns:
        return None
    paths = list(paths)
    found: set[str] = set()
    unmatched = []
    for pattern in patterns:
        hits = {path for path in paths if matches(pattern, path)}
        if not hits:
            unmatched.append(pattern)
        found |= hits
    if unmatched:
        names = ", ".join(f"“{p}”" for p in unmatched)
        raise ScopeError(f"No document of this collection matches {names}: give a path as `rag-app info` lists "
                         "it, a folder, a file name or a glob (*.pdf).")
    return frozenset(found)
