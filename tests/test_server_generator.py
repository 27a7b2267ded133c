"""Generation on a real inference server: `llama_cpp.server` (llama-cpp-python[server]) started
here on the bundled SmolLM2-135M, against the same model loaded in this process."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag_app.answer import Passage
from rag_app.config import Settings
from rag_app.generation import GenerationServerError, LlamaGenerator, Request, ServerGenerator
from rag_app.llm.files import resolve_llm

from conftest import MODELS, free_port, make_settings

MODEL = "smollm2-135m"
DEFAULT_MODEL = "qwen2.5-1.5b"
QUESTION = "Where do white storks build their nests?"
PASSAGES = [Passage(1, "storks.md", None, "Storks",
                    "White storks build their nests on church towers and chimneys in Alsace.", 0.9)]
ASKED = Request(QUESTION, PASSAGES)


def start_server(port: int, log: Path, model_id: str = MODEL) -> subprocess.Popen[bytes]:
    """`python -m llama_cpp.server` on 127.0.0.1:``port`` with an installed model, once it answers."""
    model = resolve_llm(model_id, MODELS).path
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host",
                                    "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
                                    "--interrupt_requests", "False"],
                                   stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            pytest.fail(f"llama_cpp.server exited: {log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2):
                return process
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail("llama_cpp.server did not answer in time")
            time.sleep(0.5)


def settings_for(tmp_path: Path, url: str, **extra: object) -> Settings:
    """Settings that answer on the server at ``url``, counting tokens as ``MODEL`` (by default)."""
    values: dict[str, object] = {"model": MODEL, "llm_url": url, "temperature": 0.0, **extra}
    return make_settings(tmp_path / "data", tmp_path / "index", **values)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    process = start_server(port, tmp_path_factory.mktemp("llm") / "server.log")
    yield f"http://127.0.0.1:{port}/v1"
    process.terminate()
    process.wait(timeout=20)


def test_the_server_writes_what_the_model_in_this_process_writes(server: str, tmp_path: Path) -> None:
    # The server's defaults: no flash attention. With it on both sides the words are the same but
    # the log-probabilities differ by up to 0.18 here: the fused kernel's sums depend on how the
    # prompt is cut into batches, which the server does its own way.
    settings = settings_for(tmp_path, server, flash_attention=False)
    remote = ServerGenerator(settings.generation, settings.paths.models_dir)
    local = LlamaGenerator(settings.generation, settings.paths.models_dir)
    try:
        there, here = remote.stream(ASKED), local.stream(ASKED)
        pieces = list(there)
        assert len(pieces) > 1  # streamed, piece by piece
        assert "".join(pieces) == "".join(here) and "church towers" in "".join(pieces)
        # The same prompt, counted in the same tokens: the same budget.
        assert there.prompt is not None and here.prompt is not None
        assert there.prompt.tokens == here.prompt.tokens and there.stats.prompt_tokens == len(here.prompt.tokens)
        # The log-probabilities the decision reads come from the server's logprobs.
        assert [t for t, _ in there.stats.token_logprobs] == [t for t, _ in here.stats.token_logprobs[:len(
            there.stats.token_logprobs)]]
        assert all(abs(a - b) < 1e-3 for (_, a), (_, b) in zip(there.stats.token_logprobs,
                                                                here.stats.token_logprobs, strict=False))
        assert there.stats.refusal_start is not None and here.stats.refusal_start is not None
        assert 0 < there.stats.refusal_start <= here.stats.refusal_start + 1e-6  # from the top 10 only
        assert there.stats.first_token_s is not None and there.stats.generated_tokens >= len(pieces)
        judged = [g.judge_support(PASSAGES[0].text, QUESTION, "On church towers.") for g in (remote, local)]
        assert abs(judged[0] - judged[1]) < 1e-3
        assert remote.model_name == MODEL  # its fitted decision applies
        plain = ServerGenerator(settings_for(tmp_path, server, llm_logprobs=False).generation,
                                settings.paths.models_dir)
        without = plain.stream(ASKED)
        assert "".join(without) == "".join(pieces) and without.stats.token_logprobs == []
        assert without.stats.refusal_start is None
        plain.close()
        with pytest.raises(RuntimeError, match="chosen there"):
            remote.set_model("qwen2.5-1.5b")
    finally:
        remote.close()
        local.close()


def test_prompts_are_counted_by_the_server_when_its_tokenizer_is_not_the_one_here(server: str,
                                                                                   tmp_path: Path) -> None:
    same = ServerGenerator(settings_for(tmp_path, server).generation, MODELS)
    other = ServerGenerator(settings_for(tmp_path, server, model=DEFAULT_MODEL).generation, MODELS)
    local = LlamaGenerator(settings_for(tmp_path, server).generation, MODELS)  # the server's model, here
    try:
        assert same.token_counting() == ("the tokenizer of smollm2-135m, read here, the same as the server's "
                                         "(checked with /extras/tokenize)")
        assert same.renderer.build_prompt(ASKED).tokens == local.renderer.build_prompt(ASKED).tokens
        # Qwen's vocabulary is not SmolLM2's: the server counts (the Qwen chat template still renders).
        assert other.token_counting().startswith("the server's tokenizer (/extras/tokenize)")
        prompt = other.renderer.build_prompt(ASKED)
        assert prompt.tokens == local.renderer.prompt_tokens(prompt.text, add_bos=True, special=True)
        assert prompt.tokens != other.renderer.vocabulary.tokenize(prompt.text.encode("utf-8"), add_bos=True,
                                                                  special=True)
        assert "church towers" in "".join(other.stream(ASKED))
    finally:
        for generator in (same, other, local):
            generator.close()


def test_a_server_that_is_down_is_asked_again_then_said_so(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    settings = settings_for(tmp_path, url, llm_retries=2)
    generator = ServerGenerator(settings.generation, settings.paths.models_dir)
    started = time.monotonic()
    with pytest.raises(GenerationServerError, match="does not answer.*Start it"):
        list(generator.stream(ASKED))
    assert time.monotonic() - started >= 0.5 + 1.0  # two waits with backoff before giving up
    assert generator.token_counting().endswith("(not checked: the server offers no tokenize endpoint, or did "
                                               "not answer)")
    generator.close()


def test_a_server_stopped_mid_answer_ends_it_with_a_clear_error_not_a_repeat(tmp_path: Path) -> None:
    """The default model (Qwen2.5 1.5B) writes slowly enough on a CPU that the server is
    stopped between two of its words."""
    port = free_port()
    process = start_server(port, tmp_path / "server.log", DEFAULT_MODEL)
    settings = settings_for(tmp_path, f"http://127.0.0.1:{port}/v1", max_tokens=512, model=DEFAULT_MODEL)
    generator = ServerGenerator(settings.generation, settings.paths.models_dir)
    shown: list[str] = []
    try:
        pieces = iter(generator.stream(Request("Describe white storks at length, in many sentences.", PASSAGES * 3)))
        shown.append(next(pieces))
        process.kill()
        process.wait(timeout=20)
        # Not asked again (that would write the answer's start a second time): said so.
        with pytest.raises(GenerationServerError, match="stopped in the middle of the answer"):
            shown.extend(pieces)
        assert shown[0]
    finally:
        process.kill()
        generator.close()
