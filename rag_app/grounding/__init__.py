"""Grounding that does not trust the model.

- `gate`: from retrieval signals alone, whether any passage is relevant enough to answer from
  (a closed gate means "not in your documents", without calling the model).
- `evidence`: the passage sentences that best answer the question, always shown with their source.
- `support`: each sentence of the model's answer checked against the passages (words,
  embedding, and every number and name it states must be in the passage that supports it).
- `relevance`: whether the supported answer answers *this* question: the model's own "not in
  the documents" reply, the question's subject in the supporting passage, and an answer of the
  kind the question asks for (a year, a number, a name).
- `signals` and `decision`: the numbers read from all of the above and from the model's own
  token probabilities, and the calibrated probability that the reply is right.
- `missing`: why a question gets no verified answer (a term in no document, a value not stated).

Words, numbers, names and sentences come from `rag_app.text`.

Thresholds were tuned on ../shared/eval and the demo corpus (`benchmarks.tune_gate`, docs/).
"""
