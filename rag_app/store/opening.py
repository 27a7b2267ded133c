"""Opening the index the settings name: the embedded SQLite store or the Milvus one."""

from __future__ import annotations

from pathlib import Path

from rag_app.config import IndexSettings
from rag_app.store.base import Store
from rag_app.store.index_store import IndexStore

MILVUS_LITE_FILE = "milvus.db"  # the Milvus Lite file in index_dir when milvus_uri is empty


def milvus_uri(index_dir: Path | str, settings: IndexSettings) -> str:
    """The Milvus the index is on: ``milvus_uri``, or a Milvus Lite file in the index folder."""
    return settings.milvus_uri or str(Path(index_dir) / MILVUS_LITE_FILE)


def open_store(index_dir: Path | str, settings: IndexSettings, embedding_model: str | None = None,
               dimension: int | None = None, *, create: bool = True, verify: bool = True) -> Store:
    """The index of ``index_dir`` in the engine ``settings.store`` names (see `IndexStore.open`
    and `MilvusStore.open` for the arguments and errors; ``verify``: the quick check on open,
    for the embedded index)."""
    if settings.store == "milvus":
        from rag_app.store.milvus_collections import collection_name
        from rag_app.store.milvus_store import MilvusStore

        index_dir = Path(index_dir)
        if not settings.milvus_uri:  # Milvus Lite writes its file there
            index_dir.mkdir(parents=True, exist_ok=True)
        return MilvusStore.open(milvus_uri(index_dir, settings), settings.milvus_token,
                                collection_name(index_dir, settings.milvus_collection), index_dir,
                                embedding_model, dimension, create=create)
    return IndexStore.open(index_dir, embedding_model, dimension, create=create, verify=verify)
