"""The application service and the chat page's handlers over fake models: ingest, info, search,
answers (verified, refused, unverified), uploads, removal, model switching."""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path

import gradio as gr
import pytest

from rag_app.answer import Answer, AnswerEvent, SourcesEvent, StatusEvent, TokenEvent
from rag_app.config import Settings
from rag_app.service.app import App
from rag_app.service.keys import KeyStore
from rag_app.service.library import Library
from rag_app.ui.page import ChatPage

from conftest import DOCUMENTS, SUPPORTED, folder, make_settings
from fakes import FakeEmbedder, FakeGenerator


def answer_with(tmp_path: Path, generator: FakeGenerator, question: str) -> Answer:
    """The answer to ``question`` over the three documents, with ``generator`` writing."""
    settings = make_settings(folder(tmp_path), tmp_path / "index")
    with App(settings, create=True, embedder=FakeEmbedder(), generator=generator) as app:
        app.ingest()
        return app.answer(question)


@pytest.fixture
def app(tmp_path: Path) -> App:
    settings = make_settings(folder(tmp_path), tmp_path / "index")
    with App(settings, create=True, embedder=FakeEmbedder(), generator=FakeGenerator(SUPPORTED)) as app:
        app.ingest()
        yield app


def open_page(settings: Settings, keys: KeyStore | None = None) -> ChatPage:
    """The chat page over the collections of ``settings``, with fake models."""
    return ChatPage(Library(settings, create=True, embedder=FakeEmbedder(), generator=FakeGenerator(SUPPORTED)),
                    keys)


@pytest.fixture
def page(tmp_path: Path) -> ChatPage:
    page = open_page(make_settings(folder(tmp_path), tmp_path / "index"))
    page.app.ingest()
    yield page
    page.close()


def test_info_and_search_describe_and_rank_the_index(app: App) -> None:
    info = app.info()
    assert (info.documents, info.embedding_model, info.failures) == (3, "fake-bag-of-words", [])
    assert sorted(f.path for f in info.files) == sorted(DOCUMENTS) and info.last_ingest_text != "never"
    assert app.search("Where do storks nest?", k=1)[0].path == "storks.md"
    modes = app.search_modes("boiling water pasta", 2)
    assert {p.path for p in modes["bm25"]} == {"pasta.md"} and modes["hybrid"][0].path == "pasta.md"


def test_a_supported_reply_is_streamed_then_verified_with_its_source(app: App) -> None:
    events = list(app.ask("Where do white storks nest?"))
    # The passages found come first, before the model reads them.
    assert isinstance(events[0], SourcesEvent) and events[0].passages[0].path == "storks.md"
    assert events[0].evidence and "church towers" in events[0].evidence[0].text
    assert isinstance(events[1], StatusEvent) and events[1].stage == "reading"
    assert "".join(e.text for e in events if isinstance(e, TokenEvent)) == SUPPORTED
    answer = events[-1].answer if isinstance(events[-1], AnswerEvent) else None
    assert answer is not None and answer.verified and not answer.refused
    assert [c.path for c in answer.citations] == ["storks.md"] and "church towers" in answer.answer


def test_a_reader_that_leaves_mid_answer_frees_the_model_at_once(app: App) -> None:
    generator = app.pipeline.generator
    assert isinstance(generator, FakeGenerator)
    gc.disable()  # freed by closing the events, not by the garbage collector some time later
    try:
        events = app.ask("Where do white storks nest?")
        next(e for e in events if isinstance(e, TokenEvent))
        assert generator.writing == 1
        events.close()  # what a view does when its client leaves
        assert generator.writing == 0
    finally:
        gc.enable()


def test_a_question_the_documents_cannot_answer_is_refused_without_asking_the_model(tmp_path: Path) -> None:
    generator = FakeGenerator("Paris is the capital of France [1].")
    answer = answer_with(tmp_path, generator, "What is the capital city of Mongolia?")
    assert answer.refused and generator.calls == 0 and not answer.citations


def test_an_invented_reply_is_not_passed_off_as_verified(tmp_path: Path) -> None:
    generator = FakeGenerator("White storks nest on the Moon since 1850 [1].")
    answer = answer_with(tmp_path, generator, "Where do white storks nest?")
    assert generator.calls == 1 and not answer.verified and not answer.refused
    assert "Moon" not in answer.answer and "church towers" in answer.answer  # the evidence instead


def test_the_page_streams_an_answer_and_shows_its_sources(page: ChatPage) -> None:
    # What the chat showed at each step (the handler updates one list in place).
    steps = [(chat[-1]["content"], history, question)
             for chat, history, question in page.respond("Where do white storks nest?", [], [], 5, 0.0, 128)]
    shown = [html for html, _, _ in steps]
    _, history, question = steps[-1]
    assert "Searching your documents" in shown[0] and "Found in your documents" not in shown[0]
    # The passages found show as soon as retrieval ends, before the model reads and writes.
    assert "Found in your documents" in shown[1] and "storks.md" in shown[1] and "rag-streaming" not in shown[1]
    assert "fake-model is reading" in shown[2] and "Found in your documents" in shown[2]
    streaming = [html for html in shown if "rag-streaming" in html]
    assert streaming and all("Found in your documents" in html for html in streaming)
    assert any("church" in html for html in streaming)
    assert "storks.md" in shown[-1] and "Sources" in shown[-1] and question == ""
    assert history == [["Where do white storks nest?", SUPPORTED]]
    assert list(page.respond("   ", [], [], 5, 0.0, 128)) == [([], [], "")]


def test_the_page_on_an_empty_index_says_how_to_add_documents(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    settings = make_settings(tmp_path / "data", tmp_path / "index")
    page = open_page(settings)
    try:
        status, notice, documents, failures, _, where = page.refresh()
        assert str(tmp_path / "data") in where
        assert "**0** documents" in status and notice["visible"] is True and documents == [] == failures
        chat, _, _ = list(page.respond("Where do storks nest?", [], [], 5, 0.0, 128))[-1]
        assert "Documents" in chat[-1]["content"] and "rag-app ingest" in chat[-1]["content"]
    finally:
        page.close()


def test_upload_remove_and_model_switch_through_the_page(page: ChatPage, tmp_path: Path) -> None:
    app = page.app
    upload = tmp_path / "upload" / "owls.md"
    upload.parent.mkdir()
    upload.write_text("# Owls\n\nBarn owls hunt mice at night.\n", encoding="utf-8")
    message, kept, status, *_ = page.add_files([str(upload), str(tmp_path / "notes.exe")], False)
    assert "Added owls.md" in message and "1 added" in message and "notes.exe" in message
    assert kept == [str(tmp_path / "notes.exe")] and "**4** documents" in status
    assert app.search("barn owls mice", k=1)[0].path == "owls.md"

    message, confirm, status, *_ = page.remove("owls.md", True)
    assert "Removed owls.md" in message and confirm is False and "**3** documents" in status

    assert page.switch_model(str(tmp_path / "missing.gguf")).startswith("⚠")
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF")
    assert "loaded" in page.switch_model(str(other)) and app.pipeline.generator.model_path == other


def test_the_page_reads_ahead_a_draft_at_the_end_of_a_word_and_only_the_newest(page: ChatPage) -> None:
    generator = page.app.pipeline.generator
    assert isinstance(generator, FakeGenerator)
    page.prefill("Where do white storks ", [], 5, 128)  # a word has just ended: read ahead at once
    assert generator.prefills == ["Where do white storks"]
    page.prefill("Where", [], 5, 128)  # one word is not a question yet
    page.prefill("Zzzz qqqq", [], 5, 128)  # the gate is closed: nothing for the model to read
    assert generator.prefills == ["Where do white storks"]
    # In the middle of a word, a draft waits for a pause; a newer keystroke supersedes it.
    threads = [threading.Thread(target=page.prefill, args=(draft, [], 5, 128))
               for draft in ("Where do white storks n", "Where do white storks nest")]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    assert generator.prefills == ["Where do white storks", "Where do white storks nest"]


def test_the_page_remembers_drafts_for_its_most_recent_tabs_only(page: ChatPage,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rag_app.ui.page.DRAFT_TABS", 3)
    first = page._note("tab-0", "Where do")
    for n in range(1, 5):  # four more tabs type: tab-0 is the oldest, forgotten
        page._note(f"tab-{n}", "Where do")
    assert list(page._drafts) == ["tab-2", "tab-3", "tab-4"]
    again = page._note("tab-0", "Where do")  # it types again: a new number, never its old one
    assert again > first and list(page._drafts) == ["tab-3", "tab-4", "tab-0"]
    assert page._note("tab-0", "Where do") == again  # the same draft keeps its number


def test_the_page_asks_and_uploads_in_the_picked_collection_and_a_login_sees_only_its_key_s(
        tmp_path: Path) -> None:
    settings = make_settings(folder(tmp_path), tmp_path / "index")
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "soup.md").write_text("# Onion soup\n\nOnion soup simmers for forty minutes.\n", encoding="utf-8")
    Library(settings).add("recipes", recipes)
    upload = tmp_path / "upload" / "bread.md"
    upload.parent.mkdir()
    upload.write_text("# Bread\n\nBread dough rises for two hours.\n", encoding="utf-8")
    here = open_page(settings)  # this machine: every collection
    try:
        picker, status, *_ = here.load(gr.Request(session_hash="tab"))
        assert picker["choices"] == ["default", "recipes"] and picker["value"] == "default" and picker["visible"]
        assert "**0** documents" in status  # the default collection's index is not built in this test
        assert "1 added" in here.rescan("recipes")[0]
        chat, _, _ = list(here.respond("How long does onion soup simmer?", [], [], 5, 0.0, 128, "recipes"))[-1]
        assert "soup.md" in chat[-1]["content"] and "c=recipes" in chat[-1]["content"]
        message, kept, status, *_ = here.add_files([str(upload)], False, "recipes")
        assert "Added bread.md" in message and "**2** documents" in status and kept is None
        assert (recipes / "bread.md").is_file() and not (settings.paths.data_dir / "bread.md").exists()
        cleared = here.pick("default")
        assert cleared[:3] == ([], [], "") and "bread.md" not in str(cleared[5])
    finally:
        here.close()

    keys = KeyStore(settings.serve.keys_file)
    keys.add("cook", ["recipes"])
    away = open_page(settings, keys)  # off loopback: a person logged in as the key "cook"
    cook = gr.Request(username="cook", session_hash="tab")
    try:
        picker, *_ = away.load(cook)
        assert picker["choices"] == ["recipes"] and picker["value"] == "recipes" and not picker["visible"]
        chat, _, _ = list(away.respond("Where do white storks nest?", [], [], 5, 0.0, 128, "default", cook))[-1]
        shown = chat[-1]["content"]
        assert "no collection named &#x27;default&#x27;" in shown and "storks.md" not in shown
        assert away.refresh("default", cook)[0].startswith("⚠")
        message, kept, *_ = away.add_files([str(upload)], True, "default", cook)
        assert message.startswith("⚠") and kept == [str(upload)]
        assert not (settings.paths.data_dir / "bread.md").exists()
        assert "⚠" in away.remove("storks.md", True, "default", cook)[0]
        assert (settings.paths.data_dir / "storks.md").exists()
        other = tmp_path / "other.gguf"
        other.write_bytes(b"GGUF")
        before = away.app.pipeline.generator.model_path, away.model_path
        assert "rag-app models use" in away.switch_model(str(other))  # shared by everyone logged in
        assert (away.app.pipeline.generator.model_path, away.model_path) == before
        picker, status, *_ = away.load(gr.Request(username="stranger"))
        assert picker["choices"] == [] and "reads none of the collections" in status
        keys.remove("cook")  # a key removed counts at once, even for a login made before
        assert away.collections_for(cook) == []
    finally:
        away.close()
