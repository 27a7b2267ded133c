"""The source panel's routes on the chat page's own server: the panel page, rendered PDF pages
and the original files.

They are registered with the FastAPI app Gradio creates (`launch(app_kwargs={"routes": …})`), so
they are served by the same server, on the same port, before Gradio's own routes. What they give
out goes through `App`, which only hands over indexed documents inside the data folder. They
answer only requests addressed to this server's own host name (a web page elsewhere cannot read
them through a rebinding DNS name), and only to this machine or to a person logged in to the
page (off loopback) with a key that may read the collection asked (``c=NAME``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from fastapi import HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.routing import APIRoute

from rag_app.service.app import App, SourceError
from rag_app.service.keys import KeyStore, is_loopback
from rag_app.service.library import DEFAULT, CollectionError, Library
from rag_app.ui.source_view import DOCUMENT_ROUTE, FILE_ROUTE, PAGE_ROUTE, SOURCE_ROUTE, render_source_page

LOCAL_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})


def host_allowed(host_header: str, listen_host: str) -> bool:
    """True when a request's Host header names this server: a loopback name, or the address it
    listens on (any host name when it listens on every address, as the user asked for)."""
    if listen_host in ANY_ADDRESS:
        return True
    name = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
    return name in LOCAL_NAMES or name == listen_host


def page_user(request: Request) -> str | None:
    """The name a person logged in to the chat page with (Gradio's login cookie), if any."""
    server = request.app
    cookie_id = getattr(server, "cookie_id", "")
    token = (request.cookies.get(f"access-token-{cookie_id}")
             or request.cookies.get(f"access-token-unsecure-{cookie_id}"))
    user = getattr(server, "tokens", {}).get(token) if token else None
    return str(user) if user else None


def may_see_collection(request: Request, keys: KeyStore, collection: str) -> bool:
    """True when ``request`` may read ``collection``'s documents: it comes from this machine, or
    from a person logged in to the page with a key that may read that collection."""
    if is_loopback(request.client.host if request.client else ""):
        return True
    user = page_user(request)
    return user is not None and any(k.name == user and k.may_read(collection) for k in keys.stored())


def source_routes(library: Library, keys: KeyStore) -> list[APIRoute]:
    """The routes of the source panel over the collections of ``library`` (``c=NAME``, default
    ``default``), for this machine and for people logged in with a key that may read the
    collection asked. Another collection is a 404, the same as one that does not exist."""

    def app_for(request: Request, collection: str) -> App:
        if not host_allowed(request.headers.get("host", ""), library.settings.serve.host):
            raise HTTPException(status_code=403, detail="Not served to this host name.")
        if not may_see_collection(request, keys, collection):
            raise HTTPException(status_code=404, detail="Not found.")
        try:
            return library.app(collection)
        except CollectionError as exc:  # none by that name, or its registration is unreadable
            raise HTTPException(status_code=404, detail="Not found.") from exc

    def source_page(request: Request, chunk_id: int, s: str = "", page: int | None = None,
                    c: str = DEFAULT) -> Response:
        app = app_for(request, c)
        with _not_found():
            view = app.source(chunk_id, sentence=s, page=page)
            highlighted = None
            if view.is_pdf and view.page is not None and view.page == view.passage_page:
                # Rendered now (and cached), so the page image the panel asks for next is ready.
                highlighted = app.page_image(view.path, view.page, chunk_id=chunk_id, sentence=s)[1].found
        return HTMLResponse(render_source_page(view, highlighted, c))

    def document_page(request: Request, path: str, page: int | None = None, c: str = DEFAULT) -> Response:
        app = app_for(request, c)
        with _not_found():
            return HTMLResponse(render_source_page(app.document_source(path, page), collection=c))

    def page_image(request: Request, path: str, page: int, chunk: int | None = None, s: str = "",
                   c: str = DEFAULT) -> Response:
        app = app_for(request, c)
        with _not_found():
            png, _ = app.page_image(path, page, chunk_id=chunk, sentence=s)
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})

    def original(request: Request, path: str, c: str = DEFAULT) -> Response:
        app = app_for(request, c)
        with _not_found():
            file = app.document_file(path)
        return FileResponse(file, filename=file.name, content_disposition_type="inline")

    return [
        APIRoute(SOURCE_ROUTE + "/{chunk_id}", source_page, methods=["GET"], include_in_schema=False),
        APIRoute(DOCUMENT_ROUTE + "/{path:path}", document_page, methods=["GET"], include_in_schema=False),
        APIRoute(PAGE_ROUTE, page_image, methods=["GET"], include_in_schema=False),
        APIRoute(FILE_ROUTE + "/{path:path}", original, methods=["GET"], include_in_schema=False),
    ]


@contextlib.contextmanager
def _not_found() -> Iterator[None]:
    """A source that cannot be shown is a 404 with the reason (no traceback, nothing else said)."""
    try:
        yield
    except SourceError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
