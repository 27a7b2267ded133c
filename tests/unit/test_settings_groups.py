"""Settings in groups, with every setting's own (flat) name still working from every source."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from rag_app.config import FLAT_NAMES, GROUPS, Settings, load_settings


def test_each_name_is_unique_across_groups() -> None:
    names = [name for group in GROUPS.values() for name in group.model_fields]
    assert len(names) == len(set(names)) == len(FLAT_NAMES)


def test_flat_and_grouped_names_from_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "rag_app.toml"
    config.write_text('top_k = 3\nmodel = "smollm2-135m"\n\n[grounding]\ngate_passages = 4\n', encoding="utf-8")
    monkeypatch.setenv("RAG_APP_CONFIG", str(config))
    settings = Settings()
    assert settings.retrieval.top_k == 3 and settings.generation.model == "smollm2-135m"
    assert settings.grounding.gate_passages == 4
    assert settings.retrieval.candidates == 40  # the rest of the group keeps its defaults


def test_arguments_win_over_the_environment_which_wins_over_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "rag_app.toml"
    config.write_text("[retrieval]\ntop_k = 3\ncandidates = 30\nmmr = true\n", encoding="utf-8")
    monkeypatch.setenv("RAG_APP_CONFIG", str(config))
    monkeypatch.setenv("RAG_APP_TOP_K", "7")
    monkeypatch.setenv("RAG_APP_RETRIEVAL__CANDIDATES", "20")
    settings = Settings()
    assert (settings.retrieval.top_k, settings.retrieval.candidates, settings.retrieval.mmr) == (7, 20, True)
    assert load_settings(top_k=9, candidates=None).retrieval.top_k == 9  # an unset CLI flag is no value
    assert load_settings(top_k=9).retrieval.candidates == 20


def test_a_bad_value_names_its_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_APP_TOP_K", "many")
    with pytest.raises(ValidationError, match="top_k"):
        Settings()


def test_replace_changes_by_name_and_validates() -> None:
    settings = Settings(top_k=3)
    changed = settings.replace(index_dir="~/elsewhere", mmr=True)
    assert changed.paths.index_dir == Path("~/elsewhere").expanduser() and changed.retrieval.mmr
    assert changed.retrieval.top_k == 3 and settings.retrieval.mmr is False  # a copy
    with pytest.raises(ValidationError):
        settings.replace(top_k=0)


def test_a_setting_by_its_own_name() -> None:
    settings = Settings(top_k=4, seed=7)
    assert settings.value("top_k") == 4 and settings.value("seed") == 7
    with pytest.raises(KeyError):
        settings.value("nonsense")
