"""The prompt stays within the model's context window (`build_prompt`, with a word-level fake model)."""

from __future__ import annotations

from rag_app.answer import Passage
from rag_app.config import GenerationSettings
from rag_app.generation import Budget, Request, build_prompt
from rag_app.generation.prompt import MIN_PASSAGE_TOKENS

from fakes import FakeGenerator


def passage(n: int, words: int) -> Passage:
    return Passage(n, f"doc{n}.md", None, "", " ".join(f"w{n}_{i}" for i in range(words)), 1.0 / n)


def test_everything_fits_in_a_large_window() -> None:
    model = FakeGenerator()
    prompt = build_prompt(model, Request("what is it?", [passage(n, 50) for n in (1, 2, 3)]), Budget(4096, 256, 4096))
    assert prompt.passages_used == 3 and not prompt.trimmed_last
    assert "[1] (doc1.md)" in prompt.text and "[3] (doc3.md)" in prompt.text
    assert prompt.max_tokens == 256


def test_a_small_window_drops_the_lowest_ranked_passages_and_trims_the_last_kept() -> None:
    model = FakeGenerator()
    passages = [passage(n, 120) for n in (1, 2, 3, 4)]
    prompt = build_prompt(model, Request("what is it?", passages), Budget(400, 100, 4096))
    assert len(prompt.tokens) + prompt.max_tokens <= 400
    assert prompt.passages_used == 3 and prompt.trimmed_last  # 1 and 2 whole, 3 cut, 4 left out
    assert "w2_119" in prompt.text and "w3_0" in prompt.text and "w3_119" not in prompt.text
    assert "w4_0" not in prompt.text


def test_too_little_room_for_a_useful_piece_leaves_the_passage_out() -> None:
    model = FakeGenerator()
    first = build_prompt(model, Request("q", [passage(1, 200)]), Budget(1024, 64, 4096))
    room = 1024 - 64 - len(first.tokens)  # what is left after passage 1
    prompt = build_prompt(model, Request("q", [passage(1, 200), passage(2, 400)]),
                          Budget(1024, 64, len(first.tokens) + MIN_PASSAGE_TOKENS // 2))
    assert room > 0 and prompt.passages_used == 1 and not prompt.trimmed_last


def test_the_oldest_history_goes_first_and_a_long_question_is_cut() -> None:
    model = FakeGenerator()
    history = [(f"question {i} " + "x " * 60, f"answer {i}") for i in range(6)]
    prompt = build_prompt(model, Request("and then?", [passage(1, 20)], history), Budget(600, 100, 4096))
    assert prompt.history_used <= GenerationSettings().history_turns
    assert "question 5" in prompt.text and "question 0" not in prompt.text
    assert len(prompt.tokens) + prompt.max_tokens <= 600

    long_question = " ".join(f"q{i}" for i in range(2000))
    prompt = build_prompt(model, Request(long_question, [passage(1, 20)]), Budget(600, 100, 4096))
    assert len(prompt.tokens) + prompt.max_tokens <= 600 and "q0 " in prompt.text and "q1999" not in prompt.text


def test_the_answer_keeps_a_share_of_a_small_window_and_the_prompt_cap_holds() -> None:
    model = FakeGenerator()
    prompt = build_prompt(model, Request("q", [passage(n, 100) for n in range(1, 9)]), Budget(400, 2000, 4096))
    assert prompt.max_tokens == 100  # a quarter of the window, not the 2,000 asked for
    capped = build_prompt(model, Request("q", [passage(n, 100) for n in range(1, 9)]), Budget(8192, 256, 300))
    assert len(capped.tokens) <= 300
