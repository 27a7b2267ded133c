"""The user's data and models folders as a view manages them: safe uploads, removal, model choices.

Everything a person can do to their files from the chat page goes through here, so the rules
hold for any view: an upload lands in the data folder under a safe name (never outside it,
never over an existing file unless asked, never larger than the limit) and appears atomically,
so an ingestion running at the same time never reads half a file.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import tempfile
import unicodedata
from pathlib import Path

from rag_app.ingest.loaders import SUPPORTED_EXTENSIONS

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 120
_UNSAFE = re.compile(r"[^\w.\- ()+,@]+", re.UNICODE)


class UploadError(ValueError):
    """An upload was refused; the message says why and what to do."""


class UploadExistsError(UploadError):
    """A file of that name is already in the data folder and replacing was not asked for."""


def safe_filename(name: str) -> str:
    """A file name that is safe to create in the data folder, keeping the original's look.

    Only the last path component counts (``../../etc/passwd`` becomes ``passwd``); control and
    shell-special characters become ``_``; leading dots and dashes go (no hidden files); the extension must
    be one the app can read. Raises `UploadError` when nothing usable is left.
    """
    base = unicodedata.normalize("NFC", str(name)).replace("\\", "/").split("/")[-1]
    base = _UNSAFE.sub("_", base).strip(" .").lstrip("-")  # no hidden or option-like names
    base = re.sub(r"_+", "_", base)
    stem, dot, ext = base.rpartition(".")
    if not dot or not stem.strip(" ._"):
        raise UploadError(f"'{name}' has no usable file name with an extension.")
    ext = ext.lower()
    if f".{ext}" not in SUPPORTED_EXTENSIONS:
        kinds = ", ".join(sorted(SUPPORTED_EXTENSIONS))
        raise UploadError(f"'{name}': this file type cannot be read. Supported types: {kinds}.")
    stem = stem[: MAX_NAME_CHARS - len(ext) - 1].rstrip(" .")
    return f"{stem}.{ext}"


def inside(folder: Path, path: Path) -> bool:
    """True when ``path`` resolves to somewhere inside ``folder`` (symlinks followed)."""
    return path.resolve().is_relative_to(folder.resolve())


def save_upload(
    source: Path | str,
    data_dir: Path | str,
    original_name: str | None = None,
    *,
    replace: bool = False,
    max_mb: float = 50,
) -> Path:
    """Copy an uploaded file into ``data_dir`` under a safe name; returns the new path.

    Raises `UploadError` when the file is too large or its name unusable, and
    `UploadExistsError` when a file of that name exists and ``replace`` is false.
    """
    source = Path(source)
    data_dir = Path(data_dir)
    name = safe_filename(original_name or source.name)
    size = source.stat().st_size
    if size > max_mb * 1024 * 1024:
        raise UploadError(f"'{name}' is {size / 1024 / 1024:.1f} MB; the limit is {max_mb:g} MB "
                          "(setting max_upload_mb).")
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / name
    if not inside(data_dir, target) or target.is_symlink():
        raise UploadError(f"'{name}' would be written outside the data folder; refused.")
    if target.exists() and not replace:
        raise UploadExistsError(f"'{name}' is already in the data folder. Tick \"Replace files with "
                                "the same name\" to overwrite it, or rename the file.")
    # Write under a hidden temporary name (ingestion skips hidden files), then rename atomically.
    handle, tmp = tempfile.mkstemp(prefix=".upload-", dir=data_dir)
    try:
        with os.fdopen(handle, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out)
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            free = shutil.disk_usage(data_dir).free / 1e6
            raise UploadError(f"The disk is full ({free:.0f} MB free in {data_dir}): '{name}' was not "
                              "saved. Free some space and upload it again.") from exc
        raise
    log.info("Saved upload %s (%d bytes)", target, size)
    return target


def remove_file(data_dir: Path | str, relative_path: str) -> Path:
    """Delete one document (given as its path relative to ``data_dir``) from the data folder.

    Raises `UploadError` for a path outside the data folder; a file already gone is not an error.
    """
    data_dir = Path(data_dir)
    target = data_dir / relative_path
    if not relative_path or not inside(data_dir, target) or target.resolve() == data_dir.resolve():
        raise UploadError(f"'{relative_path}' is not a document of the data folder.")
    target.unlink(missing_ok=True)
    log.info("Removed %s", target)
    return target
