"""The contract every store keeps: the embedded SQLite index, the index on Milvus, and the next one.

As haystack's document stores do, each store's tests inherit `StoreContract` and give one
fixture, ``store_settings`` (the settings that choose that store, fresh for each test): search,
incremental ingest, deletes, a killed ingest resumed, two processes on one index, a rebuild from
nothing, the checks and the backup. A new store (pgvector) starts from a subclass of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from rag_app.config import Settings
from rag_app.embedding import Embedder
from rag_app.ingest.pipeline import ingest
from rag_app.retrieval import HybridRetriever
from rag_app.store import NewChunk, Store, open_store

from conftest import MODELS, kill_after_commits, make_settings, write_bulk_files
from fakes import FakeEmbedder

FAKE = FakeEmbedder()
CLI = [sys.executable, "-m", "rag_app.cli"]


def settings_for(data: Path, index: Path, store: dict[str, str], **extra: object) -> Settings:
    return make_settings(data, index, **store, **extra)


def open_index(settings: Settings, create: bool = False) -> Store:
    return open_store(settings.paths.index_dir, settings.index, create=create)


def env_for(settings: Settings) -> dict[str, str]:
    """The environment a subprocess needs to open the same index."""
    index = settings.index
    return {**os.environ, "RAG_APP_STORE": index.store, "RAG_APP_MILVUS_URI": index.milvus_uri,
            "RAG_APP_MILVUS_COLLECTION": index.milvus_collection, "RAG_APP_MODELS_DIR": str(MODELS)}


def assert_whole(store: Store) -> int:
    """Every stored chunk belongs to a document that names it, and the counts agree; returns
    the chunk count."""
    ids = store.chunk_ids()
    chunks = store.chunks(ids)
    assert [c.id for c in chunks] == ids
    assert sum(d.n_chunks for d in store.documents()) == len(ids) == store.chunk_count()
    return len(ids)


def add(store: Store, path: str, texts: list[str]) -> list[int]:
    with store.transaction(FAKE.name, FAKE.dimension) as writer:
        return writer.add_document(
            path=path, content_hash=path, size=0, mtime=0.0, title=path, metadata={"ocr_pages": "2"},
            chunks=[NewChunk(i, t, f"{i:02x}{len(path):02x}", i + 1, "Heading", 0, len(t))
                    for i, t in enumerate(texts)],
            vectors=FAKE.encode(texts))


KILLED_INGEST = textwrap.dedent(
    """
    import sys
    from rag_app.config import load_settings
    from rag_app.ingest.pipeline import ingest

    def progress(stage, done, total):
        if stage == "chunks":
            print("committed", done, flush=True)

    ingest(load_settings(data_dir=sys.argv[1], index_dir=sys.argv[2], ingest_batch_chunks=6,
                         embedding_batch_size=4), progress=progress)
    """
)


class StoreContract:
    """The tests every store passes; a subclass gives the fixture ``store_settings``."""

    def test_records_and_searches(self, store_settings: dict[str, str], tmp_path: Path) -> None:
        settings = settings_for(tmp_path, tmp_path / "index", store_settings, top_k=3)
        with open_index(settings, create=True) as store, store.writing():
            add(store, "storks.md", ["White storks nest on church towers.", "Storks migrate to Africa in winter."])
            add(store, "pasta.md", ["Cook pasta in salted boiling water.", "Drain the pasta and add the sauce."])
            ids = add(store, "église.md", ["Les cigognes nichent sur le clocher de l'église."])
            with store.transaction(FAKE.name, FAKE.dimension) as writer:
                writer.record_failure('odd "name".pdf', "unreadable", 12, 3.0)
        with open_index(settings) as store:
            retriever = HybridRetriever(store, FAKE, settings.retrieval)
            assert retriever.search("Where do storks nest?")[0].path == "storks.md"
            assert retriever.search("pasta sauce", mode="bm25")[0].path == "pasta.md"
            assert retriever.search("EGLISE", mode="bm25")[0].path == "église.md"  # case and accents
            [chunk] = store.chunks([*ids, 10_000])  # unknown ids skipped
            assert (chunk.page, chunk.heading, chunk.title, chunk.ocr) == (1, "Heading", "église.md", False)
            assert [c.ordinal for c in store.document_chunks("storks.md")] == [0, 1]
            assert store.document_chunks("storks.md")[1].ocr  # page 2 was read by OCR
            assert store.mentions("church towers") and store.mentions("Clocher de l'Eglise")
            assert store.mentions("migr", prefix=True) and not store.mentions("towers church")
            assert not store.mentions("zeppelin") and not store.mentions("...")
            assert store.failures() == [('odd "name".pdf', "unreadable")]
            assert store.known_failures()['odd "name".pdf'] == ("unreadable", 12, 3.0)
            assert set(store.known_vectors(["0009", "ffff"])) == {"0009"}
            assert store.stats().documents == 3 and store.stats().failures == 1
            assert assert_whole(store) == 5


    def test_incremental_ingest_and_delete(self, store_settings: dict[str, str], tmp_path: Path,
                                                          embedder: Embedder) -> None:
        data = tmp_path / "data"
        data.mkdir()
        paragraphs = [f"Paragraph {i} talks about topic number {i} in plain words. " * 6 for i in range(10)]
        (data / "long.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
        (data / "other.md").write_text("# Other\n\nAn unrelated note about gardening tomatoes.\n", encoding="utf-8")
        settings = settings_for(data, tmp_path / "index", store_settings, chunk_tokens=64, chunk_overlap=0)
        first = ingest(settings, embedder=embedder)
        assert first.added == 2 and first.chunks_embedded == first.chunks_total > 4
        assert ingest(settings, embedder=embedder).chunks_embedded == 0  # unchanged: nothing embedded

        paragraphs[-1] = "The last paragraph now mentions zeppelins and nothing else. " * 3
        (data / "long.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
        second = ingest(settings, embedder=embedder)
        assert second.updated == 1 and 1 <= second.chunks_embedded < first.chunks_total - 1
        with open_index(settings) as store:
            hits = store.chunks([i for i, _ in store.bm25_search("zeppelins", 10)])
            assert [c.path for c in hits] == ["long.txt"]
            gone = [c.id for c in store.document_chunks("other.md")]
            assert assert_whole(store) == second.chunks_total

        (data / "other.md").unlink()
        third = ingest(settings, embedder=embedder)
        assert third.removed == 1 and third.chunks_embedded == 0
        with open_index(settings) as store:
            assert "other.md" not in {d.path for d in store.documents()}
            assert store.chunks(gone) == []
            assert not set(gone) & {i for i, _ in store.dense_search(embedder.encode_query("gardening tomatoes"), 50)}
            assert not store.mentions("tomatoes")
            assert assert_whole(store) == third.chunks_total


    def test_a_killed_ingest_resumes(self, store_settings: dict[str, str], tmp_path: Path,
                                                    embedder: Embedder) -> None:
        data = tmp_path / "data"
        write_bulk_files(data, 24)
        settings = settings_for(data, tmp_path / "index", store_settings, ingest_batch_chunks=6)
        proc = subprocess.Popen([sys.executable, "-c", KILLED_INGEST, str(data), str(settings.paths.index_dir)],
                                stdout=subprocess.PIPE, text=True, env=env_for(settings))
        kill_after_commits(proc)  # a few batches committed, killed mid-run

        with open_index(settings) as store:
            finished = len(store.documents())
            kept = sum(d.n_chunks for d in store.documents())
        assert kept >= 12 and 0 < finished < 24
        report = ingest(settings, embedder=embedder)
        assert report.unchanged == finished and report.added == 24 - finished and not report.failed
        assert report.chunks_embedded == report.chunks_total - kept  # nothing committed is embedded again
        with open_index(settings) as store:
            assert assert_whole(store) == report.chunks_total  # what the killed commit left is gone


    def test_two_processes_share_one_index(self, store_settings: dict[str, str], tmp_path: Path,
                                           embedder: Embedder) -> None:
        """An ingest here, questions from another process (the CLI) on the same index."""
        data = tmp_path / "data"
        data.mkdir()
        (data / "herons.md").write_text("# Herons\n\nGrey herons hunt fish in shallow water.\n", encoding="utf-8")
        (data / "storks.md").write_text("# Storks\n\nWhite storks nest on church towers.\n", encoding="utf-8")
        settings = settings_for(data, tmp_path / "index", store_settings)
        ingest(settings, embedder=embedder)

        def search_elsewhere(query: str) -> list[str]:
            command = [*CLI, "search", query, "--json", "--local", "--index-dir", str(settings.paths.index_dir)]
            done = subprocess.run(command, capture_output=True, text=True, env=env_for(settings), timeout=300)
            assert done.returncode == 0, done.stderr
            return [hit["path"] for hit in json.loads(done.stdout)]

        assert search_elsewhere("Where do storks nest?")[0] == "storks.md"
        (data / "storks.md").unlink()
        ingest(settings, embedder=embedder)
        assert "storks.md" not in search_elsewhere("Where do storks nest?")


    def test_it_checks_itself_and_backs_up_into_an_embedded_index(self, store_settings: dict[str, str],
                                                                           tmp_path: Path) -> None:
        settings = settings_for(tmp_path / "data", tmp_path / "index", store_settings)
        with open_index(settings, create=True) as store, store.writing():
            add(store, "a.md", ["Storks nest on church towers.", "Herons hunt at dawn."])
            add(store, "b.md", ["Pasta cooks in salted water."])
            assert store.check(full=True).ok
            copy = store.backup(tmp_path / "backup")
        backup = make_settings(tmp_path / "data", copy.parent)
        with open_index(backup) as restored:  # an embedded index, whatever the store backed up
            assert restored.check(full=True).ok and assert_whole(restored) == 3
            assert [c.text for c in restored.chunks([i for i, _ in restored.bm25_search("herons", 1)])] == [
                "Herons hunt at dawn."]

    def test_a_rebuild_starts_from_nothing(self, store_settings: dict[str, str], tmp_path: Path) -> None:
        """``ingest --rebuild`` through `store.rebuild_store`: the new index holds the folder as it
        is now, and nothing of the old one."""
        data = tmp_path / "data"
        data.mkdir()
        (data / "storks.md").write_text("# Storks\n\nWhite storks nest on church towers.\n", encoding="utf-8")
        (data / "herons.md").write_text("# Herons\n\nGrey herons hunt fish.\n", encoding="utf-8")
        settings = settings_for(data, tmp_path / "index", store_settings)
        assert ingest(settings, embedder=FAKE).added == 2
        (data / "herons.md").unlink()
        (data / "pasta.md").write_text("# Pasta\n\nCook pasta in salted water.\n", encoding="utf-8")
        rebuilt = ingest(settings, embedder=FAKE, rebuild=True)
        assert (rebuilt.added, rebuilt.updated, rebuilt.removed) == (2, 0, 0)  # built anew, not updated
        with open_index(settings) as store:
            assert {d.path for d in store.documents()} == {"storks.md", "pasta.md"}
            assert not store.mentions("herons") and store.mentions("salted water")
            assert assert_whole(store) == 2

    def test_a_scope_is_searched_inside_the_index(self, store_settings: dict[str, str], tmp_path: Path) -> None:
        """Both searches keep to the documents of a scope (`within`), inside the search."""
        settings = settings_for(tmp_path, tmp_path / "index", store_settings)
        with open_index(settings, create=True) as store, store.writing():
            add(store, "storks.md", ["White storks nest on church towers.", "Storks migrate to Africa."])
            add(store, "pasta.md", ["Cook pasta in salted boiling water.", "Drain the pasta."])
            add(store, "église.md", ["Les cigognes nichent sur le clocher."])
        with open_index(settings) as store:
            query = FAKE.encode_query("Where do storks nest?")
            scoped = store.dense_search(query, 5, within={"pasta.md", "église.md"})
            assert {c.path for c in store.chunks([i for i, _ in scoped])} == {"pasta.md", "église.md"}
            assert len(scoped) == 3  # every chunk of the scope, though the question is about storks
            hits = store.bm25_search("storks pasta", 5, within={"pasta.md"})
            assert {c.path for c in store.chunks([i for i, _ in hits])} == {"pasta.md"}
            assert store.dense_search(query, 5, within=set()) == [] == store.bm25_search("pasta", 5, within=set())
