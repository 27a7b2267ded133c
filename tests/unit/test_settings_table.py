"""The README's settings table is the one the fields' descriptions give (it cannot drift)."""

from __future__ import annotations

from pathlib import Path

from rag_app.config import GROUPS, with_settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_has_a_description() -> None:
    for group in GROUPS.values():
        for name, info in group.model_fields.items():
            assert info.description and len(info.description) > 10, name


def test_the_readme_settings_table_is_up_to_date() -> None:
    text = README.read_text(encoding="utf-8")
    assert with_settings_table(text) == text, (
        "The README's settings table differs from rag_app/config.py: run `python -m rag_app.config README.md`.")
