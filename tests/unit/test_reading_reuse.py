"""A prompt is read in the same pieces whatever the context held before, and a reading is reused
only up to a piece both prompts share (rag_app.generation.prompt, context_cache): no model."""

from __future__ import annotations

from rag_app.generation.context_cache import Reading, reusable
from rag_app.generation.prompt import reading_stops, segment_ends


def test_each_part_is_read_in_pieces_from_its_own_start() -> None:
    assert reading_stops(150, [10, 100], 64) == [10, 55, 100, 149]  # 90 tokens: two pieces of 45
    assert reading_stops(150, [], 64) == [50, 99, 149]  # the last token is read when writing starts
    assert reading_stops(1, [], 64) == []


def test_a_reading_is_reused_up_to_the_last_piece_both_prompts_share() -> None:
    draft = list(range(150))
    cached = Reading(draft[:149], reading_stops(150, [10, 100], 64))  # stops 10, 55, 100, 149
    # The same instructions and passages, another question: everything up to the question.
    final = draft[:100] + [999] * 30
    assert reusable(cached, final, reading_stops(130, [10, 100], 64)) == 100
    # The second part differs from token 50: only the first part.
    final = draft[:50] + [999] * 80
    assert reusable(cached, final, reading_stops(130, [10, 100], 64)) == 10
    # The same tokens, but the second part ends earlier: its pieces differ, only the first part.
    assert reusable(cached, draft, reading_stops(150, [10, 90], 64)) == 10
    # ... or later, in the same first piece: that piece is shared.
    assert reusable(cached, draft, reading_stops(150, [10, 100, 120], 64)) == 100
    assert reusable(Reading(), draft, reading_stops(150, [10], 64)) == 0


def test_segment_ends_fall_back_to_the_shared_tokens_where_they_merge() -> None:
    def tokenize(text: str) -> list[int]:  # "ab" merges into one token
        out, i = [], 0
        while i < len(text):
            if text.startswith("ab", i):
                out.append(1000)
                i += 2
            else:
                out.append(ord(text[i]))
                i += 1
        return out

    text = "xx|yyab|zz"
    tokens = tokenize(text)
    assert segment_ends(tokenize, text, tokens, [3, 6]) == [3, 5]  # a mark inside "ab": before it
    assert segment_ends(tokenize, text, tokens, [3, 8]) == [3, 7]
