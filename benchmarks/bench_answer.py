"""Answer benchmark (`make bench-answer`): retrieval latency, first token, generation speed, RSS.

    python -m benchmarks.bench_answer [CORPUS_DIR] [--json]

In one run, with the model of the settings (the catalogue default unless `model` is set):
1. the corpus (default: the demo corpus in data/) is ingested into a temporary index;
2. retrieval p50/p95 over its questions (each asked several times);
3. every question is answered through `AnswerPipeline`: time to first token, total answer
   time and generation tokens/s, next to raw llama-cpp-python generating from the very same
   prompt tokens with the same sampling settings (the ratio of the two speeds);
4. the peak RSS of the process at that point (the answer path only);
5. the time the verified decision adds to each answer (token log-probabilities, signals, the
   refusal's explanation, the logistic regression), measured inside the same answers.

Targets: first token p50 <= 2.5 s with the default model; generation >= 0.95x raw. Retrieval at
100k and 1M chunks: `make bench-scale` (benchmarks.bench_scale).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rag_app.answer import AskOptions
from rag_app.answering.pipeline import AnswerPipeline
from rag_app.config import Settings, load_settings
from rag_app.embedding import Embedder, embedder_from_settings
from rag_app.generation import Request

log = logging.getLogger(__name__)

# Questions about the demo corpus (answerable ones; the last two are refused without the model).
QUESTIONS = [
    "How many tokens are in the vocabulary of the GPT-2 tokenizer?",
    "How many attention heads per layer does BERT-base have?",
    "How many bits per weight does the GGUF quantization type Q4_K_M use?",
    "On which port does the rag_app chat page run?",
    "What value of the constant k is usually used in reciprocal rank fusion?",
    "How many dimensions do the vectors of all-MiniLM-L6-v2 have?",
    "Qui a décrit la génération augmentée par récupération en 2020 ?",
    "Combien de mémoire faut-il pour un modèle de 7 milliards de paramètres en FP16 ?",
    "Who won the 1998 football World Cup?",
    "Combien de temps faut-il cuire un œuf à la coque ?",
]
RETRIEVAL_REPEATS = 5
ANSWER_TOKENS = 96


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(values: list[float]) -> tuple[float, float]:
    """(p50, p95) of ``values`` in the same unit, rounded."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return round(statistics.median(ordered), 2), round(p95, 2)


def time_retrieval(retrieve: Any, queries: list[str], repeats: int) -> list[float]:
    """Milliseconds of each call of ``retrieve(query)`` (after one warm-up call)."""
    retrieve(queries[0])
    times = []
    for _ in range(repeats):
        for query in queries:
            started = time.perf_counter()
            retrieve(query)
            times.append((time.perf_counter() - started) * 1000)
    return times


def raw_generation(
    llm: Any, tokens: list[int], max_tokens: int, temperature: float, repeat_penalty: float
) -> dict[str, float]:
    """Raw llama-cpp-python on prompt ``tokens``: first-token seconds and tokens/s after it."""
    llm.reset()  # no prompt cache from the pipeline's run: prefill is measured too (forget_live below)
    started = time.perf_counter()
    first = last = None
    count = 0
    for _chunk in llm.create_completion(tokens, max_tokens=max_tokens, temperature=temperature,
                                       repeat_penalty=repeat_penalty, stream=True):
        now = time.perf_counter()
        if first is None:
            first = now
        last = now
        count += 1
    rate = (count - 1) / (last - first) if first and last and last > first and count > 1 else 0.0
    return {"first_token_s": (first - started) if first else 0.0, "tokens_per_s": rate, "tokens": count}


class DecisionClock:
    """Seconds spent on the verified decision's own work: reading each token's log-probability
    (`TokenRecorder`), computing the signals, explaining a refusal (a few FTS look-ups) and the
    logistic regression. Installed by wrapping those functions for the run."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, owner: Any, name: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        setattr(owner, name, timed)


def install_decision_clock() -> DecisionClock:
    """Time the decision's parts (see `DecisionClock`) from now on, in this process."""
    import rag_app.answering.pipeline as answer_pipeline
    from rag_app.generation import token_record
    from rag_app.grounding.decision import DecisionModel

    clock = DecisionClock()
    clock.wrap(token_record.TokenRecorder, "__call__")
    clock.wrap(answer_pipeline, "answer_signals")
    clock.wrap(answer_pipeline.AnswerPipeline, "why_not")
    clock.wrap(DecisionModel, "probability")
    return clock


def bench_answers(settings: Settings, embedder: Embedder) -> dict[str, Any]:
    """Retrieval and answer figures on the index of ``settings``."""
    clock = install_decision_clock()
    pipeline = AnswerPipeline(settings, embedder=embedder)
    with pipeline:
        retrieval = time_retrieval(pipeline.retrieve, QUESTIONS, RETRIEVAL_REPEATS)
        pipeline.generator.load()
        pipeline.answer(QUESTIONS[0], options=AskOptions(max_tokens=8))  # warm-up
        first_tokens, totals, ours, raws, raw_first, refused = [], [], [], [], [], 0
        decision_ms: list[float] = []
        answers: list[dict[str, Any]] = []  # what each question got: to compare two runs
        for question in QUESTIONS:
            pipeline.generator.cache.forget_live()  # each question pays its full prefill
            before = clock.seconds
            answer = pipeline.answer(question, options=AskOptions(max_tokens=ANSWER_TOKENS, temperature=0.0))
            totals.append(answer.timings.total_ms)
            decision_ms.append((clock.seconds - before) * 1000)
            answers.append({"question": question, "refused": answer.refused, "verified": answer.verified,
                            "reply": answer.raw_answer})
            if answer.refused:
                refused += 1
                continue
            first_tokens.append(answer.timings.first_token_ms or 0.0)
            if answer.timings.tokens_per_s:
                ours.append(answer.timings.tokens_per_s)
            prompt = pipeline.generator.renderer.build_prompt(Request(question, answer.passages,
                                                                      language=answer.language,
                                                                      max_tokens=ANSWER_TOKENS))
            raw = raw_generation(pipeline.generator.llm, prompt.tokens, prompt.max_tokens, 0.0,
                                 pipeline.generator.model.repeat_penalty)
            pipeline.generator.cache.forget_live()  # the raw run used the context behind its back
            if raw["tokens_per_s"]:
                raws.append(raw["tokens_per_s"])
            raw_first.append(raw["first_token_s"] * 1000)
            log.info("%s: first token %.0f ms, %.1f tok/s (raw %.1f)", question[:40],
                     answer.timings.first_token_ms or 0, answer.timings.tokens_per_s or 0, raw["tokens_per_s"])
        model = pipeline.generator.model_name
    p50, p95 = percentiles(retrieval)
    ttft50, ttft95 = percentiles(first_tokens) if first_tokens else (0.0, 0.0)
    ours_rate = statistics.median(ours) if ours else 0.0
    raw_rate = statistics.median(raws) if raws else 0.0
    return {
        "model": model,
        "questions": len(QUESTIONS),
        "refused": refused,
        "verified": sum(a["verified"] for a in answers),
        "retrieval_p50_ms": p50,
        "retrieval_p95_ms": p95,
        "first_token_p50_ms": ttft50,
        "first_token_p95_ms": ttft95,
        "raw_first_token_p50_ms": round(statistics.median(raw_first), 1) if raw_first else 0.0,
        "total_answer_p50_ms": percentiles(totals)[0],
        "total_answer_p95_ms": percentiles(totals)[1],
        "tokens_per_s": round(ours_rate, 1),
        "raw_tokens_per_s": round(raw_rate, 1),
        "ratio_to_raw": round(ours_rate / raw_rate, 3) if raw_rate else 0.0,
        "decision_ms_per_answer": round(statistics.mean(decision_ms), 2),
        "decision_share_of_answer": round(sum(decision_ms) / sum(totals), 4) if sum(totals) else 0.0,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "answers": answers,
    }


def run(corpus: Path) -> dict[str, Any]:
    """All figures of the benchmark (see the module docstring)."""
    base = load_settings()
    embedder = embedder_from_settings(base)
    with tempfile.TemporaryDirectory(prefix="rag-bench-answer-") as tmp:
        from rag_app.ingest.pipeline import ingest

        settings = base.replace(data_dir=corpus, index_dir=Path(tmp) / "index")
        ingest(settings, embedder=embedder)
        figures = {"corpus": str(corpus)} | bench_answers(settings, embedder)
    return figures


def main() -> None:
    """Command-line entry point; prints a table of the figures and their targets."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="?", default="data", type=Path, help="folder of documents")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    random.seed(7)
    figures = run(args.corpus)
    if args.json:
        print(json.dumps(figures))
        return

    from rich.console import Console
    from rich.table import Table

    targets = {
        "first_token_p50_ms": "<= 2500",
        "ratio_to_raw": ">= 0.95",
        "decision_share_of_answer": "<= 0.03",
    }
    table = Table(title="Answer benchmark")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target")
    for key, value in figures.items():
        if key == "answers":
            continue
        table.add_row(key, str(value), targets.get(key, ""))
    Console().print(table)


if __name__ == "__main__":
    main()
