"""`rag-app show`: a passage in its page or section, in the terminal, and the page as a PNG."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from rag_app.cli import app
from rag_app.config import Settings
from rag_app.store import IndexStore


def run(demo_index: Settings, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["show", *args, "--index-dir", str(demo_index.paths.index_dir),
                                      "--data-dir", str(demo_index.paths.data_dir)])
    return result.exit_code, result.output


def test_a_pdf_passage_is_shown_in_its_page_and_written_as_a_png(demo_index: Settings, tmp_path: Path) -> None:
    with IndexStore.open(demo_index.paths.index_dir) as store:
        chunk = next(c for c in store.document_chunks("how_llms_work.pdf") if "Q4_K_M" in c.text)
    png = tmp_path / "page.png"
    code, output = run(demo_index, str(chunk.id), "--sentence", "GGUF is the file format of llama.cpp.",
                       "--png", str(png))
    assert code == 0, output
    assert f"how_llms_work.pdf · page {chunk.page} of 5" in output and "GGUF is the file format" in output
    assert png.read_bytes().startswith(b"\x89PNG") and f"Page {chunk.page} written" in output


def test_a_page_or_a_document_by_path_and_refusals(demo_index: Settings) -> None:
    code, output = run(demo_index, "how_llms_work.pdf:3")
    assert code == 0 and "page 3 of 5" in output and "Fine-tuning" in output
    code, output = run(demo_index, "rag_en_pratique.md")
    assert code == 0 and "rag_en_pratique.md" in output
    for target, message in (("how_llms_work.pdf:9", "no page 9"), ("../../etc/passwd", "not a document"),
                            ("999999", "no longer in the index")):
        code, output = run(demo_index, target)
        assert code == 1 and message in output, output
