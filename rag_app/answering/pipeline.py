"""The answer pipeline: question (+ history) -> retrieval -> gate -> generation -> verification.

`AnswerPipeline.ask` yields a `SourcesEvent` as soon as the passages are found, `StatusEvent`s
and `TokenEvent`s while the model reads and writes, then one `AnswerEvent` with the verified
`Answer` (citations, evidence, sentence verdicts, timings). The CLI, the chat page and the
evaluation all use it. Sources are data in the `Answer`, never glued into its text.

Retrieval runs before the model lock is taken, so questions are searched while another
question is being generated; generation itself is one request at a time. `AnswerPipeline.prefill`
does for a question being typed what `ask` would, up to the model reading its prompt.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rag_app.answer import (
    DOCUMENTS_SAY,
    Addressed,
    Answer,
    AnswerEvent,
    AskOptions,
    Disagreement,
    EventStream,
    Evidence,
    History,
    Passage,
    SourcesEvent,
    StatusEvent,
    Timings,
    TokenEvent,
)
from rag_app.config import GroundingSettings, Settings
from rag_app.embedding import Embedder, embedder_from_settings
from rag_app.generation import GenerationStats, Generator, PrefillResult, Request, open_generator
from rag_app.grounding.addressed import ONLY_ADDRESSED, set_aside
from rag_app.grounding.conflict import disagreement
from rag_app.grounding.conflict import reason as disagreement_reason
from rag_app.grounding.decision import decision_for
from rag_app.grounding.evidence import (
    PassageSentences,
    SentenceVectors,
    compress_passages,
    evidence,
    sentence_scores,
)
from rag_app.grounding.gate import GateDecision, GateThresholds, gate
from rag_app.grounding.missing import explain, outside_scope
from rag_app.grounding.proposition import answering_sentence
from rag_app.grounding.question import Question
from rag_app.grounding.relevance import judge_reply, model_agrees, model_reason
from rag_app.grounding.signals import answer_signals
from rag_app.grounding.support import Verification, citations_for, message
from rag_app.retrieval import EmptyQueryError, HybridRetriever
from rag_app.store import IndexUnavailableError, Store, open_store
from rag_app.text import ENGLISH, content_words

log = logging.getLogger(__name__)


# A question of at most `follow_up_max_words` content words (a grounding setting), or opening
# like "and ...", is read as a follow-up of the previous turn: it is searched together with the
# previous question.
_MAX_WORDS = GroundingSettings().follow_up_max_words
_FOLLOW_UP_START = re.compile(
    r"^\s*(and|also|but|so|what about|how about|what if|same|then|"
    r"et|mais|aussi|alors|donc|quid|pareil|même chose)\b",
    re.IGNORECASE,
)
EMPTY_INDEX = "The index in {dir} holds no documents yet. Run `rag-app ingest` (or `make ingest`) first."


class IndexEmptyError(IndexUnavailableError):
    """The index exists but holds nothing to answer from."""


def is_follow_up(question: str, max_words: int = _MAX_WORDS) -> bool:
    """True for a short or elliptic question that only makes sense after the previous turn."""
    return bool(_FOLLOW_UP_START.match(question)) or len(content_words(question)) <= max_words


def retrieval_query(question: str, history: History = (), max_words: int = _MAX_WORDS) -> str:
    """What to search for: the question, preceded by the previous question for a follow-up."""
    if history and is_follow_up(question, max_words):
        previous = history[-1][0]
        return f"{previous} {question}"
    return question


def open_index(
    settings: Settings, embedder: Embedder, *, create: bool = False, require_documents: bool = True
) -> Store:
    """The index of ``settings`` for ``embedder``'s vectors: the one place an index is opened
    for questions.

    Raises `IndexUnavailableError` (what to do next in its message) when it is missing (unless
    ``create``: then an empty one is made), built with another embedder, or, with
    ``require_documents``, empty (`IndexEmptyError`).
    """
    store = open_store(settings.paths.index_dir, settings.index, embedder.name, embedder.dimension, create=create)
    if require_documents and store.chunk_count() == 0:
        store.close()
        raise IndexEmptyError(EMPTY_INDEX.format(dir=store.location))
    return store


@dataclass
class _Found:
    """What retrieval found for one question (`AnswerPipeline._find`)."""

    question: Question  # the question, read once
    timings: Timings
    passages: list[Passage] = field(default_factory=list)
    gated: GateDecision | None = None
    sentences: PassageSentences | None = None
    scores: list[float] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    answer: Answer | None = None  # set when the model is not to be asked
    addressed: list[Addressed] = field(default_factory=list)  # passages set aside: they address the assistant
    scope: frozenset[str] | None = None  # the documents it was restricted to
    elsewhere: list[str] = field(default_factory=list)  # refused in scope: other documents that may answer

    @property
    def language(self) -> str:
        """The question's language."""
        return self.question.language


class AnswerPipeline:
    """Answers questions from one index with one LLM; shared by the CLI, UI and evaluation.

    ``store``, ``embedder`` and ``generator`` may be given (and are then not closed here);
    by default they are built from ``settings``. A missing or empty index raises
    `IndexUnavailableError` telling to run ``rag-app ingest``.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder or embedder_from_settings(settings)
        self._own_store = store is None
        self.store = store if store is not None else open_index(settings, self.embedder)
        self.retriever = HybridRetriever(self.store, self.embedder, settings.retrieval)
        self._sentence_vectors = SentenceVectors()  # the passages' sentences, embedded once
        self.generator: Generator = generator or open_generator(settings.generation, settings.paths.models_dir)

    # ----- public ------------------------------------------------------------------------
    def ask(
        self,
        question: str,
        history: History = (),
        *,
        options: AskOptions = AskOptions(),
    ) -> EventStream:
        """Answer ``question``: a `SourcesEvent` (the passages and evidence found), a `StatusEvent`
        before the model reads the passages, `TokenEvent`s as it writes, a `StatusEvent` while
        the reply is checked, then one `AnswerEvent` (a refusal by the gate comes alone).

        ``history`` is the earlier (question, answer) pairs of the conversation, oldest first.
        Three stages: `_find` (retrieval, the gate, the evidence), the model's reply, `_decide`.
        """
        started = time.perf_counter()
        history = [(str(q), str(a)) for q, a in history]
        question = question if isinstance(question, str) else str(question)
        with self.generator.priority():  # a draft's prefill gives the CPU and the model way
            yield from self._ask(question, history, options, started)

    def _ask(self, question: str, history: History, options: AskOptions, started: float
             ) -> EventStream:
        found = self._find(question, history, options.k, started, self.scope(options.documents))
        if found.answer is not None:  # an empty question, or the gate closed
            yield AnswerEvent(found.answer)
            return

        yield SourcesEvent(found.passages, found.evidence)
        shown = self._shown(found)
        yield StatusEvent("reading", len(shown), self.generator.model_name)
        generation = self.generator.stream(_request(question, shown, history, found.language, options))
        pieces: list[str] = []
        try:
            for piece in generation:
                if not pieces:
                    found.timings.first_token_ms = _ms(started)
                pieces.append(piece)
                yield TokenEvent(piece)
        finally:  # a reader that leaves (closes these events) frees the model at once
            generation.close()
        found.timings.prompt_tokens = generation.stats.prompt_tokens
        found.timings.cached_tokens = generation.stats.cached_tokens
        valid = generation.prompt.passages_used if generation.prompt else 0
        yield StatusEvent("checking", valid, self.generator.model_name)
        yield AnswerEvent(self._decide(question, "".join(pieces).strip(), found, generation.stats, valid, started))

    def prefill(self, draft: str, history: History = (), *, options: AskOptions = AskOptions(),
                stop: Callable[[], bool] = lambda: False) -> PrefillResult:
        """For a question still being typed: find its passages as `ask` would and have the model
        read the prompt, so that asking it (or a question sharing its passages) in the same
        ``options.conversation`` reads only what changed. Nothing is read when the gate is
        closed or the draft is empty; gives way to any question, and when ``stop()`` turns true
        (`Generator.prefill`)."""
        if stop():
            return PrefillResult(complete=False)
        history = [(str(q), str(a)) for q, a in history]
        found = self._find(draft, history, options.k, time.perf_counter(), self.scope(options.documents))
        if found.answer is not None:
            return PrefillResult()
        return self.generator.prefill(_request(draft, self._shown(found), history, found.language, options), stop)

    def _shown(self, found: _Found) -> list[Passage]:
        """What the model reads of the passages found: whole, or their best sentences."""
        assert found.sentences is not None  # set whenever the gate is open
        if self.settings.generation.prompt_sentences:
            return compress_passages(found.sentences, found.scores, self.settings.generation.prompt_sentences)
        return found.passages

    def _find(self, question: str, history: History, k: int | None, started: float,
              scope: frozenset[str] | None = None) -> _Found:
        """Retrieval (inside ``scope`` when given), the gate and the evidence; with an `Answer`
        already when there is nothing to ask the model (an empty question, or no passage close
        enough: then, for a scope, where else the answer may be)."""
        read = Question.read(question)
        language = read.language
        timings = Timings()
        query = retrieval_query(question, history, self.settings.grounding.follow_up_max_words)
        try:
            passages, vector = self._retrieve(query, k, scope)
        except EmptyQueryError as exc:
            timings.total_ms = _ms(started)
            return _Found(read, timings, answer=Answer(question, str(exc), True, [], [], [], [],
                                                       timings, language))
        timings.retrieval_ms = _ms(started)
        passages, addressed = set_aside(passages)  # documents are data: orders to the assistant are not read
        if not passages:
            found = _Found(read, timings, addressed=addressed)
            found.answer = self._refusal(question, found, started)
            return found
        searched = read if query == question else Question.read(query)
        gated = gate(searched, passages, language,
                     GateThresholds.of(self.embedder.calibration, self.settings.grounding))
        log.info("Gate %s (%s): dense %.3f, coverage %.2f", "open" if gated.open else "closed",
                 gated.reason, gated.dense, gated.coverage)
        sentences = PassageSentences.build(passages, self.embedder, self._sentence_vectors)
        # How well each passage sentence answers the question: for the evidence and the prompt.
        scores = sentence_scores(query, vector, sentences, language)
        found = _Found(read, timings, passages, gated, sentences, scores,
                       evidence(sentences, scores, self.settings.grounding.evidence_sentences), addressed=addressed,
                       scope=scope)
        if not gated.open:
            if scope is not None:
                found.elsewhere = self._elsewhere(searched, query, vector, scope, k)
            found.answer = self._refusal(question, found, started, relevant=False)
        return found

    def scope(self, patterns: Sequence[str]) -> frozenset[str] | None:
        """The paths of the documents ``patterns`` choose (`retrieval.scope`); None without any.
        Raises `ScopeError` naming a pattern that matches no document."""
        return self.retriever.scope(patterns)

    def _elsewhere(self, searched: Question, query: str, vector: np.ndarray, scope: frozenset[str],
                   k: int | None) -> list[str]:
        """For a question refused inside ``scope``: the other documents whose passages would
        have opened the gate (where the answer may be), best first; [] when none would."""
        outside = [p for p in self.retriever.search(query, k=k, vector=vector) if p.path not in scope]
        thresholds = GateThresholds.of(self.embedder.calibration, self.settings.grounding)
        if not outside or not gate(searched, outside, searched.language, thresholds).open:
            return []
        return list(dict.fromkeys(p.path for p in outside))[:3]

    def _decide(self, question: str, raw: str, found: _Found, stats: GenerationStats, valid: int,
                started: float) -> Answer:
        """The verdict on the model's ``raw`` reply: the rule checks and the signals, then the
        calibrated decision (or the rules alone without one), then the judge if asked for."""
        assert found.gated is not None and found.sentences is not None
        language, passages = found.language, found.passages
        judgement = judge_reply(found.question, raw, found.sentences, self.embedder, valid, language,
                                settings=self.settings.grounding)
        signals = answer_signals(found.question, raw, stats, found.gated, passages, found.sentences, judgement,
                                 valid, language, [e.text for e in found.evidence])
        if judgement.refusal:  # the model itself says the documents do not answer
            return self._refusal(question, found, started, raw=raw, signals=signals)
        check = judgement.verification
        # The rule checks veto; among the replies they pass, the calibrated decision (fitted for
        # this embedder and model) keeps those likely right. Without one, the rules decide alone.
        decider = decision_for(self.embedder.name, self.generator.model_name)
        probability = None
        verified = judgement.verified
        if decider is not None:
            probability = decider.probability(signals)
            verified = verified and decider.verified(probability, language)
        disagreeing = disagreement(found.question, raw, passages, valid) if verified else None
        verified, reason = self._last_checks(found, check, verified, disagreeing)
        said = None
        if verified:
            text = check.text
            supported_cites = [n for s in check.sentences if s.supported for n in s.citations]
            numbers = list(dict.fromkeys(supported_cites + check.supporting + check.cited))
        else:
            reason = reason or self.why_not(found.question, passages)
            said = answering_sentence(found.question, found.evidence)
            text, numbers = _unverified_text(found.evidence, passages, language, reason, said)
        timings = found.timings
        timings.total_ms = _ms(started)
        timings.generated_tokens = stats.generated_tokens
        timings.tokens_per_s = round(stats.tokens_per_s, 2) if stats.tokens_per_s else None
        return Answer(
            question=question,
            answer=text,
            refused=False,
            citations=citations_for(numbers, passages, check.best_support),
            evidence=found.evidence,
            sentences=check.sentences,
            passages=passages,
            timings=timings,
            language=language,
            verified=verified,
            raw_answer=raw,
            reason=reason,
            probability=probability,
            signals=signals,
            documents_say=said,
            addressed=found.addressed,
            disagreement=disagreeing,
            scope=tuple(sorted(found.scope or ())),
        )

    def _last_checks(self, found: _Found, check: Verification, verified: bool,
                     disagreeing: Disagreement | None) -> tuple[bool, str]:
        """Whether a reply the decision verified stays verified, and why not: another document
        gives another value (the person decides), or the judge, when asked for, does not find it."""
        language = found.language
        if verified and disagreeing is not None:
            return False, disagreement_reason(disagreeing, language)
        assert found.sentences is not None
        if verified and self.settings.grounding.model_check and not model_agrees(
                found.question, check, found.sentences, self.generator.judge_support,
                self.settings.grounding.model_check_threshold):
            return False, model_reason(language)  # the judge, asked only of verified replies
        return verified, ""

    def _refusal(self, question: str, found: _Found, started: float, *, relevant: bool = True, raw: str = "",
                 signals: dict[str, float | None] | None = None) -> Answer:
        """"Not in your documents", with why (`why_not`), the evidence and the closest passages."""
        found.timings.total_ms = _ms(started)
        answer = Answer(question, "", True, [], found.evidence, [], found.passages, found.timings, found.language,
                        verified=False, raw_answer=raw, signals=signals or {}, addressed=found.addressed,
                        scope=tuple(sorted(found.scope or ())))
        if found.elsewhere:  # restricted to some documents, and others may answer
            answer.reason = outside_scope(found.elsewhere, found.language)
        elif found.passages:
            answer.reason = self.why_not(found.question, found.passages, relevant=relevant)
        elif found.scope is not None and not found.addressed:  # the chosen documents hold nothing close
            answer.reason = outside_scope([], found.language)
        else:  # every passage found addresses the assistant (the note names them)
            answer.reason = ONLY_ADDRESSED.get(found.language, ONLY_ADDRESSED[ENGLISH])
        answer.answer = message("refused", found.language, answer.reason)
        return answer

    def answer(
        self,
        question: str,
        history: History = (),
        *,
        options: AskOptions = AskOptions(),
    ) -> Answer:
        """The final `Answer` of `ask` (tokens are not surfaced)."""
        final: Answer | None = None
        for event in self.ask(question, history, options=options):
            if isinstance(event, AnswerEvent):
                final = event.answer
        assert final is not None
        return final

    def retrieve(self, query: str, k: int | None = None) -> list[Passage]:
        """The passages for ``query`` (raises `EmptyQueryError`, `IndexEmptyError`)."""
        return self._retrieve(query, k)[0]

    def _retrieve(self, query: str, k: int | None = None, scope: frozenset[str] | None = None
                  ) -> tuple[list[Passage], np.ndarray]:
        """The passages for ``query`` (inside ``scope`` when given) and its embedding (embedded
        once, for retrieval and evidence)."""
        self.store.refresh()
        if self.store.chunk_count() == 0:
            raise IndexEmptyError(EMPTY_INDEX.format(dir=self.store.location))
        vector = self.retriever.query_vector(query)
        return self.retriever.search(query, k=k, vector=vector, within=scope), vector

    def why_not(self, question: Question, passages: list[Passage], *, relevant: bool = True) -> str:
        """Why ``question`` gets no verified answer (`rag_app.grounding.missing.explain`): its
        subject's terms are looked up in the whole index."""
        return explain(question, passages, self.store.mentions, relevant=relevant)

    def close(self) -> None:
        """Close the index if this pipeline opened it."""
        if self._own_store:
            self.store.close()

    def __enter__(self) -> AnswerPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _request(question: str, passages: list[Passage], history: History, language: str, options: AskOptions
             ) -> Request:
    """What the answer model is asked: ``question`` over ``passages``, with what ``options``
    change of the generation settings."""
    return Request(question, passages, history, language=language, temperature=options.temperature,
                   max_tokens=options.max_tokens, conversation=options.conversation)


def _unverified_text(
    found: list[Evidence], passages: list[Passage], language: str, reason: str = "", said: Evidence | None = None
) -> tuple[str, list[int]]:
    """The "could not be verified" message (with ``reason``), then the evidence sentences by
    number; ``said``, the sentence that answers the question by itself, first of all."""
    numbers: list[int] = []
    by_chunk = {p.chunk_id: n for n, p in enumerate(passages, start=1)}
    lines = []
    if said is not None:
        n = by_chunk.get(said.chunk_id)
        template = DOCUMENTS_SAY.get(language, DOCUMENTS_SAY["en"])
        lines.append(template.format(text=said.text) + (f" [{n}]" if n else ""))
        numbers += [n] if n else []
    lines.append(message("unverified", language, reason))
    for item in found:
        if said is not None and item.text == said.text:
            continue
        n = by_chunk.get(item.chunk_id)
        lines.append(f"- {item.text}" + (f" [{n}]" if n else ""))
        if n and n not in numbers:
            numbers.append(n)
    return "\n".join(lines), numbers


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
