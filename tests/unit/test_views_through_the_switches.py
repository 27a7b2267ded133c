"""The views through the real switches (issue 42): with ``runtime = "fake"`` and
``embedding_model = "fake"`` set the way a person sets any setting (the environment), the CLI's
commands, the served API (with the real `openai` client) and the chat page's handlers run end to
end through the factories that choose the real parts (`open_generator`, `open_embedder`,
`open_store`), in the fast tier: no model is loaded."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from rag_app.cli.main import app as cli
from rag_app.config import load_settings
from rag_app.embedding import open_embedder
from rag_app.embedding.fake import FakeEmbedder
from rag_app.generation import FakeGenerator, open_generator

from conftest import folder, free_port

QUESTION = "Where do white storks nest?"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "eval"


def switches(tmp_path: Path) -> dict[str, str]:
    """The environment of a person who chose no models, with private folders."""
    return {"RAG_APP_CONFIG": str(tmp_path / "none.toml"), "RAG_APP_RUNTIME": "fake",
            "RAG_APP_EMBEDDING_MODEL": "fake", "RAG_APP_DATA_DIR": str(folder(tmp_path)),
            "RAG_APP_INDEX_DIR": str(tmp_path / "index"), "RAG_APP_CACHE_DIR": str(tmp_path / "cache"),
            "RAG_APP_COLLECTIONS_DIR": str(tmp_path / "collections"),
            "RAG_APP_KEYS_FILE": str(tmp_path / "keys.json"), "RAG_APP_EVAL_CACHE": str(tmp_path / "eval"),
            "COLUMNS": "300"}


@pytest.fixture
def environment(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`switches` set in this process's environment for the test (and restored after)."""
    env = switches(tmp_path)
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    yield env
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def test_the_settings_choose_the_fakes(environment: dict[str, str]) -> None:
    settings = load_settings()
    assert isinstance(open_generator(settings.generation, settings.paths.models_dir), FakeGenerator)
    assert isinstance(open_embedder(settings.ingest.embedding_model, settings.paths.models_dir), FakeEmbedder)


def _run(env: dict[str, str], *args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == 0, (args, result.output)
    return result


def test_every_index_and_answer_command_of_the_cli(tmp_path: Path) -> None:
    env = switches(tmp_path)
    ingested = json.loads(_run(env, "ingest", "--json").output)
    assert ingested["added"] == 3 and ingested["failed"] == []
    info = json.loads(_run(env, "info", "--json").output)
    assert info["documents"] == 3 and info["embedding_model"] == "fake-bag-of-words"
    found = _run(env, "search", "white storks church towers").output
    assert "storks.md" in found
    answer = json.loads(_run(env, "ask", QUESTION, "--json").output)
    assert answer["verified"] and "church towers" in answer["answer"]
    assert answer["citations"][0]["path"] == "storks.md"
    scoped = json.loads(_run(env, "ask", QUESTION, "--only", "pasta.md", "--json").output)
    assert scoped["refused"] and "storks.md" in scoped["reason"] and scoped["scope"] == ["pasta.md"]
    assert "herons.md" not in _run(env, "search", "herons storks", "--only", "storks.md").output
    nowhere = CliRunner().invoke(cli, ["ask", QUESTION, "--only", "owls.md"], env=env)
    assert nowhere.exit_code == 1 and "owls.md" in nowhere.output
    refused = json.loads(_run(env, "ask", "Quel est le prix du pétrole en 1973 ?", "--json").output)
    assert refused["refused"] and not refused["verified"]
    assert "church towers" in _run(env, "show", "storks.md").output
    assert json.loads(_run(env, "check", "--json").output)["ok"]
    _run(env, "backup", str(tmp_path / "saved"))
    assert any((tmp_path / "saved").iterdir())


def test_eval_runs_on_a_question_set_file(tmp_path: Path) -> None:
    env = switches(tmp_path)
    report = json.loads(_run(env, "eval", str(FIXTURES / "squad_v2.json"), "--json").output)
    assert report["corpus"]["documents"] > 0 and report["questions"] and report["summary"]
    assert {"question", "gold", "retrieval"} <= set(report["questions"][0]), report["questions"][0]


def test_the_collection_and_key_commands(tmp_path: Path) -> None:
    env = switches(tmp_path)
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "bread.md").write_text("# Bread\n\nBake the bread for forty minutes.\n", encoding="utf-8")
    _run(env, "collections", "add", "recipes", str(recipes))
    assert "recipes" in _run(env, "collections", "list").output
    _run(env, "ingest", "--collection", "recipes")
    answer = json.loads(_run(env, "ask", "How long do you bake the bread?", "--collection", "recipes",
                             "--json").output)
    assert "forty minutes" in answer["answer"] and answer["citations"][0]["path"] == "bread.md"
    key = _run(env, "keys", "add", "alice", "--collections", "recipes").output
    assert "alice" in _run(env, "keys", "list").output and key.strip()
    _run(env, "keys", "remove", "alice")
    assert "alice" not in _run(env, "keys", "list").output
    _run(env, "collections", "remove", "recipes")
    assert "recipes" not in _run(env, "collections", "list").output


def test_the_served_api_answers_the_openai_client(environment: dict[str, str]) -> None:
    from openai import BadRequestError, OpenAI

    from rag_app.web.serve import serve

    settings = load_settings().replace(port=free_port())
    assert CliRunner().invoke(cli, ["ingest"]).exit_code == 0
    demo, page = serve(settings)
    try:
        base = f"http://127.0.0.1:{demo.server_port}/v1"
        with OpenAI(base_url=base, api_key="none", max_retries=0) as client:
            reply = client.chat.completions.create(model="rag_app/default",
                                                   messages=[{"role": "user", "content": QUESTION}])
            extra = reply.model_extra["rag_app"]
            assert "church towers" in reply.choices[0].message.content
            assert extra["verified"] and extra["sources"][0]["file"] == "storks.md"
            streamed = client.chat.completions.create(model="rag_app/default", stream=True,
                                                      messages=[{"role": "user", "content": QUESTION}])
            assert "church towers" in "".join(chunk.choices[0].delta.content or "" for chunk in streamed
                                              if chunk.choices)
            assert [m.id for m in client.models.list()] == ["rag_app/default"]
            scoped = client.chat.completions.create(model="rag_app/default", extra_body={
                "rag_app": {"documents": ["pasta.md"]}}, messages=[{"role": "user", "content": QUESTION}])
            assert scoped.model_extra["rag_app"]["refused"] and scoped.model_extra["rag_app"]["scope"] == ["pasta.md"]
            with pytest.raises(BadRequestError, match="owls.md"):
                client.chat.completions.create(model="rag_app/default", extra_body={
                    "rag_app": {"documents": ["owls.md"]}}, messages=[{"role": "user", "content": QUESTION}])
    finally:
        demo.close()
        page.close()


def test_the_page_handlers(environment: dict[str, str]) -> None:
    from rag_app.ui.page import ChatPage

    page = ChatPage.open(load_settings())
    try:
        page.rescan()  # the page's "Rescan the folder" button
        assert "**3** documents" in page.status_line()
        chat, history, _ = list(page.respond(QUESTION, [], [], 5, 0.0, 128))[-1]
        assert "church towers" in chat[-1]["content"] and "storks.md" in chat[-1]["content"]
        assert history[-1][0] == QUESTION
    finally:
        page.close()
