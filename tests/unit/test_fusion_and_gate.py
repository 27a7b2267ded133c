"""Fusion and the relevance gate as pure functions (no model)."""

from __future__ import annotations

import numpy as np
import pytest

from rag_app.answer import Passage
from rag_app.grounding.gate import GateThresholds, gate
from rag_app.grounding.question import Question
from rag_app.retrieval import mmr_order, standard_scores, zscore_fuse
from rag_app.text import ENGLISH, FRENCH

THRESHOLDS = GateThresholds(dense_high=0.8, dense_low=0.5)


def passage(text: str, dense: float | None, heading: str = "") -> Passage:
    return Passage(chunk_id=1, path="a.md", page=None, heading=heading, text=text, score=0.0, dense_score=dense)


def test_standard_scores_give_a_missing_value_the_lowest_score() -> None:
    z = standard_scores([3.0, None, 1.0])
    assert z[0] == pytest.approx(1.0) and z[2] == pytest.approx(-1.0) and z[1] == z[2]
    assert standard_scores([2.0, None]).tolist() == [1.0, -1.0]  # one value: membership only
    assert standard_scores([None, None]).tolist() == [0.0, 0.0]


def test_zscore_fusion_keeps_a_clear_dense_winner_and_breaks_ties_by_order() -> None:
    ids = [10, 20, 30]
    cosines = {10: 0.9, 20: 0.5, 30: 0.49}
    bm25 = {20: 5.0, 30: 4.9}
    fused = zscore_fuse(ids, cosines, bm25, (0.7, 0.3))
    assert [i for i, _ in fused][0] == 10  # far ahead in dense, absent from BM25
    assert [i for i, _ in zscore_fuse([1, 2], {1: 0.5, 2: 0.5}, {}, (0.5, 0.5))] == [1, 2]
    # BM25 alone: 30 and the absent 10 share the lowest z-score; the tie keeps the order of ids.
    assert [i for i, _ in zscore_fuse(ids, cosines, bm25, (0.0, 1.0))] == [20, 10, 30]


def test_mmr_pushes_a_near_duplicate_down() -> None:
    a = np.array([1.0, 0.0, 0.0])
    duplicate = np.array([0.999, 0.0447, 0.0])
    other = np.array([0.0, 1.0, 0.0])
    vectors = np.stack([a, duplicate, other / np.linalg.norm(other)])
    assert mmr_order([3.0, 2.9, 2.5], vectors, 3, 1.0) == [0, 1, 2]  # lambda 1: relevance only
    assert mmr_order([3.0, 2.9, 2.5], vectors, 3, 0.5) == [0, 2, 1]


def test_the_gate_opens_on_a_high_cosine_or_on_words_with_a_low_one() -> None:
    question = "How many attention heads does BERT-base have?"
    asked = Question.read(question)
    assert gate(asked, [passage("Unrelated.", 0.85)], ENGLISH, THRESHOLDS).reason == "dense"
    held = passage("BERT-base has twelve attention heads in each layer.", 0.55)
    decision = gate(asked, [held], ENGLISH, THRESHOLDS)
    assert decision.open and decision.coverage >= 0.5
    assert not gate(asked, [passage("Cooking pasta takes ten minutes.", 0.55)], ENGLISH, THRESHOLDS).open
    assert not gate(asked, [held.__class__(**{**held.__dict__, "dense_score": 0.2})], ENGLISH, THRESHOLDS).open
    assert gate(asked, [], ENGLISH, THRESHOLDS).reason == "no passage"


def test_an_english_only_embedder_gates_other_languages_on_words_alone() -> None:
    question = "Combien de têtes d'attention compte BERT-base ?"
    asked = Question.read(question)
    french = passage("BERT-base compte douze têtes d'attention par couche.", 0.1)
    english_only = GateThresholds(dense_high=0.8, dense_low=0.5, multilingual=False)
    multilingual = GateThresholds(dense_high=0.8, dense_low=0.5, multilingual=True)
    assert gate(asked, [french], FRENCH, english_only).reason == "lexical"
    assert not gate(asked, [french], FRENCH, multilingual).open  # its cosine is trusted
