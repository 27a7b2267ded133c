"""The index: documents, chunks, their vectors and an FTS5 table in one SQLite database.

`IndexStore` (index_store.py) reads and, inside `IndexStore.writing`, writes an index folder;
`schema` holds the layout and its migrations, `writer` the changes of one transaction and the
writer lock, `vectors` / `vector_index` the dense search kept in step with the database, `fts`
the full-text query syntax. Everything above this package imports from here.
"""

from rag_app.store.index_store import IndexStore
from rag_app.store.records import (
    ChunkRecord,
    DiskFullError,
    DocumentRecord,
    IndexBusyError,
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
    "IndexMismatchError",
    "IndexStats",
    "IndexStore",
    "IndexUnavailableError",
    "IndexWriter",
    "NewChunk",
]
