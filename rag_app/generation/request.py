"""One question for the answer model: `Request`, what every runtime's `stream` and `prefill` read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rag_app.answer import History, Passage
from rag_app.text import ENGLISH


@dataclass(frozen=True)
class Request:
    """The question, the numbered passages it is answered from (best first), the earlier turns,
    and what one question may change of the generation settings (None: the setting)."""

    question: str
    passages: Sequence[Passage] = ()
    history: History = ()
    language: str = ENGLISH
    temperature: float | None = None
    max_tokens: int | None = None
    # The conversation it belongs to (a chat tab, an API client): what the model read for it is
    # kept for its next question and its drafts. "": none in particular.
    conversation: str = ""
