"""A stand-in answer model: `FakeGenerator`, chosen by ``generation.runtime = "fake"``.

No weights, no llama.cpp: its tokens are words, and it writes a scripted reply. Chosen through
the settings (`open_generator`), it quotes the first sentence of the best passage and cites it
(`quote_first_passage`), so that the fast tests run the CLI, the API and the page end to end
through the real factories, and a developer can try the views without a model. The tests also
build it with their own reply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from rag_app.answer import Passage
from rag_app.generation.base import Generation, Generator, PrefillResult
from rag_app.generation.prompt import Budget, Prompt, build_prompt
from rag_app.generation.request import Request
from rag_app.llm.files import ModelNotFoundError
from rag_app.text import split_sentences

FAKE_RUNTIME = "fake"
NOTHING_FOUND = "It is not in the documents."


def quote_first_passage(question: str, passages: Sequence[Passage]) -> str:
    """The first sentence of the best passage, cited as [1]; a refusal when there is none."""
    if not passages:
        return NOTHING_FOUND
    sentences = split_sentences(passages[0].text)
    return f"{sentences[0].rstrip()} [1]" if sentences else NOTHING_FOUND


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
        """The fake model file's name without its suffix ("fake-model")."""
        return self._model_path.stem

    def token_counting(self) -> str:
        """One token a word."""
        return "one token a word (fake)"

    @property
    def model_path(self) -> Path:
        """The fake model file (it need not exist)."""
        return self._model_path

    def load(self) -> None:
        """Nothing to load; marks it loaded."""
        self.loaded = True

    def set_model(self, model: str | Path) -> None:
        """Any existing file will do; a missing one is refused as the real generator refuses it."""
        if not Path(model).is_file():
            raise ModelNotFoundError(f"Model not found: {model}.")
        self._model_path, self.loaded = Path(model), False

    def close(self) -> None:
        """Nothing to free; marks it unloaded."""
        self.loaded = False

    # ----- PromptModel: words are tokens ------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        """One id a word, given in the order words are first seen."""
        ids = []
        for word in text.split():
            ids.append(self._ids.setdefault(word, len(self._words)))
            if ids[-1] == len(self._words):
                self._words.append(word)
        return ids

    def detokenize(self, tokens: list[int]) -> str:
        """The words of ``tokens``, joined by spaces."""
        return " ".join(self._words[t] for t in tokens)

    def render(self, question: str, blocks: list[str], history: list[tuple[str, str]], language: str) -> Prompt:
        """A plain prompt: the passages, the earlier turns, the question."""
        turns = [f"Question: {q}\nAnswer: {a}" for q, a in history]
        text = "\n\n".join(["Passages:", *blocks, *turns, f"Question: {question}", "Answer:"])
        return Prompt(self.tokenize(text), text, 0, False, 0, 0)

    # ----- Generator ----------------------------------------------------------------------------
    def stream(self, request: Request) -> Generation:
        """The scripted reply, word by word, from a prompt budgeted as a real model's."""
        self.calls += 1
        prompt = build_prompt(self, request, Budget(self.n_ctx, request.max_tokens or 256, self.n_ctx))
        self.prompts.append(prompt)
        passages = request.passages[:prompt.passages_used]
        reply = self.reply(request.question, passages) if callable(self.reply) else self.reply
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

    def prefill(self, request: Request, stop: Callable[[], bool] = lambda: False) -> PrefillResult:
        """Counts the drafts (``prefills``, their questions) and reads nothing."""
        self.prefills.append(request.question)
        return PrefillResult()

    def priority(self) -> AbstractContextManager[None]:
        """Nothing is read ahead, so a question has nothing to stop."""
        return nullcontext()

    def judge_support(self, passage: str, question: str, answer: str) -> float:
        """Always fairly sure (0.9)."""
        return 0.9


if TYPE_CHECKING:  # mypy checks that the fake is a `Generator`, as the real runtimes are
    _FAKE: Generator = FakeGenerator()
