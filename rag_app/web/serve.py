"""The one server of `rag-app serve`: the chat page, its source panel and the API, on one host
and port (127.0.0.1 by default), over one `Library` (one embedder, one answer model).

Off loopback it needs an API key to exist (`rag-app keys add`): people log in to the page with a
key's name and the key, and API clients send the key.
"""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr  # rag_app/__init__.py has switched its analytics off by now
from starlette.middleware import Middleware

from rag_app.api import api_routes
from rag_app.api.guard import Guard, LoginLimit
from rag_app.config import Settings
from rag_app.service.discovery import announce, new_token
from rag_app.service.keys import KeyStore, is_loopback
from rag_app.service.library import Library
from rag_app.ui.layout import CHAT_CONCURRENCY, CSS, SOURCE_PANEL_SCRIPT, THEME, build_blocks
from rag_app.ui.page import ChatPage
from rag_app.ui.source_routes import source_routes


class ServeRefusedError(ValueError):
    """The server would be open to other machines without any key; the message says what to do."""


def page_login(keys: KeyStore) -> Callable[[str, str], bool]:
    """Gradio's login check for the page off loopback: a key's name and the key itself (the
    page then shows that key's collections only)."""

    def check(name: str, token: str) -> bool:
        key = keys.find(token)
        return key is not None and key.name == name

    return check


def serve(
    settings: Settings, *, host: str | None = None, port: int | None = None, watch_folder: bool = False
) -> tuple[gr.Blocks, ChatPage]:
    """Open the collections of ``settings`` and start serving the chat page and the API over
    them on ``host``:``port``; with ``watch_folder``, keep every index in step with its data
    folder meanwhile.

    Returns at once with the running app; call ``app.block_thread()`` to wait for Ctrl+C and
    `ChatPage.close` afterwards. While it runs, `rag-app ask` and `search` find it by their
    index (`rag_app.service.discovery`) and ask it instead of loading the models. Raises
    `ServeRefusedError` off loopback without any key.
    """
    host = host or settings.serve.host
    keys = KeyStore(settings.serve.keys_file)
    if not is_loopback(host) and not keys.stored():
        raise ServeRefusedError(f"Serving on {host} lets other machines in, and no API key exists yet. Add one "
                                "first: `rag-app keys add NAME --collections default` (people then log in "
                                "with the key's name and the key).")
    library = Library(settings, create=True)
    page = ChatPage.open(settings, library, keys=None if is_loopback(host) else keys)
    local_token = new_token()
    guard = Guard(keys, local_token)  # one count of wrong keys per client: the API's and the page's login
    if watch_folder:
        page.start_watching()
    demo = build_blocks(page)
    demo.queue(default_concurrency_limit=CHAT_CONCURRENCY)
    demo.launch(
        server_name=host,
        server_port=port or settings.serve.port,
        theme=THEME,
        css=CSS,
        share=False,
        inbrowser=False,
        show_error=True,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
        enable_monitoring=False,
        footer_links=["api", "settings"],
        max_file_size=f"{settings.serve.max_upload_mb}mb",
        head=SOURCE_PANEL_SCRIPT,
        app_kwargs={"routes": source_routes(library, keys) + api_routes(library, guard),
                    "middleware": [Middleware(LoginLimit, guard=guard)]},
        auth=None if is_loopback(host) else page_login(keys),
        auth_message="Log in with the name of your API key and the key itself (`rag-app keys add`).",
        prevent_thread_lock=True,
        quiet=True,
    )
    local_url = f"http://127.0.0.1:{demo.server_port}/"
    indexes = {c.name: c.index_dir for c in library.collections()}
    page.resources.enter_context(announce(settings.paths.cache_dir, indexes, local_url, local_token))
    return demo, page
