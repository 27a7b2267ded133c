"""The inference server's own tokenizer, where it offers one over HTTP.

The prompt for a server is rendered and counted here with the vocabulary of a catalogue model
(generation/server.py). That count is right only if the server runs that model or one with the
same tokenizer. `ServerTokenizer.tokenize` asks the server itself: ``/extras/tokenize``
(llama-cpp-python's `llama_cpp.server`) or ``/tokenize`` (llama.cpp's own server). OpenAI's API
and vLLM's OpenAI routes have no such endpoint: then nothing can be checked.
"""

from __future__ import annotations

import logging

import httpx

log = logging.getLogger(__name__)

# (path under the server's root, the field that holds the text): llama_cpp.server, llama.cpp's server.
ENDPOINTS = (("extras/tokenize", "input"), ("tokenize", "content"))


class ServerTokenizer:
    """Tokens of a text as the server at ``url`` (its OpenAI base URL, ``…/v1``) counts them."""

    def __init__(self, url: str, api_key: str = "", timeout_s: float = 5.0) -> None:
        root = url.rstrip("/")
        self.root = root[: -len("/v1")] if root.endswith("/v1") else root
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout_s
        self._client: httpx.Client | None = None  # one connection kept open: a prompt asks many times
        self.endpoint: str | None = None  # the one that answered, once one has

    def close(self) -> None:
        """Close the connection (a later `tokenize` opens another)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def tokenize(self, text: str) -> list[int] | None:
        """The server's tokens of ``text`` (special-token strings read as such; the start-of-text
        token the model adds included), or None when it offers no tokenize endpoint or cannot be
        reached (logged: the caller counts with its own tokenizer)."""
        endpoints = [e for e in ENDPOINTS if e[0] == self.endpoint] or list(ENDPOINTS)
        if self._client is None:
            self._client = httpx.Client(base_url=self.root, headers=self._headers, timeout=self._timeout)
        for path, field in endpoints:
            try:
                reply = self._client.post(f"/{path}", json={field: text, "add_special": True,
                                                             "parse_special": True})
            except httpx.HTTPError as exc:
                log.info("The answer server at %s cannot be asked for its tokens (%s)", self.root, exc)
                return None
            if reply.status_code != 200:
                continue
            try:
                tokens = reply.json()["tokens"]
                self.endpoint = path
                return [int(t) for t in tokens]
            except (ValueError, KeyError, TypeError):
                continue
        log.info("The answer server at %s has no tokenize endpoint (%s)", self.root,
                 ", ".join(f"/{p}" for p, _ in ENDPOINTS))
        return None
