"""The stores' contract (tests/store_contract.py) run on each store: the embedded SQLite index and
the index on a real Milvus (the core milvus-lite embeds, serving 127.0.0.1 for the run); and
`migrate` from one to the other and back."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from store_contract import CLI, StoreContract, assert_whole, env_for, open_index

from rag_app.config import Settings
from rag_app.embedding import Embedder
from rag_app.ingest.pipeline import ingest

from conftest import make_settings


class TestEmbeddedStore(StoreContract):
    @pytest.fixture
    def store_settings(self) -> dict[str, str]:
        return {"store": "sqlite"}


class TestMilvusStore(StoreContract):
    @pytest.fixture
    def store_settings(self, milvus_uri: str) -> dict[str, str]:
        """A fresh collection per test."""
        return {"store": "milvus", "milvus_uri": milvus_uri, "milvus_collection": f"t_{uuid.uuid4().hex[:12]}"}


def test_migrate_to_milvus_and_back(milvus_uri: str, demo_index: Settings, tmp_path: Path,
                                    embedder: Embedder) -> None:
    """`rag-app migrate` copies the vectors (nothing embedded), counts and searches the same."""
    collection = f"t_{uuid.uuid4().hex[:12]}"
    index_dir = tmp_path / "index"
    shutil.copytree(demo_index.paths.index_dir, index_dir)
    milvus = make_settings(demo_index.paths.data_dir, index_dir, store="milvus", milvus_uri=milvus_uri,
                           milvus_collection=collection)

    def migrate(to: str, index: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, "migrate", "--to", to, "--json", "--index-dir", str(index)],
                              capture_output=True, text=True, env=env_for(milvus), timeout=300)

    done = migrate("milvus", index_dir)
    assert done.returncode == 0, done.stderr
    there = json.loads(done.stdout)
    with open_index(demo_index) as original, open_index(milvus) as copy:
        assert there["chunks"] == copy.chunk_count() == original.chunk_count()
        assert there["documents"] == len(copy.documents()) == len(original.documents())
        assert there["same_top10"] == 1.0
        assert copy.meta("chunking") == original.meta("chunking")
        assert assert_whole(copy) == original.chunk_count()
    again = migrate("milvus", index_dir)  # into an index that is not empty: refused, nothing changed
    assert again.returncode == 1 and "not empty" in again.stderr + again.stdout

    back_dir = tmp_path / "back"
    done = migrate("sqlite", back_dir)
    assert done.returncode == 0, done.stderr
    back = make_settings(demo_index.paths.data_dir, back_dir)
    with open_index(demo_index) as original, open_index(back) as copy:
        assert json.loads(done.stdout)["same_top10"] == 1.0
        assert [(d.path, d.content_hash, d.n_chunks) for d in copy.documents()] == [
            (d.path, d.content_hash, d.n_chunks) for d in original.documents()]
        question = "Combien de mémoire faut-il pour un modèle de 7 milliards de paramètres ?"
        found = [[(c.path, c.ordinal) for c in store.chunks([i for i, _ in store.bm25_search(question, 10)])]
                 for store in (original, copy)]
        assert found[0] == found[1]
    report = ingest(back, embedder=embedder)  # the copy is whole: an ingest of the folder embeds nothing
    assert (report.chunks_embedded, report.added, report.updated, report.removed) == (0, 0, 0, 0)
