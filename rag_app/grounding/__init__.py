"""Grounding that does not trust the model.

- `gate`: from retrieval signals alone, whether any passage is relevant enough to answer from
  (a closed gate means "not in your documents", without calling the model).
- `evidence`: the passage sentences that best answer the question, always shown with their source.
- `support`: each sentence of the model's answer checked against the passages (words,
  embedding, and every number and name it states must be in the passage that supports it).
- `relevance`: whether the supported answer answers *this* question: the model's own "not in
  the documents" reply, the question's subject in the supporting passage, and an answer of the
  kind the question asks for (a year, a number, a name).
- `text`: the words, numbers, names and sentences all of them compare.

Thresholds were tuned on ../shared/eval and the demo corpus (`benchmarks.tune_gate`, docs/).
"""
