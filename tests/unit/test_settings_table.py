"""The README's settings table is the one the fields' descriptions give (it cannot drift)."""

from __future__ import annotations

from pathlib import Path

from rag_app.config import Settings, with_settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_has_a_group_and_a_description() -> None:
    for name, info in Settings.model_fields.items():
        assert info.description and len(info.description) > 10, name
        assert isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("group"), name


def test_the_readme_settings_table_is_up_to_date() -> None:
    text = README.read_text(encoding="utf-8")
    assert with_settings_table(text) == text, (
        "The README's settings table differs from rag_app/config.py: run `python -m rag_app.config README.md`.")
