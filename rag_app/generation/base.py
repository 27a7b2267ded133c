"""What the answer pipeline needs of a text generator (`Generator`), and what one generation cost."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from rag_app.generation.prompt import Prompt
from rag_app.generation.request import Request


@dataclass
class GenerationStats:
    """What one generation cost."""

    prompt_tokens: int = 0
    cached_tokens: int = 0  # of the prompt's tokens, those already read (a prefill, an earlier turn)
    generated_tokens: int = 0
    first_token_s: float | None = None  # seconds from start to the first token
    generation_s: float = 0.0  # seconds from the first token to the last
    # The reply token by token, each with the model's log-probability of it (natural log), read
    # from the logits the sampler used: no extra model call. Empty when the generator has none.
    token_logprobs: list[tuple[str, float]] = field(default_factory=list)
    # The probability the model gave, at its first answer token, to the tokens that open a
    # refusal ("It is not in the documents", "Ce n'est pas…"); None when not measured.
    refusal_start: float | None = None

    @property
    def tokens_per_s(self) -> float | None:
        """Generation speed after the first token (None for fewer than two tokens)."""
        if self.generated_tokens < 2 or self.generation_s <= 0:
            return None
        return (self.generated_tokens - 1) / self.generation_s


def timed(texts: Iterable[str], stats: GenerationStats, started: float) -> Iterator[str]:
    """The non-empty ``texts`` (a reply's pieces as they are written), recording in ``stats``
    the time from ``started`` (`time.perf_counter`) to the first and from the first to the last."""
    first: float | None = None
    for text in texts:
        if not text:
            continue
        now = time.perf_counter()
        if first is None:
            first = now
            stats.first_token_s = now - started
        stats.generation_s = now - first
        yield text


@dataclass
class PrefillResult:
    """What `Generator.prefill` did: of the draft's ``prompt_tokens``, ``reused`` were read
    already and ``read`` were read now; ``complete`` is False when it gave way to a question."""

    prompt_tokens: int = 0
    reused: int = 0
    read: int = 0
    complete: bool = True


@dataclass
class Generation:
    """One reply being written: iterate it for the text, piece by piece, as the model writes.

    ``prompt`` (what the model read: which passages it holds) is set before the first piece;
    ``stats`` is complete once the iteration has ended.
    """

    pieces: Iterator[str] = field(default_factory=lambda: iter(()))
    prompt: Prompt | None = None
    stats: GenerationStats = field(default_factory=GenerationStats)

    def __iter__(self) -> Iterator[str]:
        return self.pieces

    def close(self) -> None:
        """Stop writing now and free the model (a generator's ``close``). A reader that stops
        early must call it: the pieces' generator refers to this object, so without it the
        model would be freed only when the garbage collector finds the cycle."""
        close = getattr(self.pieces, "close", None)
        if close is not None:
            close()


class Generator(Protocol):
    """A model that answers from numbered passages: a runtime (`LlamaGenerator` in this process,
    `ServerGenerator` on an inference server; a fake in the tests). Runtimes are siblings: each
    renders its prompts with a `renderer.Renderer` and none extends another."""

    @property
    def model_name(self) -> str:
        """The model's catalogue id or file name, as shown to a person."""
        ...

    def token_counting(self) -> str:
        """How prompt tokens are counted against the model's window, as shown by `rag-app info`."""
        ...

    @property
    def model_path(self) -> Path:
        """The model file in use."""
        ...

    def load(self) -> None:
        """Load the model now (otherwise on first use); `RuntimeError` if it cannot be loaded."""
        ...

    def set_model(self, model: str | Path) -> None:
        """Use another model from the next request on (`ModelNotFoundError` keeps the current one)."""
        ...

    def stream(self, request: Request) -> Generation:
        """The reply to the request's question over its numbered passages, written as it is
        iterated (`Generation`); what the model read is kept for the request's next question in
        its conversation."""
        ...

    def prefill(self, request: Request, stop: Callable[[], bool] = lambda: False) -> PrefillResult:
        """Read ahead the prompt `stream` would read for this draft of a question, so that the
        question, when asked in the same conversation, finds what it shares read; gives way to a
        question, or when ``stop()`` turns true, at its next piece (`PrefillResult.complete`
        False). A runtime that cannot read ahead returns at once, incomplete."""
        ...

    def priority(self) -> AbstractContextManager[None]:
        """A block in which a question is being answered: prefills stop at their next piece and
        start none (retrieval and the reply get the CPU)."""
        ...

    def judge_support(self, passage: str, question: str, answer: str) -> float:
        """The model's probability (0..1) that ``passage`` states ``answer`` to ``question``."""
        ...

    def close(self) -> None:
        """Free the model."""
        ...
