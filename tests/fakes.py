"""Stand-ins for the models, for fast unit tests (tests/unit): no weights, no PyTorch, no llama.cpp.

`FakeEmbedder` satisfies the `rag_app.embedding.Embedder` protocol with hashed bags of words:
texts that share words get a high cosine, texts that share none get about zero, always the
same vector for the same text. Its calibration is chosen for that behaviour, not measured.
`FakeGenerator` satisfies `rag_app.generation.Generator` with a scripted reply.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import numpy as np

from rag_app.answer import History, Passage
from rag_app.embedding import Calibration
from rag_app.embedding.base import ProgressCallback
from rag_app.generation import Generation, PrefillResult, Prompt, build_prompt
from rag_app.llm.files import ModelNotFoundError

FAKE_CALIBRATION = Calibration(gate_dense_high=0.8, gate_dense_low=0.3, support_score=0.45, multilingual=True)
_WORD = re.compile(r"\w+", re.UNICODE)


class FakeEmbedder:
    """Deterministic bag-of-words vectors (see the module docstring)."""

    name = "fake-bag-of-words"
    dimension = 256
    max_tokens = 256
    calibration = FAKE_CALIBRATION

    def count_tokens(self, text: str) -> int:
        """Words count as tokens."""
        return len(_WORD.findall(text))

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimension, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            vector[zlib.crc32(word.encode()) % self.dimension] += 1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def encode(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        """One vector per text."""
        vectors = np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)
        if progress is not None:
            progress(len(texts), len(texts))
        return vectors

    def encode_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """Sentence vectors, as `encode` gives them."""
        return self.encode(texts)

    def encode_query(self, text: str) -> np.ndarray:
        """The question's vector."""
        return self._vector(text)


class FakeGenerator:
    """A `rag_app.generation.Generator` that writes a scripted reply, word by word.

    Its tokens are words, so `build_prompt` budgets its prompt as it does a real model's;
    ``reply`` is the text to write (or a function of the question and the passages it was
    shown). ``calls`` counts the generations, ``prompts`` keeps their prompts. Every token is
    reported with log-probability ``logprob``, and ``refusal_start`` as the probability of
    opening a refusal, as `LlamaGenerator` reports what the model computed.
    """

    def __init__(self, reply: str | Callable[[str, Sequence[Passage]], str] = "", *, n_ctx: int = 2048,
                 model_path: Path = Path("fake-model.gguf"), logprob: float = -0.1,
                 refusal_start: float = 0.01) -> None:
        self.reply = reply
        self.logprob = logprob  # the log-probability reported for every token of the reply
        self.refusal_start = refusal_start
        self.n_ctx = n_ctx
        self._model_path = model_path
        self.calls = 0
        self.prompts: list[Prompt] = []
        self.prefills: list[str] = []
        self.loaded = False
        self.writing = 0  # replies being written now (the model held, as `LlamaGenerator`'s lock)
        self._ids: dict[str, int] = {}
        self._words: list[str] = []

    @property
    def model_name(self) -> str:
        return self._model_path.stem

    def token_counting(self) -> str:
        return "one token a word (fake)"

    @property
    def model_path(self) -> Path:
        return self._model_path

    def load(self) -> None:
        self.loaded = True

    def set_model(self, model: str | Path) -> None:
        """Any existing file will do; a missing one is refused as the real generator refuses it."""
        if not Path(model).is_file():
            raise ModelNotFoundError(f"Model not found: {model}.")
        self._model_path, self.loaded = Path(model), False

    def close(self) -> None:
        self.loaded = False

    # ----- PromptModel: words are tokens ------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        ids = []
        for word in text.split():
            ids.append(self._ids.setdefault(word, len(self._words)))
            if ids[-1] == len(self._words):
                self._words.append(word)
        return ids

    def detokenize(self, tokens: list[int]) -> str:
        return " ".join(self._words[t] for t in tokens)

    def render(self, question: str, blocks: list[str], history: list[tuple[str, str]], language: str) -> Prompt:
        turns = [f"Question: {q}\nAnswer: {a}" for q, a in history]
        text = "\n\n".join(["Passages:", *blocks, *turns, f"Question: {question}", "Answer:"])
        return Prompt(self.tokenize(text), text, 0, False, 0, 0)

    # ----- Generator ----------------------------------------------------------------------------
    def stream(self, question: str, passages: Sequence[Passage], history: History = (), *, language: str = "en",
               temperature: float | None = None, max_tokens: int | None = None,
               conversation: str = "") -> Generation:
        self.calls += 1
        prompt = build_prompt(self, question, passages, history, language=language, n_ctx=self.n_ctx,
                              max_tokens=max_tokens or 256, max_prompt_tokens=self.n_ctx)
        self.prompts.append(prompt)
        reply = self.reply(question, passages[:prompt.passages_used]) if callable(self.reply) else self.reply
        words = reply.split(" ")
        generation = Generation(prompt=prompt)
        generation.stats.generated_tokens = len(words)
        generation.stats.token_logprobs = [(w if n == 0 else f" {w}", self.logprob) for n, w in enumerate(words)]
        generation.stats.refusal_start = self.refusal_start
        generation.pieces = self._write(generation, [word if n == 0 else f" {word}" for n, word in enumerate(words)])
        return generation

    def _write(self, generation: Generation, pieces: list[str]) -> Iterator[str]:
        """The pieces, holding the model while they are read, and referring to ``generation``
        as `LlamaGenerator`'s do (a cycle only `Generation.close` breaks at once)."""
        self.writing += 1
        try:
            yield from pieces
        finally:
            self.writing -= 1

    def prefill(self, question: str, passages: Sequence[Passage], history: History = (), *, language: str = "en",
                max_tokens: int | None = None, conversation: str = "",
                stop: Callable[[], bool] = lambda: False) -> PrefillResult:
        """Counts the drafts (``prefills``, their questions) and reads nothing."""
        self.prefills.append(question)
        return PrefillResult()

    def priority(self) -> AbstractContextManager[None]:
        return nullcontext()

    def judge_support(self, passage: str, question: str, answer: str) -> float:
        return 0.9
