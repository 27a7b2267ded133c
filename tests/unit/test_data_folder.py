"""The data folder as a boundary (no model): links, limits, names, files that change while read,
and text encodings."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from rag_app.ingest import scan as scanning
from rag_app.ingest.document import LoadError
from rag_app.ingest.encoding import NOT_TEXT, decode_text
from rag_app.ingest.scan import SourceFile, read_stable, scan


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    data, outside = tmp_path / "data", tmp_path / "outside"
    (data / "docs").mkdir(parents=True)
    outside.mkdir()
    (data / "docs" / "guide.md").write_text("# Guide\n\nRead me.")
    (outside / "secret.txt").write_text("The vault code is 4321.")
    (outside / "folder").mkdir()
    (outside / "folder" / "diary.md").write_text("# Diary")
    return data, outside


def keys(found: scanning.Scan) -> list[str]:
    return [f.key for f in found.files]


def test_links_out_of_the_folder_are_refused_unless_allowed(folders: tuple[Path, Path]) -> None:
    data, outside = folders
    (data / "secret.txt").symlink_to(outside / "secret.txt")
    (data / "elsewhere").symlink_to(outside / "folder")
    found = scan(data)
    assert keys(found) == ["docs/guide.md"]
    reasons = {r.path: r.reason for r in found.refused}
    assert set(reasons) == {"secret.txt", "elsewhere"}
    assert all("follow_external_links = true" in r and str(outside) in r for r in reasons.values())
    allowed = scan(data, follow_external_links=True)
    assert keys(allowed) == ["docs/guide.md", "elsewhere/diary.md", "secret.txt"] and not allowed.refused


def test_links_inside_are_followed_once_and_broken_ones_reported(folders: tuple[Path, Path]) -> None:
    data, _ = folders
    (data / "alias.md").symlink_to(data / "docs" / "guide.md")  # a second name for a file
    (data / "again").symlink_to(data / "docs")  # a second name for a folder
    (data / "docs" / "up").symlink_to(data)  # a loop
    (data / "gone.md").symlink_to(data / "nothing.md")
    (data / "me.md").symlink_to(data / "me.md")
    (data / ".hidden").mkdir()
    (data / ".hidden" / "kept.md").write_text("# Kept")
    (data / "window").symlink_to(data / ".hidden")  # the only way to a hidden folder: followed
    found = scan(data)
    assert keys(found) == ["docs/guide.md", "window/kept.md"]
    reasons = {r.path: r.reason for r in found.refused}
    assert "does not exist" in reasons["gone.md"] and "loop" in reasons["me.md"] and len(reasons) == 2


def test_limits_and_names_are_reported_with_the_setting_to_change(folders: tuple[Path, Path]) -> None:
    data, _ = folders
    with open(data / "big.pdf", "wb") as handle:
        handle.truncate(3 * 1024 * 1024)
    (data / os.fsdecode(b"caf\xe9.md")).write_text("# Latin-1 name")
    (data / "archive.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    found = scan(data, max_file_mb=2)
    reasons = {r.path: r.reason for r in found.refused}
    assert "over the 2 MB limit (max_file_mb)" in reasons["big.pdf"]
    assert "not valid UTF-8" in reasons["caf\\xe9.md"]
    assert found.skipped == ["archive.zip"] and keys(found) == ["docs/guide.md"]


def test_a_file_that_changes_while_read_is_read_again_or_reported(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "log.txt"
    path.write_text("first version")
    source = SourceFile(path, "log.txt", path.stat().st_size, path.stat().st_mtime)
    monkeypatch.setattr(scanning, "READ_RETRY_S", 0.0)
    real_read = Path.read_bytes
    writes = iter(["second, longer version", "third version, longer still"])

    def read_while_writing(self: Path) -> bytes:
        data = real_read(self)
        following = next(writes, None)
        if following is not None:
            self.write_text(following)
        return data

    monkeypatch.setattr(Path, "read_bytes", read_while_writing)
    data, status = read_stable(source)  # two reads saw a changing file; the third a stable one
    assert data == b"third version, longer still" and status.st_size == len(data)

    monkeypatch.setattr(Path, "read_bytes", lambda self: (self.write_text(str(random.random())), b"x")[1])
    with pytest.raises(LoadError, match="changed while it was being read"):
        read_stable(source)
    path.unlink()
    with pytest.raises(LoadError, match="removed while"):
        read_stable(source)


def test_encodings_are_guessed_with_confidence_or_refused() -> None:
    japanese = "東京は日本の首都であり、人口は約千四百万人です。"
    text, encoding = decode_text(japanese.encode("shift_jis"))
    assert text == japanese and encoding in ("cp932", "shift_jis")
    russian = "Москва — столица России и крупнейший город страны."
    assert decode_text(russian.encode("cp1251")) == (russian, "cp1251")
    french = "La brioche de Noël est dorée au four à 180 °C."
    assert decode_text(french.encode("latin-1"))[0] == french  # Western text stays right
    assert decode_text("naïve café".encode())[1] == "utf-8"
    for noise in (bytes(b for b in random.Random(2).randbytes(4096) if b), bytes([200]) * 4000,
                  bytes(range(1, 9)) * 100):
        with pytest.raises(LoadError, match=NOT_TEXT):
            decode_text(noise)
