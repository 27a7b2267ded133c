"""Prompt-lookup decoding against plain decoding, on the real prompts of the 20 `bench_typing`
questions over the demo index (issue 25, item 2: "copy faster than writing").

    python -m benchmarks.bench_prompt_lookup [NUM_PRED_TOKENS ...]     # default: 2 4 8

The drafts are llama-cpp-python's (`LlamaPromptLookupDecoding.find_candidate_pred_tokens`, n-grams
of up to 2 tokens); the verification is written here, because the library's own speculative path
keeps the logits of every position of the context (``logits_all``: an n_ctx x vocabulary array,
2.5 GB at 4096 tokens) and 0.3.36 sizes that array from the argument, not from the draft model.
Each step decodes the last token and the draft in one batch with logits on every row, samples the
rows in order with one sampler chain (so penalties and the seeded RNG advance exactly as in plain
decoding), keeps the rows while they equal the draft and drops the KV cells after the first that
does not. With no draft (0) the same loop is plain decoding.

For temperature 0 and 0.1 (the default, seed 0): the replies that are the same tokens as
llama-cpp-python's own `generate`, the time spent writing (the prompt is read before the clock
starts) and the model calls. Figures: docs/evaluation.md, "Prompt lookup".
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

from benchmarks.bench_typing import QUESTIONS
from rag_app.answer import AskOptions
from rag_app.answering.pipeline import AnswerPipeline
from rag_app.config import load_settings
from rag_app.generation import Request

MAX_TOKENS = 128
NGRAM = 2
SAMPLING = {"top_k": 40, "top_p": 0.95, "min_p": 0.05}  # llama-cpp-python's defaults


def prompts() -> tuple[list[list[int]], str, float]:
    """The answer prompts of the questions the gate lets through, the model file, its repeat penalty."""
    pipeline = AnswerPipeline(load_settings())
    found = []
    with pipeline:
        for question in QUESTIONS:
            answer = pipeline.answer(question, options=AskOptions(max_tokens=8))
            if answer.refused and not answer.passages:
                continue
            prompt = pipeline.generator.renderer.build_prompt(Request(question, answer.passages,
                                                                      language=answer.language, max_tokens=256))
            found.append(prompt.tokens)
        return found, str(pipeline.generator.model_path), pipeline.generator.model.repeat_penalty


class Bench:
    """One loaded model, and the two ways of writing a reply from a prompt it has read."""

    def __init__(self, path: str, repeat_penalty: float) -> None:
        import llama_cpp
        from llama_cpp import Llama

        self.llm = Llama(model_path=path, n_ctx=4096, n_threads=2, n_threads_batch=2, verbose=False)
        self.repeat_penalty = repeat_penalty
        self._is_eog = lambda token: llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token)

    def _read(self, tokens: list[int]) -> None:
        """The prompt but its last token in the context, the seed reset (as before an answer)."""
        self.llm.reset()
        self.llm.eval(tokens[:-1])
        self.llm.set_seed(0)

    def plain(self, tokens: list[int], temperature: float) -> tuple[list[int], float, int]:
        """(reply tokens, seconds writing, model calls) with llama-cpp-python's `generate`."""
        self._read(tokens)
        started = time.perf_counter()
        reply: list[int] = []
        for token in self.llm.generate(tokens, temp=temperature, repeat_penalty=self.repeat_penalty,
                                       reset=True, **SAMPLING):
            if self._is_eog(token) or len(reply) >= MAX_TOKENS:
                break
            reply.append(token)
        return reply, time.perf_counter() - started, len(reply) + 1

    def lookup(self, tokens: list[int], temperature: float, draft_tokens: int) -> tuple[list[int], float, int]:
        """(reply tokens, seconds writing, model calls) with drafts of up to ``draft_tokens``."""
        from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

        llm = self.llm
        self._read(tokens)
        started = time.perf_counter()
        sampler = llm._init_sampler(temp=temperature, repeat_penalty=self.repeat_penalty, **SAMPLING)
        reply: list[int] = []
        pending = [tokens[-1]]
        calls = 0
        while True:
            draft: Any = []
            if draft_tokens:
                draft = LlamaPromptLookupDecoding.find_candidate_pred_tokens(
                    np.array(tokens + reply, dtype=np.intc), NGRAM, draft_tokens)
            batch = pending + [int(t) for t in draft[: max(0, MAX_TOKENS - len(reply) - 1)]]
            start = llm.n_tokens
            llm._batch.set_batch(batch, n_past=start, logits_all=True)
            llm._ctx.decode(llm._batch)
            llm.input_ids[start:start + len(batch)] = batch
            calls += 1
            done = False
            for row in range(len(batch)):
                token = sampler.sample(llm._ctx, row)
                if self._is_eog(token) or len(reply) >= MAX_TOKENS:
                    done = True
                    break
                reply.append(token)
                if row + 1 == len(batch) or batch[row + 1] != token:
                    break
            llm.n_tokens = start + row + 1  # the rows after the first wrong draft token go
            llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)
            if done:
                return reply, time.perf_counter() - started, calls
            pending = [token]


def main() -> None:
    settings = [int(a) for a in sys.argv[1:] or ["2", "4", "8"]]
    found, path, repeat_penalty = prompts()
    bench = Bench(path, repeat_penalty)
    bench.plain(found[0], 0.0)  # warm-up
    print(f"{len(found)} prompts, {sum(map(len, found)) / len(found):.0f} tokens on average; "
          f"replies of at most {MAX_TOKENS} tokens")
    for temperature in (0.0, 0.1):
        plain = [bench.plain(tokens, temperature) for tokens in found]
        written = sum(len(r[0]) for r in plain)
        seconds = sum(r[1] for r in plain)
        print(f"temperature {temperature}, plain: {written} tokens in {seconds:.1f} s "
              f"({written / seconds:.1f} tokens/s), {sum(r[2] for r in plain)} calls")
        for k in [0, *settings]:
            rows = [bench.lookup(tokens, temperature, k) for tokens in found]
            same = sum(a[0] == b[0] for a, b in zip(rows, plain, strict=True))
            spent = sum(r[1] for r in rows)
            print(f"  {'same loop, no draft' if not k else f'lookup, drafts of {k}'}: same tokens "
                  f"{same}/{len(rows)}, writing {spent:.1f} s ({seconds / spent:.2f}x plain), "
                  f"{sum(r[2] for r in rows)} calls")


if __name__ == "__main__":
    main()
