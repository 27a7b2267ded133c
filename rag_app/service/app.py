"""The application service: everything a view can do, in one object over one settings.

The command line, the chat page and the evaluation call `App`; nothing above it imports the
store, the embedder or the models. It opens what a call needs, when it needs it, so `info`
never loads an embedder, `search` never loads the answer model, and a chat page on an empty
index opens at once:

- questions: `ask` (events as they happen), `answer`, `search`, `search_modes`;
- the index: `info`, `ingest`, `watch`, `check`, `backup`, `restore`;
- the data folder: `add_file`, `remove_file`;
- the sources: `source` (a passage in its page or section), `page_image`, `document_file`;
- the answer model: `model_path`, `model_choices`, `switch_model`;
- the model files: `models_overview`, `install_model`, `install_embedder`, `use_model`.

Errors are the layers' own, each with a message that says what to do next, and are exported
here with the types a view shows, so that views import from this module only:
`IndexUnavailableError` (no index, an ingest is writing, another embedder; `IndexDamagedError`:
the index is damaged and nothing is answered from it), `IngestError`,
`ModelNotFoundError`, `ModelAdminError`, `UploadError`, `SourceError`, `EmptyQueryError` and
`ScopeError` (a pattern of ``documents`` matches nothing; both `ValueError`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from pathlib import Path

from rag_app.answer import Answer, AskOptions, EventStream, History, Passage
from rag_app.answering.pipeline import AnswerPipeline, open_index
from rag_app.config import Settings
from rag_app.embedding import Embedder, embedder_from_settings
from rag_app.generation import GenerationServerError, Generator, PrefillResult
from rag_app.grounding.addressed import addressed_to_assistant
from rag_app.ingest.loaders import SUPPORTED_EXTENSIONS
from rag_app.ingest.ocr import PageReader, ocr_cache
from rag_app.ingest.pipeline import IngestError
from rag_app.ingest.pipeline import ingest as run_ingest
from rag_app.ingest.report import INGEST_STAGES, IngestReport, ProgressCallback
from rag_app.ingest.watch import WatchEvent
from rag_app.ingest.watch import watch as run_watch
from rag_app.ingest.workspace import UploadError, inside, remove_file, save_upload
from rag_app.llm.choices import ModelChoice, model_choices
from rag_app.llm.files import ModelNotFoundError
from rag_app.retrieval import MODES, EmptyQueryError, HybridRetriever, ScopeError
from rag_app.service import model_admin
from rag_app.service.info import (
    DocumentInfo,
    IndexInfo,
    SourceView,
    changed_since_indexed,
    index_info,
    page_count,
)
from rag_app.service.model_admin import Choice, InstallProgress, ModelAdminError, ModelsOverview
from rag_app.sources import pdf_pages
from rag_app.sources.context import SourceError, is_pdf, pdf_page_context, section_context
from rag_app.store import (
    ChunkRecord,
    DocumentRecord,
    IndexDamagedError,
    IndexUnavailableError,
    IntegrityReport,
    Store,
    open_store,
    restore_index,
)
from rag_app.store.migrate import CopyReport, copy_index

__all__ = [
    "INGEST_STAGES",
    "SUPPORTED_EXTENSIONS",
    "App",
    "DocumentInfo",
    "EmptyQueryError",
    "ScopeError",
    "GenerationServerError",
    "IndexDamagedError",
    "IndexInfo",
    "IndexUnavailableError",
    "IntegrityReport",
    "IngestError",
    "IngestReport",
    "Choice",
    "ModelAdminError",
    "ModelChoice",
    "ModelNotFoundError",
    "ModelsOverview",
    "PrefillResult",
    "SourceError",
    "SourceView",
    "UploadError",
    "WatchEvent",
]


class App:
    """One user's documents, index and models, as every view uses them.

    ``create``: open an index that does not exist yet as an empty one (the chat page), rather
    than raise `IndexUnavailableError` telling to run ``rag-app ingest`` (the command line).
    ``embedder`` and ``generator`` may be given (tests, evaluation); by default they are built
    from ``settings`` on first use. Close it (or use it as a context manager) when done.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        create: bool = False,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
    ) -> None:
        self.settings = settings
        self._create = create
        self._given_embedder = embedder
        self._generator = generator
        self._store: Store | None = None
        self._pipeline: AnswerPipeline | None = None
        self._opening = threading.Lock()

    # ----- what a call needs, opened on first use ------------------------------------------
    @cached_property
    def embedder(self) -> Embedder:
        """The embedder of ``settings`` (its model loads when it first encodes)."""
        return self._given_embedder or embedder_from_settings(self.settings)

    @property
    def store(self) -> Store:
        """The index, opened for this embedder's vectors."""
        with self._opening:
            if self._store is None:
                self._store = open_index(self.settings, self.embedder, create=self._create,
                                         require_documents=False)
            return self._store

    @property
    def pipeline(self) -> AnswerPipeline:
        """The answer pipeline (resolves the answer model; loads it on the first question)."""
        store = self.store
        with self._opening:
            if self._pipeline is None:
                self._pipeline = AnswerPipeline(self.settings, store=store, embedder=self.embedder,
                                                generator=self._generator)
            return self._pipeline

    # ----- questions ----------------------------------------------------------------------
    def ask(
        self,
        question: str,
        history: History = (),
        *,
        options: AskOptions = AskOptions(),
    ) -> EventStream:
        """The events of answering ``question`` (see `AnswerPipeline.ask`); the last is the answer.
        A view that stops reading early (its client left) closes them, which frees the model."""
        return self.pipeline.ask(question, history, options=options)

    def answer(self, question: str, history: History = (), *, options: AskOptions = AskOptions()) -> Answer:
        """The verified answer to ``question`` (no streaming)."""
        return self.pipeline.answer(question, history, options=options)

    def prefill(self, draft: str, history: History = (), *, options: AskOptions = AskOptions(),
                stop: Callable[[], bool] = lambda: False) -> PrefillResult:
        """Have the model read ahead for a question still being typed, until ``stop()`` (a newer
        draft) or a question (`AnswerPipeline.prefill`)."""
        return self.pipeline.prefill(draft, history, options=options, stop=stop)

    def search(self, query: str, k: int | None = None, documents: Sequence[str] = ()) -> list[Passage]:
        """The ``k`` passages hybrid retrieval ranks first for ``query`` (no answer model); only in
        the documents the patterns ``documents`` choose when given (`ScopeError` when one
        matches nothing)."""
        return self._retriever.search(query, k=k, within=self._retriever.scope(documents))

    def search_modes(
        self, query: str, k: int, *, candidates: int | None = None, modes: Iterable[str] = MODES
    ) -> dict[str, list[Passage]]:
        """The hybrid, dense and BM25 rankings of ``query`` from one state of the index."""
        return self._retriever.search_modes(query, k, modes, candidates=candidates)

    @cached_property
    def _retriever(self) -> HybridRetriever:
        return HybridRetriever(self.store, self.embedder, self.settings.retrieval)

    # ----- the index ----------------------------------------------------------------------
    def info(self) -> IndexInfo:
        """Counts, embedding model, size, last ingest, unreadable files and indexed documents.

        Opens no embedder: an index built with another embedding model is described too.
        """
        if self._store is not None:
            return index_info(self._store)
        with open_store(self.settings.paths.index_dir, self.settings.index, create=self._create) as store:
            return index_info(store)

    def migrate(self, to: str, progress: Callable[[int, int], None] | None = None) -> CopyReport:
        """Copy the index into the other store without embedding again: ``to`` "milvus" copies the
        embedded index of index_dir into Milvus (milvus_uri, milvus_collection), "sqlite" copies
        the Milvus one into index_dir. The target must be empty; the source is left as it was.
        Raises `IndexUnavailableError` (with what to do) when either cannot be used."""
        if to not in ("milvus", "sqlite"):
            raise IndexUnavailableError(f"Cannot migrate to {to!r}: choose milvus or sqlite.")
        index_dir = self.settings.paths.index_dir
        source_kind = "sqlite" if to == "milvus" else "milvus"
        source_settings = self.settings.index.model_copy(update={"store": source_kind})
        target_settings = self.settings.index.model_copy(update={"store": to})
        with open_store(index_dir, source_settings, create=False) as source, \
                open_store(index_dir, target_settings, create=True) as target:
            return copy_index(source, target, progress=progress)

    def check(self, *, full: bool = False, repair: bool = False) -> IntegrityReport:
        """What is damaged in the index (`Store.check`); with ``repair``, the derived parts
        rebuilt first (`Store.repair`). Opens the index without its quick check on open, and no
        embedder. Raises `IndexUnavailableError` when there is no index."""
        try:
            store = open_store(self.settings.paths.index_dir, self.settings.index, create=False, verify=False)
        except IndexDamagedError as exc:  # SQLite cannot read it, or it records no schema
            return IntegrityReport(str(self.settings.paths.index_dir), full, exc.damage)
        with store:
            return store.repair() if repair else store.check(full=full)

    def backup(self, destination: Path) -> Path:
        """A whole, checked copy of the index in the new folder ``destination`` (`Store.backup`),
        taken while questions and an ingest go on; returns the copy's file."""
        with open_store(self.settings.paths.index_dir, self.settings.index, create=False) as store:
            return store.backup(Path(destination))

    def restore(self, source: Path) -> Path | None:
        """Put the backup in ``source`` in place of the embedded index (`restore_index`), the one
        it replaces kept beside it (returned). A running server reads the restored one at its
        next question."""
        if self.settings.index.store == "milvus":
            raise IndexUnavailableError(
                "`rag-app restore` puts a backup back as the embedded index (store = \"sqlite\"); to put "
                "it into Milvus, restore it with store = \"sqlite\", then run `rag-app migrate --to milvus`.")
        return restore_index(Path(source), Path(self.settings.paths.index_dir))

    def ingest(
        self, *, rebuild: bool = False, progress: ProgressCallback | None = None, wait: bool = False
    ) -> IngestReport:
        """Bring the index up to date with the data folder (see `rag_app.ingest.pipeline.ingest`)."""
        return run_ingest(self.settings, rebuild=rebuild, progress=progress, embedder=self.embedder, wait=wait)

    def watch(self, on_event: Callable[[WatchEvent], None], stop: threading.Event | None = None) -> None:
        """Ingest now and whenever the data folder changes, until ``stop`` is set (or Ctrl+C)."""
        run_watch(self.settings, on_event, stop=stop, embedder=self.embedder)

    # ----- the data folder ----------------------------------------------------------------
    def add_file(self, source: str | Path, name: str, *, replace: bool = False) -> Path:
        """Copy an uploaded file into the data folder under a safe name (not indexed yet)."""
        return save_upload(source, self.settings.paths.data_dir, name, replace=replace,
                           max_mb=self.settings.serve.max_upload_mb)

    def remove_file(self, relative_path: str) -> Path:
        """Delete a document's file from the data folder (the next ingest drops it)."""
        return remove_file(self.settings.paths.data_dir, relative_path)

    # ----- the sources ------------------------------------------------------------------------
    def source(self, chunk_id: int, *, sentence: str = "", page: int | None = None) -> SourceView:
        """Passage ``chunk_id`` in its document: its PDF page (or ``page``, to leaf through the
        PDF), or its section, with ``sentence`` (the part that supports an answer) inside it.

        Raises `SourceError` when the passage or its file is gone.
        """
        record = self._chunk(chunk_id)
        file, document = self._indexed_file(record.path)
        changed = changed_since_indexed(file, document)
        if record.page is not None and is_pdf(record.path):
            shown = page or record.page
            on_page = shown == record.page
            context = pdf_page_context(file, shown, record.text if on_page else "", sentence if on_page else "")
            return SourceView(record.path, record.title, record.heading, context, chunk_id, record.text, sentence,
                              shown, page_count(file), record.page, changed, addressed_to_assistant(record.text))
        context = section_context(file, record.char_start, record.text, sentence)
        return SourceView(record.path, record.title, context.heading or record.heading, context, chunk_id,
                          record.text, sentence, passage_page=record.page, changed=changed,
                          addressed=addressed_to_assistant(record.text))

    def document_source(self, path: str, page: int | None = None) -> SourceView:
        """An indexed document without a passage: page ``page`` (default 1) of a PDF, or the
        first section of another format. Raises `SourceError`."""
        file, document = self._indexed_file(path)
        changed = changed_since_indexed(file, document)
        if is_pdf(path):
            shown = page or 1
            return SourceView(path, document.title, "", pdf_page_context(file, shown), page=shown,
                              pages=page_count(file), changed=changed)
        context = section_context(file, 0)
        return SourceView(path, document.title, context.heading, context, changed=changed)

    def page_image(self, path: str, page: int, *, chunk_id: int | None = None,
                   sentence: str = "") -> tuple[bytes, pdf_pages.Highlights]:
        """Page ``page`` of the PDF ``path`` as PNG, with passage ``chunk_id`` and ``sentence``
        highlighted when the passage is on that page, and where the highlights are.
        Raises `SourceError`."""
        file = self.document_file(path)
        passage = ""
        if chunk_id is not None:
            record = self._chunk(chunk_id)
            passage = record.text if record.path == path and record.page == page else ""
        try:
            return pdf_pages.render_page(file, page, passage, sentence if passage else "",
                                         PageReader(ocr_cache(self.settings.paths.cache_dir)))
        except pdf_pages.PdfPageError as exc:
            raise SourceError(str(exc)) from exc

    def document_file(self, path: str) -> Path:
        """The file of indexed document ``path``, for showing or serving it.

        Only a document of the index whose file lies inside the data folder (symbolic links
        resolved; unless ``follow_external_links``, as for ingestion) is given out; anything
        else raises `SourceError`.
        """
        return self._indexed_file(path)[0]

    def _indexed_file(self, path: str) -> tuple[Path, DocumentRecord]:
        data_dir = Path(self.settings.paths.data_dir)
        target = data_dir / path
        found = self.store.documents(path)
        if not found or (not inside(data_dir, target) and not self.settings.ingest.follow_external_links):
            raise SourceError(f"'{path}' is not a document of your index.")
        if not target.is_file():
            raise SourceError(f"'{path}' is no longer in {data_dir}. Run `rag-app ingest` to update the index.")
        return target.resolve(), found[0]

    def _chunk(self, chunk_id: int) -> ChunkRecord:
        found = self.store.chunks([chunk_id])
        if not found:
            raise SourceError(f"Passage {chunk_id} is no longer in the index (its document changed or was "
                              "removed). Ask again to get current sources.")
        return found[0]

    # ----- the answer model ---------------------------------------------------------------
    @property
    def model_path(self) -> Path:
        """The GGUF file answers are written with."""
        return self.pipeline.generator.model_path.resolve()

    def token_counting(self) -> str:
        """How the prompt tokens are counted against the answer model's window (`rag-app info`);
        with an inference server, asks it once (generation/server.py)."""
        return self.pipeline.generator.token_counting()

    def model_choices(self) -> list[ModelChoice]:
        """The models a person can switch to: the catalogue's installed ones and any GGUF file."""
        return model_choices(self.settings.paths.models_dir, str(self.model_path))

    def switch_model(self, path: str | Path) -> None:
        """Load another GGUF model for every later question (waits for the running answer).

        Raises `ModelNotFoundError` or `RuntimeError` (not a loadable GGUF) and then keeps the
        previous model.
        """
        generator = self.pipeline.generator
        previous = generator.model_path
        try:
            generator.set_model(path)
            generator.load()
        except (ModelNotFoundError, RuntimeError):
            generator.set_model(previous)
            raise

    # ----- the model files (`rag-app models`) ----------------------------------------------
    def models_overview(self) -> ModelsOverview:
        """The answer models and embedders, installed or not, and which are in use."""
        return model_admin.overview(self.settings)

    def install_model(self, model_id: str | None = None, progress: InstallProgress | None = None) -> Path:
        """Install an answer model of the catalogue (checked against its SHA-256) or, for an
        embedder id, that embedder; the installed file or folder. Raises `ModelAdminError`."""
        if model_admin.is_embedder(model_id):
            return model_admin.install_embedder_model(self.settings, str(model_id))
        return model_admin.install_answer_model(self.settings, model_id, progress)[2]

    def install_embedder(self) -> Path:
        """Install the default embedder; its folder. Raises `ModelAdminError`."""
        return model_admin.install_embedder_model(self.settings)

    def use_model(self, model: str) -> Choice:
        """Answer (or, for an embedder id, retrieve) with ``model`` from now on, saved in the
        settings file. Raises `ModelNotFoundError` or `ModelAdminError`."""
        return model_admin.use_model(self.settings, model)

    # ----- lifetime -----------------------------------------------------------------------
    def close(self) -> None:
        """Close the index (the models are freed with the process)."""
        with self._opening:
            if self._store is not None:
                self._store.close()
                self._store = None

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
