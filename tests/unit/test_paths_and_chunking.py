"""Paths resolved once in Settings (``~`` and variables, the installation's models), and an
index that records how its chunks were cut."""

from __future__ import annotations

from pathlib import Path

import pytest

import rag_app
from rag_app.config import Settings, installed_models_dir
from rag_app.service.app import App, IndexUnavailableError

from conftest import make_settings
from fakes import FakeEmbedder


def test_every_path_setting_expands_home_and_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PAPERS", "papers")
    settings = Settings(data_dir="~/Documents/$PAPERS", index_dir="~/idx", models_dir="$HOME/m")
    assert settings.paths.data_dir == tmp_path / "Documents" / "papers"
    assert settings.paths.index_dir == tmp_path / "idx" and settings.paths.models_dir == tmp_path / "m"
    monkeypatch.setenv("RAG_APP_DATA_DIR", "~/from-env")
    assert Settings().paths.data_dir == tmp_path / "from-env"


def test_the_models_belong_to_the_installation_wherever_the_command_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    checkout = Path(rag_app.__file__).resolve().parent.parent  # this is a source checkout
    assert Settings().paths.models_dir == installed_models_dir() == checkout / "models"


def test_a_changed_chunk_setting_is_refused_with_the_rebuild_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "storks.md").write_text("# Storks\n\nWhite storks nest on church towers.\n", encoding="utf-8")
    with App(make_settings(data, tmp_path / "index"), create=True, embedder=FakeEmbedder()) as app:
        app.ingest()
    other = make_settings(data, tmp_path / "index", chunk_tokens=120)
    with App(other, embedder=FakeEmbedder()) as app:
        with pytest.raises(IndexUnavailableError, match=r"chunks of 200 tokens with 30 of overlap, not 120 with 30"
                                                         r".*rag-app ingest --rebuild"):
            app.ingest()
        assert app.ingest(rebuild=True).added == 1  # the rebuild takes the new setting
    with App(other, embedder=FakeEmbedder()) as app:
        assert app.ingest().unchanged == 1


def test_the_settings_file_is_read_when_the_settings_are(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "mine.toml"
    config.write_text('data_dir = "~/papers"\ntop_k = 7\n', encoding="utf-8")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RAG_APP_CONFIG", str(config))
    settings = Settings()
    assert settings.retrieval.top_k == 7 and settings.paths.data_dir == tmp_path / "papers"
    monkeypatch.setenv("RAG_APP_TOP_K", "3")  # the environment wins over the file
    assert Settings().retrieval.top_k == 3
