"""Reading ahead with the real bundled model over the demo index: a draft's prefill leaves only
the rest of its prompt to read, a different question falls back to a fresh reading with the
same answer, a question pre-empts a running prefill, and a follow-up over the same passages
reuses them (rag_app.generation.context_cache, LlamaGenerator.prefill)."""

from __future__ import annotations

import threading
import time

import pytest

from rag_app.answer import AskOptions
from rag_app.answering.pipeline import AnswerPipeline
from rag_app.config import Settings
from rag_app.embedding import Embedder
from rag_app.generation import LlamaGenerator, Request

from demo_facts import DEMO_FACTS

SHORT = 32
QUESTION = DEMO_FACTS[0].question
OTHER = DEMO_FACTS[3].question


@pytest.fixture(scope="module")
def pipeline(demo_index: Settings, embedder: Embedder) -> AnswerPipeline:
    with AnswerPipeline(demo_index, embedder=embedder) as pipe:
        yield pipe


def ask(pipeline: AnswerPipeline, question: str, conversation: str = "", history=()):  # noqa: ANN001, ANN201
    return pipeline.answer(question, history, options=AskOptions(max_tokens=SHORT, conversation=conversation))


def fresh(pipeline: AnswerPipeline) -> None:
    """Nothing read is kept: the next question reads its prompt from the start."""
    generator = pipeline.generator
    assert isinstance(generator, LlamaGenerator)
    generator.cache.forget_live()
    generator.cache.saved.clear()


def test_a_prefilled_question_reads_only_its_last_token_and_answers_the_same(pipeline: AnswerPipeline) -> None:
    fresh(pipeline)
    unread = ask(pipeline, QUESTION)
    assert unread.timings.cached_tokens == 0 and unread.timings.prompt_tokens > 100
    fresh(pipeline)
    draft = pipeline.prefill(QUESTION, options=AskOptions(max_tokens=SHORT, conversation="tab"))
    assert draft.complete and draft.reused == 0 and draft.read == draft.prompt_tokens - 1
    read_ahead = ask(pipeline, QUESTION, "tab")
    assert read_ahead.timings.prompt_tokens == unread.timings.prompt_tokens
    assert read_ahead.timings.cached_tokens == read_ahead.timings.prompt_tokens - 1
    assert read_ahead.timings.first_token_ms < unread.timings.first_token_ms
    assert read_ahead.raw_answer == unread.raw_answer  # the same numbers, read ahead or not


def test_a_draft_with_other_passages_falls_back_to_what_both_prompts_share(pipeline: AnswerPipeline) -> None:
    fresh(pipeline)
    expected = ask(pipeline, QUESTION)
    fresh(pipeline)
    draft = pipeline.prefill(OTHER, options=AskOptions(max_tokens=SHORT, conversation="tab"))
    assert draft.complete and draft.read > 100
    answer = ask(pipeline, QUESTION, "tab")
    # Only the instructions are shared (both questions are in English): far less than the draft read.
    assert 0 < answer.timings.cached_tokens < 100
    assert answer.raw_answer == expected.raw_answer


def test_a_question_is_answered_before_a_running_prefill_goes_on(pipeline: AnswerPipeline) -> None:
    fresh(pipeline)
    generator = pipeline.generator
    assert isinstance(generator, LlamaGenerator)
    reading = threading.Event()
    done: dict[str, float] = {}
    results = []

    def hold_after_a_piece() -> bool:
        """The draft's check between pieces: once a piece is read, wait for the question to be
        waiting for the model (whatever this machine's speed), then let the reading decide."""
        if generator.cache.live.tokens:
            reading.set()
            deadline = time.monotonic() + 60
            while not generator._lock.waiting() and time.monotonic() < deadline:
                time.sleep(0.005)
        return False

    def prefill() -> None:
        results.append(pipeline.prefill(OTHER, options=AskOptions(max_tokens=SHORT, conversation="other tab"),
                                        stop=hold_after_a_piece))
        done["prefill"] = time.perf_counter()

    thread = threading.Thread(target=prefill)
    thread.start()
    assert reading.wait(60), "the draft's reading did not start"
    answer = ask(pipeline, QUESTION, "tab")
    done["answer"] = time.perf_counter()
    thread.join()
    assert not answer.refused and answer.raw_answer
    # The prefill gave way at its next piece: it stopped before the question's answer was written.
    assert not results[0].complete and done["prefill"] < done["answer"]
    assert 0 < results[0].read < results[0].prompt_tokens - 1


def test_a_follow_up_over_the_same_passages_reads_only_the_new_turn(pipeline: AnswerPipeline) -> None:
    fresh(pipeline)
    generator = pipeline.generator
    passages = pipeline.retrieve(QUESTION)[:1]  # room left for the turn within max_prompt_tokens
    first = generator.stream(Request(QUESTION, passages, conversation="tab", max_tokens=SHORT))
    reply = "".join(first)
    assert first.prompt is not None and first.stats.cached_tokens == 0
    follow_up = generator.stream(Request("And in French?", passages, [(QUESTION, reply)], conversation="tab",
                                         max_tokens=SHORT))
    "".join(follow_up)
    assert follow_up.prompt is not None
    # Instructions and passages come before the turns: all of them were read with the first question.
    assert follow_up.stats.cached_tokens >= first.prompt.segments[-1]
    assert follow_up.stats.cached_tokens > len(first.prompt.tokens) // 2
