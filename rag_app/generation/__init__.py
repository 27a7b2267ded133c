"""Text generation: the `Generator` protocol (base.py), the prompt within the model's context
window (prompt.py), what the model has read kept for the next prompt (context_cache.py), what it
computed for each token it wrote (token_record.py) and the llama.cpp implementation (llama.py)."""

from rag_app.generation.base import Generation, GenerationStats, Generator, PrefillResult
from rag_app.generation.llama import LlamaGenerator
from rag_app.generation.prompt import Prompt, PromptModel, build_prompt

__all__ = ["Generation", "GenerationStats", "Generator", "LlamaGenerator", "PrefillResult", "Prompt",
           "PromptModel", "build_prompt"]
