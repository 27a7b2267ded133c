"""What the answer pipeline produces: events, the final answer and its sources, as plain data.

These types are the contract between `rag_app.answering.pipeline` (which builds them) and every view
(CLI, chat page, evaluation, tests). Sources are data here, never glued into the answer text.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import PurePath
from typing import Any

# Earlier turns of a conversation, oldest first: (question, answer) pairs.
History = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class AskOptions:
    """What one question may change of the settings (the chat page's sliders); None: the setting."""

    k: int | None = None  # passages the answer is written from (retrieval.top_k)
    temperature: float | None = None  # generation.temperature
    max_tokens: int | None = None  # generation.max_tokens
    # The conversation the question belongs to (a chat tab, an API client): what the model
    # read for it is kept for its next question and its drafts. "": none in particular.
    conversation: str = ""
    # The documents it may be answered from (paths, globs, folders; `retrieval.scope`); (): all.
    documents: tuple[str, ...] = ()


SLIDE_SUFFIXES = frozenset({".pptx", ".ppt", ".odp"})


def unit_word(path: str) -> str:
    """What a numbered unit of the file at ``path`` is called: "slide" in a deck, else "page"."""
    return "slide" if PurePath(path).suffix.lower() in SLIDE_SUFFIXES else "page"


def where_in(path: str, page: int | None, ocr: bool = False) -> str:
    """A unit as a person reads it in a citation: "page 3", "slide 2", "page 3, OCR"; "" for none."""
    if not page:
        return ""
    return f"{unit_word(path)} {page}" + (", OCR" if ocr else "")


@dataclass
class Passage:
    """A retrieved passage as shown to a person: where it comes from and how it ranked."""

    chunk_id: int
    path: str
    page: int | None
    heading: str
    text: str
    score: float  # fused score, higher is better
    dense_score: float | None = None
    bm25_score: float | None = None
    dense_rank: int | None = None  # 1-based; None when not in that list
    bm25_rank: int | None = None
    fused_rank: int | None = None
    ocr: bool = False  # its page was read by OCR: cited as "page 3, OCR"


@dataclass
class Citation:
    """A passage the answer cites as [n]; ``n`` is its number in the prompt."""

    n: int
    path: str
    page: int | None
    heading: str
    text: str
    score: float
    chunk_id: int
    supporting_sentence: str = ""  # the passage sentence that best supports the answer


@dataclass
class Evidence:
    """A sentence from the retrieved passages that best answers the question."""

    text: str
    path: str
    page: int | None
    heading: str
    score: float
    chunk_id: int


@dataclass
class SentenceVerdict:
    """One sentence of the generated answer and whether the passages support it."""

    text: str
    supported: bool
    score: float = 0.0
    citations: list[int] = field(default_factory=list)


@dataclass
class Timings:
    """Milliseconds spent, and generation speed."""

    retrieval_ms: float = 0.0
    first_token_ms: float | None = None
    total_ms: float = 0.0
    tokens_per_s: float | None = None
    generated_tokens: int = 0
    prompt_tokens: int = 0  # what the model read before writing
    cached_tokens: int = 0  # of those, the tokens it had read already (a draft, an earlier turn)


CHECKED, NOT_CHECKED, NOT_IN_DOCUMENTS = "checked", "not_checked", "not_in_documents"
# What a person reads first about an answer (the views show it; `Answer.verdict_line`).
VERDICTS = {
    CHECKED: {"en": "✓ Checked against the passages", "fr": "✓ Vérifié dans les passages"},
    NOT_CHECKED: {"en": "⚠ Not checked", "fr": "⚠ Non vérifié"},
    NOT_IN_DOCUMENTS: {"en": "Not in your documents", "fr": "Pas dans vos documents"},
}
DOCUMENTS_SAY = {"en": "Your documents say: «{text}»", "fr": "Vos documents disent : « {text} »"}
ADDRESSED_NOTE = {
    "en": "⚠ {files} {verb} to give the assistant instructions (“{quote}”): treated as data, not used to answer.",
    "fr": "⚠ {files} {verb} de donner des instructions à l'assistant (« {quote} ») : traité comme une donnée, "
          "pas utilisé pour répondre.",
}
_ADDRESSED_VERB = {"en": ("tries", "try"), "fr": ("tente", "tentent")}


@dataclass(frozen=True)
class Addressed:
    """A passage found for the question that addresses the assistant (orders, a fake system or
    chat turn, words to an AI): documents are data, so it was kept out of the prompt and the
    checks. ``quote``: the words that address the assistant."""

    chunk_id: int
    path: str
    page: int | None
    quote: str


@dataclass(frozen=True)
class Disagreement:
    """Another document among the passages the model read gives a different value for what the
    question asks than the model's reply (grounding/conflict.py): the reply is not verified, and
    both are shown."""

    reply_value: str  # as the reply writes it: "90 days"
    other_value: str  # as the other document writes it: "30 days"
    sentence: str  # the other document's sentence
    number: int  # its passage's number in the prompt (1-based)
    path: str
    page: int | None = None


@dataclass
class Answer:
    """The final answer with everything it rests on."""

    question: str
    answer: str
    refused: bool
    citations: list[Citation]
    evidence: list[Evidence]
    sentences: list[SentenceVerdict]
    passages: list[Passage]
    timings: Timings
    language: str = "en"
    # False: no sentence of the model's reply was supported, or the supported ones do not
    # answer the question (``reason`` says why), or the model said it is not in the documents.
    verified: bool = True
    raw_answer: str = ""  # the model's reply before verification
    reason: str = ""  # why the reply was not taken as the answer, or why nothing answers
    # P(the reply is right), from the calibrated decision (rag_app/grounding/decision.py); None
    # when the model was not called or no decision is fitted for this embedder and model.
    probability: float | None = None
    signals: dict[str, float | None] = field(default_factory=dict)  # what the decision read
    # When the reply is not verified: the evidence sentence that answers the question by itself
    # (it names what the question asks about and gives a value of the kind asked), shown first.
    documents_say: Evidence | None = None
    # Passages found that address the assistant: set aside, named to the person (`addressed_note`).
    addressed: list[Addressed] = field(default_factory=list)
    # Another document gives another value than the reply: why it is not verified.
    disagreement: Disagreement | None = None
    # The documents the question was restricted to (paths; empty: the whole collection).
    scope: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        """`CHECKED` (the reply is shown, verified), `NOT_CHECKED` or `NOT_IN_DOCUMENTS`."""
        if self.refused:
            return NOT_IN_DOCUMENTS
        return CHECKED if self.verified else NOT_CHECKED

    def verdict_line(self, with_reason: bool = True) -> str:
        """The verdict in plain words, in the question's language, with the reason when there is
        one (and ``with_reason``)."""
        label = VERDICTS[self.verdict].get(self.language, VERDICTS[self.verdict]["en"])
        return f"{label}: {self.reason}" if with_reason and self.reason and self.verdict != CHECKED else label

    def addressed_note(self) -> str:
        """The warning naming the documents whose passages address the assistant ("" when none)."""
        if not self.addressed:
            return ""
        language = self.language if self.language in ADDRESSED_NOTE else "en"
        files = list(dict.fromkeys(PurePath(a.path).name for a in self.addressed))
        verb = _ADDRESSED_VERB[language][len(files) > 1]
        return ADDRESSED_NOTE[language].format(files=", ".join(files), verb=verb, quote=self.addressed[0].quote)

    def to_json(self) -> dict[str, Any]:
        """The `rag-app ask --json` object: answer, refused, citations, evidence, sentences, timings."""
        t = self.timings
        return {
            "answer": self.answer,
            "refused": self.refused,
            "citations": [{"n": c.n, "path": c.path, "page": c.page, "heading": c.heading, "text": c.text,
                           "chunk_id": c.chunk_id, "supporting_sentence": c.supporting_sentence}
                          for c in self.citations],
            "evidence": [{"text": e.text, "path": e.path, "page": e.page, "heading": e.heading}
                         for e in self.evidence],
            "sentences": [{"text": s.text, "supported": s.supported} for s in self.sentences],
            "verified": self.verified,
            "verdict": self.verdict,
            "verdict_line": self.verdict_line(),
            "documents_say": None if self.documents_say is None else {
                "text": self.documents_say.text, "path": self.documents_say.path, "page": self.documents_say.page,
                "heading": self.documents_say.heading},
            "probability": None if self.probability is None else round(self.probability, 4),
            "reason": self.reason,
            "addressed": [{"path": a.path, "page": a.page, "quote": a.quote, "chunk_id": a.chunk_id}
                          for a in self.addressed],
            "addressed_note": self.addressed_note(),
            "disagreement": None if self.disagreement is None else asdict(self.disagreement),
            "scope": list(self.scope),
            "timings": {"retrieval_ms": t.retrieval_ms, "first_token_ms": t.first_token_ms,
                        "total_ms": t.total_ms, "tokens_per_s": t.tokens_per_s},
        }


@dataclass
class TokenEvent:
    """A piece of generated text, as it streams."""

    text: str


@dataclass
class StatusEvent:
    """What the pipeline is doing while the person waits: ``stage`` is "reading" (the model
    reads ``passages`` passages before its first word: the longest wait on a CPU) or
    "checking" (the reply is being verified against the passages)."""

    stage: str
    passages: int = 0
    model: str = ""


@dataclass
class SourcesEvent:
    """The passages found and the best evidence sentences, sent as soon as retrieval ends,
    before the model reads (the gate is open; a refusal comes in its `AnswerEvent`)."""

    passages: list[Passage]
    evidence: list[Evidence]


@dataclass
class AnswerEvent:
    """The last event of a question: the verified answer."""

    answer: Answer


Event = SourcesEvent | StatusEvent | TokenEvent | AnswerEvent
# The events of one answer, as `App.ask` gives them. A reader that stops early (its client left)
# closes the stream, which frees the answer model at once.
EventStream = Generator[Event, None, None]
