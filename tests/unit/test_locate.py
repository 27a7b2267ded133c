"""Locating a passage in the text of the page it came from (what the source viewer highlights)."""

from __future__ import annotations

from rag_app.sources.locate import find_span

PAGE = ("How large language models work - rag_app demo corpus\r\n"
        "4. Quantization formats\r\n"
        "The Q4_K_M format stores about 4.8 bits per weight. A 7-billion parameter model then\r\n"
        "needs roughly 4.1 GB of memory. Quanti\ufffe\r\nzation trades a little accuracy for a much\r\n"
        "smaller model; the e\ufb03cient kernels of llama.cpp run it on a laptop CPU.\r\n")


def test_a_passage_split_across_lines_is_found_with_its_exact_characters() -> None:
    passage = "A 7-billion parameter model then needs roughly 4.1 GB of memory."
    start, end = find_span(PAGE, passage)
    assert PAGE[start:end] == "A 7-billion parameter model then\r\nneeds roughly 4.1 GB of memory."


def test_hyphenation_ligatures_and_case_do_not_hide_a_passage() -> None:
    passage = "Quantization trades a little accuracy for a much smaller model; the efficient kernels"
    start, end = find_span(PAGE, passage)
    assert PAGE[start:].startswith("Quanti\ufffe\r\nzation trades") and PAGE[:end].endswith("kernels")
    assert find_span(PAGE, "QUANTIZATION TRADES") == (start, start + len("Quanti\ufffe\r\nzation trades"))


def test_a_sentence_is_searched_within_its_passage_only() -> None:
    text = "Herons nest in colonies. Storks nest on towers. Herons nest in colonies."
    assert find_span(text, "Herons nest in colonies.", start=20) == (48, 72)
    assert find_span(text, "Storks nest", end=20) is None


def test_a_passage_that_changed_in_the_middle_is_found_by_its_ends_and_a_foreign_one_is_not() -> None:
    passage = ("The Q4_K_M format stores about 4.8 bits per weight. A 7-billion parameter model then "
               "needs roughly 4.1 GB of memory. Quantization trades a little accuracy")
    edited = PAGE.replace("roughly 4.1 GB", "about 4 GB")
    start, end = find_span(edited, passage)
    assert edited[start:].startswith("The Q4_K_M") and edited[:end].endswith("accuracy")
    assert find_span(PAGE, "Grey herons hunt fish in shallow water.") is None
    assert find_span(PAGE, "   ") is None and find_span("", "text") is None
