"""The OpenAI-compatible API over fake models (starlette's test client): answers with their
sources, streams, search, documents, collections, keys, and every error in OpenAI's shape."""

from __future__ import annotations

import json
import os
import queue
import threading
from pathlib import Path

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from starlette.middleware import Middleware

from rag_app.api import api_routes
from rag_app.api.guard import Guard, LoginLimit
from rag_app.api.routes import Api
from rag_app.generation import GenerationServerError
from rag_app.ingest.watch import WatchEvent
from rag_app.service.discovery import announce, find
from rag_app.service.keys import KeyStore
from rag_app.service.library import CollectionError, Library, UnknownCollectionError

from conftest import SUPPORTED, folder, make_settings
from fakes import FakeEmbedder, FakeGenerator

LOOPBACK = ("127.0.0.1", 40000)
ELSEWHERE = ("192.0.2.7", 40000)
QUESTION = {"messages": [{"role": "user", "content": "Where do white storks nest?"}]}


@pytest.fixture
def library(tmp_path: Path) -> Library:
    settings = make_settings(folder(tmp_path), tmp_path / "index")
    library = Library(settings, create=True, embedder=FakeEmbedder(), generator=FakeGenerator(SUPPORTED))
    library.app().ingest()
    other = tmp_path / "recipes"
    other.mkdir()
    (other / "bread.md").write_text("# Bread\n\nBake the bread for forty minutes at 220 degrees.\n", encoding="utf-8")
    library.add("recipes", other)
    library.app("recipes").ingest()
    yield library
    library.close()


def client(library: Library, address: tuple[str, int] = LOOPBACK, key: str = "") -> TestClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return TestClient(FastAPI(routes=api_routes(library)), client=address, headers=headers)


def error_of(response) -> dict:  # noqa: ANN001
    body = response.json()
    assert set(body) == {"error"} and {"message", "type", "code"} <= set(body["error"]), body
    return body["error"]


def test_a_chat_completion_is_the_verified_answer_with_its_sources(library: Library) -> None:
    response = client(library).post("/v1/chat/completions", json={**QUESTION, "model": "gpt-4o", "user": "x"})
    body = response.json()
    assert response.status_code == 200 and body["object"] == "chat.completion"
    assert body["model"] == "rag_app/default"  # a client's fixed model name means the default collection
    assert "church towers" in body["choices"][0]["message"]["content"]
    extra = body["rag_app"]
    assert extra["verified"] and not extra["refused"]
    source = extra["sources"][0]
    assert source["file"] == "storks.md" and "church towers" in source["supporting_sentence"]
    assert source["link"].startswith("http://testserver/rag/source/")
    assert extra["sentences"][0]["supported"]


def test_a_stream_sends_passages_first_then_the_reply_then_the_verdict(library: Library) -> None:
    with client(library).stream("POST", "/v1/chat/completions", json={**QUESTION, "stream": True}) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        lines = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[1]["rag_app"]["passages"][0]["file"] == "storks.md"  # before any word of the reply
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == SUPPORTED
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["rag_app"]["verified"]


def test_a_refusal_is_said_in_the_content_and_flagged(library: Library) -> None:
    body = client(library).post("/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "What is the capital city of Mongolia?"}]}).json()
    assert body["rag_app"]["refused"] and not body["rag_app"]["verified"] and not body["rag_app"]["sources"]
    assert "not in your documents" in body["choices"][0]["message"]["content"]


def test_the_model_names_the_collection(library: Library) -> None:
    api = client(library)
    assert [m["id"] for m in api.get("/v1/models").json()["data"]] == ["rag_app/default", "rag_app/recipes"]
    body = api.post("/v1/search", json={"query": "bread baking", "model": "rag_app/recipes"}).json()
    assert {p["file"] for p in body["data"]} == {"bread.md"}
    body = api.post("/v1/search", json={"query": "bread baking"}).json()
    assert "bread.md" not in {p["file"] for p in body["data"]}  # the default collection has no bread
    response = api.post("/v1/chat/completions", json={**QUESTION, "model": "rag_app/nowhere"})
    assert response.status_code == 404 and error_of(response)["code"] == "model_not_found"


@pytest.mark.parametrize(("body", "status", "param"), [
    ({}, 400, "messages"),
    ({"messages": []}, 400, "messages"),
    ({"messages": "hello"}, 400, "messages"),
    ({"messages": [{"role": "user", "content": "   "}]}, 400, "messages"),
    ({"messages": [{"role": "pirate", "content": "hi"}]}, 400, "messages.0.role"),
    ({"messages": [{"role": "assistant", "content": "hi"}]}, 400, "messages"),
    ({**QUESTION, "temperature": "hot"}, 400, "temperature"),
    ({**QUESTION, "max_tokens": 10**6}, 400, "max_tokens"),
    ({"messages": [{"role": "user", "content": "x" * 5000}]}, 400, "messages"),
    ([1, 2], 400, None),
])
def test_bad_requests_get_an_openai_error_naming_the_field(library: Library, body: object, status: int,
                                                          param: str | None) -> None:
    response = client(library).post("/v1/chat/completions", json=body)
    assert response.status_code == status
    assert error_of(response)["param"] == param


def test_bodies_that_are_not_json_or_too_large_are_refused(library: Library) -> None:
    api = client(library)
    response = api.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_json"
    huge = {"messages": [{"role": "user", "content": "a"}], "padding": "x" * 300_000}
    response = api.post("/v1/chat/completions", json=huge)
    assert response.status_code == 413 and error_of(response)["code"] == "body_too_large"


def test_documents_are_listed_uploaded_and_removed_per_collection(library: Library) -> None:
    api = client(library)
    assert [d["path"] for d in api.get("/v1/collections/recipes/documents").json()["data"]] == ["bread.md"]
    response = api.post("/v1/collections/recipes/documents",
                        files={"file": ("soup.md", b"# Soup\n\nSimmer the leek soup for half an hour.\n")})
    assert response.status_code == 200 and response.json()["added"] == ["soup.md"]
    assert {d["path"] for d in api.get("/v1/collections/recipes/documents").json()["data"]} == {"bread.md", "soup.md"}
    assert "soup.md" not in {d["path"] for d in api.get("/v1/collections/default/documents").json()["data"]}
    refused = api.post("/v1/collections/recipes/documents", files={"file": ("run.exe", b"MZ")})
    assert refused.status_code == 400 and "cannot be read" in error_of(refused)["message"]
    assert api.delete("/v1/collections/recipes/documents/soup.md").status_code == 200
    assert [d["path"] for d in api.get("/v1/collections/recipes/documents").json()["data"]] == ["bread.md"]
    assert api.delete("/v1/collections/recipes/documents/../index").status_code == 404


def test_without_keys_only_this_machine_is_answered(library: Library) -> None:
    response = client(library, ELSEWHERE).get("/v1/models")
    assert response.status_code == 403 and "rag-app keys add" in error_of(response)["message"]


def test_a_key_reads_only_its_collections_through_every_route(library: Library) -> None:
    keys = KeyStore(library.settings.serve.keys_file)
    recipes = keys.add("cook", ["recipes"])
    assert recipes not in keys.path.read_text()  # only its hash is stored
    api = client(library, ELSEWHERE, recipes)
    assert [m["id"] for m in api.get("/v1/models").json()["data"]] == ["rag_app/recipes"]
    assert api.post("/v1/search", json={"query": "bread", "model": "rag_app/recipes"}).status_code == 200
    for response in (
        api.post("/v1/chat/completions", json={**QUESTION, "model": "rag_app/default"}),
        api.post("/v1/search", json={"query": "storks"}),
        api.get("/v1/collections/default/documents"),
        api.post("/v1/collections/default/documents", files={"file": ("a.md", b"# A\n\ntext\n")}),
        api.delete("/v1/collections/default/documents/storks.md"),
    ):
        assert response.status_code == 404, response.text  # as if it did not exist
    # Once a key exists, loopback needs one too; a wrong one is a 401.
    assert client(library).get("/v1/models").status_code == 401
    assert client(library, LOOPBACK, "rag-wrong").get("/v1/models").status_code == 401


def test_wrong_keys_are_rate_limited_per_client(library: Library) -> None:
    KeyStore(library.settings.serve.keys_file).add("someone", ["default"])
    api = client(library, ELSEWHERE, "rag-guess")
    statuses = [api.get("/v1/models").status_code for _ in range(12)]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    assert "Retry-After" in api.get("/v1/models").headers


def test_wrong_logins_to_the_page_are_rate_limited_with_the_keys(library: Library) -> None:
    """The page's login form (Gradio's POST /login, here a stand-in that refuses with 400 as
    Gradio does) shares the count of wrong keys: after 10, a 429 before anything is checked."""
    tries: list[str] = []

    def login(username: str = "", password: str = "") -> dict[str, bool]:
        tries.append(username)
        if password != "right":
            raise HTTPException(status_code=400, detail="Incorrect credentials.")
        return {"success": True}

    guard = Guard(KeyStore(library.settings.serve.keys_file))
    server = FastAPI(routes=api_routes(library, guard), middleware=[Middleware(LoginLimit, guard=guard)])
    server.add_api_route("/login", login, methods=["POST"])
    browser = TestClient(server, client=ELSEWHERE)
    assert browser.post("/login", params={"username": "ann", "password": "right"}).status_code == 200
    statuses = [browser.post("/login", params={"username": "ann", "password": "guess"}).status_code
                for _ in range(11)]
    assert statuses == [400] * 10 + [429]
    assert len(tries) == 11  # the 11th was never checked
    refused = browser.post("/login", params={"username": "ann", "password": "right"})
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    KeyStore(library.settings.serve.keys_file).add("someone", ["default"])
    assert browser.get("/v1/models", headers={"Authorization": "Bearer x"}).status_code == 429  # same count
    other = TestClient(server, client=("192.0.2.9", 50000))
    assert other.post("/login", params={"username": "ann", "password": "right"}).status_code == 200


def test_a_full_queue_answers_429_with_retry_after(library: Library) -> None:
    api = Api(library, Guard(KeyStore(library.settings.serve.keys_file)))
    http = TestClient(FastAPI(routes=api.routes()), client=LOOPBACK)
    api.admission.count = api.admission.limit  # every place taken
    response = http.post("/v1/chat/completions", json=QUESTION)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert error_of(response)["type"] == "rate_limit_error"
    api.admission.count = 0
    assert http.post("/v1/chat/completions", json=QUESTION).status_code == 200


def test_collections_are_checked_and_independent(library: Library, tmp_path: Path) -> None:
    with pytest.raises(CollectionError, match="exists already"):
        library.add("recipes", tmp_path)
    with pytest.raises(CollectionError, match="cannot name"):
        library.add("../etc", tmp_path)
    with pytest.raises(CollectionError, match="not a folder"):
        library.add("empty", tmp_path / "missing")
    removed = library.remove("recipes")
    assert (removed.data_dir / "bread.md").exists()  # its documents stay
    with pytest.raises(UnknownCollectionError):
        library.app("recipes")
    assert library.app().search("storks", k=1)[0].path == "storks.md"  # the default is untouched


def test_the_command_lines_token_opens_every_collection_from_this_machine_only(library: Library) -> None:
    KeyStore(library.settings.serve.keys_file).add("editor", ["recipes"])
    routes = FastAPI(routes=api_routes(library, Guard(KeyStore(library.settings.serve.keys_file), "rag-local-secret")))
    local = TestClient(routes, client=LOOPBACK, headers={"Authorization": "Bearer rag-local-secret"})
    assert [m["id"] for m in local.get("/v1/models").json()["data"]] == ["rag_app/default", "rag_app/recipes"]
    elsewhere = TestClient(routes, client=ELSEWHERE, headers={"Authorization": "Bearer rag-local-secret"})
    assert elsewhere.get("/v1/models").status_code == 401


def test_a_running_server_is_found_by_its_index_while_it_runs(tmp_path: Path) -> None:
    cache, index = tmp_path / "cache", tmp_path / "index"
    with announce(cache, {"default": index}, "http://127.0.0.1:1234/", "rag-local-x"):
        found = find(cache, index)
        assert found is not None and (found.url, found.collection, found.token) == (
            "http://127.0.0.1:1234/", "default", "rag-local-x")
        assert find(cache, tmp_path / "another-index") is None
        announcement = next((cache / "servers").iterdir())
        assert announcement.stat().st_mode & 0o777 == 0o600
        announcement.write_text(announcement.read_text().replace(str(os.getpid()), "999999999"))
        assert find(cache, index) is None  # its process is gone
    assert find(cache, index) is None and not list((cache / "servers").iterdir())


def test_every_collection_is_watched_and_reported_by_name(library: Library) -> None:
    events: queue.Queue[tuple[str, WatchEvent]] = queue.Queue()
    stop = threading.Event()
    watcher = threading.Thread(target=library.watch, args=(lambda name, event: events.put((name, event)), stop))
    watcher.start()
    try:
        first = {events.get(timeout=30)[0], events.get(timeout=30)[0]}  # each ingests once at the start
        assert first == {"default", "recipes"}
        (library.get("recipes").data_dir / "soup.md").write_text("# Soup\n\nSimmer for an hour.\n", encoding="utf-8")
        name, event = events.get(timeout=30)
        assert name == "recipes" and event.report is not None and event.report.added == 1
    finally:
        stop.set()
        watcher.join(timeout=30)
    assert not watcher.is_alive()


def test_an_answer_server_that_fails_is_a_503_that_says_what_to_do(tmp_path: Path) -> None:
    def down(question: str, passages: object) -> str:
        raise GenerationServerError("The answer server at http://127.0.0.1:9/v1 does not answer. Start it.")

    settings = make_settings(folder(tmp_path), tmp_path / "index")
    with Library(settings, create=True, embedder=FakeEmbedder(), generator=FakeGenerator(down)) as library:
        library.app().ingest()
        http = client(library)
        response = http.post("/v1/chat/completions", json=QUESTION)
        assert response.status_code == 503 and error_of(response)["code"] == "answer_server_unavailable"
        assert "Start it" in error_of(response)["message"]
        streamed = http.post("/v1/chat/completions", json={**QUESTION, "stream": True})
        assert streamed.status_code == 200  # the stream had begun: the error is its last event
        assert "Start it" in streamed.text and "Traceback" not in streamed.text
