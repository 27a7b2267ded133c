"""`rag-app ask` and `rag-app search` through a running `rag-app serve` of the same index.

A new process would load PyTorch, the embedder and the answer model for one question; a server
of the same user that serves the same index (announced in `rag_app.service.discovery`) has them loaded and
may have read the passages already. Its API's stream is turned back into the `Event`s and the
`Answer` that `App.ask` gives, so that the command prints the same thing (and ``--json`` the same
object) either way. A server that cannot be reached before anything is shown is `ServerGone`:
the command then answers in-process.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from rag_app.answer import (
    Addressed,
    Answer,
    AnswerEvent,
    Citation,
    Disagreement,
    Event,
    Evidence,
    Passage,
    SentenceVerdict,
    SourcesEvent,
    StatusEvent,
    Timings,
    TokenEvent,
)
from rag_app.config import Settings
from rag_app.service.discovery import RunningServer, find

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 0.5  # a server of this machine answers at once, or is not there
ANSWER_TIMEOUT_S = 900.0  # a question may wait behind others for the one model


class ServerGone(Exception):
    """The announced server did not answer; nothing was shown yet, so answer in-process."""


class RemoteError(RuntimeError):
    """The server refused the question; the message is the server's (what to do next)."""


def running_server(settings: Settings) -> RunningServer | None:
    """The running server of this user that serves the index of ``settings``, if any."""
    return find(settings.paths.cache_dir, settings.paths.index_dir)


def _client(server: RunningServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"},
                        timeout=httpx.Timeout(ANSWER_TIMEOUT_S, connect=CONNECT_TIMEOUT_S))


def _refused(response: httpx.Response) -> RemoteError:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = f"The server answered {response.status_code}."
    return RemoteError(message)


def remote_search(server: RunningServer, query: str, k: int, documents: Sequence[str] = ()) -> list[Passage]:
    """``App.search`` asked of ``server``; raises `ServerGone` or `RemoteError`."""
    try:
        with _client(server) as client:
            response = client.post("v1/search", json={"model": "rag_app/" + server.collection, "query": query,
                                                      "top_k": k, "documents": list(documents)})
    except httpx.TransportError as exc:
        raise ServerGone(str(exc)) from exc
    if response.status_code != 200:
        raise _refused(response)
    return [_passage(p) for p in response.json()["data"]]


def remote_ask(server: RunningServer, question: str, k: int | None = None,
               documents: Sequence[str] = ()) -> Iterator[Event]:
    """``App.ask`` asked of ``server``: the same events, the last an `AnswerEvent`. Raises
    `ServerGone` before the first event if the server cannot be reached, `RemoteError` if it
    refuses the question."""
    body: dict[str, Any] = {"model": "rag_app/" + server.collection, "stream": True,
                            "messages": [{"role": "user", "content": question}]}
    if k is not None:
        body["top_k"] = k
    if documents:
        body["rag_app"] = {"documents": list(documents)}
    with _client(server) as client:
        try:
            response = client.send(client.build_request("POST", "v1/chat/completions", json=body), stream=True)
        except httpx.TransportError as exc:
            raise ServerGone(str(exc)) from exc
        try:
            if response.status_code != 200:
                response.read()
                raise _refused(response)
            yield from _events(response.iter_lines(), question)
        finally:
            response.close()


def _events(lines: Iterator[str], question: str) -> Iterator[Event]:
    """The server-sent events of one answer (docs/api.md, Streaming) as `App.ask`'s events. Text
    sent after the "checking" status is the shown answer, already in the final `Answer`."""
    writing = False
    for line in lines:
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        data = json.loads(line.removeprefix("data: "))
        if "error" in data:
            raise RemoteError(data["error"].get("message", "The server failed while answering."))
        extra = data.get("rag_app") or {}
        delta = (data.get("choices") or [{}])[0].get("delta") or {}
        if "passages" in extra:
            yield SourcesEvent([_passage(p) for p in extra["passages"]], [])
        elif "status" in extra:
            status = extra["status"]
            writing = status["stage"] == "reading"
            yield StatusEvent(status["stage"], status["passages"], status["model"])
        elif "answer" in extra:
            yield AnswerEvent(_answer(extra, data.get("usage") or {}, question))
            return
        elif writing and delta.get("content"):
            yield TokenEvent(delta["content"])
    raise RemoteError("The server ended the answer before it was complete; ask again.")


def _passage(p: dict[str, Any]) -> Passage:
    return Passage(chunk_id=p["chunk_id"], path=p["file"], page=p["page"], heading=p["heading"], text=p["passage"],
                   score=p["score"], dense_score=p.get("dense_score"), bm25_score=p.get("bm25_score"),
                   dense_rank=p.get("dense_rank"), bm25_rank=p.get("bm25_rank"), fused_rank=p.get("fused_rank"),
                   ocr=bool(p.get("ocr")))


def _answer(extra: dict[str, Any], usage: dict[str, Any], question: str) -> Answer:
    """The `Answer` of the API's ``rag_app`` field (docs/api.md); scores are not sent, so 0."""
    t = extra["timings"]
    return Answer(
        question=question,
        answer=extra["answer"],
        refused=extra["refused"],
        citations=[Citation(s["n"], s["file"], s["page"], s["heading"], s["passage"], 0.0, s["chunk_id"],
                            s["supporting_sentence"]) for s in extra["sources"]],
        evidence=[_evidence(e) for e in extra["evidence"]],
        sentences=[SentenceVerdict(s["text"], s["supported"], citations=s["citations"]) for s in extra["sentences"]],
        passages=[],
        timings=Timings(retrieval_ms=t["retrieval_ms"], first_token_ms=t["first_token_ms"], total_ms=t["total_ms"],
                        tokens_per_s=t["tokens_per_s"], generated_tokens=usage.get("completion_tokens", 0),
                        prompt_tokens=usage.get("prompt_tokens", 0)),
        language=extra["language"],
        verified=extra["verified"],
        reason=extra["reason"],
        probability=extra["probability"],
        documents_say=_evidence(extra["documents_say"]) if extra.get("documents_say") else None,
        addressed=[Addressed(a["chunk_id"], a["file"], a["page"], a["quote"]) for a in extra.get("addressed", [])],
        disagreement=_disagreement(extra.get("disagreement")),
        scope=tuple(extra.get("scope") or ()),
    )


def _disagreement(d: dict[str, Any] | None) -> Disagreement | None:
    """The API's ``disagreement`` object as the `Answer` field (None when there is none)."""
    if not d:
        return None
    return Disagreement(d["reply_value"], d["other_value"], d["sentence"], d["n"], d["file"], d["page"])


def _evidence(e: dict[str, Any]) -> Evidence:
    """An evidence sentence of the API's ``rag_app`` field (its score is not sent, so 0)."""
    return Evidence(e["sentence"], e["file"], e["page"], e["heading"], 0.0, e["chunk_id"])
