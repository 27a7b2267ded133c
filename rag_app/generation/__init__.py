"""Text generation: the `Generator` protocol (base.py), the prompt within the model's context
window (prompt.py), what the model has read kept for the next prompt (context_cache.py), what it
computed for each token it wrote (token_record.py), the llama.cpp implementation (llama.py) and
generation on an OpenAI-compatible inference server (server.py); `open_generator` picks one."""

from pathlib import Path

from rag_app.config import GenerationSettings
from rag_app.generation.base import Generation, GenerationStats, Generator, PrefillResult
from rag_app.generation.llama import LlamaGenerator
from rag_app.generation.prompt import Prompt, PromptModel, build_prompt
from rag_app.generation.server import GenerationServerError, ServerGenerator


def open_generator(settings: GenerationSettings, models_dir: Path) -> LlamaGenerator:
    """The answer model of ``settings``: on the inference server at ``llm_url`` when one is set
    (`ServerGenerator`), else loaded in this process (`LlamaGenerator`). Loads on first use;
    raises `ModelNotFoundError` when the model (or the tokenizer's model) is not installed."""
    if settings.llm_url:
        return ServerGenerator(settings, models_dir)
    return LlamaGenerator(settings, models_dir)


__all__ = ["Generation", "GenerationServerError", "GenerationStats", "Generator", "LlamaGenerator",
           "PrefillResult", "Prompt", "PromptModel", "ServerGenerator", "build_prompt", "open_generator"]
