"""The source panel's routes (what the chat page's frame loads), over fake models."""

from __future__ import annotations

import shutil

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rag_app.service.keys import KeyStore
from rag_app.service.library import Library
from rag_app.ui.source_routes import host_allowed, source_routes

from conftest import DEMO_DATA, make_settings
from fakes import FakeEmbedder, FakeGenerator


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    root = tmp_path_factory.mktemp("routes")
    shutil.copytree(DEMO_DATA, root / "data")
    (root / "secret.txt").write_text("not for the browser")
    (root / "recipes").mkdir()
    (root / "recipes" / "soup.md").write_text("# Onion soup\n\nOnion soup simmers for forty minutes.\n")
    with Library(make_settings(root / "data", root / "index"), embedder=FakeEmbedder(), generator=FakeGenerator(),
                 create=True) as library:
        library.add("recipes", root / "recipes")
        for name in library.names():
            library.app(name).ingest()
        keys = KeyStore(library.settings.serve.keys_file)
        server = FastAPI(routes=source_routes(library, keys))
        server.state.library = library
        server.state.keys = keys
        yield TestClient(server, base_url="http://127.0.0.1:7860", client=("127.0.0.1", 40000))


def chunk_id(client: TestClient, path: str, words: str, collection: str = "default") -> int:
    library: Library = client.app.state.library  # type: ignore[attr-defined]
    return next(c.id for c in library.app(collection).store.document_chunks(path) if words in c.text)


def test_the_panel_shows_a_pdf_passage_on_its_page_and_turns_pages(client: TestClient) -> None:
    passage = chunk_id(client, "how_llms_work.pdf", "Q4_K_M")
    page = client.get(f"/rag/source/{passage}", params={"s": "GGUF is the file format of llama.cpp."})
    assert page.status_code == 200 and 'data-page="4"' in page.text and 'data-highlighted="true"' in page.text
    assert "page 4 of 5" in page.text and '<mark class="sentence">' in page.text
    image = client.get("/rag/page.png", params={"path": "how_llms_work.pdf", "page": 4, "chunk": passage})
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    other = client.get(f"/rag/source/{passage}", params={"page": 5})
    assert 'data-page="5"' in other.text and "data-highlighted" not in other.text
    assert "Back to the passage" in other.text
    assert client.get(f"/rag/source/{passage}", params={"page": 6}).status_code == 404


def test_the_panel_shows_a_markdown_passage_in_its_section(client: TestClient) -> None:
    passage = chunk_id(client, "chunking_and_embeddings.md", "384")
    page = client.get(f"/rag/source/{passage}")
    assert page.status_code == 200 and '<mark class="passage" id="passage">' in page.text
    assert "chunking_and_embeddings.md" in page.text and "<img" not in page.text


def test_only_indexed_files_inside_the_data_folder_are_served_and_only_to_this_host(client: TestClient) -> None:
    pdf = client.get("/rag/file/how_llms_work.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert "inline" in pdf.headers["content-disposition"]
    for path in ("../secret.txt", "%2E%2E/secret.txt", "..%2Fsecret.txt", "/etc/passwd", "nothing.md"):
        assert client.get(f"/rag/file/{path}").status_code == 404, path
    assert client.get("/rag/file/how_llms_work.pdf", headers={"host": "evil.example"}).status_code == 403
    assert client.get("/rag/source/999999").status_code == 404


def test_host_names_that_reach_this_server() -> None:
    assert host_allowed("127.0.0.1:7860", "127.0.0.1") and host_allowed("localhost:7860", "127.0.0.1")
    assert host_allowed("[::1]:7860", "127.0.0.1") and host_allowed("laptop.lan:7860", "laptop.lan")
    assert not host_allowed("evil.example:7860", "127.0.0.1") and not host_allowed("", "127.0.0.1")
    assert host_allowed("anything:7860", "0.0.0.0")  # listening everywhere was asked for


def test_off_this_machine_the_sources_need_a_login_with_a_key_for_their_collection(client: TestClient) -> None:
    passage = chunk_id(client, "how_llms_work.pdf", "Q4_K_M")
    elsewhere = TestClient(client.app, base_url="http://127.0.0.1:7860", client=("192.0.2.7", 40000))
    keys: KeyStore = client.app.state.keys  # type: ignore[attr-defined]
    keys.add("cook", ["recipes"])
    soup = chunk_id(client, "soup.md", "forty", "recipes")
    mine = (f"/rag/source/{soup}?c=recipes", "/rag/file/soup.md?c=recipes", "/rag/document/soup.md?c=recipes")
    theirs = (f"/rag/source/{passage}", "/rag/file/how_llms_work.pdf", "/rag/document/how_llms_work.pdf",
              "/rag/page.png?path=how_llms_work.pdf&page=1", f"/rag/source/{soup}?c=nope")
    try:
        for route in mine + theirs:
            assert elsewhere.get(route).status_code == 404, route  # not logged in
            if "nope" not in route:
                assert client.get(route).status_code == 200, route  # this machine itself
        # Logged in to the page as "cook" (Gradio's login cookie): recipes only.
        client.app.cookie_id, client.app.tokens = "page", {"t0ken": "cook"}  # type: ignore[attr-defined]
        elsewhere.cookies.set("access-token-page", "t0ken")
        for route in mine:
            assert elsewhere.get(route).status_code == 200, route
        for route in theirs:
            assert elsewhere.get(route).status_code == 404, route
        assert "c=recipes" in elsewhere.get(f"/rag/source/{soup}?c=recipes").text  # its links stay in recipes
    finally:
        keys.remove("cook")
        client.app.tokens = {}  # type: ignore[attr-defined]
