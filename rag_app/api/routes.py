"""The OpenAI-compatible API, on the chat page's own server (docs/api.md).

- ``GET /v1/models``: the collections the caller may read, as models (``rag_app/<name>``);
- ``POST /v1/chat/completions``: the last user message is the question, the earlier turns its
  history; ``stream: true`` sends server-sent events in OpenAI's chunk format (the passages found
  first, then the reply as it is written, then the verdict); the ``rag_app`` field carries the
  sources, the verdicts and why;
- ``POST /v1/search``: the passages retrieval ranks first, with their scores;
- ``GET/POST /v1/collections/{name}/documents`` and ``DELETE …/documents/{path}``: list, upload
  (the chat page's safe-name and size rules) and remove documents; the index follows at once.

Everything goes through `Library` → `App`, like every view. Every failure is an OpenAI error
object with its 4xx (503 while an index is unusable); nothing a client sends gives a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from rag_app import __version__
from rag_app.answer import (
    Answer,
    AnswerEvent,
    AskOptions,
    Event,
    EventStream,
    History,
    SourcesEvent,
    StatusEvent,
    TokenEvent,
)
from rag_app.api import responses
from rag_app.api.errors import ApiError, error_response
from rag_app.api.guard import Admission, Caller, Guard
from rag_app.api.openapi import OPENAPI_PATH, openapi_document
from rag_app.api.requests import ChatRequest, Message, SearchRequest, parse
from rag_app.service.app import (
    App,
    EmptyQueryError,
    GenerationServerError,
    IndexUnavailableError,
    IngestError,
    ModelNotFoundError,
    ScopeError,
    UploadError,
)
from rag_app.service.keys import KeyStore
from rag_app.service.library import DEFAULT, Library, UnknownCollectionError

log = logging.getLogger(__name__)

Endpoint = Callable[..., Awaitable[Response]]


def _answers_errors(endpoint: Endpoint) -> Endpoint:
    """The endpoint, with every failure turned into an OpenAI error response (a 500 only for a
    bug of ours, logged with its traceback here and never sent)."""

    @functools.wraps(endpoint)
    async def guarded(*args: Any, **kwargs: Any) -> Response:
        try:
            return await endpoint(*args, **kwargs)
        except ApiError as exc:
            return error_response(exc)
        except Exception:
            log.exception("The API failed on a request")
            return error_response(ApiError(500, "The server failed on this request; its log says why.",
                                           "internal_error"))

    return guarded


def as_api_error(exc: BaseException) -> ApiError | None:
    """``exc`` as the API error a client gets (what to do next, in the message), or None for
    an error of ours (a bug: a 500, logged)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, UnknownCollectionError):
        return ApiError(404, str(exc), "model_not_found", "model")
    if isinstance(exc, EmptyQueryError):
        return ApiError(400, str(exc), "empty_question", "messages")
    if isinstance(exc, ScopeError):
        return ApiError(400, str(exc), "no_such_documents", "rag_app.documents")
    if isinstance(exc, UploadError):
        return ApiError(400, str(exc), "upload_refused", "file")
    if isinstance(exc, IndexUnavailableError | IngestError | ModelNotFoundError):
        return ApiError(503, str(exc), "not_ready")
    if isinstance(exc, GenerationServerError):
        return ApiError(503, str(exc), "answer_server_unavailable")
    return None


@contextlib.contextmanager
def app_errors() -> Iterator[None]:
    """The layers' errors raised as API errors (`as_api_error`); others pass through."""
    try:
        yield
    except Exception as exc:
        error = as_api_error(exc)
        if error is None or error is exc:
            raise
        raise error from exc


class ClosingStream(StreamingResponse):
    """A streaming response that, however it ends (done, the client gone, never started),
    closes its body and then runs ``cleanup`` once: Starlette leaves the body's generator
    suspended when the client leaves, and an answer holds the model and a place in the queue."""

    def __init__(self, content: AsyncIterator[str], cleanup: Callable[[], Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.cleanup = cleanup

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                body = self.body_iterator
                if hasattr(body, "aclose"):
                    await body.aclose()
                await self.cleanup()


class Api:
    """The API's endpoints over ``library`` (see the module docstring)."""

    def __init__(self, library: Library, guard: Guard) -> None:
        self.library = library
        self.settings = library.settings.serve
        self.guard = guard
        self.admission = Admission(self.settings.api_queue)

    # ----- helpers ------------------------------------------------------------------------
    def _collection(self, caller: Caller, requested: str) -> str:
        """The collection a request names: ``rag_app/<name>`` or a collection's own name; any
        other model name (a client's fixed default) means ``default``. One the caller may not
        read is a 404 like one that does not exist."""
        names = self.library.names()
        name = requested.removeprefix(responses.MODEL_PREFIX) if requested else DEFAULT
        if not requested.startswith(responses.MODEL_PREFIX) and name not in names:
            name = DEFAULT
        if name not in names or not caller.may_read(name):
            raise ApiError(404, f"The model '{requested}' does not exist (GET /v1/models lists yours).",
                           "model_not_found", "model")
        return name

    def _app(self, caller: Caller, requested: str) -> tuple[str, App]:
        name = self._collection(caller, requested)
        with app_errors():
            return name, self.library.app(name)

    async def _json(self, request: Request) -> Any:
        limit = self.settings.max_request_kb * 1024
        if int(request.headers.get("content-length") or 0) > limit:
            raise ApiError(413, f"The request body is over {self.settings.max_request_kb} KB.", "body_too_large")
        body = await request.body()
        if len(body) > limit:
            raise ApiError(413, f"The request body is over {self.settings.max_request_kb} KB.", "body_too_large")
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"The request body is not valid JSON ({exc}).", "invalid_json") from exc

    def _question(self, chat: ChatRequest) -> tuple[str, History]:
        """The last user message, and the (question, answer) turns before it."""
        last = chat.messages[-1]
        if last.role != "user":
            raise ApiError(400, "The last message must be the user's question (role 'user').", "invalid_value",
                           "messages")
        question = last.text.strip()
        if not question:
            raise ApiError(400, "The question (the last user message) is empty.", "empty_question", "messages")
        if len(question) > self.settings.max_question_chars:
            raise ApiError(400, f"The question is {len(question)} characters long; the limit is "
                           f"{self.settings.max_question_chars}.", "question_too_long", "messages")
        return question, _turns(chat.messages[:-1])

    # ----- endpoints ----------------------------------------------------------------------
    async def models(self, request: Request) -> Response:
        caller = self.guard.caller(request)
        model = self.library.generator.model_name
        data = [{"id": responses.model_name(name), "object": "model", "created": 0, "owned_by": "rag_app",
                 "rag_app": {"collection": name, "answer_model": model}}
                for name in self.library.names() if caller.may_read(name)]
        return JSONResponse({"object": "list", "data": data})

    async def chat(self, request: Request) -> Response:
        caller = self.guard.caller(request)
        chat = parse(ChatRequest, await self._json(request))
        question, history = self._question(chat)
        name, app = self._app(caller, chat.model)
        options = AskOptions(k=chat.top_k, temperature=chat.temperature,
                             max_tokens=chat.max_completion_tokens or chat.max_tokens,
                             documents=tuple(chat.rag_app.documents))
        base = str(request.base_url)
        if not chat.stream:
            with self.admission.admit():
                answer = await run_in_threadpool(_answer, app, question, history, options)
            return JSONResponse(responses.completion(answer, name, base))
        self.admission.take()  # held by the stream until it ends (or the client leaves)
        events = app.ask(question, history, options=options)
        try:  # retrieval's errors are the response's status; later ones end the stream
            with app_errors():
                first = await run_in_threadpool(next, events, None)
        except BaseException:
            await run_in_threadpool(events.close)
            self.admission.give_back()
            raise

        async def cleanup() -> None:  # the model and the queue's place, freed
            await run_in_threadpool(events.close)
            self.admission.give_back()

        return ClosingStream(self._stream(first, events, request, name, base), cleanup,
                             media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    async def _stream(self, first: Event | None, events: EventStream, request: Request, name: str,
                      base: str) -> AsyncIterator[str]:
        """Server-sent events of one answer. The response (`ClosingStream`) closes ``events``
        when it ends, the client gone included, which frees the model at once."""
        cid = responses.completion_id()
        written = False
        try:
            yield _sse(responses.chunk(cid, name, {"role": "assistant", "content": ""}))
            event = first
            while event is not None:
                if isinstance(event, SourcesEvent):
                    found = [responses.passage_json(p, base, name) for p in event.passages]
                    yield _sse(responses.chunk(cid, name, {}, rag_app={"passages": found}))
                elif isinstance(event, StatusEvent):
                    status = {"stage": event.stage, "passages": event.passages, "model": event.model}
                    yield _sse(responses.chunk(cid, name, {}, rag_app={"status": status}))
                elif isinstance(event, TokenEvent):
                    written = True
                    yield _sse(responses.chunk(cid, name, {"content": event.text}))
                elif isinstance(event, AnswerEvent):
                    answer = event.answer
                    if not written or not answer.verified:  # the refusal, or why the reply is not verified
                        yield _sse(responses.chunk(cid, name, {"content": ("\n\n" if written else "") + answer.answer}))
                    if answer.addressed:
                        yield _sse(responses.chunk(cid, name, {"content": "\n\n" + answer.addressed_note()}))
                    yield _sse(responses.chunk(cid, name, {}, "stop", usage=responses.usage(answer),
                                            rag_app=responses.answer_extra(answer, base, name)))
                    yield "data: [DONE]\n\n"
                if await request.is_disconnected():
                    break
                event = await run_in_threadpool(next, events, None)
        except Exception as exc:  # the stream has begun: the error is its last event
            error = as_api_error(exc)
            if error is None:
                log.exception("The API failed while streaming an answer")
                error = ApiError(500, "The server failed while answering; its log says why.", "internal_error")
            yield _sse(error.body())

    async def openapi(self, request: Request) -> Response:
        """The OpenAPI description of these routes (no key needed: it holds no data)."""
        return JSONResponse(openapi_document(__version__))

    async def search(self, request: Request) -> Response:
        caller = self.guard.caller(request)
        query = parse(SearchRequest, await self._json(request))
        name, app = self._app(caller, query.collection or query.model)
        base = str(request.base_url)
        with app_errors():
            found = await run_in_threadpool(app.search, query.query, query.top_k, tuple(query.documents))
        return JSONResponse({"object": "list", "model": responses.model_name(name),
                             "data": [responses.passage_json(p, base, name) for p in found]})

    async def documents(self, request: Request) -> Response:
        caller = self.guard.caller(request)
        name, app = self._app(caller, request.path_params["name"])
        with app_errors():
            info = await run_in_threadpool(app.info)
        return JSONResponse({"object": "list", "collection": name, "data": [
            {"path": d.path, "title": d.title, "passages": d.passages, "indexed_at": d.indexed_at.isoformat()}
            for d in info.files], "failures": [{"path": p, "reason": r} for p, r in info.failures]})

    async def upload(self, request: Request) -> Response:
        caller = self.guard.caller(request)
        name, app = self._app(caller, request.path_params["name"])
        limit_mb = app.settings.serve.max_upload_mb
        if int(request.headers.get("content-length") or 0) > (limit_mb + 1) * 1024 * 1024:
            raise ApiError(413, f"The upload is over {limit_mb} MB.", "body_too_large", "file")
        try:
            form = await request.form(max_files=20)
        except Exception as exc:  # not multipart, or malformed
            raise ApiError(400, f"Send the files as multipart/form-data fields named 'file' ({exc}).",
                           "invalid_body", "file") from exc
        files = [f for f in form.getlist("file") if isinstance(f, UploadFile)]
        if not files:
            raise ApiError(400, "No file: send each one as a multipart field named 'file'.", "missing_file", "file")
        replace = str(form.get("replace", "")).lower() in {"1", "true", "yes"}
        saved: list[str] = []
        refused: list[dict[str, str]] = []
        for upload in files:
            try:
                saved.append(await run_in_threadpool(_save, app, upload, replace))
            except UploadError as exc:
                refused.append({"file": upload.filename or "", "reason": str(exc)})
        if not saved:
            raise ApiError(400, "; ".join(r["reason"] for r in refused), "upload_refused", "file")
        with app_errors():
            report = await run_in_threadpool(functools.partial(app.ingest, wait=True))
        return JSONResponse({"collection": name, "added": saved, "refused": refused,
                             "failed": [{"path": f.path, "reason": f.reason} for f in report.failed],
                             "chunks": report.chunks_total})

    async def remove(self, request: Request) -> Response:
        caller = self.guard.caller(request)
        name, app = self._app(caller, request.path_params["name"])
        path = request.path_params["path"]
        with app_errors():
            known = {d.path for d in (await run_in_threadpool(app.info)).files}
            if path not in known:
                raise ApiError(404, f"'{path}' is not a document of collection '{name}'.", "document_not_found",
                               "path")
            await run_in_threadpool(app.remove_file, path)
            await run_in_threadpool(functools.partial(app.ingest, wait=True))
        return JSONResponse({"collection": name, "removed": path})

    def routes(self) -> list[APIRoute]:
        """The API's routes, to serve beside the chat page."""
        documents = "/v1/collections/{name}/documents"
        table: list[tuple[str, Endpoint, str]] = [
            (OPENAPI_PATH, self.openapi, "GET"),
            ("/v1/models", self.models, "GET"),
            ("/v1/chat/completions", self.chat, "POST"),
            ("/v1/search", self.search, "POST"),
            (documents, self.documents, "GET"),
            (documents, self.upload, "POST"),
            (documents + "/{path:path}", self.remove, "DELETE"),
        ]
        return [APIRoute(path, _answers_errors(endpoint), methods=[method], include_in_schema=False)
                for path, endpoint, method in table]


def api_routes(library: Library, guard: Guard | None = None) -> list[APIRoute]:
    """The API's routes over ``library``, their callers checked by ``guard`` (by default one
    over the settings' keys file, without a token for this user's command line)."""
    return Api(library, guard or Guard(KeyStore(library.settings.serve.keys_file))).routes()


def _turns(messages: list[Message]) -> History:
    """(question, answer) pairs of the conversation before the question; system turns are
    ignored (the app's own instructions hold)."""
    turns: list[tuple[str, str]] = []
    pending: str | None = None
    for message in messages:
        if message.role == "user":
            pending = message.text
        elif message.role == "assistant" and pending is not None:
            turns.append((pending, message.text))
            pending = None
    return turns


def _answer(app: App, question: str, history: History, options: AskOptions) -> Answer:
    with app_errors():
        return app.answer(question, history, options=options)


def _save(app: App, upload: UploadFile, replace: bool) -> str:
    """Write ``upload`` into the collection's data folder (safe name, size limit); its name there."""
    with tempfile.NamedTemporaryFile(prefix="rag-upload-") as temporary:
        upload.file.seek(0)
        while block := upload.file.read(1 << 20):
            temporary.write(block)
        temporary.flush()
        return app.add_file(Path(temporary.name), upload.filename or "", replace=replace).name


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"
