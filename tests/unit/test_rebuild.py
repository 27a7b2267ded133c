"""`rag-app ingest --rebuild` builds beside the old index and swaps in one step: questions keep
the old index meanwhile, an interrupted rebuild leaves it whole, and the next one goes on."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from rag_app.embedding.base import ProgressCallback
from rag_app.service.app import App
from rag_app.store import staging_dir

from conftest import make_settings
from fakes import FakeEmbedder

TOPICS = ["storks nest on church towers", "herons hunt fish at dawn", "pasta cooks in salted water",
          "owls hunt mice at night", "swifts sleep while flying"]


class Killed(BaseException):
    """The process ends here (as a kill or Ctrl+C would): nothing catches it."""


class PausingEmbedder(FakeEmbedder):
    """A fake embedder that stops at its ``pause_at``-th batch until released, or fails there."""

    def __init__(self, pause_at: int, fail: bool = False) -> None:
        self.pause_at, self.fail, self.batches = pause_at, fail, 0
        self.paused, self.release = threading.Event(), threading.Event()

    def encode(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        self.batches += 1
        if self.batches == self.pause_at:
            if self.fail:
                raise Killed("killed")
            self.paused.set()
            assert self.release.wait(30)
        return super().encode(texts, progress)


def folder(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    for n, topic in enumerate(TOPICS):
        (data / f"doc{n}.md").write_text(f"# Doc {n}\n\n{topic.capitalize()}.\n", encoding="utf-8")
    return data


def test_questions_during_a_rebuild_are_answered_from_the_old_index(tmp_path: Path) -> None:
    data = folder(tmp_path)
    with App(make_settings(data, tmp_path / "index"), create=True, embedder=FakeEmbedder()) as app:
        app.ingest()
    settings = make_settings(data, tmp_path / "index", chunk_tokens=120, ingest_batch_chunks=1)
    embedder = PausingEmbedder(pause_at=3)
    with App(settings, embedder=embedder) as app:
        assert app.search("Where do storks nest?", k=1)[0].path == "doc0.md"
        rebuild = threading.Thread(target=app.ingest, kwargs={"rebuild": True})
        rebuild.start()
        assert embedder.paused.wait(30)
        # Mid-rebuild: the whole old index answers (not an empty or a half one).
        assert app.info().documents == len(TOPICS)
        assert app.search("Where do swifts sleep?", k=1)[0].path == "doc4.md"
        embedder.release.set()
        rebuild.join(30)
        assert not staging_dir(settings.paths.index_dir).exists()
        # After the swap the same App reads the new index (cut with the new chunk setting).
        assert app.search("Where do owls hunt?", k=1)[0].path == "doc3.md"
    with App(settings, embedder=FakeEmbedder()) as app:
        assert app.ingest().unchanged == len(TOPICS)  # recorded as chunk_tokens 120: no mismatch


def test_an_interrupted_rebuild_keeps_the_old_index_and_the_next_goes_on(tmp_path: Path) -> None:
    data = folder(tmp_path)
    with App(make_settings(data, tmp_path / "index"), create=True, embedder=FakeEmbedder()) as app:
        app.ingest()
        before = app.info()
    settings = make_settings(data, tmp_path / "index", chunk_tokens=120, ingest_batch_chunks=1)
    with App(settings, embedder=PausingEmbedder(pause_at=3, fail=True)) as app, \
            pytest.raises(Killed, match="killed"):
        app.ingest(rebuild=True)
    with App(make_settings(data, tmp_path / "index"), embedder=FakeEmbedder()) as app:
        after = app.info()
        assert (after.documents, after.chunks) == (before.documents, before.chunks)
        assert app.search("Where do storks nest?", k=1)[0].path == "doc0.md"
    assert staging_dir(settings.paths.index_dir).exists()  # two files were committed there
    with App(settings, embedder=FakeEmbedder()) as app:
        report = app.ingest(rebuild=True)
        assert report.unchanged == 2 and report.added == len(TOPICS) - 2  # it went on from there
        assert app.info().documents == len(TOPICS)
