"""The chat page: a Gradio Blocks view over `AnswerPipeline` and `ingest` (no logic of its own).

Tabs: Chat (streamed answers with numbered sources, marked unsupported sentences, refusals
that still show the closest passages), Documents (drag-and-drop upload, indexed documents,
failures, removal) and Settings (passages, temperature, answer length, model).

Offline: analytics off, system fonts only, no CDN; listens on 127.0.0.1 unless told otherwise.
Concurrency: questions from several tabs run at once (retrieval in parallel, the LLM one at a
time behind the pipeline's lock); ingestion runs one at a time and never blocks questions.
"""

from __future__ import annotations

import html
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import gradio as gr  # rag_app/__init__.py has switched its analytics off by now

from rag_app.answer import Answer, AnswerEvent, Citation, Passage, StatusEvent, TokenEvent
from rag_app.chat import AnswerPipeline
from rag_app.config import Settings
from rag_app.embedding import embedder_from_settings
from rag_app.ingest.loaders import SUPPORTED_EXTENSIONS
from rag_app.ingest.pipeline import IngestError, ingest
from rag_app.ingest.report import IngestReport
from rag_app.models import ModelNotFoundError
from rag_app.store import IndexStore, IndexUnavailableError
from rag_app.watch import WatchEvent, watch
from rag_app.workspace import UploadError, model_choices, remove_file, save_upload

log = logging.getLogger(__name__)

CHAT_CONCURRENCY = 4  # questions handled at once; generation itself is serialized by a lock
WATCH_REFRESH_S = 5  # how often the page re-reads the index status while the folder is watched
REFUSAL_PASSAGES = 3
PASSAGE_PREVIEW_CHARS = 1200

EMPTY_HELP = (
    "**Your index holds no documents yet.** Open the **Documents** tab and drop PDF, Markdown, "
    "text, HTML or Word files there, or copy them into `{data_dir}` and run `rag-app ingest`."
)
STAGES = {"files": "Reading files", "chunks": "Passages indexed"}

THEME = gr.themes.Default(
    font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono", "monospace"],
)

CSS = """
.rag-answer .rag-sent.unsupported { background: #fff4e5; border-bottom: 2px dashed #d97706; }
.rag-answer .rag-flag { color: #b45309; font-weight: 600; }
.rag-note { font-size: 0.85em; color: #6b7280; margin-top: 0.4em; }
.rag-refusal { border-left: 4px solid #dc2626; background: #fef2f2; padding: 0.5em 0.8em; border-radius: 6px; }
.rag-refusal-title { font-weight: 700; color: #b91c1c; }
.rag-unverified { border-left: 4px solid #d97706; padding-left: 0.6em; }
.rag-sources { margin-top: 0.8em; border-top: 1px solid #e5e7eb; padding-top: 0.4em; }
.rag-sources-title { font-weight: 700; font-size: 0.9em; }
.rag-source { margin: 0.4em 0; font-size: 0.9em; }
.rag-source-head { font-weight: 600; }
.rag-score { font-weight: 400; color: #6b7280; font-size: 0.85em; }
.rag-quote { margin: 0.2em 0 0.2em 0.5em; padding-left: 0.5em; border-left: 3px solid #cbd5e1; }
.rag-source mark, .rag-quote mark { background: #fde68a; color: inherit; padding: 0 1px; }
.rag-source details summary { cursor: pointer; color: #4b5563; font-size: 0.85em; }
.rag-passage { white-space: normal; color: #374151; font-size: 0.9em; }
.rag-pending { color: #6b7280; font-style: italic; }
.rag-timings { font-size: 0.75em; color: #9ca3af; margin-top: 0.4em; }
"""


# ----- rendering (pure functions: Answer -> HTML) ---------------------------------------------
def _esc(text: str) -> str:
    """Escaped text on one line (the chat renders Markdown: a blank line would end our HTML)."""
    return html.escape(text).replace("\r", "").replace("\n", "<br>")


def highlight(text: str, sentence: str, limit: int | None = None) -> str:
    """``text`` as HTML with the first occurrence of ``sentence`` wrapped in ``<mark>``.

    Whitespace differences are tolerated; with ``limit``, the text is cut to about that many
    characters around the mark.
    """
    words = sentence.split()
    match = None
    if words:
        pattern = r"\s+".join(re.escape(w) for w in words)
        match = re.search(pattern, text)
    if match is None:
        cut = text if limit is None or len(text) <= limit else text[:limit].rstrip() + " …"
        return _esc(cut)
    start, end = match.span()
    before, marked, after = text[:start], text[start:end], text[end:]
    if limit is not None:
        room = max(0, limit - len(marked)) // 2
        if len(before) > room:
            before = "… " + before[len(before) - room:].lstrip()
        if len(after) > room:
            after = after[:room].rstrip() + " …"
    return f"{_esc(before)}<mark>{_esc(marked)}</mark>{_esc(after)}"


def _where(path: str, page: int | None, heading: str) -> str:
    parts = [f"<b>{_esc(Path(path).name)}</b>"]
    if page:
        parts.append(f"page {page}")
    if heading:
        parts.append(_esc(heading))
    return " · ".join(parts)


def _score(passage: Passage | None, fused: float) -> str:
    details = [f"score {fused:.3f}"]
    if passage is not None:
        if passage.dense_score is not None:
            details.append(f"cosine {passage.dense_score:.2f}")
        if passage.bm25_rank is not None:
            details.append(f"BM25 #{passage.bm25_rank}")
    return f'<span class="rag-score">{" · ".join(details)}</span>'


def _source_item(n: int, path: str, page: int | None, heading: str, text: str, score: float,
                 passage: Passage | None, sentence: str) -> str:
    quote = f'<div class="rag-quote">“<mark>{_esc(sentence)}</mark>”</div>' if sentence else ""
    body = highlight(text, sentence, PASSAGE_PREVIEW_CHARS)
    return (
        f'<li class="rag-source" value="{n}"><div class="rag-source-head">'
        f"[{n}] {_where(path, page, heading)} {_score(passage, score)}</div>{quote}"
        f'<details><summary>Passage</summary><div class="rag-passage">{body}</div></details></li>'
    )


def _sources(answer: Answer) -> str:
    """The numbered sources of an answer: its citations, or its best passages if none."""
    by_chunk = {p.chunk_id: p for p in answer.passages}
    evidence = {}
    for item in answer.evidence:
        evidence.setdefault(item.chunk_id, item.text)
    citations: list[Citation] = answer.citations or [
        Citation(n, p.path, p.page, p.heading, p.text, p.score, p.chunk_id)
        for n, p in enumerate(answer.passages[:REFUSAL_PASSAGES], start=1)
    ]
    items = "".join(
        _source_item(c.n, c.path, c.page, c.heading, c.text, c.score, by_chunk.get(c.chunk_id),
                     c.supporting_sentence or evidence.get(c.chunk_id, ""))
        for c in citations
    )
    return (f'<div class="rag-sources"><div class="rag-sources-title">Sources</div>'
            f"<ol>{items}</ol></div>")


def _closest(answer: Answer) -> str:
    """The passages that came closest to a refused question."""
    if not answer.passages:
        return ""
    evidence = {}
    for item in answer.evidence:
        evidence.setdefault(item.chunk_id, item.text)
    items = "".join(
        _source_item(n, p.path, p.page, p.heading, p.text, p.score, p, evidence.get(p.chunk_id, ""))
        for n, p in enumerate(answer.passages[:REFUSAL_PASSAGES], start=1)
    )
    return (f'<div class="rag-sources"><div class="rag-sources-title">Closest passages '
            f"(not enough to answer)</div><ol>{items}</ol></div>")


def _body(answer: Answer) -> str:
    """The answer text: sentence by sentence with unsupported ones marked, or the fallback."""
    if answer.verified and answer.sentences:
        parts, flagged = [], False
        for s in answer.sentences:
            if s.supported:
                parts.append(f'<span class="rag-sent supported">{_esc(s.text)}</span>')
            else:
                flagged = True
                parts.append(f'<span class="rag-sent unsupported" title="Not supported by your '
                             f'documents"><span class="rag-flag">⚠ </span>{_esc(s.text)}</span>')
        note = ('<div class="rag-note">⚠ Marked sentences are not supported by the passages: '
                "check them against the sources.</div>") if flagged else ""
        return f"<div>{' '.join(parts)}</div>{note}"
    lines = [line for line in answer.answer.split("\n") if line.strip()]
    head = [f"<p>{_esc(line)}</p>" for line in lines if not line.startswith("- ")]
    bullets = [f"<li>{_esc(line[2:])}</li>" for line in lines if line.startswith("- ")]
    listing = f"<ul>{''.join(bullets)}</ul>" if bullets else ""
    raw = (f"<details><summary>The model's own reply (not supported by your documents)</summary>"
           f'<div class="rag-passage">{_esc(answer.raw_answer)}</div></details>') if answer.raw_answer else ""
    return f'<div class="rag-unverified">{"".join(head)}{listing}{raw}</div>'


def _timings(answer: Answer) -> str:
    t = answer.timings
    parts = [f"retrieval {t.retrieval_ms:.0f} ms"]
    if t.first_token_ms is not None:
        parts.append(f"first token {t.first_token_ms / 1000:.1f} s")
    if t.tokens_per_s:
        parts.append(f"{t.tokens_per_s:.1f} tokens/s")
    parts.append(f"total {t.total_ms / 1000:.1f} s")
    return f'<div class="rag-timings">{" · ".join(parts)}</div>'


def render_answer(answer: Answer) -> str:
    """An `Answer` as one line of HTML for the chat: body, sources (or closest passages), timings."""
    if answer.refused:
        return (f'<div class="rag-refusal"><div class="rag-refusal-title">Not in your documents'
                f"</div><p>{_esc(answer.answer)}</p></div>{_closest(answer)}{_timings(answer)}")
    return f'<div class="rag-answer">{_body(answer)}{_sources(answer)}{_timings(answer)}</div>'


def render_streaming(text: str, status: StatusEvent | None = None) -> str:
    """The answer as it streams in (not verified yet), with what the app is doing meanwhile."""
    if status is not None and status.stage == "checking":
        return (f'<div class="rag-streaming">{_esc(text)}</div>'
                '<div class="rag-pending">Checking the reply against your documents…</div>')
    if text:
        return f'<div class="rag-streaming">{_esc(text)} ▌</div>'
    if status is not None and status.stage == "reading":
        return (f'<div class="rag-pending">{_esc(status.model)} is reading {status.passages} '
                "passages from your documents (on a laptop CPU this takes a few seconds)…</div>")
    return '<div class="rag-pending">Searching your documents…</div>'


def render_notice(markdown: str) -> str:
    """A message from the app itself (no index, an error) in the chat."""
    return f'<div class="rag-refusal"><div class="rag-refusal-title">Notice</div>{_md_inline(markdown)}</div>'


def _md_inline(text: str) -> str:
    """**bold** and `code` of our own fixed messages as HTML."""
    out = _esc(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


# ----- the page's state and event handlers -------------------------------------------------
@dataclass
class IndexView:
    """What the page shows about the index."""

    status: str
    empty: bool
    documents: list[list[Any]]
    failures: list[list[str]]
    paths: list[str]


class ChatPage:
    """The shared objects behind every open tab: one pipeline, one ingestion at a time."""

    def __init__(self, settings: Settings, pipeline: AnswerPipeline) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self._ingest_lock = threading.Lock()
        self.model_path = str(pipeline.generator.model_path.resolve())
        self.watch_status = ""  # what the folder watcher last did ("" when not watching)
        self._stop_watch = threading.Event()
        self._watcher: threading.Thread | None = None

    @classmethod
    def open(cls, settings: Settings) -> ChatPage:
        """The page over the index of ``settings`` (created empty if it does not exist yet)."""
        embedder = embedder_from_settings(settings)
        store = IndexStore.open(settings.index_dir, embedder.name, embedder.dimension, create=True)
        return cls(settings, AnswerPipeline(settings, store=store, embedder=embedder))

    def close(self) -> None:
        """Stop watching the data folder and close the index."""
        self._stop_watch.set()
        if self._watcher is not None:
            self._watcher.join(timeout=30)
        self.pipeline.store.close()

    # ----- watching the data folder --------------------------------------------------------
    def start_watching(self) -> None:
        """Ingest the data folder now and whenever its files change, in a background thread."""
        self.watch_status = f"Watching `{self.settings.data_dir}` for changes"
        self._watcher = threading.Thread(
            target=watch, name="watch-data-folder", daemon=True,
            args=(self.settings, self._watched),
            kwargs={"stop": self._stop_watch, "embedder": self.pipeline.embedder},
        )
        self._watcher.start()

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
        self.watch_status = f"Watching `{self.settings.data_dir}` · updated {when}: {outcome}"

    def status_line(self) -> str:
        """The index status shown at the top of the page (with the watcher's last update)."""
        return self.index_view().status

    # ----- index status -------------------------------------------------------------------
    def index_view(self) -> IndexView:
        """Documents, chunks, embedding model, last ingest and failures of the index."""
        store = self.pipeline.store
        stats = store.stats()
        docs = store.documents()
        failures = store.failures()
        last = (datetime.fromtimestamp(stats.last_ingest).strftime("%Y-%m-%d %H:%M:%S")
                if stats.last_ingest else "never")
        model = stats.embedding_model or self.pipeline.embedder.name
        status = (f"**{stats.documents}** documents · **{stats.chunks}** passages · embedding model "
                  f"`{model}` · last ingest {last}")
        if failures:
            status += f" · {len(failures)} file(s) could not be read (see Documents)"
        if self.watch_status:
            status += f"  \n{self.watch_status}"
        rows = [[d.path, d.n_chunks, d.title, datetime.fromtimestamp(d.ingested_at).strftime("%Y-%m-%d %H:%M")]
                for d in docs]
        return IndexView(status, stats.chunks == 0, rows, [[p, r] for p, r in failures],
                         [d.path for d in docs])

    def refresh(self) -> tuple[Any, ...]:
        """Outputs of every index-dependent component (status, notice, tables, remove list)."""
        view = self.index_view()
        notice = EMPTY_HELP.format(data_dir=self.settings.data_dir)
        return (
            view.status,
            gr.update(value=notice, visible=view.empty),
            view.documents,
            view.failures,
            gr.update(choices=view.paths, value=None),
        )

    # ----- chat ---------------------------------------------------------------------------
    def respond(
        self,
        question: str,
        chat: list[dict[str, Any]] | None,
        history: list[list[str]] | None,
        k: float,
        temperature: float,
        max_tokens: float,
    ) -> Iterator[tuple[list[dict[str, Any]], list[list[str]], str]]:
        """Stream the answer to ``question`` into the chat; ``history`` holds earlier turns."""
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
        try:
            for event in self.pipeline.ask(question, [tuple(t) for t in history], k=int(k),
                                           temperature=float(temperature), max_tokens=int(max_tokens)):
                if isinstance(event, (TokenEvent, StatusEvent)):
                    if isinstance(event, TokenEvent):
                        pieces.append(event.text)
                    status = event if isinstance(event, StatusEvent) else None
                    chat[-1] = {"role": "assistant", "content": render_streaming("".join(pieces), status)}
                    yield chat, history, ""
                elif isinstance(event, AnswerEvent):
                    answer = event.answer
        except IndexUnavailableError:
            chat[-1] = {"role": "assistant",
                        "content": render_notice(EMPTY_HELP.format(data_dir=self.settings.data_dir))}
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
                progress((done, total), desc=STAGES.get(stage, stage))
            else:
                progress(None, desc=f"{STAGES.get(stage, stage)}: {done}")

        with self._ingest_lock:  # waits for the folder watcher's or a command-line ingest
            return ingest(self.settings, progress=report, embedder=self.pipeline.embedder, wait=True)

    def add_files(
        self, files: list[str] | None, replace: bool, progress: gr.Progress = gr.Progress()
    ) -> tuple[Any, ...]:
        """Save uploaded files into the data folder under safe names, then ingest them."""
        messages: list[str] = []
        saved: list[str] = []
        kept: list[str] = []
        for path in files or []:
            try:
                target = save_upload(path, self.settings.data_dir, Path(path).name, replace=replace,
                                     max_mb=self.settings.max_upload_mb)
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
                remove_file(self.settings.data_dir, path)
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
            self.pipeline.set_model(path)
            self.pipeline.generator.load()
        except (ModelNotFoundError, RuntimeError) as exc:
            log.warning("Could not load %s: %s", path, exc)
            self.pipeline.set_model(self.model_path)  # keep answering with the previous model
            return f"⚠ {exc} The previous model `{Path(self.model_path).name}` is still in use."
        self.model_path = path
        return f"Model: `{Path(path).name}` (loaded; used for every open tab)"


# ----- layout -------------------------------------------------------------------------------
def build_blocks(page: ChatPage) -> gr.Blocks:
    """The Gradio page over ``page``."""
    settings = page.settings
    choices = model_choices(settings.models_dir, page.model_path)
    with gr.Blocks(title="rag_app — chat with your documents", analytics_enabled=False) as demo:
        gr.Markdown("## Chat with your documents\nAnswers come only from your files, with their sources.")
        status = gr.Markdown(elem_id="index-status")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                notice = gr.Markdown(visible=False, elem_id="empty-notice")
                chatbot = gr.Chatbot(
                    elem_id="chat", height=560, latex_delimiters=[], buttons=["copy"],
                    feedback_options=None, show_label=False,
                    placeholder="Ask a question about your documents. Every answer lists its sources.",
                )
                with gr.Row():
                    question = gr.Textbox(placeholder="Your question…", show_label=False, scale=8,
                                          elem_id="question", autofocus=True, max_lines=6)
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                clear = gr.Button("Clear conversation", size="sm", elem_id="clear")
                history = gr.State([])
            with gr.Tab("Documents", id="documents"):
                kinds = ", ".join(sorted(SUPPORTED_EXTENSIONS))
                gr.Markdown(f"Drop files here ({kinds}; up to {settings.max_upload_mb} MB each). They "
                            f"are saved into `{settings.data_dir}` and indexed at once.")
                upload = gr.File(label="Add documents", file_count="multiple", elem_id="upload",
                                 file_types=sorted(SUPPORTED_EXTENSIONS))
                with gr.Row():
                    replace = gr.Checkbox(label="Replace files with the same name", value=False,
                                          elem_id="replace")
                    add = gr.Button("Add to index", variant="primary", elem_id="add")
                    rescan = gr.Button("Rescan data folder", elem_id="rescan")
                upload_status = gr.Markdown(elem_id="upload-status")
                documents = gr.Dataframe(headers=["Document", "Passages", "Title", "Indexed"],
                                         interactive=False, elem_id="documents", wrap=True)
                failures = gr.Dataframe(headers=["Not indexed", "Reason"], interactive=False,
                                        elem_id="failures", wrap=True)
                with gr.Row():
                    to_remove = gr.Dropdown(label="Remove a document", choices=[], elem_id="remove-choice")
                    confirm = gr.Checkbox(label="Yes, delete the file from the data folder",
                                          value=False, elem_id="remove-confirm")
                    remove = gr.Button("Remove", variant="stop", elem_id="remove")
            with gr.Tab("Settings", id="settings"):
                k = gr.Slider(1, 20, value=settings.top_k, step=1, label="Passages per question")
                temperature = gr.Slider(0.0, 2.0, value=settings.temperature, step=0.05,
                                        label="Temperature")
                max_tokens = gr.Slider(16, 2048, value=settings.max_tokens, step=16,
                                       label="Maximum answer length (tokens)")
                model = gr.Dropdown(label=f"Model (the catalogue's, or any .gguf in {settings.models_dir}/)",
                                    choices=[(c.label, c.path) for c in choices],
                                    value=page.model_path, elem_id="model")
                model_status = gr.Markdown(f"Model: `{Path(page.model_path).name}`")

        index_outputs = [status, notice, documents, failures, to_remove]
        ask_inputs = [question, chatbot, history, k, temperature, max_tokens]
        ask_outputs = [chatbot, history, question]
        for trigger in (question.submit, send.click):
            trigger(page.respond, ask_inputs, ask_outputs, concurrency_limit=CHAT_CONCURRENCY,
                    concurrency_id="chat", show_progress="hidden")
        clear.click(lambda: ([], [], ""), None, [chatbot, history, question], queue=False)

        ingest_options = {"concurrency_limit": 1, "concurrency_id": "ingest"}
        upload.upload(page.add_files, [upload, replace], [upload_status, upload] + index_outputs,
                      **ingest_options)
        add.click(page.add_files, [upload, replace], [upload_status, upload] + index_outputs,
                  **ingest_options)
        rescan.click(page.rescan, None, [upload_status] + index_outputs, **ingest_options)
        remove.click(page.remove, [to_remove, confirm], [upload_status, confirm] + index_outputs,
                     **ingest_options)
        model.change(page.switch_model, model, model_status, concurrency_limit=1,
                     concurrency_id="model")
        demo.load(page.refresh, None, index_outputs, concurrency_limit=CHAT_CONCURRENCY,
                  concurrency_id="status")
        if page.watch_status:  # the watcher updates the index behind the page's back
            gr.Timer(WATCH_REFRESH_S).tick(page.status_line, None, status, queue=False, show_progress="hidden")
    return demo


def serve(
    settings: Settings, *, host: str | None = None, port: int | None = None, watch_folder: bool = False
) -> tuple[gr.Blocks, ChatPage]:
    """Open the index of ``settings`` and start serving the chat page on ``host``:``port``;
    with ``watch_folder``, keep the index in step with the data folder meanwhile.

    Returns at once with the running app; call ``app.block_thread()`` to wait for Ctrl+C and
    `ChatPage.close` afterwards.
    """
    page = ChatPage.open(settings)
    if watch_folder:
        page.start_watching()
    demo = build_blocks(page)
    demo.queue(default_concurrency_limit=CHAT_CONCURRENCY)
    demo.launch(
        server_name=host or settings.host,
        server_port=port or settings.port,
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
        max_file_size=f"{settings.max_upload_mb}mb",
        prevent_thread_lock=True,
        quiet=True,
    )
    return demo, page
