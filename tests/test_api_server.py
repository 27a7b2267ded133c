"""The API end to end: the official `openai` client against `rag-app serve` (a subprocess on a
free loopback port, the real bundled models, a private copy of the demo corpus)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from rag_app.service.keys import KeyStore

from conftest import DEMO_DATA, ROOT, make_settings, serve_process
from demo_facts import DEMO_FACTS, NOT_IN_CORPUS_EN

FACT = next(f for f in DEMO_FACTS if f.file == "how_llms_work.pdf" and f.page == 1)  # GPT-2's vocabulary
# A question the bundled answer model answers right and verified (temperature 0): the two tests
# below check the verified path, and fail if it is not taken.
VERIFIED = next(f for f in DEMO_FACTS if f.file == "how_llms_work.pdf" and f.page == 4)  # Q4_K_M's bits


@dataclass
class Server:
    url: str
    root: Path

    def client(self, key: str = "not-needed-on-loopback") -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "v1", api_key=key, max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[Server]:  # noqa: ANN001
    from rag_app.ingest.pipeline import ingest

    root = tmp_path_factory.mktemp("api")
    data, index = root / "data", root / "index"
    shutil.copytree(DEMO_DATA, data)
    ingest(make_settings(data, index), embedder=embedder)
    with serve_process(root, data, index) as (url, _process):
        yield Server(url, root)


def test_a_completion_through_the_openai_client_carries_its_sources(server: Server) -> None:
    completion = server.client().chat.completions.create(
        model="rag_app/default", messages=[{"role": "user", "content": VERIFIED.question}], temperature=0)
    extra = completion.rag_app  # type: ignore[attr-defined]
    assert completion.model == "rag_app/default" and completion.choices[0].message.content
    assert not extra["refused"] and extra["sources"], extra
    assert any(s["file"] == VERIFIED.file and s["page"] == VERIFIED.page for s in extra["sources"])
    assert extra["verified"] and extra["verdict"] == "checked", extra
    assert VERIFIED.answer in completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.prompt_tokens > 0


def test_a_stream_through_the_openai_client_sends_the_passages_first(server: Server) -> None:
    chunks = list(server.client().chat.completions.create(
        model="rag_app/default", messages=[{"role": "user", "content": VERIFIED.question}], stream=True,
        temperature=0))
    extras = [c.rag_app for c in chunks if getattr(c, "rag_app", None)]  # type: ignore[attr-defined]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert extras[0]["passages"][0]["file"] and "verified" not in extras[0]  # sources before the verdict
    first_word = next(i for i, c in enumerate(chunks) if c.choices and c.choices[0].delta.content)
    assert first_word > next(i for i, c in enumerate(chunks) if getattr(c, "rag_app", None))
    final = extras[-1]
    assert chunks[-1].choices[0].finish_reason == "stop" and "sources" in final and text.strip()
    assert final["verified"] and final["answer"] in text and VERIFIED.answer in text


def test_a_refusal_and_an_unknown_collection(server: Server) -> None:
    client = server.client()
    completion = client.chat.completions.create(
        model="rag_app/default", messages=[{"role": "user", "content": NOT_IN_CORPUS_EN[1]}])
    assert completion.rag_app["refused"] and not completion.rag_app["sources"]  # type: ignore[attr-defined]
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="rag_app/nowhere", messages=[{"role": "user", "content": "hi"}])
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="rag_app/default", messages=[])


def test_a_client_that_leaves_mid_stream_frees_the_model(server: Server) -> None:
    body = {"model": "rag_app/default", "stream": True, "max_tokens": 256,
            "messages": [{"role": "user", "content": FACT.question}]}
    with httpx.stream("POST", server.url + "v1/chat/completions", json=body, timeout=300) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and '"content": "' in line and '"content": ""' not in line:
                break  # the first word: leave now
    # The model is free again: the next question is answered in full, the same as asked alone.
    completion = server.client().chat.completions.create(
        model="rag_app/default", messages=[{"role": "user", "content": FACT.question}], max_tokens=24,
        temperature=0)
    again = server.client().chat.completions.create(
        model="rag_app/default", messages=[{"role": "user", "content": FACT.question}], max_tokens=24,
        temperature=0)
    assert completion.choices[0].message.content == again.choices[0].message.content
    assert "Traceback" not in (server.root / "serve.log").read_text(errors="replace")


def test_keys_once_one_exists(server: Server) -> None:
    keys = KeyStore(server.root / "api-keys.json")
    token = keys.add("editor", ["default"])
    try:
        with pytest.raises(openai.AuthenticationError):
            server.client().models.list()  # loopback too needs a key now
        with pytest.raises(openai.AuthenticationError):
            server.client("rag-not-a-key").models.list()
        assert [m.id for m in server.client(token).models.list()] == ["rag_app/default"]
        response = httpx.post(server.url + "v1/search", json={"query": "GGUF"},
                              headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert response.status_code == 200 and json.loads(response.text)["data"]
    finally:
        keys.remove("editor")


def _ask_json(server: Server, *flags: str, models: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_APP_")}
    env.update(RAG_APP_CONFIG=str(server.root / "no-config.toml"), RAG_APP_CACHE_DIR=str(server.root / "cache"),
               RAG_APP_MODELS_DIR=str(models))
    done = subprocess.run([sys.executable, "-m", "rag_app.cli", "ask", FACT.question, "--json", "--index-dir",
                           str(server.root / "index"), *flags], cwd=server.root, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    del answer["timings"]
    return answer


def test_ask_on_the_command_line_goes_through_the_running_server(server: Server, tmp_path: Path) -> None:
    # No model where the command looks: only the server can have answered.
    through_server = _ask_json(server, models=tmp_path / "no-models")
    assert through_server["citations"] and any(c["path"] == FACT.file for c in through_server["citations"])
    # In-process (--local, the models loaded here), the same answer, printed the same.
    assert _ask_json(server, "--local", models=ROOT / "models") == through_server
