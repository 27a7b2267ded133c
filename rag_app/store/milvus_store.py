"""The index on Milvus: the same records and searches as the SQLite store, kept by a server
that several app processes (or machines) share.

Two collections per index, named from ``milvus_collection``:

    <name>_chunks    one row per chunk: its text (analysed, with Milvus's BM25 function writing a
                     sparse vector), its dense vector, where it came from (document id, path,
                     page, heading, offsets) and its text hash
    <name>_records   everything else, by key: ``doc:<path>`` (a document, JSON), ``fail:<path>``
                     (a file that could not be read), ``meta:<key>`` (model, chunking, counters)

Milvus has no transactions, so a commit is ordered to be safe at every step: the new chunks
are inserted first (ids from the ``next_id`` counter); then one upsert writes the documents'
records, the counter and the ids of the documents they replace (``pending``); then the
replaced chunks are deleted. A chunk is read only when its document's record names its
document id, so a document is seen whole, old or new, at every moment. After a kill, the next
writer deletes what an unfinished commit left (chunks at or past ``next_id``, chunks of
``pending`` documents): nothing committed is lost, nothing half-written is read, and only the
unfinished batch is embedded again.

A question reads with Milvus's "Strong" consistency (every write acknowledged before it is
seen); there is no snapshot across its reads beyond the document rule above. Milvus Lite (a
local file path as the URI) serves one process; a server URI serves many. Which index types
each deployment builds, and what Milvus Lite lacks, is in docs/scaling.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag_app.store import checks
from rag_app.store.base import StoreBasics
from rag_app.store.checks import chunking_key
from rag_app.store.fts import fts_token, holds_terms, query_terms
from rag_app.store.integrity import IntegrityReport, timed
from rag_app.store.milvus_collections import connect, create_chunks, create_records
from rag_app.store.milvus_rows import (
    CHUNK_FIELDS,
    chunk_of,
    document_of,
    ids_literal,
    paths_filter,
    record_key,
    record_row,
)
from rag_app.store.milvus_writer import MilvusWriter
from rag_app.store.records import (
    ChunkRecord,
    Damage,
    DocumentRecord,
    IndexStats,
    IndexUnavailableError,
)
from rag_app.store.schema import DB_NAME
from rag_app.store.writer import writer_lock
from rag_app.text import search_words

if TYPE_CHECKING:
    from pymilvus import MilvusClient

log = logging.getLogger(__name__)

QUERY_PAGE = 4096  # rows a query or a query iterator asks for at once (Milvus caps one query at 16,384)
INSERT_ROWS = 512  # chunk rows a request carries (far below gRPC's message limit)
MENTION_CANDIDATES = 100  # BM25 hits whose text is checked for a phrase
_HEX = re.compile(r"^[0-9a-f]+$")


class MilvusStore(StoreBasics):
    """An index kept on Milvus (see the module's docstring); same contract as `IndexStore`."""

    def __init__(self, client: MilvusClient, name: str, index_dir: Path, uri: str,
                 expected: tuple[str, int] | None) -> None:
        self._client = client
        self.name = name
        self.index_dir = index_dir
        self._uri = uri
        self._expected = expected
        self._chunks = f"{name}_chunks"
        self._records = f"{name}_records"
        self._lock = threading.RLock()
        self._writing = False

    # ----- opening -----------------------------------------------------------------------
    @classmethod
    def open(cls, uri: str, token: str, name: str, index_dir: Path | str,
             embedding_model: str | None = None, dimension: int | None = None, *,
             create: bool = True) -> MilvusStore:
        """Open (or, with ``create``, create) the index ``name`` on the Milvus at ``uri``.

        ``index_dir`` is a local folder for the writer lock (one ingest at a time on this
        machine). With ``embedding_model`` and ``dimension``, an index built with another model
        is an `IndexMismatchError`."""
        index_dir = Path(index_dir)
        client = connect(uri, token)
        # Milvus Lite keeps no MVCC timestamps: pymilvus warns so at every iterator, harmlessly
        # (set after pymilvus is imported: its logging set-up would reset it).
        logging.getLogger("pymilvus.orm.iterator").setLevel(logging.ERROR)
        store = cls(client, name, index_dir, uri, (embedding_model, dimension)
                    if embedding_model is not None and dimension is not None else None)
        try:
            if not client.has_collection(store._records):
                if not create:
                    raise IndexUnavailableError(
                        f"No index in {store.location}. Run `rag-app ingest` (or `make ingest`) first, "
                        "or `rag-app migrate --to milvus` to copy the embedded one there.")
                create_records(store._client, store._records)
            if store._expected:
                store.check_model(*store._expected)
        except BaseException:
            store.close()
            raise
        return store

    @property
    def location(self) -> str:
        """Where the index is, for messages."""
        return f"Milvus collection {self.name} at {self._uri}"

    def close(self) -> None:
        """Close the client."""
        with contextlib.suppress(Exception):
            self._client.close()

    def drop(self) -> None:
        """Delete the index's collections (a rebuild starts from nothing)."""
        for collection in (self._chunks, self._records):
            if self._client.has_collection(collection):
                self._client.drop_collection(collection)
        create_records(self._client, self._records)

    # ----- checks and metadata -----------------------------------------------------------
    def check_model(self, embedding_model: str, dimension: int) -> None:
        """Raise `IndexMismatchError` unless the index is empty or built with this model."""
        meta = self._meta()
        checks.check_model(self.location, meta.get("embedding_model"), meta.get("dimension"),
                           embedding_model, dimension)

    def check_chunking(self, chunk_tokens: int, chunk_overlap: int) -> None:
        """Raise `IndexMismatchError` when the index's chunks were cut with other settings."""
        checks.check_chunking(self.location, self._meta().get("chunking"), chunk_tokens, chunk_overlap)

    def _meta(self) -> dict[str, str]:
        rows = self._client.query(self._records, filter='kind == "meta"', output_fields=["name", "value"],
                                  limit=QUERY_PAGE)
        return {row["name"]: row["value"] for row in rows}

    def meta(self, key: str) -> str | None:
        """One recorded value (embedding model, dimension, chunking, generation, …)."""
        return self._meta().get(key)

    # ----- reads ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def snapshot(self) -> Iterator[MilvusStore]:
        """Reads inside are one thread's (Milvus keeps no snapshot across requests; a document
        is still seen whole, see the module's docstring)."""
        with self._lock:
            yield self

    def refresh(self) -> None:
        """Nothing to do: every read sees what is committed (Strong consistency)."""

    def _has_chunks(self) -> bool:
        return bool(self._client.has_collection(self._chunks))

    def _query_all(self, collection: str, filter: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        """Every row matching ``filter``, page by page (past Milvus's cap on one query)."""
        iterator = self._client.query_iterator(collection, batch_size=QUERY_PAGE, filter=filter,
                                               output_fields=fields)
        try:
            while batch := iterator.next():
                yield from batch
        finally:
            iterator.close()

    @property
    def vector_count(self) -> int:
        return self.chunk_count()

    def chunk_count(self) -> int:
        """Number of stored chunks (those of an unfinished commit included, until it is cleaned)."""
        if not self._has_chunks():
            return 0
        rows = self._client.query(self._chunks, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def chunk_ids(self) -> list[int]:
        """All chunk ids, ascending."""
        if not self._has_chunks():
            return []
        return sorted(int(row["id"]) for row in self._query_all(self._chunks, "id >= 0", ["id"]))

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of these chunk ids, in order (unknown ids are an error)."""
        if not ids:
            return np.zeros((0, self.dimension), dtype=np.float32)
        rows = {int(r["id"]): r["dense"] for r in self._rows_by_id(ids, ["id", "dense"])}
        return np.array([rows[int(i)] for i in ids], dtype=np.float32)

    def _rows_by_id(self, ids: Sequence[int], fields: list[str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(int(i) for i in ids))
        for start in range(0, len(unique), QUERY_PAGE):
            part = unique[start:start + QUERY_PAGE]
            rows += self._client.query(self._chunks, filter=f"id in {ids_literal(part)}", output_fields=fields,
                                       limit=len(part))
        return rows

    def dense_search(self, query_vector: np.ndarray, k: int,
                     within: Collection[str] | None = None) -> list[tuple[int, float]]:
        """Chunk ids and cosine scores of the ``k`` nearest vectors (normalized vectors); only
        chunks of the documents at the paths ``within`` when given (a filter inside the search)."""
        if k <= 0 or not self._has_chunks() or (within is not None and not within):
            return []
        hits = self._client.search(self._chunks, data=[np.asarray(query_vector, dtype=np.float32).tolist()],
                                   anns_field="dense", limit=min(k, 16_384), filter=paths_filter(within),
                                   search_params={"metric_type": "IP"}, output_fields=[])
        return [(int(hit["id"]), float(hit["distance"])) for hit in hits[0]]

    def bm25_search(self, text: str, k: int, within: Collection[str] | None = None) -> list[tuple[int, float]]:
        """Chunk ids and BM25 scores (higher is better) from Milvus's BM25 over the text field;
        [] for a text with no word; only the documents at the paths ``within`` when given."""
        terms = query_terms(text)
        if not terms or k <= 0 or not self._has_chunks() or (within is not None and not within):
            return []
        hits = self._client.search(self._chunks, data=[" ".join(terms)], anns_field="sparse",
                                   limit=min(k, 16_384), search_params={"metric_type": "BM25"},
                                   filter=paths_filter(within), output_fields=[])
        return [(int(hit["id"]), float(hit["distance"])) for hit in hits[0]]

    def mentions(self, term: str, prefix: bool = False) -> bool:
        """Whether a chunk holds ``term``'s words in a row (``prefix``: the last one may start a
        longer word), whatever the case and accents.

        Milvus Lite refuses TEXT_MATCH and PHRASE_MATCH, so the candidates are the chunks BM25
        finds for the words (every chunk holding all of them scores above those that do not),
        and the phrase is checked on their text; a prefix adds the chunks whose text contains it
        as written (``like``, which sees case and accents)."""
        words = search_words(term)
        if not words or not self._has_chunks():
            return False
        wanted = [fts_token(w) for w in words]
        candidates = [row["text"] for row in self._search_texts(" ".join(words))]
        if prefix:
            for form in dict.fromkeys([words[-1], words[-1].capitalize(), words[-1].upper()]):
                candidates += [row["text"] for row in self._client.query(
                    self._chunks, filter=f'text like "%{form}%"', output_fields=["text"],
                    limit=MENTION_CANDIDATES)]
        return any(holds_terms(text, wanted, prefix) for text in candidates)

    def _search_texts(self, text: str) -> list[dict[str, Any]]:
        hits = self._client.search(self._chunks, data=[text], anns_field="sparse", limit=MENTION_CANDIDATES,
                                   search_params={"metric_type": "BM25"}, output_fields=["text"])
        return [hit["entity"] for hit in hits[0]]

    def chunks(self, ids: Sequence[int]) -> list[ChunkRecord]:
        """The chunks with these ids, in the order of ``ids`` (unknown ids, and chunks of a
        commit not finished or of a document replaced since, are skipped)."""
        if not ids or not self._has_chunks():
            return []
        rows = self._rows_by_id(ids, CHUNK_FIELDS)
        documents = self._documents_at({r["path"] for r in rows})
        by_id = {int(r["id"]): chunk_of(r, documents[r["path"]]) for r in rows
                 if r["path"] in documents and documents[r["path"]].id == int(r["document_id"])}
        return [by_id[int(i)] for i in ids if int(i) in by_id]

    def document_chunks(self, path: str) -> list[ChunkRecord]:
        """All chunks of one document, in order."""
        found = self.documents(path)
        if not found or not self._has_chunks():
            return []
        document = found[0]
        rows = list(self._query_all(self._chunks, f"document_id == {document.id}", CHUNK_FIELDS))
        return [chunk_of(r, document) for r in sorted(rows, key=lambda r: int(r["ordinal"]))]

    def _documents_at(self, paths: set[str]) -> dict[str, DocumentRecord]:
        """The current documents at these paths."""
        if not paths:
            return {}
        rows = self._client.get(self._records, ids=[record_key("doc", p) for p in sorted(paths)],
                                output_fields=["name", "value"])
        return {doc.path: doc for doc in map(document_of, rows)}

    def documents(self, path: str | None = None) -> list[DocumentRecord]:
        """Every indexed document with its chunk count, by path (only ``path``'s, when given)."""
        if path is not None:
            return list(self._documents_at({path}).values())
        rows = self._query_all(self._records, 'kind == "doc"', ["name", "value"])
        return sorted((document_of(row) for row in rows), key=lambda d: d.path)

    def failures(self) -> list[tuple[str, str]]:
        """Files the last ingestions could not read, as (path, reason)."""
        return sorted((path, reason) for path, (reason, _, _) in self.known_failures().items())

    def known_failures(self) -> dict[str, tuple[str, int, float]]:
        """Recorded failures as path -> (reason, size, mtime)."""
        found = {}
        for row in self._query_all(self._records, 'kind == "fail"', ["name", "value"]):
            value = json.loads(row["value"])
            found[row["name"]] = (value["reason"], int(value["size"]), float(value["mtime"]))
        return found

    def known_vectors(self, text_hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors of chunks whose text hash is among ``text_hashes`` (for reuse)."""
        unique = [h for h in dict.fromkeys(text_hashes) if _HEX.match(h)]
        if not unique or not self._has_chunks():
            return {}
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(unique), 500):
            quoted = ",".join(f'"{h}"' for h in unique[start:start + 500])
            for row in self._query_all(self._chunks, f"text_hash in [{quoted}]", ["text_hash", "dense"]):
                found.setdefault(row["text_hash"], np.asarray(row["dense"], dtype=np.float32))
        return found

    def stats(self) -> IndexStats:
        """Counts and model (Milvus reports no size on disk for a collection: 0)."""
        meta = self._meta()
        last = meta.get("last_ingest")
        return IndexStats(
            documents=len(self.documents()),
            chunks=self.chunk_count(),
            embedding_model=meta.get("embedding_model", ""),
            dimension=int(meta.get("dimension") or 0),
            size_bytes=0,
            last_ingest=float(last) if last else None,
            failures=len(self.known_failures()),
        )

    # ----- integrity and backup ------------------------------------------------------------
    def check(self, *, full: bool = False, vectors: bool = True) -> IntegrityReport:
        """What disagrees, through Milvus's API: the chunks each document records against the
        chunks stored (Milvus checks its own files)."""
        started = time.perf_counter()
        report = IntegrityReport(self.location, full)
        recorded, stored = sum(d.n_chunks for d in self.documents()), self.chunk_count()
        if recorded != stored:
            report.damage.append(Damage("chunks", f"{stored} chunks stored for {recorded} the documents record"))
        return timed(report, started)

    def repair(self) -> IntegrityReport:
        """Nothing is derived here: the check, unchanged."""
        return self.check(full=True)

    def backup(self, destination: Path) -> Path:
        """Export the index into a SQLite index in ``destination`` (`migrate.copy_index`):
        `rag-app restore` puts it back as an embedded index, `rag-app migrate --to milvus`
        into Milvus again."""
        from rag_app.store.index_store import IndexStore
        from rag_app.store.migrate import copy_index

        with IndexStore.open(destination) as target:
            copy_index(self, target)
        return Path(destination) / DB_NAME

    # ----- writes --------------------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self, *, wait: bool = False) -> Iterator[MilvusStore]:
        """Hold the index for writing: the writer lock of ``index_dir`` (one ingest at a time on
        this machine; writers on several machines must take turns themselves), then clean what
        an unfinished commit left."""
        if self._writing:
            yield self
            return
        self.index_dir.mkdir(parents=True, exist_ok=True)
        with writer_lock(self.index_dir, wait=wait):
            self._writing = True
            try:
                self._clean_unfinished()
                yield self
            finally:
                self._writing = False

    def _clean_unfinished(self) -> None:
        """Delete the chunks of a commit a kill interrupted, and those of documents it replaced."""
        if not self._has_chunks():
            return
        meta = self._meta()
        next_id = int(meta.get("next_id") or 1)
        pending = json.loads(meta.get("pending") or "[]")
        self._client.delete(self._chunks, filter=f"id >= {next_id}")
        if pending:
            self._client.delete(self._chunks, filter=f"document_id in {ids_literal(pending)}")
            self._set_meta({"pending": "[]"})
            log.info("Removed the chunks of %d replaced documents left by an interrupted commit", len(pending))

    def _set_meta(self, values: dict[str, str]) -> None:
        self._client.upsert(self._records, [record_row("meta", key, value) for key, value in values.items()])

    @contextlib.contextmanager
    def transaction(self, embedding_model: str, dimension: int, *,
                    chunking: tuple[int, int] | None = None) -> Iterator[MilvusWriter]:
        """One commit, applied in the safe order of the module's docstring when the block ends
        (nothing is written if it raises). Must be called inside `writing`."""
        if not self._writing:
            raise RuntimeError("MilvusStore.transaction() needs MilvusStore.writing() first")
        self.check_model(embedding_model, dimension)
        if not self._has_chunks():
            create_chunks(self._client, self._chunks, dimension, self._uri)
        meta = self._meta()
        writer = MilvusWriter(self, int(meta.get("next_id") or 1))
        yield writer
        writer.commit({
            "generation": str(int(meta.get("generation") or 0) + 1),
            "embedding_model": embedding_model,
            "dimension": str(dimension),
            "last_ingest": repr(time.time()),
        } | ({"chunking": chunking_key(*chunking)} if chunking else {}))

    def update_vector_cache(self) -> bool:
        """Nothing to do: Milvus keeps its own indexes."""
        return False

    def insert_rows(self, rows: list[dict[str, Any]]) -> None:
        """Insert chunk rows, ``INSERT_ROWS`` a request."""
        for start in range(0, len(rows), INSERT_ROWS):
            self._client.insert(self._chunks, rows[start:start + INSERT_ROWS])

    def upsert_records(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._client.upsert(self._records, rows)

    def delete_records(self, names: list[str]) -> None:
        """Delete the records named ``kind:name`` (``doc:notes/a.md``)."""
        if names:
            self._client.delete(self._records, ids=[record_key(*name.split(":", 1)) for name in names])

    def delete_document_chunks(self, document_ids: list[int]) -> None:
        if document_ids and self._has_chunks():
            self._client.delete(self._chunks, filter=f"document_id in {ids_literal(document_ids)}")
