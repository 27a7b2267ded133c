"""The index: documents, chunks, their vectors and an FTS5 table in one SQLite database.

`Store` (base.py) is what the app reads and writes an index through; `open_store` opens the one
the settings name: `IndexStore` (index_store.py, the default), which reads and, inside
`IndexStore.writing`, writes an index folder, or `MilvusStore` (milvus_store.py, collections on
a Milvus server; `milvus_rows` its rows, `milvus_writer` one commit);
`schema` holds the layout and its migrations, `integrity` the checks of `rag-app check`,
`backup` the backups and their restore, `rebuild` each store's
rebuild from nothing (beside and swapped, or dropped and refilled), `writer` the changes of one transaction and the
writer lock, `vectors` / `vector_index` the dense search kept in step with the database, `fts`
the full-text query syntax. Everything above this package imports from here.
"""

from rag_app.store.backup import restore_index
from rag_app.store.base import IndexLifecycle, IndexReader, IndexWriting, Store, StoreWriter
from rag_app.store.index_store import IndexStore
from rag_app.store.integrity import IntegrityReport
from rag_app.store.opening import open_store
from rag_app.store.rebuild import rebuild_store, staging_dir
from rag_app.store.records import (
    ChunkRecord,
    DiskFullError,
    DocumentRecord,
    IndexBusyError,
    IndexDamagedError,
    IndexMismatchError,
    IndexStats,
    IndexUnavailableError,
    NewChunk,
)
from rag_app.store.writer import IndexWriter

__all__ = [
    "ChunkRecord",
    "DocumentRecord",
    "DiskFullError",
    "IndexBusyError",
    "IndexLifecycle",
    "IndexReader",
    "IndexWriting",
    "IndexDamagedError",
    "IndexMismatchError",
    "IntegrityReport",
    "IndexStats",
    "IndexStore",
    "IndexUnavailableError",
    "IndexWriter",
    "NewChunk",
    "Store",
    "StoreWriter",
    "open_store",
    "rebuild_store",
    "restore_index",
    "staging_dir",
]
