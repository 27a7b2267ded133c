"""Who may use the API, and how many may wait.

- Without any key, only loopback clients are answered (the person at this machine), and they
  read every collection. Once a key exists, every request needs ``Authorization: Bearer KEY``,
  loopback included, and reads only the key's collections; another collection is a 404, the
  same as one that does not exist, so its name does not leak. The server's own token for this
  user's command line (`rag_app.service.discovery`) counts as a key to everything, from loopback only.
- A client that sends wrong keys is refused with 429 after `MAX_FAILURES` in `FAILURE_WINDOW_S`
  seconds, per client address; wrong logins to the chat page count the same (`LoginLimit`).
- `Admission` bounds the questions waiting for the one answer model: one more is a 429 with
  ``Retry-After``.
"""

from __future__ import annotations

import contextlib
import hmac
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag_app.api.errors import ApiError, error_response
from rag_app.service.keys import ApiKey, ApiKeyError, KeyStore, is_loopback

MAX_FAILURES = 10
FAILURE_WINDOW_S = 60.0
SECONDS_PER_WAITING_ANSWER = 10  # what Retry-After says per question ahead


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the key used (None: a loopback client of a server without keys)."""

    key: ApiKey | None

    def may_read(self, collection: str) -> bool:
        """True when this caller may read ``collection``."""
        return self.key is None or self.key.may_read(collection)


class Guard:
    """Checks each API request's key against the keys file (read at every request, so a key
    added or removed counts at once) and rate-limits failed attempts per client address."""

    def __init__(self, keys: KeyStore, local_token: str = "") -> None:
        self.keys = keys
        self.local_token = local_token  # this user's command line (`rag_app.service.discovery`), loopback only
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def caller(self, request: HTTPConnection) -> Caller:
        """The caller of ``request``; raises `ApiError` 401 (no or wrong key), 403 (no keys
        and not loopback) or 429 (too many wrong keys)."""
        client = request.client.host if request.client else ""
        try:
            keys = self.keys.stored()
        except ApiKeyError as exc:
            raise ApiError(503, str(exc), "keys_file_unreadable") from exc
        if not keys:
            if is_loopback(client):
                return Caller(None)
            raise ApiError(403, "This server has no API keys, so it answers only on this machine. Add one "
                           "with `rag-app keys add NAME --collections default`.", "no_keys")
        self.check_rate(client)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if (self.local_token and is_loopback(client) and scheme.lower() == "bearer"
                and hmac.compare_digest(token.strip().encode(), self.local_token.encode())):
            return Caller(None)
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "Send your API key as 'Authorization: Bearer KEY' (`rag-app keys add` creates "
                           "one).", "missing_api_key")
        key = self.keys.find(token.strip(), keys)
        if key is None:
            self.record_failure(client)
            raise ApiError(401, "This API key is not valid.", "invalid_api_key")
        return Caller(key)

    def check_rate(self, client: str) -> None:
        """Raises `ApiError` 429 (with ``Retry-After``) when ``client`` has failed `MAX_FAILURES`
        times in the last `FAILURE_WINDOW_S` seconds."""
        with self._lock:
            recent = self._failures.get(client)
            now = time.monotonic()
            while recent and now - recent[0] > FAILURE_WINDOW_S:
                recent.popleft()
            if recent and len(recent) >= MAX_FAILURES:
                wait = int(FAILURE_WINDOW_S - (now - recent[0])) + 1
                raise ApiError(429, f"Too many wrong API keys from {client}; try again in {wait} s.",
                               "too_many_failures", headers={"Retry-After": str(wait)})

    def record_failure(self, client: str) -> None:
        """Count one wrong key (or login) from ``client``."""
        with self._lock:
            self._failures.setdefault(client, deque()).append(time.monotonic())


class LoginLimit:
    """ASGI middleware in front of the chat page's login form (Gradio's ``POST …/login``): a
    client address that has failed too often (the `Guard`'s count, shared with wrong API keys)
    gets 429 before its name and key are even checked, and every refused login counts."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith("/login"):
            await self.app(scope, receive, send)
            return
        client = scope["client"][0] if scope.get("client") else ""
        try:
            self.guard.check_rate(client)
        except ApiError as exc:
            await error_response(exc)(scope, receive, send)
            return

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (400, 401, 403):
                self.guard.record_failure(client)  # Gradio answers a wrong login with 400
            await send(message)

        await self.app(scope, receive, watch)


class Admission:
    """At most ``limit`` API questions at a time, answered or waiting for the model."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self._lock = threading.Lock()

    def take(self) -> None:
        """Take a place (give it back with `give_back`); raises `ApiError` 429 when every place
        is taken."""
        with self._lock:
            if self.count >= self.limit:
                wait = SECONDS_PER_WAITING_ANSWER * self.count
                raise ApiError(429, f"{self.count} questions are waiting for the answer model; try again in "
                               f"{wait} s.", "queue_full", headers={"Retry-After": str(wait)})
            self.count += 1

    def give_back(self) -> None:
        """Free a place taken with `take`."""
        with self._lock:
            self.count -= 1

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        """Hold a place while the block runs (`take`, then `give_back`)."""
        self.take()
        try:
            yield
        finally:
            self.give_back()
