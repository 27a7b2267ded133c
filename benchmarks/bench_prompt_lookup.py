"""Prompt-lookup decoding (llama-cpp-python's `LlamaPromptLookupDecoding`) against plain decoding,
on the real prompts of the 20 `bench_typing` questions over the demo index, temperature 0.

    python -m benchmarks.bench_prompt_lookup [NUM_PRED_TOKENS ...]     # default: 3 10

For each setting: how many replies are the same text as plain decoding's, the first-token p50,
the time spent writing (after the first token) and in all. Each configuration loads its own
`Llama` (n_ctx 4096, 2 threads); with a draft model llama-cpp-python keeps the logits of every
position (``logits_all``, an n_ctx x vocabulary array), which must then be asked for explicitly
(0.3.36 sizes the array from the argument, not from the draft model, and fails past 512 tokens).
Needs the demo index (`rag-app ingest`). Figures: docs/evaluation.md, "Prompt lookup".
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

from benchmarks.bench_typing import QUESTIONS
from rag_app.answer import AskOptions
from rag_app.answer_pipeline import AnswerPipeline
from rag_app.config import load_settings


def prompts() -> tuple[list[tuple[list[int], list[str]]], str, float]:
    """The answer prompts of the questions the gate lets through, the model file, its repeat penalty."""
    pipeline = AnswerPipeline(load_settings())
    found = []
    with pipeline:
        for question in QUESTIONS:
            answer = pipeline.answer(question, options=AskOptions(max_tokens=8))
            if answer.refused and not answer.passages:
                continue
            prompt = pipeline.generator.build_prompt(question, answer.passages, language=answer.language,
                                                     max_tokens=256)
            found.append((prompt.tokens, prompt.stop))
        return found, str(pipeline.generator.model_path), pipeline.generator.model.repeat_penalty


def run(llm: Any, tokens: list[int], stop: list[str], repeat_penalty: float) -> tuple[str, float, float]:
    """(reply, seconds to the first token, seconds writing after it) of one greedy reply."""
    llm.reset()
    started = time.perf_counter()
    first = None
    text = ""
    for chunk in llm.create_completion(tokens, max_tokens=256, temperature=0.0, repeat_penalty=repeat_penalty,
                                       stop=stop or None, stream=True, seed=0):
        first = first or time.perf_counter()
        text += chunk["choices"][0]["text"]
    end = time.perf_counter()
    return text, (first or end) - started, end - (first or end)


def main() -> None:
    from llama_cpp import Llama
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    settings = [0] + [int(a) for a in sys.argv[1:] or ["3", "10"]]
    found, path, repeat_penalty = prompts()
    rows: dict[int, list[tuple[str, float, float]]] = {}
    for k in settings:
        draft = LlamaPromptLookupDecoding(num_pred_tokens=k) if k else None
        llm = Llama(model_path=path, n_ctx=4096, n_threads=2, n_threads_batch=2, verbose=False,
                    draft_model=draft, logits_all=bool(k))
        run(llm, *found[0], repeat_penalty)  # warm-up
        rows[k] = [run(llm, tokens, stop, repeat_penalty) for tokens, stop in found]
        del llm
    plain = rows[0]
    for k, replies in rows.items():
        same = sum(a[0] == b[0] for a, b in zip(replies, plain, strict=True))
        print(f"{'plain' if not k else f'lookup {k}'}: same text {same}/{len(replies)}, first token p50 "
              f"{statistics.median(r[1] for r in replies):.2f} s, writing {sum(r[2] for r in replies):.1f} s, "
              f"all {sum(r[1] + r[2] for r in replies):.1f} s")


if __name__ == "__main__":
    main()
