"""The prompt: instructions, numbered passages and history within the model's context window.

Every length is counted in the model's own tokens. `build_prompt` keeps prompt + answer within
``n_ctx``: the oldest history turns go first, then the lowest-ranked passages, and the last
passage that fits only in part is trimmed. It works over any `PromptModel` (the llama.cpp
generator, or a fake in the tests), which tokenizes and renders a prompt its own way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from rag_app.answer import Passage
from rag_app.config import GenerationSettings
from rag_app.generation.request import Request
from rag_app.text import ENGLISH, FRENCH

# A passage trimmed to fit must keep at least this many tokens to be worth including.
MIN_PASSAGE_TOKENS = 24
# History turns kept at most, and tokens kept of each earlier answer (generation settings).
_DEFAULTS = GenerationSettings()
# The answer never gets less than this share of a small context window.
MIN_ANSWER_SHARE = 4

INSTRUCTIONS = {
    ENGLISH: (
        "You answer questions using only the numbered passages from the user's documents. "
        "Cite the passages you use as [1], [2]. If the passages do not contain the answer, "
        "say that it is not in the documents. Answer in English, briefly."
    ),
    FRENCH: (
        "Tu réponds aux questions uniquement à partir des passages numérotés des documents de "
        "l'utilisateur. Cite les passages utilisés sous la forme [1], [2]. Si les passages ne "
        "contiennent pas la réponse, dis que ce n'est pas dans les documents. Réponds en "
        "français, brièvement."
    ),
}
OTHER_INSTRUCTIONS = (
    "You answer questions using only the numbered passages from the user's documents. "
    "Cite the passages you use as [1], [2]. If the passages do not contain the answer, say that "
    "it is not in the documents. Answer in the language of the question, briefly."
)
LABELS = {
    ENGLISH: ("Passages", "Question", "Answer", "page"),
    FRENCH: ("Passages", "Question", "Réponse", "page"),
}
COMPLETION_STOPS = ["\n\n", "\nQuestion:", "\n[", "Question :"]


@dataclass
class Prompt:
    """A prompt ready to generate from, in the model's tokens."""

    tokens: list[int]
    text: str
    passages_used: int  # passages [1]..[passages_used] are in the prompt
    trimmed_last: bool  # the last passage was cut to fit
    history_used: int  # history turns kept (the most recent ones)
    max_tokens: int  # answer tokens allowed; len(tokens) + max_tokens <= n_ctx
    stop: list[str] = field(default_factory=list)
    chat: bool = True  # built with the model's chat template
    # Token offsets where the parts another prompt may share end (the instructions, each
    # passage, each earlier turn), increasing; the model reads the prompt part by part
    # (`reading_stops`), so a part read for one prompt is reused as is by the next.
    segments: list[int] = field(default_factory=list)


class PromptModel(Protocol):
    """What `build_prompt` needs of a model: its tokenizer and how it renders a prompt."""

    def tokenize(self, text: str) -> list[int]:
        """``text`` in the model's tokens (no special tokens added)."""
        ...

    def detokenize(self, tokens: list[int]) -> str:
        """The text of ``tokens``."""
        ...

    def render(self, question: str, blocks: list[str], history: list[tuple[str, str]], language: str) -> Prompt:
        """The whole prompt for ``question`` over passage ``blocks`` and ``history``, tokenized."""
        ...


def segment_ends(tokenize: Callable[[str], list[int]], text: str, tokens: list[int], marks: list[int]) -> list[int]:
    """The token offsets in ``tokens`` (``text`` tokenized by ``tokenize``) of the character
    offsets ``marks``: each is the length of ``text[:mark]`` in tokens, or, where the tokens
    merge across the mark, of the longest prefix both tokenizations share. Increasing, and
    short of the last token (which the model reads when it starts to write)."""
    ends: list[int] = []
    for mark in sorted(set(marks)):
        n = common_prefix(tokenize(text[:mark]), tokens)
        if 0 < n < len(tokens) - 1 and (not ends or n > ends[-1]):
            ends.append(n)
    return ends


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many first tokens ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def reading_stops(prompt_tokens: int, segments: Sequence[int], batch: int) -> list[int]:
    """Where reading a prompt of ``prompt_tokens`` stops between two model calls: every segment
    end, and inside a segment longer than ``batch`` tokens, the ends of equal pieces of at most
    ``batch`` (small pieces read slower), up to the last token but one.

    The same prompt is always read in the same pieces, so what the model computed for a piece
    does not depend on what was in its context before (prefix reuse stays deterministic).
    """
    stops: list[int] = []
    start = 0
    for end in [*segments, prompt_tokens - 1]:
        if end <= start:
            continue
        pieces = -(-(end - start) // batch)
        stops.extend(start + round(i * (end - start) / pieces) for i in range(1, pieces + 1))
        start = end
    return stops


def instructions(language: str) -> str:
    """The system instructions for an answer in ``language``."""
    return INSTRUCTIONS.get(language, OTHER_INSTRUCTIONS)


def passage_block(n: int, passage: Passage, text: str, language: str) -> str:
    """One numbered passage as the model sees it: ``[n] (file, page p) text``."""
    page_word = LABELS.get(language, LABELS[ENGLISH])[3]
    where = Path(passage.path).name + (f", {page_word} {passage.page}" if passage.page else "")
    return f"[{n}] ({where}) {' '.join(text.split())}"


@dataclass(frozen=True)
class Budget:
    """The room a prompt has: the model's window ``n_ctx``, the answer tokens to keep free, the
    prompt's own cap, and how much history it carries."""

    n_ctx: int
    max_tokens: int
    max_prompt_tokens: int
    history_turns: int = _DEFAULTS.history_turns
    history_answer_tokens: int = _DEFAULTS.history_answer_tokens

    @classmethod
    def of(cls, settings: GenerationSettings, n_ctx: int, max_tokens: int | None = None) -> Budget:
        """The budget of ``settings`` in a window of ``n_ctx`` (``max_tokens`` overrides the setting)."""
        return cls(n_ctx=n_ctx, max_tokens=max_tokens or settings.max_tokens,
                   max_prompt_tokens=settings.max_prompt_tokens, history_turns=settings.history_turns,
                   history_answer_tokens=settings.history_answer_tokens)


def build_prompt(model: PromptModel, request: Request, budget: Budget) -> Prompt:
    """The prompt for ``request``'s question over its numbered passages (best first) within
    ``budget.n_ctx``.

    Room is kept for ``budget.max_tokens`` answer tokens (shrunk to leave the prompt at least
    three quarters of a small window); the prompt is also capped at
    ``budget.max_prompt_tokens``. It keeps the last ``history_turns`` exchanges, each answer cut
    to ``history_answer_tokens``. Then, while the prompt is too long: the oldest history turn
    goes, then the lowest-ranked passage; the last passage kept is trimmed to the room left; a
    question longer than the window is cut.
    """
    question, passages, language, n_ctx = request.question, request.passages, request.language, budget.n_ctx
    history_turns = budget.history_turns
    answer_tokens = max(16, min(budget.max_tokens, n_ctx // MIN_ANSWER_SHARE))
    room = min(n_ctx - answer_tokens, budget.max_prompt_tokens)
    history = [
        (user, _cut(model, answer, budget.history_answer_tokens))
        for user, answer in (list(request.history)[-history_turns:] if history_turns else [])
    ]
    # The question alone (no passages, no history) must fit: cut it if needed.
    base = model.render(question, [], [], language)
    if len(base.tokens) > room:
        excess = len(base.tokens) - room
        question = _cut(model, question, max(8, _count(model, question) - excess - 8))
    # Drop the oldest history turns until the question with history fits in half the room.
    while history and len(model.render(question, [], history, language).tokens) > room // 2:
        history.pop(0)
    # Add passages best first; the first one that does not fit whole is trimmed.
    blocks: list[str] = []
    trimmed = False
    for n, passage in enumerate(passages, start=1):
        block = passage_block(n, passage, passage.text, language)
        used = len(model.render(question, blocks + [block], history, language).tokens)
        if used <= room:
            blocks.append(block)
            continue
        left = room - len(model.render(question, blocks, history, language).tokens)
        left -= _count(model, passage_block(n, passage, "", language)) + 4
        if left >= MIN_PASSAGE_TOKENS:
            text = _cut(model, passage.text, left)
            block = passage_block(n, passage, text, language)
            # Tokens may merge differently at the cut: shrink until it fits.
            while len(model.render(question, blocks + [block], history, language).tokens) > room:
                left -= 8
                if left < MIN_PASSAGE_TOKENS:
                    block = ""
                    break
                block = passage_block(n, passage, _cut(model, passage.text, left), language)
            if block:
                blocks.append(block)
                trimmed = True
        break
    prompt = model.render(question, blocks, history, language)
    prompt.passages_used = len(blocks)
    prompt.trimmed_last = trimmed
    prompt.history_used = len(history)
    prompt.max_tokens = min(answer_tokens, n_ctx - len(prompt.tokens))
    return prompt

def _cut(model: PromptModel, text: str, tokens: int) -> str:
    """The beginning of ``text``, at most ``tokens`` model tokens long."""
    ids = model.tokenize(text)
    if len(ids) <= tokens:
        return text
    return model.detokenize(ids[: max(tokens, 0)]).rstrip() + " …"


def _count(model: PromptModel, text: str) -> int:
    return len(model.tokenize(text))
