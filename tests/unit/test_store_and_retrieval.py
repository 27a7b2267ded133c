"""The index and hybrid retrieval with a fake embedder: commits, snapshots, deltas, IVF, fusion."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag_app.config import Settings
from rag_app.retrieval import HybridRetriever
from rag_app.store import IndexBusyError, IndexStore, NewChunk

from fakes import FakeEmbedder

EMBEDDER = FakeEmbedder()
DOCUMENTS = {
    "herons.md": ["Grey herons hunt fish in shallow water.", "Herons nest in colonies called heronries."],
    "storks.md": ["White storks nest on church towers.", "Storks migrate to Africa in winter."],
    "pasta.md": ["Cook pasta in salted boiling water.", "Drain the pasta and add the sauce."],
}


def add(store: IndexStore, path: str, texts: list[str]) -> list[int]:
    with store.transaction(EMBEDDER.name, EMBEDDER.dimension) as writer:
        return writer.add_document(
            path=path, content_hash=path, size=0, mtime=0.0, title="", metadata={},
            chunks=[NewChunk(i, t, f"{path}{i}", None, "", 0, len(t)) for i, t in enumerate(texts)],
            vectors=EMBEDDER.encode(texts),
        )


@pytest.fixture
def index(tmp_path: Path) -> Path:
    with IndexStore.open(tmp_path) as store, store.writing():
        for path, texts in DOCUMENTS.items():
            add(store, path, texts)
    return tmp_path


def search(store: IndexStore, question: str, mode: str = "hybrid") -> list[str]:
    settings = Settings(data_dir=".", index_dir=store.index_dir, top_k=3)
    return [p.path for p in HybridRetriever(store, EMBEDDER, settings.retrieval).search(question, mode=mode)]


def test_hybrid_search_finds_the_document_by_words_and_by_vector(index: Path) -> None:
    with IndexStore.open(index, EMBEDDER.name, EMBEDDER.dimension) as store:
        assert search(store, "Where do storks nest?")[0] == "storks.md"
        assert search(store, "pasta sauce", mode="bm25")[0] == "pasta.md"
        assert search(store, "herons fish", mode="dense")[0] == "herons.md"
        assert store.vector_ids().tolist() == store.chunk_ids()


def test_a_reader_follows_commits_by_their_delta(index: Path) -> None:
    reader = IndexStore.open(index, EMBEDDER.name, EMBEDDER.dimension)
    assert reader.vector_count == 6
    with IndexStore.open(index) as writer, writer.writing():
        with writer.transaction(EMBEDDER.name, EMBEDDER.dimension) as change:
            change.remove_document("pasta.md")
        add(writer, "cranes.md", ["Cranes dance in pairs before they nest."])
    assert reader.vector_ids().tolist() == reader.chunk_ids() and reader.vector_count == 5
    assert reader._mirror.changed_since_cache == 6 + 3  # type: ignore[attr-defined]  # built (6), then -2 and +1
    assert "pasta.md" not in search(reader, "pasta")
    reader.close()


def test_one_writer_at_a_time(index: Path) -> None:
    with IndexStore.open(index) as first, first.writing():
        with IndexStore.open(index) as second:
            with pytest.raises(IndexBusyError, match="already updating"):
                with second.writing():
                    pass
            assert second.chunk_count() == 6  # reading is not affected


def test_the_ivf_index_and_its_cache_give_the_same_hits_as_exact_search(
    index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rag_app.store.index_store as store_module
    import rag_app.store.vector_index as vector_module

    with IndexStore.open(index) as store:
        exact = [search(store, q, mode="dense")[0] for q in ("storks towers", "boiling water", "heronries")]
    monkeypatch.setattr(vector_module, "IVF_MIN_VECTORS", 2)
    monkeypatch.setattr(store_module, "CACHE_MIN_VECTORS", 1)
    with IndexStore.open(index) as writer, writer.writing():
        assert writer.update_vector_cache() and writer.approximate
    with IndexStore.open(index) as store:
        assert store.approximate  # loaded from the cache
        assert [search(store, q, mode="dense")[0] for q in ("storks towers", "boiling water", "heronries")] == exact
