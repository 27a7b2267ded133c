"""A full disk during an ingest: a clear message, and the index as it was at its last commit.

The index lives on a 3 MB tmpfs (needs root, as CI and the development machine run; skipped
elsewhere)."""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag_app.service.app import App, IndexUnavailableError

from conftest import make_settings
from fakes import FakeEmbedder


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_ends_the_ingest_with_a_message_and_keeps_the_index(tmp_path: Path, tiny_disk: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "storks.md").write_text("# Storks\n\nWhite storks nest on church towers.\n", encoding="utf-8")
    settings = make_settings(data, tiny_disk / "index")
    with App(settings, create=True, embedder=FakeEmbedder()) as app:
        assert app.ingest().added == 1
        rng = random.Random(0)
        words = [f"w{rng.randrange(10**9)}" for _ in range(400_000)]  # about 4.4 MB of distinct words
        (data / "big.txt").write_text(" ".join(words), encoding="utf-8")
        with pytest.raises(IndexUnavailableError, match=r"The disk is full \(\d+ MB free in .*\): the index is as"):
            app.ingest()
        # The index still answers from what it held before.
        assert app.search("Where do storks nest?", k=1)[0].path == "storks.md"
        assert app.info().documents == 1
