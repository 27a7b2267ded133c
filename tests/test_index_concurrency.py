"""The index while it is being written: readers never wait, one writer at a time, crashes lose
at most a batch, and one question reads one committed state."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Collection
from pathlib import Path

import numpy as np
import pytest

from rag_app.config import Settings
from rag_app.embedding import Embedder
from rag_app.ingest.pipeline import ingest
from rag_app.retrieval import HybridRetriever
from rag_app.store import IndexBusyError, IndexStore

from conftest import MODELS, assert_consistent, kill_after_commits, make_settings, write_bulk_files

CLI = [sys.executable, "-m", "rag_app.cli"]

# Holds the index the way an ingest does in the middle of a commit: the writer lock taken and
# a write transaction open (a document already deleted in it), until it is killed.
HOLD_WRITE = textwrap.dedent(
    """
    import sys, time
    from rag_app.store import IndexStore

    store = IndexStore.open(sys.argv[1])
    with store.writing(), store.transaction(store.embedding_model, store.dimension) as writer:
        writer.remove_document(sys.argv[2])
        print("holding", flush=True)
        time.sleep(600)
    """
)


@pytest.fixture
def held_index(demo_index: Settings, tmp_path: Path):
    """A copy of the demo index with a writer holding it mid-transaction (notes removed in it)."""
    index_dir = tmp_path / "index"
    shutil.copytree(demo_index.paths.index_dir, index_dir)
    victim = "chunking_and_embeddings.md"
    with IndexStore.open(index_dir) as store:
        assert store.document_chunks(victim)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITE, str(index_dir), victim],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    yield index_dir, victim
    holder.kill()
    holder.wait()


def run_cli(*args: str, index_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "RAG_APP_INDEX_DIR": str(index_dir), "RAG_APP_MODELS_DIR": str(MODELS), **env}
    return subprocess.run([*CLI, *args], env=environment, capture_output=True, text=True, timeout=300)


def test_info_search_and_ask_work_while_an_ingest_holds_the_index(held_index: tuple[Path, str]) -> None:
    index_dir, victim = held_index
    # The holder never lets go: a reader that waited for it would fail, not just be slow.
    info = run_cli("info", "--json", index_dir=index_dir)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["documents"] == 8  # the uncommitted removal is not seen

    search = run_cli("search", "How are documents split into chunks?", "--json", index_dir=index_dir)
    assert search.returncode == 0, search.stderr
    assert victim in search.stdout

    ask = run_cli("ask", "How are documents split into chunks?", "--json", "-k", "2", index_dir=index_dir,
                  RAG_APP_MODEL="smollm2-135m")
    assert ask.returncode == 0, ask.stderr
    assert "unreadable" not in ask.stderr + ask.stdout and "rebuild" not in ask.stderr


def test_a_second_ingest_says_one_is_running_and_can_wait_for_it(held_index: tuple[Path, str], tmp_path: Path) -> None:
    index_dir, _ = held_index
    data = tmp_path / "data"
    data.mkdir()
    (data / "new.md").write_text("# New\n\nA note written while another ingest runs.\n", encoding="utf-8")
    second = run_cli("ingest", "--data-dir", str(data), index_dir=index_dir)
    assert second.returncode == 1
    message = " ".join(second.stderr.split())
    assert "already updating the index" in message and "--wait" in message
    assert "rebuild" not in message and "unreadable" not in message

    with IndexStore.open(index_dir) as store, pytest.raises(IndexBusyError):
        with store.writing(wait=False):
            pass


def test_a_waiting_ingest_starts_when_the_other_one_ends(demo_index: Settings, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(demo_index.paths.index_dir, index_dir)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITE, str(index_dir), "chunking_and_embeddings.md"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    data = tmp_path / "data"
    shutil.copytree(demo_index.paths.data_dir, data)
    environment = {**os.environ, "RAG_APP_INDEX_DIR": str(index_dir), "RAG_APP_MODELS_DIR": str(MODELS)}
    waiting = subprocess.Popen([*CLI, "ingest", "--wait", "--json", "--data-dir", str(data)], env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with pytest.raises(subprocess.TimeoutExpired):
        waiting.wait(timeout=15)  # still waiting: the holder has not let go
    holder.kill()  # killed mid-transaction: nothing of it is committed
    holder.wait()
    out, err = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, err
    report = json.loads(out)
    assert report["unchanged"] == 8 and report["chunks_embedded"] == 0
    assert assert_consistent(index_dir) == report["chunks_total"]


KILLED_INGEST = textwrap.dedent(
    """
    import sys
    from rag_app.config import Settings
    from rag_app.ingest.pipeline import ingest

    def progress(stage, done, total):
        if stage == "chunks":
            print("committed", done, flush=True)

    ingest(Settings(data_dir=sys.argv[1], index_dir=sys.argv[2], models_dir=sys.argv[3],
                    ingest_batch_chunks=6, embedding_batch_size=4), progress=progress)
    """
)


def test_a_killed_ingest_keeps_its_committed_batches_and_the_next_one_resumes(
    tmp_path: Path, embedder: Embedder
) -> None:
    data = tmp_path / "data"
    write_bulk_files(data, 30)
    settings = make_settings(data, tmp_path / "index", ingest_batch_chunks=6)
    index_dir = str(settings.paths.index_dir)
    proc = subprocess.Popen([sys.executable, "-c", KILLED_INGEST, data.as_posix(), index_dir, str(MODELS)],
                            stdout=subprocess.PIPE, text=True)
    kill_after_commits(proc)  # a few batches committed, killed mid-run
    assert proc.returncode == -signal.SIGKILL

    kept = assert_consistent(settings.paths.index_dir)
    with IndexStore.open(settings.paths.index_dir) as store:
        finished = len(store.documents())
    assert kept >= 12 and 0 < finished < 30

    report = ingest(settings, embedder=embedder)
    assert report.unchanged == finished and report.added == 30 - finished and not report.failed
    assert report.chunks_embedded == report.chunks_total - kept  # nothing committed is embedded again
    assert assert_consistent(settings.paths.index_dir) == report.chunks_total
    assert not list(settings.paths.index_dir.glob("*.tmp"))


def test_one_question_reads_one_committed_state(demo_index: Settings, tmp_path: Path, embedder: Embedder) -> None:
    """An ingest commits between the dense and the BM25 search of a question: the question still
    reads the state it started with, dense list, BM25 list and chunk texts alike."""
    index_dir = tmp_path / "index"
    shutil.copytree(demo_index.paths.index_dir, index_dir)
    settings = make_settings(demo_index.paths.data_dir, index_dir)
    reader = IndexStore.open(index_dir, embedder.name, embedder.dimension)
    writer = IndexStore.open(index_dir)
    retriever = HybridRetriever(reader, embedder, settings.retrieval)
    question = "How are documents split into chunks before embedding?"
    before = retriever.search(question)
    victim = before[0].path
    assert before[0].bm25_rank is not None and before[0].dense_rank is not None

    dense_search = reader.dense_search

    def dense_then_commit(vector: np.ndarray, k: int, within: Collection[str] | None = None
                          ) -> list[tuple[int, float]]:
        hits = dense_search(vector, k, within)
        with writer.writing(), writer.transaction(embedder.name, embedder.dimension) as change:
            change.remove_document(victim)
        return hits

    reader.dense_search = dense_then_commit  # type: ignore[method-assign]
    during = retriever.search(question)
    reader.dense_search = dense_search  # type: ignore[method-assign]
    assert [(p.chunk_id, p.bm25_rank, p.text) for p in during] == [(p.chunk_id, p.bm25_rank, p.text) for p in before]

    after = retriever.search(question)  # the next question sees the commit, vectors included
    assert victim not in {p.path for p in after}
    assert not set(reader.vector_ids().tolist()) & {p.chunk_id for p in before if p.path == victim}
    reader.close()
    writer.close()


def test_opening_an_index_writes_nothing(demo_index: Settings, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(demo_index.paths.index_dir, index_dir)
    os.chmod(index_dir / "index.sqlite3", 0o444)  # a reader that tried to write would fail
    try:
        with IndexStore.open(index_dir, create=False) as store:
            assert store.stats().documents == 8 and store.vector_count == store.chunk_count()
    finally:
        os.chmod(index_dir / "index.sqlite3", 0o644)


@pytest.mark.parametrize("command", [["ingest", "--json"], ["info", "--json"],
                                     ["search", "Combien de mémoire pour un modèle 7B ?", "--json"]])
def test_unchanged_ingest_info_and_search_import_no_torch(demo_index: Settings, command: list[str]) -> None:
    """They start at once: nothing to embed, or a question embedded by ONNX Runtime."""
    script = textwrap.dedent(
        """
        import json, sys
        from rag_app.cli import app
        try:
            app(sys.argv[1:])
        except SystemExit as exit:
            assert not exit.code, exit.code
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "sentence_transformers", "transformers"))
        print(json.dumps(heavy))
        """
    )
    environment = {**os.environ, "RAG_APP_INDEX_DIR": str(demo_index.paths.index_dir),
                   "RAG_APP_DATA_DIR": str(demo_index.paths.data_dir), "RAG_APP_MODELS_DIR": str(MODELS)}
    done = subprocess.run([sys.executable, "-c", script, *command], env=environment, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    output = json.loads("\n".join(lines[:-1]))
    if command[0] == "ingest":
        assert output["unchanged"] == 8
    elif command[0] == "search":
        assert output[0]["path"] == "quantification_memoire.txt"
    assert json.loads(lines[-1]) == []


def _downgrade_to_schema_1(index_dir: Path) -> None:
    """Turn a copy of a current index into what rag_app wrote before (vectors in FAISS only)."""

    import faiss

    with IndexStore.open(index_dir) as store:
        ids = store.vector_ids()
        vectors = faiss.IndexIDMap2(faiss.IndexFlatIP(store.dimension))
        vectors.add_with_ids(store.vectors(ids.tolist()), ids)
        generation = store.generation
    faiss.write_index(vectors, str(index_dir / f"vectors-{generation}.faiss"))
    conn = sqlite3.connect(index_dir / "index.sqlite3")
    conn.executescript(
        """
        DROP TABLE vectors; DROP TABLE removed_chunks; DROP TABLE chunks_vocab; DROP TRIGGER chunks_ad;
        CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
            INSERT INTO chunks_fts(chunks_fts, rowid, text, heading) VALUES ('delete', old.id, old.text, old.heading);
        END;
        UPDATE meta SET value = '1' WHERE key = 'schema_version';
        """
    )
    conn.execute("INSERT INTO meta(key, value) VALUES ('faiss_file', ?)", (f"vectors-{generation}.faiss",))
    conn.commit()
    conn.close()


def test_an_index_from_the_previous_version_is_upgraded_without_embedding_again(
    demo_index: Settings, tmp_path: Path, embedder: Embedder
) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(demo_index.paths.index_dir, index_dir)
    with IndexStore.open(index_dir) as store:
        ids = store.chunk_ids()
        before = dict(zip(ids, store.vectors(ids), strict=True))
    _downgrade_to_schema_1(index_dir)

    with IndexStore.open(index_dir, embedder.name, embedder.dimension, create=False) as store:
        assert store.meta("schema_version") == "2" and store.meta("faiss_file") is None
    kept = index_dir.with_name("index.schema-1")  # the index as it was, kept before the upgrade
    old = sqlite3.connect(kept / "index.sqlite3")
    assert old.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("1",)
    old.close()
    assert list(kept.glob("vectors-*.faiss"))
    with IndexStore.open(index_dir, embedder.name, embedder.dimension, create=False) as store:
        after = store.vectors(list(before))
        hits = store.dense_search(before[next(iter(before))], 1)
    assert np.array_equal(after, np.stack(list(before.values()))) and hits[0][0] == next(iter(before))
    report = ingest(make_settings(demo_index.paths.data_dir, index_dir), embedder=embedder)
    assert report.unchanged == 8 and report.chunks_embedded == 0
    assert assert_consistent(index_dir) == len(before)


def test_a_reader_far_behind_the_removal_log_still_drops_removed_vectors(
    demo_index: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rag_app.store.index_store as store_module

    index_dir = tmp_path / "index"
    shutil.copytree(demo_index.paths.index_dir, index_dir)
    reader = IndexStore.open(index_dir)
    held = set(reader.vector_ids().tolist())
    monkeypatch.setattr(store_module, "REMOVAL_LOG_KEPT", 0)  # every commit prunes the log
    with IndexStore.open(index_dir) as writer, writer.writing():
        for path in ("rag_en_pratique.md", "hybrid_search.html"):
            with writer.transaction(writer.embedding_model, writer.dimension) as change:
                change.remove_document(path)
    remaining = set(reader.chunk_ids())
    assert remaining < held
    assert set(reader.vector_ids().tolist()) == remaining
    reader.close()


def test_the_vector_cache_and_ivf_follow_commits(demo_index: Settings, tmp_path: Path, embedder: Embedder,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """With the thresholds lowered to the demo's size: the writer caches an IVF index, a new
    reader starts from it and applies later commits (additions and removals) by their delta."""
    import rag_app.store.index_store as store_module
    import rag_app.store.vector_index as vector_module

    monkeypatch.setattr(store_module, "CACHE_MIN_VECTORS", 1)
    monkeypatch.setattr(vector_module, "IVF_MIN_VECTORS", 10)
    index_dir = tmp_path / "index"
    shutil.copytree(demo_index.paths.index_dir, index_dir)
    with IndexStore.open(index_dir) as writer, writer.writing():
        assert writer.update_vector_cache() and writer.approximate
        generation = writer.generation
        assert writer.meta("vector_cache") == f"{generation} 0"
    assert [p.name for p in index_dir.glob("vectors-*.faiss")] == [f"vectors-{generation}.faiss"]

    with IndexStore.open(index_dir) as writer, writer.writing():
        with writer.transaction(writer.embedding_model, writer.dimension) as change:
            change.remove_document("rag_en_pratique.md")
    data = tmp_path / "data"
    shutil.copytree(demo_index.paths.data_dir, data)
    (data / "storks.md").write_text("# Storks\n\nWhite storks nest on church towers in Alsace.\n", encoding="utf-8")
    ingest(make_settings(data, index_dir), embedder=embedder)  # adds the two files, rewrites the cache
    assert assert_consistent(index_dir) > 0
    with IndexStore.open(index_dir, embedder.name, embedder.dimension) as reader:
        assert reader.approximate
        hits = reader.dense_search(embedder.encode_query("Where do white storks nest?"), 1)
        assert reader.chunks([hits[0][0]])[0].path == "storks.md"

    # A commit after the cache: a new reader loads the cache and applies the removal log.
    with IndexStore.open(index_dir) as writer, writer.writing():
        with writer.transaction(writer.embedding_model, writer.dimension) as change:
            change.remove_document("storks.md")
    assert len(list(index_dir.glob("vectors-*.faiss"))) == 1
    with IndexStore.open(index_dir) as reader:
        assert reader.vector_ids().tolist() == reader.chunk_ids()
        assert reader._mirror.changed_since_cache == 1  # type: ignore[attr-defined]  # the delta, not a rebuild
