"""The support check and the evidence with a fake embedder (no model)."""

from __future__ import annotations

from rag_app.answer import Passage
from rag_app.grounding.evidence import PassageSentences
from rag_app.grounding.support import verify

from fakes import FakeEmbedder

EMBEDDER = FakeEmbedder()
PASSAGES = [
    Passage(1, "bert.md", None, "", "BERT-base has 12 attention heads in each of its 12 layers. It was trained on "
            "English Wikipedia and books.", 1.0),
    Passage(2, "gguf.md", None, "", "The Q4_K_M quantization type stores about 4.8 bits per weight.", 0.5),
]


def test_a_sentence_stated_by_a_passage_is_supported_and_an_invented_one_is_not() -> None:
    index = PassageSentences.build(PASSAGES, EMBEDDER)
    result = verify("BERT-base has 12 attention heads in each layer [1]. It was trained on Martian poetry [1].",
                    index, EMBEDDER, valid=2)
    assert [s.supported for s in result.sentences] == [True, False]
    assert result.verified and result.supporting == [1] and result.cited == [1]
    assert "12 attention heads" in result.best_support[1]


def test_numbers_must_match_and_invalid_citations_are_removed() -> None:
    index = PassageSentences.build(PASSAGES, EMBEDDER)
    wrong = verify("Q4_K_M stores about 6.5 bits per weight [2].", index, EMBEDDER, valid=2)
    assert not wrong.verified  # same words, another number
    cited_beyond = verify("Q4_K_M stores about 4.8 bits per weight [7].", index, EMBEDDER, valid=2)
    assert "[7]" not in cited_beyond.text and cited_beyond.verified and cited_beyond.supporting == [2]


def test_a_looping_answer_keeps_one_copy_of_each_sentence() -> None:
    index = PassageSentences.build(PASSAGES, EMBEDDER)
    result = verify("BERT-base has 12 attention heads. BERT-base has 12 attention heads.", index, EMBEDDER, valid=2)
    assert len(result.sentences) == 1
