"""API keys: who may read which collections.

A key is a random token given out once (``rag-app keys add NAME --collections a,b``); the keys
file keeps only its SHA-256 (a 256-bit random token needs no slow hash: nothing can be guessed
from it), with the key's name and the collections it may read. A key is checked by hashing what
a client sends and comparing with every stored hash in constant time.

The file (``serve.keys_file``, JSON) is written whole to a temporary file and renamed, with
permissions 0600, so a crash never leaves it half written.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rag_app.durable import write_whole

PREFIX = "rag-"


class ApiKeyError(ValueError):
    """A key could not be added or removed, or the keys file is unreadable; the message says why."""


@dataclass(frozen=True)
class ApiKey:
    """One stored key: its name, the SHA-256 of the token, the collections it may read."""

    name: str
    sha256: str
    collections: list[str] = field(default_factory=list)
    created: float = 0.0

    def may_read(self, collection: str) -> bool:
        """True when this key may read ``collection``."""
        return collection in self.collections


def hash_key(token: str) -> str:
    """The SHA-256 of ``token``, as stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class KeyStore:
    """The keys file at ``path`` (missing: no keys)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def stored(self) -> list[ApiKey]:
        """Every stored key. Raises `ApiKeyError` when the file is unreadable (fix or delete it)."""
        if not self.path.exists():
            return []
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))
            return [ApiKey(str(r["name"]), str(r["sha256"]), [str(c) for c in r["collections"]],
                           float(r.get("created", 0))) for r in rows]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ApiKeyError(f"The keys file {self.path} is unreadable ({exc}). Fix it, or delete it and add "
                            "the keys again with `rag-app keys add`.") from exc

    def find(self, token: str, keys: list[ApiKey] | None = None) -> ApiKey | None:
        """The key whose token is ``token`` among ``keys`` (default: the stored ones), or None;
        every hash is compared, in constant time."""
        digest = hash_key(token)
        found = None
        for key in self.stored() if keys is None else keys:
            if hmac.compare_digest(key.sha256, digest):
                found = key
        return found

    def add(self, name: str, collections: list[str]) -> str:
        """Store a new key ``name`` for ``collections``; returns its token (shown once, never stored)."""
        name = name.strip()
        if not name:
            raise ApiKeyError("A key needs a name (who or what uses it).")
        if not collections:
            raise ApiKeyError("A key needs at least one collection it may read (--collections a,b).")
        keys = self.stored()
        if any(k.name == name for k in keys):
            raise ApiKeyError(f"A key named '{name}' exists already; remove it first or choose another name.")
        token = PREFIX + secrets.token_urlsafe(32)
        self._write([*keys, ApiKey(name, hash_key(token), sorted(set(collections)), time.time())])
        return token

    def remove(self, name: str) -> ApiKey:
        """Delete key ``name``; clients using it are refused from the next request."""
        keys = self.stored()
        kept = [k for k in keys if k.name != name]
        if len(kept) == len(keys):
            raise ApiKeyError(f"There is no key named '{name}' (`rag-app keys list` shows them).")
        self._write(kept)
        return next(k for k in keys if k.name == name)

    def _write(self, keys: list[ApiKey]) -> None:
        write_whole(self.path, json.dumps([asdict(k) for k in keys], indent=1), mode=0o600)


def is_loopback(host: str | None) -> bool:
    """True for a loopback client address (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address((host or "").strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"
