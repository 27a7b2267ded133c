"""The chat page's handlers without a browser: empty index, upload then ask, remove, model choice."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from rag_app.embedding.registry import E5_FOLDER
from rag_app.ui import ChatPage

from conftest import MODELS, make_settings


@pytest.fixture
def empty_page(tmp_path: Path) -> ChatPage:
    data = tmp_path / "data"
    data.mkdir()
    # The handlers are plumbing: the tiny bundled model is enough, and no catalogue model is
    # installed in this models folder (only the embedder that `make install` built).
    models = tmp_path / "models"
    models.mkdir()
    (models / E5_FOLDER).symlink_to(MODELS / E5_FOLDER, target_is_directory=True)
    page = ChatPage.open(make_settings(data, tmp_path / "index", model="smollm2-135m", models_dir=models))
    yield page
    page.close()


def _last(chat: list[dict]) -> str:
    return str(chat[-1]["content"])


def test_empty_index_says_how_to_add_documents(empty_page: ChatPage) -> None:
    status, notice, documents, failures, _, where = empty_page.refresh()
    assert str(empty_page.settings.paths.data_dir) in where  # where uploads go
    assert "**0** documents" in status
    assert notice["visible"] is True and "Documents" in notice["value"]
    assert documents == [] and failures == []
    *_, (chat, history, _) = empty_page.respond("What is BM25?", [], [], 5, 0.1, 32)
    assert "no documents yet" in _last(chat) and history == []


def test_upload_is_saved_indexed_and_answerable_then_removed(empty_page: ChatPage, tmp_path: Path) -> None:
    upload = tmp_path / "upload" / "Quenta moon.md"
    upload.parent.mkdir()
    upload.write_text("# Quenta\n\nThe moon Quenta has an orbital period of 41 days.\n", encoding="utf-8")
    broken = tmp_path / "upload" / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 truncated")
    message, kept, status, notice, documents, failures, *_ = empty_page.add_files(
        [str(upload), str(broken)], False)
    assert "Index updated" in message and "broken.pdf" in message and kept is None
    assert (empty_page.settings.paths.data_dir / "Quenta moon.md").is_file()
    assert [row[0] for row in documents] == ["Quenta moon.md"] and documents[0][1] >= 1
    assert [row[0] for row in failures] == ["broken.pdf"] and failures[0][1]
    assert notice["visible"] is False

    # Asked while another upload is being ingested: retrieval does not wait for ingestion.
    other = tmp_path / "upload" / "other.txt"
    other.write_text("Bananas are yellow when ripe.\n" * 50, encoding="utf-8")
    worker = threading.Thread(target=empty_page.add_files, args=([str(other)], False))
    worker.start()
    passages = empty_page.app.search("What is the orbital period of the moon Quenta?")
    worker.join()
    assert passages[0].path == "Quenta moon.md"

    again, kept, *_ = empty_page.add_files([str(upload)], False)
    assert "already in the data folder" in again and kept == [str(upload)]

    message, confirm, *_ = empty_page.remove("Quenta moon.md", False)
    assert "Tick the box" in message and (empty_page.settings.paths.data_dir / "Quenta moon.md").exists()
    message, confirm, status, notice, documents, *_ = empty_page.remove("Quenta moon.md", True)
    assert "Removed Quenta moon.md" in message and confirm is False
    assert not (empty_page.settings.paths.data_dir / "Quenta moon.md").exists()
    assert [row[0] for row in documents] == ["other.txt"]


def test_switching_model_loads_it_and_a_bad_file_keeps_the_current_one(
    empty_page: ChatPage, tmp_path: Path
) -> None:
    before = empty_page.model_path
    message = empty_page.switch_model(str(tmp_path / "missing.gguf"))
    assert message.startswith("⚠") and "not found" in message
    assert empty_page.model_path == before

    message = empty_page.switch_model("qwen2.5-0.5b")  # in the menu, not installed
    assert message.startswith("⚠") and "rag-app models install qwen2.5-0.5b" in message
    assert empty_page.model_path == before

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    message = empty_page.switch_model(str(bad))
    assert message.startswith("⚠") and "still in use" in message
    assert Path(empty_page.app.pipeline.generator.model_path) == Path(before)

    copy = tmp_path / "models" / "copy.gguf"  # the bundled model under another path
    copy.symlink_to(before)
    message = empty_page.switch_model(str(copy))
    assert "loaded" in message and empty_page.model_path == str(copy)
    assert empty_page.app.pipeline.generator.model_path == copy
    assert empty_page.app.pipeline.generator._llm is not None  # loaded now, not on the next question


def test_a_watched_folder_updates_the_page_status(empty_page: ChatPage) -> None:
    import time

    empty_page.start_watching()
    assert "Watching" in empty_page.status_line()
    (Path(empty_page.settings.paths.data_dir) / "storks.md").write_text(
        "# Storks\n\nWhite storks nest on church towers.\n", encoding="utf-8")
    deadline = time.monotonic() + 120
    while "**1** documents" not in empty_page.status_line() and time.monotonic() < deadline:
        time.sleep(0.5)
    status = empty_page.status_line()
    assert "**1** documents" in status and "1 added" in status
