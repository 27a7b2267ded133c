"""The Milvus collections of an index: their name, the client that reaches them, and how each
is created (the records; the chunks with their dense, sparse and BM25 fields)."""

from __future__ import annotations

import hashlib
import logging
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from rag_app.store.milvus_rows import TEXT_BYTES
from rag_app.store.records import IndexUnavailableError

if TYPE_CHECKING:
    from pymilvus import MilvusClient

log = logging.getLogger(__name__)

# The analyser of the text field: words lowercased and without accents, as SQLite's FTS5
# (unicode61, remove_diacritics) reads them; no stemming in either.
ANALYZER = {"tokenizer": "standard", "filter": ["lowercase", "asciifolding"]}


def collection_name(index_dir: Path, configured: str = "") -> str:
    """The collections' name: ``configured``, or one derived from the index folder (its name and
    a short hash of its full path), so that each document collection has its own."""
    if configured:
        name = configured
    else:
        resolved = str(Path(index_dir).resolve())
        stem = re.sub(r"[^0-9A-Za-z]+", "_", Path(resolved).name).strip("_") or "index"
        name = f"rag_{stem}_{hashlib.sha256(resolved.encode()).hexdigest()[:8]}"
    if not re.fullmatch(r"[A-Za-z_][0-9A-Za-z_]{0,200}", name):
        raise IndexUnavailableError(
            f"milvus_collection = {name!r} is not a Milvus collection name: use letters, digits and "
            "underscores, starting with a letter or an underscore.")
    return name


def connect(uri: str, token: str = "") -> MilvusClient:
    """A client of the Milvus at ``uri``; `IndexUnavailableError` saying what to check when it
    cannot be reached (or pymilvus is not installed)."""
    with warnings.catch_warnings():
        # milvus-lite 2.5.1 imports pkg_resources (setuptools < 81 keeps it, with a warning).
        warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:
            raise IndexUnavailableError(
                f"store = \"milvus\" needs pymilvus, which is not installed ({exc}): "
                "run `pip install -e '.[milvus]'` (or `make install`).") from exc
        try:
            return MilvusClient(uri=uri, token=token)
        except Exception as exc:  # pymilvus raises its own and grpc's errors here
            raise IndexUnavailableError(
                f"Milvus at {uri} cannot be reached ({str(exc)[:300]}). Check that it is running and that "
                "milvus_uri (and milvus_token) are right, or set store = \"sqlite\".") from exc


def create_records(client: MilvusClient, name: str) -> None:
    """The collection of the index's records (documents, failures, metadata), keyed by a hash."""
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False)
    # The key is a hash of kind and name: Milvus builds filter expressions from primary keys
    # (in `get`, and when an iterator pages), which a quote in a file name would break.
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("kind", DataType.VARCHAR, max_length=16)
    schema.add_field("name", DataType.VARCHAR, max_length=8192)
    schema.add_field("value", DataType.VARCHAR, max_length=TEXT_BYTES)
    schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector in every collection
    index = client.prepare_index_params()
    index.add_index("unused", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index,
                                   consistency_level="Strong")

def create_chunks(client: MilvusClient, name: str, dimension: int, uri: str) -> None:
    """The collection of the chunks: text (with its BM25 function), dense and sparse vectors."""
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("document_id", DataType.INT64)
    schema.add_field("path", DataType.VARCHAR, max_length=8192)
    schema.add_field("ordinal", DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=TEXT_BYTES, enable_analyzer=True,
                     analyzer_params=ANALYZER)
    schema.add_field("text_hash", DataType.VARCHAR, max_length=128)
    schema.add_field("page", DataType.INT64)  # -1: none
    schema.add_field("heading", DataType.VARCHAR, max_length=4096)
    schema.add_field("char_start", DataType.INT64)
    schema.add_field("char_end", DataType.INT64)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dimension)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                 input_field_names=["text"], output_field_names=["sparse"]))
    index = client.prepare_index_params()
    index.add_index("dense", index_type=dense_index_type(client, uri), metric_type="IP")
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(name, schema=schema, index_params=index,
                                   consistency_level="Strong")

def dense_index_type(client: MilvusClient, uri: str) -> str:
    """AUTOINDEX on a Milvus server (it builds HNSW); FLAT (exact) on Milvus Lite, whose
    AUTOINDEX found 0.34 of the exact 10 nearest at 100k vectors here (FLAT: 1.0, in 19 ms).
    Milvus Lite is told apart by its not implementing GetVersion."""
    decorators = logging.getLogger("pymilvus.decorators")  # logs the refusal at ERROR
    level = decorators.level
    decorators.setLevel(logging.CRITICAL)
    try:
        client.get_server_version()
    except Exception:  # noqa: BLE001 - Milvus Lite answers UNIMPLEMENTED
        log.info("Milvus Lite at %s: exact (FLAT) dense search", uri)
        return "FLAT"
    finally:
        decorators.setLevel(level)
    return "AUTOINDEX"
