"""The servers running on this machine, found by the index they serve, so that `rag-app ask` and
`rag-app search` can ask a running `rag-app serve` (models loaded, passages read) instead of
loading PyTorch and the answer model again for one question.

`rag-app serve` announces every collection it serves in a small file under the user's cache
(``<cache_dir>/servers/<hash of the index folder>.json``, mode 0600): the server's URL, the
collection's name, its process id and a token. The token is the command line's key: the server
takes it, from loopback only, as a key that reads every collection, so the same user's commands
get in when API keys exist; anyone who can read the file can read the index itself anyway.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from rag_app.durable import write_whole

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunningServer:
    """A `rag-app serve` of this machine serving an index: where, as which collection, and the
    token that lets this user's command line in."""

    url: str  # the server's root, ending in "/"
    collection: str
    token: str
    pid: int


def _announcement(cache_dir: Path, index_dir: Path) -> Path:
    key = hashlib.sha256(str(index_dir.expanduser().resolve()).encode()).hexdigest()[:24]
    return cache_dir / "servers" / f"{key}.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: not one of ours to use
        return False
    return True


def new_token() -> str:
    """A token for `announce`, which the server then accepts from loopback as a key to everything."""
    return "rag-local-" + secrets.token_urlsafe(24)


@contextlib.contextmanager
def announce(cache_dir: Path, indexes: Mapping[str, Path], url: str, token: str) -> Iterator[None]:
    """While in this block, tell this user's commands that ``url`` serves each collection of
    ``indexes`` (name → index folder) and takes ``token``; the announcements are removed when
    the block ends. One that cannot be written is logged: the commands then load the models
    themselves, slower but not wrong."""
    written: list[Path] = []
    try:
        for name, index_dir in indexes.items():
            path = _announcement(cache_dir, index_dir)
            write_whole(path, json.dumps(asdict(RunningServer(url, name, token, os.getpid()))), mode=0o600)
            written.append(path)
    except OSError as exc:
        log.warning("Could not announce the server to the command line (%s)", exc)
    try:
        yield
    finally:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()


def find(cache_dir: Path, index_dir: Path) -> RunningServer | None:
    """The running server of this user that serves ``index_dir``, or None (none announced, its
    process gone, or the file unreadable)."""
    path = _announcement(cache_dir, index_dir)
    try:
        server = RunningServer(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    return server if _alive(server.pid) else None
