"""The application service: everything a view can do, in one object over one settings.

The command line, the chat page and the evaluation call `App`; nothing above it imports the
store, the embedder or the models. It opens what a call needs, when it needs it, so `info`
never loads an embedder, `search` never loads the answer model, and a chat page on an empty
index opens at once:

- questions: `ask` (events as they happen), `answer`, `search`, `search_modes`;
- the index: `info`, `ingest`, `watch`;
- the data folder: `add_file`, `remove_file`;
- the answer model: `model_path`, `model_choices`, `switch_model`.

Errors are the layers' own, each with a message that says what to do next, and are exported
here with the types a view shows, so that views import from this module only:
`IndexUnavailableError` (no index, an ingest is writing, another embedder), `IngestError`,
`ModelNotFoundError`, `UploadError`, `EmptyQueryError` (a `ValueError`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

from rag_app.answer import Answer, Event, History, Passage
from rag_app.answer_pipeline import AnswerPipeline, open_index
from rag_app.config import Settings
from rag_app.embedding import Embedder, embedder_from_settings
from rag_app.generation import Generator
from rag_app.ingest.loaders import SUPPORTED_EXTENSIONS
from rag_app.ingest.pipeline import IngestError
from rag_app.ingest.pipeline import ingest as run_ingest
from rag_app.ingest.report import IngestReport, ProgressCallback
from rag_app.models import ModelNotFoundError
from rag_app.retrieval import MODES, EmptyQueryError, HybridRetriever
from rag_app.store import IndexStore, IndexUnavailableError
from rag_app.watch import WatchEvent
from rag_app.watch import watch as run_watch
from rag_app.workspace import ModelChoice, UploadError, model_choices, remove_file, save_upload

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "App",
    "DocumentInfo",
    "EmptyQueryError",
    "IndexInfo",
    "IndexUnavailableError",
    "IngestError",
    "IngestReport",
    "ModelChoice",
    "ModelNotFoundError",
    "UploadError",
    "WatchEvent",
]


@dataclass(frozen=True)
class DocumentInfo:
    """One indexed file as a view lists it."""

    path: str
    passages: int
    title: str
    indexed_at: datetime


@dataclass(frozen=True)
class IndexInfo:
    """What the index holds (`rag-app info`, the chat page's status and Documents tab)."""

    index_dir: Path
    documents: int
    chunks: int
    embedding_model: str
    dimension: int
    size_bytes: int
    last_ingest: datetime | None
    failures: list[tuple[str, str]]  # (path, reason) of the files that could not be read
    files: list[DocumentInfo]

    @property
    def last_ingest_text(self) -> str:
        """When the index last changed, for a person: "2026-12-01 09:30:00" or "never"."""
        return self.last_ingest.isoformat(sep=" ", timespec="seconds") if self.last_ingest else "never"


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
        self._store: IndexStore | None = None
        self._pipeline: AnswerPipeline | None = None
        self._opening = threading.Lock()

    # ----- what a call needs, opened on first use ------------------------------------------
    @cached_property
    def embedder(self) -> Embedder:
        """The embedder of ``settings`` (its model loads when it first encodes)."""
        return self._given_embedder or embedder_from_settings(self.settings)

    @property
    def store(self) -> IndexStore:
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
        k: int | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> Iterator[Event]:
        """The events of answering ``question`` (see `AnswerPipeline.ask`); the last is the answer."""
        return self.pipeline.ask(question, history, k=k, temperature=temperature, max_tokens=max_tokens)

    def answer(self, question: str, history: History = (), *, k: int | None = None) -> Answer:
        """The verified answer to ``question`` (no streaming)."""
        return self.pipeline.answer(question, history, k=k)

    def search(self, query: str, k: int | None = None) -> list[Passage]:
        """The ``k`` passages hybrid retrieval ranks first for ``query`` (no answer model)."""
        return self._retriever.search(query, k=k)

    def search_modes(
        self, query: str, k: int, *, candidates: int | None = None, modes: Iterable[str] = MODES
    ) -> dict[str, list[Passage]]:
        """The hybrid, dense and BM25 rankings of ``query`` from one state of the index."""
        return self._retriever.search_modes(query, k, modes, candidates=candidates)

    @cached_property
    def _retriever(self) -> HybridRetriever:
        return HybridRetriever(self.store, self.embedder, self.settings)

    # ----- the index ----------------------------------------------------------------------
    def info(self) -> IndexInfo:
        """Counts, embedding model, size, last ingest, unreadable files and indexed documents.

        Opens no embedder: an index built with another embedding model is described too.
        """
        if self._store is not None:
            return _index_info(self._store)
        with IndexStore.open(self.settings.index_dir, create=self._create) as store:
            return _index_info(store)

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
        return save_upload(source, self.settings.data_dir, name, replace=replace,
                           max_mb=self.settings.max_upload_mb)

    def remove_file(self, relative_path: str) -> Path:
        """Delete a document's file from the data folder (the next ingest drops it)."""
        return remove_file(self.settings.data_dir, relative_path)

    # ----- the answer model ---------------------------------------------------------------
    @property
    def model_path(self) -> Path:
        """The GGUF file answers are written with."""
        return self.pipeline.generator.model_path.resolve()

    def model_choices(self) -> list[ModelChoice]:
        """The models a person can switch to: the catalogue's installed ones and any GGUF file."""
        return model_choices(self.settings.models_dir, str(self.model_path))

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


def _index_info(store: IndexStore) -> IndexInfo:
    stats = store.stats()
    files = [DocumentInfo(d.path, d.n_chunks, d.title, datetime.fromtimestamp(d.ingested_at))
             for d in store.documents()]
    return IndexInfo(
        index_dir=store.index_dir,
        documents=stats.documents,
        chunks=stats.chunks,
        embedding_model=stats.embedding_model,
        dimension=stats.dimension,
        size_bytes=stats.size_bytes,
        last_ingest=datetime.fromtimestamp(stats.last_ingest) if stats.last_ingest else None,
        failures=store.failures(),
        files=files,
    )
