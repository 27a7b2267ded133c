"""The data folder as ingestion sees it: which files to read, and which to refuse and why.

The folder is a boundary. A file or folder reached through a symbolic link whose target lies
outside it is not read (unless ``follow_external_links``): a synced folder can carry a link to
``~/.ssh``. Links inside the folder are followed once: a folder is walked once whatever links
lead to it (no loops; a link to a folder of the data folder adds nothing), and a file reachable
under two names is read under one (its own name when it has one inside the folder). A dangling
link, a name that is not valid UTF-8 and a file over the size limit are refused with a reason a
person can act on. Hidden files and folders (a name starting with ".") are left alone, as are
files of a type no loader reads (listed as skipped).

`read_stable` reads a file's bytes and checks that its size and modification time did not
change meanwhile, so a file being written is never indexed half-written.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from rag_app.ingest.document import LoadError
from rag_app.ingest.loaders import SUPPORTED_EXTENSIONS
from rag_app.ingest.report import FailedFile

log = logging.getLogger(__name__)

EXTERNAL_LINK = ("a link to {target}, outside the data folder: links outside the data folder are not followed; "
                 "set follow_external_links = true in rag_app.toml to allow")
DANGLING_LINK = "a link to {target}, which does not exist"
LINK_LOOP = "a link that leads back to itself (a loop of links)"
BAD_NAME = "its name is not valid UTF-8: rename the file"
TOO_BIG = "the file is {size:,.0f} MB, over the {limit} MB limit (max_file_mb): raise max_file_mb to index it"
CHANGING = "the file changed while it was being read: it is indexed once it stops changing (ingest again)"
VANISHED = "the file was removed while the folder was being read"
# How often a file that changes while being read is read again before it is reported.
READ_ATTEMPTS = 3
READ_RETRY_S = 0.2


@dataclass
class SourceFile:
    """A file to ingest: where it is, its key in the index (path relative to the data folder,
    with forward slashes), and its size and modification time when the folder was scanned."""

    path: Path
    key: str
    size: int
    mtime: float


@dataclass
class Scan:
    """What a scan of the data folder found."""

    files: list[SourceFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # unsupported file types
    refused: list[FailedFile] = field(default_factory=list)  # links out, dangling links, bad names, too big


def scan(data_dir: Path, *, follow_external_links: bool = False, max_file_mb: int = 200) -> Scan:
    """The files of ``data_dir`` to ingest, in a stable order, and what was left out and why.

    Only links, and folders reached through one, cost a path resolution; a file of a type no
    loader reads is listed without a ``stat``.
    """
    root = Path(os.path.realpath(data_dir))
    found = Scan()
    candidates: dict[str, list[tuple[str, Path, int, float]]] = {}  # real path -> (key, path, size, mtime)
    walked: set[str] = set()  # real paths of the folders reached through a link
    pending: list[tuple[Path, str, bool]] = [(Path(data_dir), "", False)]  # (folder, key prefix, via a link)
    while pending:
        folder, prefix, via_link = pending.pop()
        if via_link:  # only a link can lead back to a folder already walked (a loop, a second name)
            real_folder = os.path.realpath(folder)
            if real_folder in walked:
                continue
            walked.add(real_folder)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError as exc:
            found.refused.append(FailedFile(prefix or "./", f"cannot read the folder ({exc.strerror})"))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            key = prefix + entry.name
            if not _valid_name(key):
                found.refused.append(FailedFile(_printable(key), BAD_NAME))
                continue
            link = entry.is_symlink()
            target = os.path.realpath(path) if link or via_link else str(root / key)
            if link:
                broken = _broken_link(path)
                if broken:
                    found.refused.append(FailedFile(key, broken))
                    continue
                if not _inside(root, target) and not follow_external_links:
                    if os.path.isdir(target) or path.suffix.lower() in SUPPORTED_EXTENSIONS:
                        found.refused.append(FailedFile(key, EXTERNAL_LINK.format(target=target)))
                    continue
            if entry.is_dir():
                if link and _inside(root, target) and not _hidden(root, target):
                    continue  # a second name for a folder that is walked under its own name
                pending.append((path, key + "/", via_link or link))
            elif not entry.is_file():
                continue  # sockets, pipes, devices: not documents
            elif path.suffix.lower() not in SUPPORTED_EXTENSIONS:
                found.skipped.append(key)
            else:
                try:
                    info = entry.stat()
                except OSError as exc:
                    found.refused.append(FailedFile(key, f"cannot read the file ({exc.strerror})"))
                    continue
                if info.st_size > max_file_mb * 1024 * 1024:
                    found.refused.append(FailedFile(key, TOO_BIG.format(size=info.st_size / 1e6, limit=max_file_mb)))
                else:
                    candidates.setdefault(target, []).append((key, path, info.st_size, info.st_mtime))
    for target, names in candidates.items():
        own = [n for n in names if _inside(root, target) and n[0] == Path(os.path.relpath(target, root)).as_posix()]
        key, path, size, mtime = (own or sorted(names))[0]
        if len(names) > 1:
            log.info("%s is reachable under %d names; indexed once, as %s", target, len(names), key)
        found.files.append(SourceFile(path, key, size, mtime))
    found.files.sort(key=lambda f: f.key)
    found.skipped.sort()
    found.refused.sort(key=lambda f: f.path)
    return found


def read_stable(source: SourceFile) -> tuple[bytes, os.stat_result]:
    """The bytes of ``source`` as one consistent version, with the file's status after reading.

    Raises `LoadError` when the file vanished, or kept changing over `READ_ATTEMPTS` reads.
    """
    for attempt in range(READ_ATTEMPTS):
        try:
            before = os.stat(source.path)
            data = source.path.read_bytes()
            after = os.stat(source.path)
        except FileNotFoundError:
            raise LoadError(VANISHED) from None
        if (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns) and len(data) == after.st_size:
            return data, after
        log.info("%s changed while being read (attempt %d)", source.key, attempt + 1)
        time.sleep(READ_RETRY_S)
    raise LoadError(CHANGING)


def _broken_link(path: Path) -> str:
    """Why the link ``path`` leads nowhere ("" when its target exists)."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return LINK_LOOP
        return DANGLING_LINK.format(target=os.readlink(path))
    return ""


def _inside(root: Path, real_path: str) -> bool:
    return real_path == str(root) or real_path.startswith(str(root) + os.sep)


def _hidden(root: Path, real_path: str) -> bool:
    return any(part.startswith(".") for part in Path(os.path.relpath(real_path, root)).parts)


def _valid_name(key: str) -> bool:
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes of the name, kept as surrogates by Python
        return False
    return True


def _printable(key: str) -> str:
    """A name with undecodable bytes shown as \\xNN (to report it)."""
    return key.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
