"""Uploads land in the data folder under safe names: no traversal, no silent overwrite, size limit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag_app.ingest.workspace import (
    UploadError,
    UploadExistsError,
    remove_file,
    safe_filename,
    save_upload,
)
from rag_app.llm.choices import model_choices


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\evil.md", "evil.md"),
        ("/abs/path/notes.MD", "notes.md"),
        (".hidden.txt", "hidden.txt"),
        ("...txt.txt", "txt.txt"),
        ("a\x00b;rm -rf $(x).html", "a_b_rm -rf _(x).html"),
        ("-rf.txt", "rf.txt"),
        ("Évaluer un RAG (v2).docx", "Évaluer un RAG (v2).docx"),
        ("name.with.dots.markdown", "name.with.dots.markdown"),
    ],
)
def test_safe_filename_keeps_only_a_plain_name(name: str, expected: str) -> None:
    safe = safe_filename(name)
    assert safe == expected
    assert "/" not in safe and "\\" not in safe and not safe.startswith(".")


@pytest.mark.parametrize("name", ["", "..", "../", ".pdf", "noext", "photo.exe", "archive.tar.gz", "../.."])
def test_safe_filename_refuses_unusable_names(name: str) -> None:
    with pytest.raises(UploadError):
        safe_filename(name)


def test_safe_filename_bounds_length() -> None:
    safe = safe_filename("x" * 500 + ".txt")
    assert len(safe) <= 120 and safe.endswith(".txt")


def _upload(tmp_path: Path, text: str, name: str = "upload.bin") -> Path:
    path = tmp_path / "incoming" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_save_upload_cannot_escape_the_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    source = _upload(tmp_path, "secret plans")
    saved = save_upload(source, data, "../../outside.txt")
    assert saved == data / "outside.txt"
    assert saved.read_text(encoding="utf-8") == "secret plans"
    assert not (tmp_path / "outside.txt").exists()
    assert sorted(p.name for p in data.iterdir()) == ["outside.txt"]  # no temporary file left


def test_save_upload_refuses_overwrite_unless_asked(tmp_path: Path) -> None:
    data = tmp_path / "data"
    save_upload(_upload(tmp_path, "first"), data, "notes.txt")
    with pytest.raises(UploadExistsError, match="already in the data folder"):
        save_upload(_upload(tmp_path, "second"), data, "notes.txt")
    assert (data / "notes.txt").read_text(encoding="utf-8") == "first"
    save_upload(_upload(tmp_path, "third"), data, "notes.txt", replace=True)
    assert (data / "notes.txt").read_text(encoding="utf-8") == "third"


def test_save_upload_enforces_the_size_limit(tmp_path: Path) -> None:
    data = tmp_path / "data"
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (1024 * 1024 + 1))
    with pytest.raises(UploadError, match="limit is 1 MB"):
        save_upload(big, data, "big.txt", max_mb=1)
    assert not (data / "big.txt").exists()
    small = tmp_path / "small.txt"
    small.write_bytes(b"a" * (1024 * 1024))
    assert save_upload(small, data, "small.txt", max_mb=1).stat().st_size == 1024 * 1024


def test_save_upload_refuses_a_symlink_pointing_outside(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    outside = tmp_path / "victim.txt"
    outside.write_text("keep me", encoding="utf-8")
    os.symlink(outside, data / "link.txt")
    with pytest.raises(UploadError):
        save_upload(_upload(tmp_path, "overwrite"), data, "link.txt", replace=True)
    assert outside.read_text(encoding="utf-8") == "keep me"


def test_save_upload_refuses_unsupported_types(tmp_path: Path) -> None:
    with pytest.raises(UploadError, match="cannot be read"):
        save_upload(_upload(tmp_path, "MZ"), tmp_path / "data", "tool.exe")


def test_remove_file_stays_inside_the_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "a.md").write_text("# a", encoding="utf-8")
    outside = tmp_path / "keep.md"
    outside.write_text("# keep", encoding="utf-8")
    for bad in ["../keep.md", str(outside), "", "."]:
        with pytest.raises(UploadError):
            remove_file(data, bad)
    assert outside.exists()
    remove_file(data, "sub/a.md")
    assert not (data / "sub" / "a.md").exists()


def test_model_choices_list_the_catalogue_then_every_other_gguf(tmp_path: Path) -> None:
    from rag_app.llm.catalogue import load_catalogue
    from rag_app.llm.files import installed_model_path

    models = tmp_path / "models"
    (models / "big").mkdir(parents=True)
    (models / "big" / "b.gguf").write_bytes(b"GGUF")
    (models / "a.gguf").write_bytes(b"GGUF")
    (models / "readme.txt").write_text("not a model", encoding="utf-8")
    catalogue = load_catalogue().models
    choices = model_choices(models)
    assert [c.label.split(":")[0] for c in choices[:len(catalogue)]] == [m.id for m in catalogue]
    by_id = {c.label.split(":")[0]: c for c in choices}
    # Not installed in this folder: offered by id (choosing it says how to install it).
    assert by_id["qwen2.5-0.5b"].path == "qwen2.5-0.5b" and "(not installed)" in by_id["qwen2.5-0.5b"].label
    # SmolLM2 comes installed as a package by `make install`: then offered by its file.
    smollm = next(m for m in catalogue if m.id == "smollm2-135m")
    if installed_model_path(smollm, models) is not None:
        assert Path(by_id["smollm2-135m"].path).suffix == ".gguf"
    else:  # the fast tier's install (no model packages)
        assert by_id["smollm2-135m"].path == "smollm2-135m"
    assert [c.label for c in choices[len(catalogue):]] == ["a.gguf (not verified)", "big/b.gguf (not verified)"]
    elsewhere = tmp_path / "other.gguf"
    elsewhere.write_bytes(b"GGUF")
    assert model_choices(models, str(elsewhere))[-1].path == str(elsewhere.resolve())
    assert len(model_choices(tmp_path / "missing")) == len(catalogue)
