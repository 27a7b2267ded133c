"""Text generation: the `Generator` protocol (base.py) and the `Request` it answers (request.py);
the prompt within the model's context window (prompt.py) rendered and counted in the model's own
vocabulary (renderer.py); the runtimes, siblings behind `Generator`: llama.cpp in this process
(llama.py, with what the model has read kept in context_cache.py and what it computed for each
token in token_record.py) and an OpenAI-compatible inference server (server.py).
`open_generator` picks one."""

from pathlib import Path

from rag_app.config import GenerationSettings
from rag_app.generation.base import Generation, GenerationStats, Generator, PrefillResult
from rag_app.generation.fake import FAKE_RUNTIME, FakeGenerator, quote_first_passage
from rag_app.generation.inference_server import GenerationServerError, ServerGenerator
from rag_app.generation.llama import LlamaGenerator
from rag_app.generation.prompt import Budget, Prompt, PromptModel, build_prompt
from rag_app.generation.renderer import Renderer
from rag_app.generation.request import Request


def open_generator(settings: GenerationSettings, models_dir: Path) -> Generator:
    """The answer model of ``settings``: on the inference server at ``llm_url`` when one is set
    (`ServerGenerator`), else loaded in this process (`LlamaGenerator`). Loads on first use;
    raises `ModelNotFoundError` when the model (or the tokenizer's model) is not installed.
    ``runtime = "fake"``: no model (`FakeGenerator` quoting the best passage)."""
    if settings.runtime == FAKE_RUNTIME:
        return FakeGenerator(quote_first_passage)
    if settings.llm_url:
        return ServerGenerator(settings, models_dir)
    return LlamaGenerator(settings, models_dir)


__all__ = ["Budget", "FakeGenerator", "Generation", "GenerationServerError", "GenerationStats", "Generator",
           "LlamaGenerator", "PrefillResult", "Prompt", "PromptModel", "Renderer", "Request", "ServerGenerator",
           "build_prompt", "open_generator"]
