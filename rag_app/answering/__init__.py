"""Answering one question: `pipeline.AnswerPipeline` (retrieval, the gate, the prompt, the answer
model, the checks and the calibrated decision)."""
