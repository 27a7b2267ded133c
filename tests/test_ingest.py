"""Incremental ingestion: what changes is re-embedded, nothing else (crashes and concurrent
use: test_index_concurrency.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag_app.config import Settings
from rag_app.embedding import Embedder, open_embedder
from rag_app.ingest.pipeline import ingest
from rag_app.store import IndexMismatchError, IndexStore

from conftest import MODELS, assert_consistent, make_settings


def fts_hits(index_dir: Path, word: str) -> list[str]:
    with IndexStore.open(index_dir, create=False) as store:
        return [c.path for c in store.chunks([i for i, _ in store.bm25_search(word, 50)])]


def test_second_ingest_of_unchanged_corpus_embeds_nothing(demo_copy: Path, tmp_path: Path, embedder: Embedder) -> None:
    settings = make_settings(demo_copy, tmp_path / "index")
    first = ingest(settings, embedder=embedder)
    assert first.added == len([p for p in demo_copy.rglob("*") if p.is_file()]) - len(first.skipped)
    assert first.failed == []
    assert first.chunks_embedded > 0 and first.chunks_total >= first.chunks_embedded

    second = ingest(settings, embedder=embedder)
    assert second.chunks_embedded == 0
    assert (second.added, second.updated, second.removed) == (0, 0, 0)
    assert second.unchanged == first.added
    assert second.chunks_total == first.chunks_total

    # A touched file with the same bytes is hashed, not re-embedded.
    some_file = next(p for p in demo_copy.rglob("*.md"))
    os.utime(some_file, (1_000_000, 1_000_000))
    third = ingest(settings, embedder=embedder)
    assert (third.chunks_embedded, third.updated) == (0, 0)
    assert_consistent(settings.paths.index_dir)


def test_editing_one_file_reembeds_only_its_changed_chunks(tmp_path: Path, embedder: Embedder) -> None:
    data = tmp_path / "data"
    data.mkdir()
    paragraphs = [f"Paragraph {i} talks about topic number {i} in plain words. " * 6 for i in range(12)]
    (data / "long.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
    (data / "other.md").write_text("# Other\n\nAn unrelated note about gardening tomatoes.\n", encoding="utf-8")
    settings = make_settings(data, tmp_path / "index", chunk_tokens=64, chunk_overlap=0)
    first = ingest(settings, embedder=embedder)
    with IndexStore.open(settings.paths.index_dir) as store:
        long_chunks = len(store.document_chunks("long.txt"))
    assert long_chunks > 4

    # Change the last paragraph only: the earlier chunks are identical and keep their vectors.
    paragraphs[-1] = "The last paragraph now mentions zeppelins and nothing else. " * 3
    (data / "long.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
    second = ingest(settings, embedder=embedder)
    assert second.updated == 1 and second.unchanged == 1
    assert 1 <= second.chunks_embedded < long_chunks
    assert fts_hits(settings.paths.index_dir, "zeppelins") == ["long.txt"]
    assert assert_consistent(settings.paths.index_dir) == second.chunks_total
    assert second.chunks_total == first.chunks_total - long_chunks + len(
        IndexStore.open(settings.paths.index_dir).document_chunks("long.txt")
    )


def test_deleting_a_file_removes_its_chunks_text_and_vectors(
    demo_copy: Path, tmp_path: Path, embedder: Embedder
) -> None:
    settings = make_settings(demo_copy, tmp_path / "index")
    ingest(settings, embedder=embedder)
    victim = sorted(p for p in demo_copy.rglob("*") if p.suffix == ".md")[0]
    key = victim.relative_to(demo_copy).as_posix()
    with IndexStore.open(settings.paths.index_dir) as store:
        victim_ids = [c.id for c in store.document_chunks(key)]
        before = store.chunk_count()
    assert victim_ids

    victim.unlink()
    report = ingest(settings, embedder=embedder)
    assert report.removed == 1 and report.chunks_embedded == 0
    with IndexStore.open(settings.paths.index_dir) as store:
        assert key not in {d.path for d in store.documents()}
        assert store.chunks(victim_ids) == []
        assert not set(victim_ids) & set(store.vector_ids().tolist())
        assert store.chunk_count() == before - len(victim_ids)
    assert assert_consistent(settings.paths.index_dir) == report.chunks_total


def test_broken_files_are_reported_one_by_one_and_the_rest_is_ingested(tmp_path: Path, embedder: Embedder) -> None:
    from broken_files import make_broken_corpus

    data = tmp_path / "data"
    data.mkdir()
    expected = make_broken_corpus(data)
    (data / "good.md").write_text("# Good\n\nThe good file explains retrieval with BM25.\n", encoding="utf-8")
    (data / "notes.xyz").write_text("unsupported", encoding="utf-8")
    report = ingest(make_settings(data, tmp_path / "index"), embedder=embedder)

    reasons = {f.path: f.reason for f in report.failed}
    assert set(reasons) == set(expected)
    for name, fragment in expected.items():
        assert fragment.lower() in reasons[name].lower(), (name, reasons[name])
    assert report.added == 1 and report.chunks_total > 0
    assert report.skipped == ["notes.xyz"]

    # Failures are remembered: an unchanged broken file is not read again, and is still reported.
    again = ingest(make_settings(data, tmp_path / "index"), embedder=embedder)
    assert {f.path for f in again.failed} == set(expected)
    with IndexStore.open(tmp_path / "index") as store:
        assert {p for p, _ in store.failures()} == set(expected)


# Ingests a folder in a fresh process (its peak RSS is the figure), changing two files after the
# scan: one is rewritten, one deleted. Prints the report and the peak RSS as one JSON object.
HOSTILE_INGEST = """
import json, os, sys
from pathlib import Path
from rag_app.config import Settings
from rag_app.ingest.pipeline import ingest

data, index, models, replaced, vanished, new_text = sys.argv[1:7]
changed = []

def progress(stage, done, total):
    if stage == "files" and done == 1 and not changed:
        changed.append(True)
        Path(data, replaced).write_text("# After\\n\\n" + new_text)
        os.remove(Path(data, vanished))

settings = Settings(data_dir=data, index_dir=index, models_dir=models, max_file_mb=20)
report = ingest(settings, progress=progress)
# VmHWM: this process's own peak (ru_maxrss would include the parent's, inherited through vfork).
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"report": report.to_dict(), "peak_rss_mb": peak_kb / 1024}))
"""


def test_a_hostile_folder_reports_every_bad_file_and_ingests_every_good_one(tmp_path: Path) -> None:
    """40+ kinds of bad input (issue 16) beside good files, ingested by a separate process."""
    from broken_files import make_hostile_corpus

    data, index = tmp_path / "data", tmp_path / "index"
    corpus = make_hostile_corpus(data, tmp_path / "outside")
    assert len(corpus.bad) >= 40
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_APP_")}
    env["RAG_APP_CONFIG"] = str(tmp_path / "no-config.toml")
    run = subprocess.run(
        [sys.executable, "-c", HOSTILE_INGEST, str(data), str(index), str(MODELS), corpus.replaced,
         corpus.vanished, corpus.new_text],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    reasons = {f["path"]: f["reason"] for f in result["report"]["failed"]}
    assert set(reasons) == set(corpus.bad), (set(reasons) ^ set(corpus.bad))
    for name, fragment in corpus.bad.items():
        assert fragment.lower() in reasons[name].lower(), (name, reasons[name])
    assert result["peak_rss_mb"] < 1500, result["peak_rss_mb"]

    with IndexStore.open(index, create=False) as store:
        documents = {d.path: d for d in store.documents()}
        assert set(documents) == set(corpus.good)  # every good file, each under one name
        for key, phrase in corpus.good.items():
            assert phrase in " ".join(c.text for c in store.document_chunks(key)), key
        assert "apricots" not in " ".join(c.text for c in store.document_chunks(corpus.replaced))
        assert documents["shift_jis.txt"].metadata["encoding"] in ("cp932", "shift_jis")
        assert documents["cp1251.txt"].metadata["encoding"] == "cp1251"
        for outside_word in ("vault", "diary"):  # the targets of the links out are not searchable
            assert store.bm25_search(outside_word, 5) == []
        assert {p for p, _ in store.failures()} == set(corpus.bad)


def test_cli_exit_status_and_json(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "empty.txt").write_bytes(b"")
    env = {**os.environ, "RAG_APP_INDEX_DIR": str(tmp_path / "index"), "RAG_APP_DATA_DIR": str(data),
           "RAG_APP_MODELS_DIR": str(MODELS)}
    cli = [sys.executable, "-m", "rag_app.cli"]

    nothing = subprocess.run([*cli, "ingest", "--json"], env=env, capture_output=True, text=True)
    assert nothing.returncode == 1
    assert "Nothing could be ingested" in nothing.stderr

    (data / "ok.md").write_text("# Ok\n\nA readable note about attention heads.\n", encoding="utf-8")
    ok = subprocess.run([*cli, "ingest", "--json"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    keys = {"added", "updated", "removed", "unchanged", "failed", "chunks_embedded", "chunks_total", "seconds"}
    assert keys <= set(out)
    assert out["added"] == 1 and out["failed"] == [{"path": "empty.txt", "reason": "empty file"}]

    strict = subprocess.run([*cli, "ingest", "--strict"], env=env, capture_output=True, text=True)
    assert strict.returncode == 1

    info = subprocess.run([*cli, "info", "--json"], env=env, capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    stats = json.loads(info.stdout)
    assert (stats["documents"], stats["embedding_model"], stats["dimension"]) == (1, "multilingual-e5-small", 384)
    assert stats["chunks"] == out["chunks_total"] and stats["size_bytes"] > 0 and stats["last_ingest"]


def test_another_embedding_model_needs_a_rebuild(tmp_path: Path, embedder: Embedder) -> None:
    from rag_app.llm.files import bundled_embedding_dir

    data = tmp_path / "data"
    data.mkdir()
    (data / "a.md").write_text("# A\n\nSome text about tokens.\n", encoding="utf-8")
    settings = make_settings(data, tmp_path / "index")
    ingest(settings, embedder=embedder)

    # A known embedder: the message names both and says both ways out.
    minilm = open_embedder("all-MiniLM-L6-v2", MODELS)
    with pytest.raises(IndexMismatchError) as caught:
        IndexStore.open(settings.paths.index_dir, minilm.name, minilm.dimension)
    message = str(caught.value)
    assert "'multilingual-e5-small'" in message and "'all-MiniLM-L6-v2'" in message
    assert 'embedding_model = "multilingual-e5-small"' in message and "rag-app ingest --rebuild" in message
    with pytest.raises(IndexMismatchError):
        ingest(make_settings(data, tmp_path / "index", embedding_model="all-MiniLM-L6-v2"))

    other_dir = tmp_path / "other-model"
    shutil.copytree(bundled_embedding_dir(), other_dir)
    other = make_settings(data, tmp_path / "index", embedding_model=str(other_dir))
    with pytest.raises(IndexMismatchError, match="rag-app ingest --rebuild"):
        ingest(other)
    with pytest.raises(IndexMismatchError, match="rebuild"):
        IndexStore.open(settings.paths.index_dir, str(other_dir), 384)

    rebuilt = ingest(other, rebuild=True)
    assert rebuilt.added == 1 and rebuilt.chunks_embedded > 0
    with IndexStore.open(settings.paths.index_dir, str(other_dir), 384) as store:
        assert store.embedding_model == str(other_dir)
    assert_consistent(settings.paths.index_dir)


def test_chunks_fit_the_embedder_and_keep_their_place(demo_index, embedder: Embedder) -> None:
    with IndexStore.open(demo_index.paths.index_dir) as store:
        docs = store.documents()
        chunks = [c for d in docs for c in store.document_chunks(d.path)]
    assert chunks
    for chunk in chunks:
        full = f"{chunk.heading}\n{chunk.text}" if chunk.heading else chunk.text
        assert embedder.count_tokens(full) + 2 <= embedder.max_tokens
        assert chunk.char_end - chunk.char_start == len(chunk.text)
    pdf_pages = {c.page for c in chunks if c.path.endswith(".pdf")}
    assert len(pdf_pages) > 1 and None not in pdf_pages
    assert any(c.heading for c in chunks if c.path.endswith((".md", ".docx", ".html")))
    vectors = IndexStore.open(demo_index.paths.index_dir).vectors([chunks[0].id])
    assert np.isclose(np.linalg.norm(vectors[0]), 1.0, atol=1e-4)


def test_unchanged_folder_does_not_load_the_embedder(demo_index: Settings) -> None:
    """Nothing to embed: the model (and PyTorch's work) is never loaded, so the command returns at once."""
    fresh = open_embedder("", MODELS)
    report = ingest(demo_index, embedder=fresh)
    assert report.unchanged == 8 and report.chunks_embedded == 0 and not report.failed
    assert "model" not in vars(fresh)
