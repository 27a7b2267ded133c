"""The chat page's state and event handlers: what each button does, over one `App`.

The shared objects behind every open tab: one `App` (index, embedder, answer model) and one
ingestion at a time. Handlers return what the components show; rendering is in `render`, the
components in `layout`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import gradio as gr  # rag_app/__init__.py has switched its analytics off by now

from rag_app.answer import Answer, AnswerEvent, AskOptions, SourcesEvent, StatusEvent, TokenEvent
from rag_app.app import (
    INGEST_STAGES,
    App,
    IndexUnavailableError,
    IngestError,
    IngestReport,
    ModelNotFoundError,
    UploadError,
    WatchEvent,
)
from rag_app.config import Settings
from rag_app.library import DEFAULT, Library
from rag_app.ui.render import render_answer, render_notice, render_streaming

log = logging.getLogger(__name__)

EMPTY_HELP = (
    "**Your index holds no documents yet.** Open the **Documents** tab and drop PDF, Markdown, "
    "text, HTML or Word files there, or copy them into `{data_dir}` and run `rag-app ingest`."
)


# A draft is read ahead (`ChatPage.prefill`) when it ends a word, or after this pause in typing,
# once it holds this many words.
DRAFT_PAUSE_S = 0.35
DRAFT_MIN_WORDS = 2
_WORD_END = re.compile(r"[\s,;:.?!»)]$")


@dataclass
class IndexView:
    """What the page shows about the index."""

    status: str
    empty: bool
    documents: list[list[Any]]
    failures: list[list[str]]
    paths: list[str]


class ChatPage:
    """The shared objects behind every open tab: one `App`, one ingestion at a time."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.settings: Settings = app.settings
        self._ingest_lock = threading.Lock()
        self.model_path = str(app.model_path)
        self.watch_status = ""  # what the folder watcher last did ("" when not watching)
        self._stop_watch = threading.Event()
        self._watcher: threading.Thread | None = None
        self._drafts: dict[str, tuple[int, str]] = {}  # the newest draft of each tab, and its number
        self._draft_lock = threading.Lock()
        self.library: Library | None = None  # the collections behind the page's server, if it opened them
        self.resources = contextlib.ExitStack()  # what the server holds while the page is served

    @classmethod
    def open(cls, settings: Settings, library: Library | None = None) -> ChatPage:
        """The page over the default collection of ``library`` (by default a library of
        ``settings`` of its own); its index is created empty if it does not exist yet.

        Raises `IndexUnavailableError` (built with another embedder, unreadable) and
        `ModelNotFoundError` before anything is served.
        """
        library = library or Library(settings, create=True)
        app = library.app()
        try:
            _ = app.store, app.pipeline
        except BaseException:
            library.close()
            raise
        page = cls(app)
        page.library = library
        return page

    def close(self) -> None:
        """Stop watching the data folder, let go of `resources`, and close the index (every
        collection's, when the page opened the library)."""
        self._stop_watch.set()
        if self._watcher is not None:
            self._watcher.join(timeout=30)
        self.resources.close()
        if self.library is not None:
            self.library.close()  # the page's app among them
        else:
            self.app.close()

    # ----- watching the data folder --------------------------------------------------------
    def start_watching(self) -> None:
        """Ingest the data folder now and whenever its files change, in a background thread
        (every collection's folder, when the page's server opened them all)."""
        self.watch_status = f"Watching `{self.settings.paths.data_dir}` for changes"
        if self.library is not None:
            follow = functools.partial(self.library.watch, self._watched_in, self._stop_watch)
        else:
            follow = functools.partial(self.app.watch, self._watched, self._stop_watch)
        self._watcher = threading.Thread(target=follow, name="watch-data-folders", daemon=True)
        self._watcher.start()

    def _watched_in(self, collection: str, event: WatchEvent) -> None:
        if collection == DEFAULT:  # the page shows the default collection; the others are logged
            self._watched(event)
        elif event.error:
            log.warning("Collection %s: %s", collection, event.error)
        elif event.report is not None:
            log.info("Collection %s: %d added, %d updated, %d removed", collection, event.report.added,
                     event.report.updated, event.report.removed)

    def _watched(self, event: WatchEvent) -> None:
        when = datetime.now().strftime("%H:%M:%S")
        if event.error:
            outcome = f"⚠ {event.error}"
        elif event.report is not None:
            r = event.report
            outcome = f"{r.added} added, {r.updated} updated, {r.removed} removed"
            if r.failed:
                outcome += f", {len(r.failed)} could not be read"
        else:
            outcome = ""
        self.watch_status = f"Watching `{self.settings.paths.data_dir}` · updated {when}: {outcome}"

    def status_line(self) -> str:
        """The index status shown at the top of the page (with the watcher's last update)."""
        return self.index_view().status

    # ----- index status -------------------------------------------------------------------
    def index_view(self) -> IndexView:
        """Documents, chunks, embedding model, last ingest and failures of the index."""
        info = self.app.info()
        model = info.embedding_model or self.app.embedder.name
        status = (f"**{info.documents}** documents · **{info.chunks}** passages · embedding model "
                  f"`{model}` · last ingest {info.last_ingest_text}")
        if info.failures:
            status += f" · {len(info.failures)} file(s) could not be read (see Documents)"
        if self.watch_status:
            status += f"  \n{self.watch_status}"
        rows = [[d.path, d.passages, d.title, d.indexed_at.strftime("%Y-%m-%d %H:%M")] for d in info.files]
        return IndexView(status, info.chunks == 0, rows, [[p, r] for p, r in info.failures],
                         [d.path for d in info.files])

    def refresh(self) -> tuple[Any, ...]:
        """Outputs of every index-dependent component (status, notice, tables, remove list)."""
        view = self.index_view()
        notice = EMPTY_HELP.format(data_dir=self.settings.paths.data_dir)
        return (
            view.status,
            gr.update(value=notice, visible=view.empty),
            view.documents,
            view.failures,
            gr.update(choices=view.paths, value=None),
        )

    # ----- chat ---------------------------------------------------------------------------
    def note_draft(self, draft: str, request: gr.Request | None = None) -> None:
        """Every keystroke, outside the queue: the tab's newest draft, so that the model stops
        reading an older one."""
        self._note(_tab(request), draft or "")

    def _note(self, tab: str, draft: str) -> int:
        """The number of ``tab``'s newest draft, after noting ``draft`` (a new one if it differs)."""
        with self._draft_lock:
            number, latest = self._drafts.get(tab, (0, ""))
            if draft != latest:
                number += 1
                self._drafts[tab] = (number, draft)
            return number

    def prefill(self, draft: str, history: list[list[str]] | None, k: float, max_tokens: float,
                request: gr.Request | None = None) -> None:
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
            self.app.prefill(draft, turns, options=options, stop=superseded)
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
        request: gr.Request | None = None,
    ) -> Iterator[tuple[list[dict[str, Any]], list[list[str]], str]]:
        """Stream the answer to ``question`` into the chat; ``history`` holds earlier turns. The
        passages found show under the answer as soon as retrieval ends."""
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
            options = AskOptions(k=int(k), temperature=float(temperature), max_tokens=int(max_tokens),
                                 conversation=tab)
            for event in self.app.ask(question, [(str(q), str(a)) for q, a in history], options=options):
                if isinstance(event, AnswerEvent):
                    answer = event.answer
                    continue
                if isinstance(event, TokenEvent):
                    pieces.append(event.text)
                elif isinstance(event, StatusEvent):
                    status = event
                else:
                    sources = event
                chat[-1] = {"role": "assistant", "content": render_streaming("".join(pieces), status, sources)}
                yield chat, history, ""
        except IndexUnavailableError:
            chat[-1] = {"role": "assistant",
                        "content": render_notice(EMPTY_HELP.format(data_dir=self.settings.paths.data_dir))}
            yield chat, history, ""
            return
        except Exception as exc:  # the page must stay usable; the log has the traceback
            log.exception("Answering failed")
            chat[-1] = {"role": "assistant", "content": render_notice(f"Could not answer: {exc}")}
            yield chat, history, ""
            return
        assert answer is not None
        chat[-1] = {"role": "assistant", "content": render_answer(answer)}
        history.append([question, answer.answer])
        yield chat, history, ""

    # ----- documents ----------------------------------------------------------------------
    def _ingest(self, progress: gr.Progress) -> IngestReport:
        def report(stage: str, done: int, total: int) -> None:
            if total:
                progress((done, total), desc=INGEST_STAGES.get(stage, stage))
            else:
                progress(None, desc=f"{INGEST_STAGES.get(stage, stage)}: {done}")

        with self._ingest_lock:  # waits for the folder watcher's or a command-line ingest
            return self.app.ingest(progress=report, wait=True)

    def add_files(
        self, files: list[str] | None, replace: bool, progress: gr.Progress = gr.Progress()
    ) -> tuple[Any, ...]:
        """Save uploaded files into the data folder under safe names, then ingest them."""
        messages: list[str] = []
        saved: list[str] = []
        kept: list[str] = []
        for path in files or []:
            try:
                target = self.app.add_file(path, Path(path).name, replace=replace)
                saved.append(target.name)
            except UploadError as exc:
                messages.append(f"⚠ {exc}")
                kept.append(path)
        if saved:
            messages.insert(0, self._ingest_message(f"Added {', '.join(saved)}.", progress))
        elif not messages:
            messages.append("Drop files in the box above first.")
        return ("\n\n".join(messages), kept or None) + self.refresh()

    def remove(self, path: str | None, confirm: bool, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
        """Delete a document from the data folder and from the index."""
        if not path:
            message = "Choose a document to remove."
        elif not confirm:
            message = f"Tick the box to confirm that **{path}** should be deleted from the data folder."
        else:
            try:
                self.app.remove_file(path)
                message = self._ingest_message(f"Removed {path}.", progress)
            except UploadError as exc:
                message = f"⚠ {exc}"
        return (message, False) + self.refresh()

    def rescan(self, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
        """Ingest whatever changed in the data folder."""
        return (self._ingest_message("Data folder scanned.", progress),) + self.refresh()

    def _ingest_message(self, done: str, progress: gr.Progress) -> str:
        try:
            report = self._ingest(progress)
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
        """Load another GGUF model for every tab (waits for the running answer)."""
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


def _tab(request: gr.Request | None) -> str:
    """The browser tab a request comes from (Gradio's session), "" outside a browser."""
    return (request.session_hash or "") if request is not None else ""
