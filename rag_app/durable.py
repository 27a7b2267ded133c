"""File operations shared by the index, the model installers and the small state files (keys,
collections, running servers): durable renames and swaps, whole-file writes, hashes."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

CHUNK = 1 << 20


def file_sha256(path: Path, progress: Callable[[int, int], None] | None = None) -> str:
    """SHA-256 of a file, read in chunks; ``progress(done, total)`` in bytes."""
    digest = hashlib.sha256()
    total, done = path.stat().st_size, 0
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
            done += len(block)
            if progress:
                progress(done, total)
    return digest.hexdigest()


def fsync_dir(path: Path) -> None:
    """Make the creation, rename or removal of an entry of folder ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_whole(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` so that it appears whole or not at all (a temporary file
    renamed over it), created with permissions ``mode`` (0o600: for its owner only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


_RENAME_EXCHANGE = 2  # renameat2 flag (Linux 3.15+)
_AT_FDCWD = -100


def exchange(a: Path, b: Path) -> None:
    """Swap folders (or files) ``a`` and ``b`` in one step: renameat2(RENAME_EXCHANGE) where the
    system has it (Linux); elsewhere two renames, so that a crash between them leaves ``b``'s
    old entry at ``a``'s name plus ".old", never neither."""
    import ctypes
    import ctypes.util

    a, b = Path(a), Path(b)
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
        if result == 0:
            fsync_dir(b.parent)
            return
        error = ctypes.get_errno()
        if error not in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: no exchange on this system
            raise OSError(error, os.strerror(error), str(a))
    aside = b.with_name(b.name + ".old")
    os.replace(b, aside)
    os.replace(a, b)
    os.replace(aside, a)
    fsync_dir(b.parent)
