"""Rebuilding an index from nothing, each store its own way; the caller fills the new one.

`rebuild_store` is what the ingest calls (``ingest --rebuild``): it knows which store the
settings name, and the ingest passes how to fill an index (``fill(location)``: an ingest of the
data folder into that index folder) without knowing any store.

- The embedded index is rebuilt beside the old one and swapped in one step when complete
  (`rebuild_beside`): the old index keeps its writer lock throughout (no other ingest meanwhile)
  and answers questions until the swap; readers reopen the new one at their next question. A
  crash or a kill leaves the old index whole, and the next rebuild goes on from the staging
  folder's last commit (started again if that holds another embedder or chunking).
- Milvus cannot swap a new index in for the old one: its collections are dropped first, and
  questions asked during the rebuild see the index grow from nothing.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from rag_app.config import IndexSettings
from rag_app.durable import exchange
from rag_app.store.index_store import IndexStore
from rag_app.store.opening import open_store
from rag_app.store.records import IndexUnavailableError
from rag_app.store.schema import DB_NAME
from rag_app.store.writer import writer_lock

log = logging.getLogger(__name__)

T = TypeVar("T")
Fill = Callable[[Path], T]  # fills the index folder it is given (an ingest), and says what it did


def rebuild_store(index_dir: Path | str, settings: IndexSettings, fill: Fill[T], *, embedding_model: str,
                  dimension: int, chunking: tuple[int, int], wait: bool = False) -> T:
    """Rebuild the index of ``index_dir`` (in the store ``settings.store`` names) with ``fill``.

    ``embedding_model``, ``dimension`` and ``chunking`` (chunk tokens, overlap) are what the new
    index is built with: a partial rebuild made with others is started again. ``wait``: wait for
    another writer instead of raising `IndexBusyError`.
    """
    if settings.store == "milvus":
        return _drop_and_fill(index_dir, settings, fill, wait=wait)
    return rebuild_beside(Path(index_dir), fill, embedding_model=embedding_model, dimension=dimension,
                          chunking=chunking, wait=wait)


def staging_dir(index_dir: Path | str) -> Path:
    """Where a rebuild builds the new embedded index: a sibling folder of ``index_dir``."""
    index_dir = Path(index_dir)
    return index_dir.with_name(index_dir.name + ".rebuild")


def rebuild_beside(live: Path, fill: Fill[T], *, embedding_model: str, dimension: int, chunking: tuple[int, int],
                   wait: bool = False) -> T:
    """The embedded index: built in `staging_dir` by ``fill``, then swapped with ``live`` in one
    step (see the module doc). Without an index at ``live`` yet, ``fill`` builds it there."""
    if not (live / DB_NAME).exists():
        return fill(live)
    staging = staging_dir(live)
    with writer_lock(live, wait=wait):  # the old index is not opened: it may be the damaged one
        if (staging / DB_NAME).exists():
            try:
                with IndexStore.open(staging, embedding_model, dimension) as partial:
                    partial.check_chunking(*chunking)
            except IndexUnavailableError:
                shutil.rmtree(staging)
        result = fill(staging)
        exchange(staging, live)  # the new index in place, the old one at the staging name
        shutil.rmtree(staging, ignore_errors=True)
    log.info("Rebuilt the index in %s", live)
    return result


def _drop_and_fill(index_dir: Path | str, settings: IndexSettings, fill: Fill[T], *, wait: bool) -> T:
    """Milvus: delete the index's collections, then fill them again (see the module doc)."""
    from rag_app.store.milvus_store import MilvusStore

    with open_store(index_dir, settings) as store, store.writing(wait=wait):
        assert isinstance(store, MilvusStore)
        store.drop()
    log.info("Dropped the index in %s to rebuild it", store.location)
    return fill(Path(index_dir))
