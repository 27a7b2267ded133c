"""A damaged index is found, named and (where derived) mended; nothing is answered from it; a
backup is whole and restores (issue 41)."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np
import pytest

from rag_app.config import Settings
from rag_app.service.app import App, IndexDamagedError, IndexUnavailableError
from rag_app.store import IndexStore
from rag_app.store.schema import DB_NAME

from conftest import make_settings
from fakes import FakeEmbedder

TOPICS = ["storks nest on church towers", "herons hunt fish at dawn", "pasta cooks in salted water",
          "owls hunt mice at night", "swifts sleep while flying", "the harbour opens at six"]


def _index(tmp_path: Path, files: int = 40) -> Settings:
    data = tmp_path / "data"
    data.mkdir()
    for i in range(files):
        topic = TOPICS[i % len(TOPICS)]
        body = " ".join(f"{topic} in place {i} paragraph {p}." for p in range(30))
        (data / f"note-{i:03d}.md").write_text(f"# Note {i}\n\n{body}\n", encoding="utf-8")
    settings = make_settings(data, tmp_path / "index")
    with App(settings, create=True, embedder=FakeEmbedder()) as app:
        app.ingest()
    return settings


def _db(settings: Settings) -> Path:
    return Path(settings.paths.index_dir) / DB_NAME


def _sql(script: str) -> Callable[[Path], None]:
    def damage(db: Path) -> None:
        conn = sqlite3.connect(db)
        conn.executescript(script)
        conn.close()
    return damage


def _bytes_at(share: float, seed: int) -> Callable[[Path], None]:
    def damage(db: Path) -> None:
        size = db.stat().st_size
        with db.open("r+b") as handle:
            handle.seek(int(size * share))
            handle.write(random.Random(seed).randbytes(4096))
    return damage


def _truncate(db: Path) -> None:
    os.truncate(db, db.stat().st_size // 2)


def _no_database(db: Path) -> None:
    db.write_bytes(b"this is not a database at all " * 200)


# Damage -> the part of the index the message must name. Offsets of random bytes spread over
# the file (the first page holds the header and the schema).
DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    **{f"random bytes at {share:.0%}": (_bytes_at(share, i), "database file")
       for i, share in enumerate([0.0, 0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.9])},
    "truncated file": (_truncate, "database file"),
    "not a database": (_no_database, "database file"),
    "vectors deleted": (_sql("DELETE FROM vectors WHERE id % 7 = 0"), "vectors"),
    "stray vectors": (_sql("INSERT INTO vectors(id, embedding) VALUES (999999, zeroblob(1024))"), "vectors"),
    "vector of another dimension": (_sql("UPDATE vectors SET embedding = zeroblob(12) WHERE id = 3"), "vectors"),
    "chunks of no document": (_sql("PRAGMA foreign_keys=OFF; DELETE FROM documents WHERE id = 2"), "chunks"),
    "full-text table missing": (_sql("DROP TABLE chunks_vocab; DROP TABLE chunks_fts"), "full-text index"),
    "full-text rows missing": (_sql("INSERT INTO chunks_fts(chunks_fts) VALUES ('delete-all')"), "full-text index"),
    "documents table missing": (_sql("PRAGMA foreign_keys=OFF; DROP TABLE documents"), "tables"),
    "schema version missing": (_sql("DELETE FROM meta WHERE key = 'schema_version'"), "tables"),
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return _index(tmp_path_factory.mktemp("pristine"))


def _copy(pristine: Settings, tmp_path: Path) -> Settings:
    import shutil

    shutil.copytree(pristine.paths.index_dir, tmp_path / "index")
    return make_settings(pristine.paths.data_dir, tmp_path / "index")


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_each_kind_of_damage_is_found_named_and_nothing_answered(pristine: Settings, tmp_path: Path,
                                                                 kind: str) -> None:
    settings = _copy(pristine, tmp_path)
    with App(settings, embedder=FakeEmbedder()) as app:
        assert app.check(full=True).ok
    damage, part = DAMAGE[kind]
    damage(_db(settings))
    with App(settings, embedder=FakeEmbedder()) as app:
        report = app.check(full=True)
        assert not report.ok and part in {d.part for d in report.damage}, report.damage
        assert report.location in report.message() and "rag-app" in report.message()
        with pytest.raises(IndexDamagedError, match="damaged"):
            app.search("Where do storks nest?")


def test_damage_met_while_running_refuses_the_question(pristine: Settings, tmp_path: Path) -> None:
    settings = _copy(pristine, tmp_path)
    with App(settings, embedder=FakeEmbedder()) as app:
        assert app.search("storks", k=1)
        _no_database(_db(settings))
        with pytest.raises(IndexDamagedError):
            app.search("herons hunt fish", k=3)


def test_derived_parts_are_mended_by_repair(pristine: Settings, tmp_path: Path) -> None:
    settings = _copy(pristine, tmp_path)
    with App(settings, embedder=FakeEmbedder()) as app:
        before = [p.chunk_id for p in app.search("herons hunt fish at dawn", k=5)]
    _sql("DROP TABLE chunks_vocab; DROP TABLE chunks_fts")(_db(settings))
    with App(settings, embedder=FakeEmbedder()) as app:
        assert app.check().mendable
        assert app.check(repair=True).ok
    with App(settings, embedder=FakeEmbedder()) as app:
        assert [p.chunk_id for p in app.search("herons hunt fish at dawn", k=5)] == before


def test_a_vector_cache_of_another_state_is_found_and_mended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rag_app.store.index_store.CACHE_MIN_VECTORS", 10)
    settings = _index(tmp_path, files=12)
    index_dir = Path(settings.paths.index_dir)
    caches = sorted(index_dir.glob("vectors-*.faiss"))
    assert caches, "the ingest wrote a vector cache"
    wrong = faiss.IndexIDMap2(faiss.IndexFlatIP(FakeEmbedder.dimension))
    wrong.add_with_ids(np.eye(3, FakeEmbedder.dimension, dtype=np.float32), np.array([10**6, 10**6 + 1, 10**6 + 2]))
    faiss.write_index(wrong, str(caches[-1]))
    with App(settings, embedder=FakeEmbedder()) as app:
        report = app.check()
        assert [d.part for d in report.damage] == ["vector search cache"] and report.mendable
        assert app.check(repair=True).ok


def test_a_backup_during_an_ingest_and_questions_is_whole_and_restores(tmp_path: Path) -> None:
    settings = _index(tmp_path, files=20)
    data = Path(settings.paths.data_dir)
    for i in range(20, 120):  # more to ingest while the backup is taken
        (data / f"note-{i:03d}.md").write_text(f"# Note {i}\n\n{TOPICS[i % 6]} again in {i}.\n" * 20, encoding="utf-8")
    stop = threading.Event()
    errors: list[BaseException] = []

    def ask() -> None:
        with App(settings, embedder=FakeEmbedder()) as reader:
            while not stop.is_set():
                try:
                    assert reader.search("owls hunt mice", k=3)
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)
                    return

    askers = [threading.Thread(target=ask) for _ in range(4)]
    writer = App(settings, embedder=FakeEmbedder())
    ingesting = threading.Thread(target=writer.ingest)
    for thread in [*askers, ingesting]:
        thread.start()
    backups = []
    with App(settings, embedder=FakeEmbedder()) as app:
        while ingesting.is_alive() and len(backups) < 5:
            backups.append(app.backup(tmp_path / f"backup-{len(backups)}"))
    ingesting.join()
    stop.set()
    for thread in askers:
        thread.join()
    writer.close()
    assert not errors and backups
    for copy in backups:  # each a whole committed state: checked, every document with all its chunks
        copy_settings = make_settings(data, copy.parent)
        with App(copy_settings, embedder=FakeEmbedder()) as restored:
            assert restored.check(full=True).ok
            with IndexStore.open(copy.parent) as store:
                assert all(len(store.document_chunks(d.path)) == d.n_chunks > 0 for d in store.documents())
    with App(settings, embedder=FakeEmbedder()) as app:
        final = app.backup(tmp_path / "final")
        expected = [p.chunk_id for p in app.search("swifts sleep while flying", k=5)]
    _no_database(_db(settings))
    with App(settings, embedder=FakeEmbedder()) as app:
        kept = app.restore(final.parent)
        assert kept is not None and (kept / DB_NAME).exists()
        assert [p.chunk_id for p in app.search("swifts sleep while flying", k=5)] == expected


def test_a_backup_into_a_folder_holding_an_index_is_refused(pristine: Settings, tmp_path: Path) -> None:
    settings = _copy(pristine, tmp_path)
    with App(settings, embedder=FakeEmbedder()) as app:
        app.backup(tmp_path / "b")
        with pytest.raises(IndexUnavailableError, match="already holds an index"):
            app.backup(tmp_path / "b")
        with pytest.raises(IndexUnavailableError, match="No backup"):
            app.restore(tmp_path / "nowhere")


RESTORE = """
import sys
from pathlib import Path
from rag_app.store.backup import restore_index
restore_index(Path(sys.argv[1]), Path(sys.argv[2]))
"""


def test_a_restore_killed_at_any_point_leaves_a_working_index(pristine: Settings, tmp_path: Path) -> None:
    settings = _copy(pristine, tmp_path)
    with App(settings, embedder=FakeEmbedder()) as app:
        backup = app.backup(tmp_path / "backup").parent
        expected = [p.chunk_id for p in app.search("pasta cooks in salted water", k=5)]
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", RESTORE, str(backup), str(settings.paths.index_dir)], check=True)
    whole = time.perf_counter() - started
    rng = random.Random(0)
    for _ in range(10):
        process = subprocess.Popen([sys.executable, "-c", RESTORE, str(backup), str(settings.paths.index_dir)])
        time.sleep(rng.uniform(0, whole))
        process.kill()
        process.wait()
        with App(settings, embedder=FakeEmbedder()) as app:
            assert app.check().ok
            assert [p.chunk_id for p in app.search("pasta cooks in salted water", k=5)] == expected


def test_the_commands_check_back_up_and_restore(pristine: Settings, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from rag_app.cli import app as cli

    settings = _copy(pristine, tmp_path)
    monkeypatch.chdir(tmp_path)  # no rag_app.toml of the machine
    index = str(settings.paths.index_dir)
    runner = CliRunner()
    checked = runner.invoke(cli, ["check", "--index-dir", index, "--json"])
    assert checked.exit_code == 0 and json.loads(checked.stdout)["ok"]
    saved = runner.invoke(cli, ["backup", str(tmp_path / "saved"), "--index-dir", index])
    assert saved.exit_code == 0 and (tmp_path / "saved" / DB_NAME).exists()
    _no_database(_db(settings))
    damaged = runner.invoke(cli, ["check", "--index-dir", index])
    assert damaged.exit_code == 1 and "rag-app restore" in " ".join(damaged.output.split())
    restored = runner.invoke(cli, ["restore", str(tmp_path / "saved"), "--index-dir", index], env={"COLUMNS": "400"})
    assert restored.exit_code == 0 and "index.before-restore" in " ".join(restored.output.split())
    assert runner.invoke(cli, ["check", "--index-dir", index, "--full"]).exit_code == 0
