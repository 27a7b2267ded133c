"""Context compression: passages cut to their best sentences for the prompt (a fake embedder)."""

from __future__ import annotations

import numpy as np

from rag_app.answer import Passage
from rag_app.grounding.evidence import PassageSentences, compress_passages, sentence_scores


class FakeEmbedder:
    """Every text gets the same unit vector: scores then come from the words alone."""

    def encode_sentences(self, texts: list[str]) -> np.ndarray:
        return np.full((len(texts), 4), 0.5, dtype=np.float32)


TEXT = ("Tokenizers split text into pieces. The weather was mild that year. GPT-2 has a vocabulary "
        "of 50,257 tokens. Frequent words become one token. Rare words become several pieces. "
        "The river froze in winter.")


def test_each_passage_keeps_its_best_sentences_with_their_neighbours() -> None:
    passages = [Passage(1, "a.txt", 3, "Tokens", TEXT, 1.0), Passage(2, "b.txt", None, "", "Short one.", 0.5)]
    index = PassageSentences.build(passages, FakeEmbedder())
    question = "How many tokens are in the GPT-2 vocabulary?"
    scores = sentence_scores(question, np.full(4, 0.5, dtype=np.float32), index, "en")
    compressed = compress_passages(index, scores, keep=1)
    assert compressed[0].text == ("… The weather was mild that year. GPT-2 has a vocabulary of 50,257 tokens. "
                                  "Frequent words become one token. …")
    # Identity is kept: citations still point at the whole passage and its page.
    assert (compressed[0].chunk_id, compressed[0].path, compressed[0].page) == (1, "a.txt", 3)
    assert compressed[1].text == "Short one."  # nothing scored: kept whole
    assert passages[0].text == TEXT  # the passages themselves are not changed
