"""The chat page's state and event handlers: what each button does, over a `Library`.

The shared objects behind every open tab: the collections (one `App` each, one embedder and one
answer model for all) and one ingestion at a time per collection. Each handler is given the
collection picked on the page and checks that the person asking may read it: on this machine
every collection, off loopback only those of the key they logged in with (Gradio's login); any
other is "no such collection", the same as one that does not exist. Handlers return what the
components show; rendering is in `render`, the components in `layout`.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import re
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import gradio as gr  # rag_app/__init__.py has switched its analytics off by now

from rag_app.answer import Answer, AnswerEvent, AskOptions, SourcesEvent, StatusEvent, TokenEvent
from rag_app.config import Settings
from rag_app.service.app import (
    INGEST_STAGES,
    SUPPORTED_EXTENSIONS,
    App,
    IndexUnavailableError,
    IngestError,
    IngestReport,
    ModelNotFoundError,
    UploadError,
    WatchEvent,
)
from rag_app.service.keys import KeyStore
from rag_app.service.library import DEFAULT, CollectionError, Library, UnknownCollectionError
from rag_app.ui.render import render_answer, render_notice, render_streaming

log = logging.getLogger(__name__)

NO_COLLECTION = "⚠ Your key reads none of the collections served here: ask for a key that reads one."
UPLOAD_HELP = ("Drop files here ({kinds}; up to {mb} MB each). They are saved into `{data_dir}` and "
               "indexed at once.")
EMPTY_HELP = (
    "**Your index holds no documents yet.** Open the **Documents** tab and drop PDF, Markdown, "
    "text, HTML or Word files there, or copy them into `{data_dir}` and run `rag-app ingest`."
)


# A draft is read ahead (`ChatPage.prefill`) when it ends a word, or after this pause in typing,
# once it holds this many words.
DRAFT_PAUSE_S = 0.35
DRAFT_MIN_WORDS = 2
# The newest draft is remembered for this many tabs, the most recently typing ones.
DRAFT_TABS = 256
_WORD_END = re.compile(r"[\s,;:.?!»)]$")


@dataclass
class IndexView:
    """What the page shows about a collection's index."""

    status: str
    empty: bool
    documents: list[list[Any]]
    failures: list[list[str]]
    paths: list[str]
    data_dir: Path  # where its documents are (and uploads go)


class ChatPage:
    """The shared objects behind every open tab: the collections of ``library`` (the page
    closes it), one ingestion at a time per collection.

    ``keys``: the keys people log in with when the page is served off loopback; then each person
    sees the collections of their own key only. None (this machine): every collection.
    """

    def __init__(self, library: Library, keys: KeyStore | None = None) -> None:
        self.library = library
        self.keys = keys
        self.app = library.app()  # the default collection's; its model and catalogue serve them all
        self.settings: Settings = library.settings
        self._ingest_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self.model_path = str(self.app.model_path)
        self.watching = False  # the data folders are watched (`start_watching`)
        self._watch_status: dict[str, str] = {}  # what the watcher last did, per collection
        self._stop_watch = threading.Event()
        self._watcher: threading.Thread | None = None
        # The newest draft of each tab and its number: numbers never repeat, so a tab forgotten
        # past DRAFT_TABS and typing again cannot revive an older draft's reading.
        self._drafts: OrderedDict[str, tuple[int, str]] = OrderedDict()
        self._draft_numbers = itertools.count(1)
        self._draft_lock = threading.Lock()
        self.resources = contextlib.ExitStack()  # what the server holds while the page is served

    @classmethod
    def open(cls, settings: Settings, library: Library | None = None, keys: KeyStore | None = None) -> ChatPage:
        """The page over the collections of ``library`` (by default a library of ``settings``
        of its own); the default collection's index is created empty if it does not exist yet.

        Raises `IndexUnavailableError` (built with another embedder, unreadable) and
        `ModelNotFoundError` before anything is served.
        """
        library = library or Library(settings, create=True)
        try:
            app = library.app()
            _ = app.store, app.pipeline
        except BaseException:
            library.close()
            raise
        return cls(library, keys)

    def close(self) -> None:
        """Stop watching the data folders, let go of `resources`, and close every index."""
        self._stop_watch.set()
        if self._watcher is not None:
            self._watcher.join(timeout=30)
        self.resources.close()
        self.library.close()

    # ----- who may read what ---------------------------------------------------------------
    def collections_for(self, request: gr.Request | None = None) -> list[str]:
        """The collections the person behind ``request`` may read, ``default`` first: every one
        on this machine; off loopback, those of the key they logged in with (read anew, so a key
        removed counts at once)."""
        names = self.library.names()
        if self.keys is None:
            return names
        user = getattr(request, "username", None)
        mine = [key for key in self.keys.stored() if key.name == user] if user else []
        return [name for name in names if any(key.may_read(name) for key in mine)]

    def _app(self, collection: str | None, request: gr.Request | None) -> App:
        """The `App` of ``collection`` for the person behind ``request``. Raises
        `UnknownCollectionError` for one they may not read, as for one that does not exist."""
        name = collection or DEFAULT
        if name not in self.collections_for(request):
            raise UnknownCollectionError(f"There is no collection named '{name}'.")
        return self.library.app(name)

    # ----- watching the data folders -------------------------------------------------------
    def start_watching(self) -> None:
        """Ingest every collection's data folder now and whenever its files change, in a
        background thread (`Library.watch`)."""
        self.watching = True
        follow = functools.partial(self.library.watch, self._watched, self._stop_watch)
        self._watcher = threading.Thread(target=follow, name="watch-data-folders", daemon=True)
        self._watcher.start()

    def _watched(self, collection: str, event: WatchEvent) -> None:
        when = datetime.now().strftime("%H:%M:%S")
        if event.error:
            outcome = f"⚠ {event.error}"
            log.warning("Collection %s: %s", collection, event.error)
        elif event.report is not None:
            r = event.report
            outcome = f"{r.added} added, {r.updated} updated, {r.removed} removed"
            if r.failed:
                outcome += f", {len(r.failed)} could not be read"
            log.info("Collection %s: %s", collection, outcome)
        else:
            outcome = ""
        self._watch_status[collection] = f"updated {when}: {outcome}"

    def status_line(self, collection: str | None = DEFAULT, request: gr.Request | None = None) -> str:
        """The index status shown at the top of the page (with the watcher's last update)."""
        try:
            return self.index_view(collection, request).status
        except CollectionError as exc:
            return f"⚠ {exc}"

    # ----- index status -------------------------------------------------------------------
    def index_view(self, collection: str | None = DEFAULT, request: gr.Request | None = None) -> IndexView:
        """Documents, chunks, embedding model, last ingest and failures of ``collection``'s index.
        Raises `UnknownCollectionError` for one the person may not read."""
        app = self._app(collection, request)
        info = app.info()
        model = info.embedding_model or app.embedder.name
        status = (f"**{info.documents}** documents · **{info.chunks}** passages · embedding model "
                  f"`{model}` · last ingest {info.last_ingest_text}")
        if (collection or DEFAULT) != DEFAULT:
            status = f"Collection **{collection}** · {status}"
        if info.failures:
            status += f" · {len(info.failures)} file(s) could not be read (see Documents)"
        ordering = [d.path for d in info.files if d.addresses_assistant]
        if ordering:
            status += (f" · {len(ordering)} file(s) give the assistant instructions, not used to answer: "
                       + ", ".join(f"`{p}`" for p in ordering[:3]) + (" …" if len(ordering) > 3 else ""))
        if self.watching:
            update = self._watch_status.get(collection or DEFAULT)
            status += f"  \nWatching `{app.settings.paths.data_dir}`" + (f" · {update}" if update else " for changes")
        rows = [[d.path, d.passages, d.title, d.indexed_at.strftime("%Y-%m-%d %H:%M")] for d in info.files]
        return IndexView(status, info.chunks == 0, rows, [[p, r] for p, r in info.failures],
                         [d.path for d in info.files], Path(app.settings.paths.data_dir))

    def refresh(self, collection: str | None = DEFAULT, request: gr.Request | None = None) -> tuple[Any, ...]:
        """Outputs of every index-dependent component (status, notice, tables, remove list,
        where uploads go) for ``collection``."""
        try:
            view = self.index_view(collection, request)
        except CollectionError as exc:
            return _nothing_shown(f"⚠ {exc}")
        return (
            view.status,
            gr.update(value=EMPTY_HELP.format(data_dir=view.data_dir), visible=view.empty),
            view.documents,
            view.failures,
            gr.update(choices=view.paths, value=None),
            UPLOAD_HELP.format(kinds=", ".join(sorted(SUPPORTED_EXTENSIONS)), mb=self.settings.serve.max_upload_mb,
                               data_dir=view.data_dir),
        )

    def load(self, request: gr.Request | None = None) -> tuple[Any, ...]:
        """When a tab opens: the collections it may read in the picker (shown when there is more
        than one), the first chosen, and its index."""
        names = self.collections_for(request)
        picker = gr.update(choices=names, value=names[0] if names else None, visible=len(names) > 1)
        if not names:
            return (picker, *_nothing_shown(NO_COLLECTION))
        return (picker, *self.refresh(names[0], request))

    def pick(self, collection: str | None, request: gr.Request | None = None) -> tuple[Any, ...]:
        """Another collection picked: a new conversation (its answers would come from the other
        documents) and that collection's index."""
        return ([], [], "", *self.refresh(collection, request))

    # ----- chat ---------------------------------------------------------------------------
    def note_draft(self, draft: str, request: gr.Request | None = None) -> None:
        """Every keystroke, outside the queue: the tab's newest draft, so that the model stops
        reading an older one."""
        self._note(_tab(request), draft or "")

    def _note(self, tab: str, draft: str) -> int:
        """The number of ``tab``'s newest draft, after noting ``draft`` (a new one if it differs)."""
        with self._draft_lock:
            number, latest = self._drafts.get(tab, (0, ""))
            if draft != latest or not number:
                number = next(self._draft_numbers)
                self._drafts[tab] = (number, draft)
            self._drafts.move_to_end(tab)
            while len(self._drafts) > DRAFT_TABS:
                self._drafts.popitem(last=False)
            return number

    def prefill(self, draft: str, history: list[list[str]] | None, k: float, max_tokens: float,
                collection: str | None = DEFAULT, request: gr.Request | None = None) -> None:
        """While a question is typed: when the draft ends a word or the typing pauses, find its
        passages and have the model read them (`App.prefill`), so that Enter leaves little to read.
        A newer draft of the same tab, or any question, makes it give way; it never shows an error."""
        tab = _tab(request)
        number = self._note(tab, draft or "")

        def superseded() -> bool:
            return self._drafts.get(tab, (0, ""))[0] != number

        if not _WORD_END.search(draft or ""):
            time.sleep(DRAFT_PAUSE_S)
            if superseded():
                return
        draft = (draft or "").strip()
        if len(draft.split()) < DRAFT_MIN_WORDS:
            return
        turns = [(str(q), str(a)) for q, a in history or []]
        options = AskOptions(k=int(k), max_tokens=int(max_tokens), conversation=tab)
        try:
            self._app(collection, request).prefill(draft, turns, options=options, stop=superseded)
        except Exception:  # a draft is only a head start: the question itself reports any error
            log.debug("Prefill failed", exc_info=True)

    def respond(
        self,
        question: str,
        chat: list[dict[str, Any]] | None,
        history: list[list[str]] | None,
        k: float,
        temperature: float,
        max_tokens: float,
        collection: str | None = DEFAULT,
        request: gr.Request | None = None,
    ) -> Iterator[tuple[list[dict[str, Any]], list[list[str]], str]]:
        """Stream the answer to ``question`` from ``collection`` into the chat; ``history`` holds
        earlier turns. The passages found show under the answer as soon as retrieval ends."""
        name = collection or DEFAULT
        question = (question or "").strip()
        chat = list(chat or [])
        history = [list(turn) for turn in history or []]
        if not question:
            yield chat, history, ""
            return
        chat += [{"role": "user", "content": question},
                 {"role": "assistant", "content": render_streaming("")}]
        yield chat, history, ""
        pieces: list[str] = []
        answer: Answer | None = None
        status: StatusEvent | None = None
        sources: SourcesEvent | None = None
        tab = _tab(request)
        self._note(tab, "")  # the tab's drafts are over: a prefill of one stops
        try:
            app = self._app(name, request)
            options = AskOptions(k=int(k), temperature=float(temperature), max_tokens=int(max_tokens),
                                 conversation=tab)
            for event in app.ask(question, [(str(q), str(a)) for q, a in history], options=options):
                if isinstance(event, AnswerEvent):
                    answer = event.answer
                    continue
                if isinstance(event, TokenEvent):
                    pieces.append(event.text)
                elif isinstance(event, StatusEvent):
                    status = event
                else:
                    sources = event
                chat[-1] = {"role": "assistant",
                            "content": render_streaming("".join(pieces), status, sources, name)}
                yield chat, history, ""
        except IndexUnavailableError:
            data_dir = self.library.get(name).data_dir
            chat[-1] = {"role": "assistant", "content": render_notice(EMPTY_HELP.format(data_dir=data_dir))}
            yield chat, history, ""
            return
        except CollectionError as exc:
            chat[-1] = {"role": "assistant", "content": render_notice(str(exc))}
            yield chat, history, ""
            return
        except Exception as exc:  # the page must stay usable; the log has the traceback
            log.exception("Answering failed")
            chat[-1] = {"role": "assistant", "content": render_notice(f"Could not answer: {exc}")}
            yield chat, history, ""
            return
        assert answer is not None
        chat[-1] = {"role": "assistant", "content": render_answer(answer, name)}
        history.append([question, answer.answer])
        yield chat, history, ""

    # ----- documents ----------------------------------------------------------------------
    def _ingest(self, app: App, collection: str, progress: gr.Progress) -> IngestReport:
        def report(stage: str, done: int, total: int) -> None:
            if total:
                progress((done, total), desc=INGEST_STAGES.get(stage, stage))
            else:
                progress(None, desc=f"{INGEST_STAGES.get(stage, stage)}: {done}")

        with self._ingest_locks[collection]:  # waits for the folder watcher's or a command-line ingest
            return app.ingest(progress=report, wait=True)

    def add_files(
        self, files: list[str] | None, replace: bool, collection: str | None = DEFAULT,
        request: gr.Request | None = None, progress: gr.Progress = gr.Progress()
    ) -> tuple[Any, ...]:
        """Save uploaded files into ``collection``'s data folder under safe names, then ingest them."""
        name = collection or DEFAULT
        try:
            app = self._app(name, request)
        except CollectionError as exc:
            return (f"⚠ {exc}", files) + self.refresh(name, request)
        messages: list[str] = []
        saved: list[str] = []
        kept: list[str] = []
        for path in files or []:
            try:
                target = app.add_file(path, Path(path).name, replace=replace)
                saved.append(target.name)
            except UploadError as exc:
                messages.append(f"⚠ {exc}")
                kept.append(path)
        if saved:
            messages.insert(0, self._ingest_message(app, name, f"Added {', '.join(saved)}.", progress))
        elif not messages:
            messages.append("Drop files in the box above first.")
        return ("\n\n".join(messages), kept or None) + self.refresh(name, request)

    def remove(self, path: str | None, confirm: bool, collection: str | None = DEFAULT,
               request: gr.Request | None = None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
        """Delete a document from ``collection``'s data folder and from its index."""
        name = collection or DEFAULT
        if not path:
            message = "Choose a document to remove."
        elif not confirm:
            message = f"Tick the box to confirm that **{path}** should be deleted from the data folder."
        else:
            try:
                app = self._app(name, request)
                app.remove_file(path)
                message = self._ingest_message(app, name, f"Removed {path}.", progress)
            except (UploadError, CollectionError) as exc:
                message = f"⚠ {exc}"
        return (message, False) + self.refresh(name, request)

    def rescan(self, collection: str | None = DEFAULT, request: gr.Request | None = None,
               progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
        """Ingest whatever changed in ``collection``'s data folder."""
        name = collection or DEFAULT
        try:
            message = self._ingest_message(self._app(name, request), name, "Data folder scanned.", progress)
        except CollectionError as exc:
            message = f"⚠ {exc}"
        return (message,) + self.refresh(name, request)

    def _ingest_message(self, app: App, collection: str, done: str, progress: gr.Progress) -> str:
        try:
            report = self._ingest(app, collection, progress)
        except (IngestError, IndexUnavailableError) as exc:
            return f"{done} ⚠ Ingestion failed: {exc}"
        text = (f"{done} Index updated: {report.added} added, {report.updated} updated, "
                f"{report.removed} removed, {report.chunks_total} passages in total "
                f"({report.seconds:.1f} s).")
        for failed in report.failed:
            text += f"\n\n⚠ Could not read **{failed.path}**: {failed.reason}"
        for name in report.skipped:
            text += f"\n\nSkipped {name}: unsupported file type."
        return text

    # ----- settings -----------------------------------------------------------------------
    def switch_model(self, path: str | None, progress: gr.Progress = gr.Progress()) -> str:
        """Load another GGUF model for every tab (waits for the running answer). Only on this
        machine: off loopback (`keys` set) the people logged in share the model and cannot
        switch it; the model stays and the reply says so."""
        if self.keys is not None:
            return (f"Model: `{Path(self.model_path).name}`. It is chosen on the machine that serves "
                    "this page (`rag-app models use`), for everyone.")
        if not path or path == self.model_path:
            return f"Model: `{Path(self.model_path).name}`"
        progress(None, desc="Loading model")
        try:
            self.app.switch_model(path)  # keeps answering with the previous model if this fails
        except (ModelNotFoundError, RuntimeError) as exc:
            log.warning("Could not load %s: %s", path, exc)
            return f"⚠ {exc} The previous model `{Path(self.model_path).name}` is still in use."
        self.model_path = path
        return f"Model: `{Path(path).name}` (loaded; used for every open tab)"


def _nothing_shown(status: str) -> tuple[Any, ...]:
    """The index-dependent components' outputs (as `ChatPage.refresh`) when no index can be
    shown: ``status`` says why."""
    return status, gr.update(visible=False), [], [], gr.update(choices=[], value=None), ""


def _tab(request: gr.Request | None) -> str:
    """The browser tab a request comes from (Gradio's session), "" outside a browser."""
    return (request.session_hash or "") if request is not None else ""
