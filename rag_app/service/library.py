"""Collections: named data folders, each with its own index, served by one process.

A collection is a folder of documents and the index built from it. The collection named
``default`` is the settings' own ``data_dir`` and ``index_dir`` (so a person who never names one
sees nothing change); the others are registered under ``paths.collections_dir``, one folder each
(``<collections_dir>/<name>/collection.toml`` naming its data folder, and ``index/`` beside it),
so that adding, rebuilding or removing one never touches another.

`Library` gives each collection its `App`. Every `App` of a library shares one embedder and one
answer model (loaded once per process); the indexes, their locks and their ingestions are the
collections' own.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag_app.config import Settings, expand_path
from rag_app.durable import write_whole

if TYPE_CHECKING:  # imported when first used, so that listing collections stays quick
    from rag_app.embedding import Embedder
    from rag_app.generation import Generator
    from rag_app.ingest.watch import WatchEvent
    from rag_app.service.app import App

log = logging.getLogger(__name__)

DEFAULT = "default"
NAME_RULE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
REGISTRATION = "collection.toml"


class CollectionError(ValueError):
    """A collection could not be added, found or removed; the message says what to do."""


class UnknownCollectionError(CollectionError):
    """No collection has this name (or the caller may not see it)."""


@dataclass(frozen=True)
class Collection:
    """A named data folder and where its index is kept."""

    name: str
    data_dir: Path
    index_dir: Path


def check_name(name: str) -> str:
    """``name`` if it can name a collection: 1-40 lower-case letters, digits, ``-`` or ``_``."""
    if not NAME_RULE.match(name or ""):
        raise CollectionError(f"'{name}' cannot name a collection: use 1-40 lower-case letters, digits, "
                              "'-' or '_', starting with a letter or digit.")
    return name


class Library:
    """Every collection of ``settings``, each opened as an `App` on first use.

    ``create``: open a collection whose index does not exist yet as an empty one (the server).
    ``embedder`` and ``generator`` may be given (tests); otherwise one of each is built from
    ``settings`` and shared by every collection. Close it when done.
    """

    def __init__(self, settings: Settings, *, create: bool = False, embedder: Embedder | None = None,
                 generator: Generator | None = None) -> None:
        self.settings = settings
        self._create = create
        self._embedder = embedder
        self._generator = generator
        self._apps: dict[str, App] = {}
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        """The folder holding the registered collections."""
        return Path(self.settings.paths.collections_dir)

    # ----- the registry -------------------------------------------------------------------
    def collections(self) -> list[Collection]:
        """``default`` first, then the registered collections by name."""
        found = [Collection(DEFAULT, Path(self.settings.paths.data_dir), Path(self.settings.paths.index_dir))]
        if self.root.is_dir():
            for folder in sorted(self.root.iterdir()):
                if (folder / REGISTRATION).is_file() and NAME_RULE.match(folder.name):
                    found.append(self._read(folder))
        return found

    def names(self) -> list[str]:
        """The collections' names, ``default`` first."""
        return [c.name for c in self.collections()]

    def get(self, name: str | None = None) -> Collection:
        """Collection ``name`` (``default`` when None or empty). Raises `UnknownCollectionError`."""
        name = name or DEFAULT
        if name == DEFAULT:
            return self.collections()[0]
        folder = self.root / name
        if not NAME_RULE.match(name) or not (folder / REGISTRATION).is_file():
            raise UnknownCollectionError(f"There is no collection named '{name}'. `rag-app collections list` "
                                         "shows them; `rag-app collections add NAME DATA_DIR` adds one.")
        return self._read(folder)

    def add(self, name: str, data_dir: Path) -> Collection:
        """Register ``data_dir`` as collection ``name`` (its index is built by the next ingest).
        Raises `CollectionError` for a bad or taken name, or a data folder that does not exist."""
        check_name(name)
        data_dir = expand_path(Path(data_dir)).resolve()
        if name == DEFAULT or (self.root / name / REGISTRATION).exists():
            raise CollectionError(f"A collection named '{name}' exists already; choose another name.")
        if not data_dir.is_dir():
            raise CollectionError(f"{data_dir} is not a folder. Create it (or name the folder your documents "
                                  "are in) and add the collection again.")
        folder = self.root / name
        write_whole(folder / REGISTRATION, f"# rag_app collection '{name}'\ndata_dir = {_toml_string(str(data_dir))}\n")
        return self._read(folder)

    def remove(self, name: str) -> Collection:
        """Forget collection ``name`` and delete its index; its documents are left where they are.
        Raises `CollectionError` for ``default`` and `UnknownCollectionError`."""
        if name == DEFAULT:
            raise CollectionError("The default collection cannot be removed (it is the settings' data_dir).")
        collection = self.get(name)
        with self._lock:
            app = self._apps.pop(name, None)
        if app is not None:
            app.close()
        shutil.rmtree(self.root / name)
        return collection

    def _read(self, folder: Path) -> Collection:
        try:
            values = tomllib.loads((folder / REGISTRATION).read_text(encoding="utf-8"))
            data_dir = Path(values["data_dir"])
        except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
            raise CollectionError(f"{folder / REGISTRATION} is unreadable ({exc}); fix it, or remove the "
                                  f"collection with `rag-app collections remove {folder.name}`.") from exc
        return Collection(folder.name, data_dir, folder / "index")

    # ----- the collections' apps ----------------------------------------------------------
    def settings_for(self, name: str | None = None) -> Settings:
        """The settings of collection ``name``: the library's, with its data and index folders."""
        collection = self.get(name)
        return self.settings.replace(data_dir=collection.data_dir, index_dir=collection.index_dir)

    def app(self, name: str | None = None) -> App:
        """The `App` of collection ``name`` (opened once). Raises `UnknownCollectionError`."""
        from rag_app.service.app import App

        name = name or DEFAULT
        with self._lock:
            if name not in self._apps:
                self._apps[name] = App(self.settings_for(name), create=self._create, embedder=self.embedder,
                                       generator=self.generator)
            return self._apps[name]

    @property
    def embedder(self) -> Embedder:
        """The embedder every collection retrieves with."""
        if self._embedder is None:
            from rag_app.embedding import embedder_from_settings

            self._embedder = embedder_from_settings(self.settings)
        return self._embedder

    @property
    def generator(self) -> Generator:
        """The answer model every collection answers with."""
        if self._generator is None:
            from rag_app.generation import open_generator

            self._generator = open_generator(self.settings.generation, self.settings.paths.models_dir)
        return self._generator

    def watch(self, on_event: Callable[[str, WatchEvent], None], stop: threading.Event) -> None:
        """Keep every collection's index in step with its data folder (`App.watch`, one thread
        each) until ``stop`` is set; ``on_event(name, event)`` tells what each watcher did. A
        collection that cannot be opened or watched is reported as an event with its error and
        leaves the others running."""

        from rag_app.ingest.watch import WatchEvent

        def follow(name: str) -> None:
            try:
                self.app(name).watch(lambda event: on_event(name, event), stop)
            except Exception as exc:  # this collection only; the message says what to do
                log.warning("Watching collection %s stopped: %s", name, exc)
                on_event(name, WatchEvent(error=str(exc)))

        threads = [threading.Thread(target=follow, args=(name,), name=f"watch-{name}", daemon=True)
                   for name in self.names()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def close(self) -> None:
        """Close every collection's index."""
        with self._lock:
            apps, self._apps = list(self._apps.values()), {}
        for app in apps:
            app.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _toml_string(text: str) -> str:
    """``text`` as a TOML basic string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
