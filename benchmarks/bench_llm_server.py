"""Generation on an inference server against the same model in this process (`make bench-llm-server`).

    python -m benchmarks.bench_llm_server [--model qwen2.5-1.5b] [--runs 3] [--concurrent 4] [--json]

`python -m llama_cpp.server` is started on a free loopback port with the model's GGUF and as
many threads as the in-process model uses. The same demo question over the same passages (from
`bench_typing.QUESTIONS`, a fixed prompt) is written, in turn, by `LlamaGenerator` (in this
process) and by `ServerGenerator` (through the server), ``--runs`` times each, temperature 0:

- first token (s) and generation speed (tokens/s after the first), medians, and their ratios
  server / in-process (targets of issue 27: first token within 10 %, speed >= 0.95x), with the
  server asked for log-probabilities (the default) and without (``llm_logprobs = false``);
- ``--concurrent`` questions sent to the server at once against the same questions one at a
  time: wall time and answer tokens per second of each way.

The in-process model is closed before the server's turn and loaded again after it, so the two
never share the CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.bench_typing import _free_port
from rag_app.answer import Passage
from rag_app.config import Settings
from rag_app.generation import Generation, LlamaGenerator, Request, ServerGenerator
from rag_app.llm.files import resolve_llm

PASSAGES = [
    Passage(1, "how_llms_work.pdf", 4, "Quantization",
            "GGUF is the file format of llama.cpp. A GGUF file holds the weights of a model, its tokenizer "
            "and its chat template, quantized to 4 or 5 bits per weight (Q4_K_M, Q5_K_M).", 0.9),
    Passage(2, "chunking_and_embeddings.md", None, "Embeddings",
            "multilingual-e5-small maps a passage to 384 numbers; passages are split into chunks of about "
            "200 tokens with an overlap of 30.", 0.5),
]
QUESTION = "What is GGUF and what does a GGUF file hold?"


def start_server(model: Path, threads: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    out = log.open("wb")
    process = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
                                "--port", str(port), "--n_ctx", "4096", "--n_threads", str(threads),
                                "--n_threads_batch", str(threads),
                                # Its default cuts a running answer short when another question comes.
                                "--interrupt_requests", "False"], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/models", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit(f"llama_cpp.server did not start: {log.read_text(errors='replace')}")


def write(generator: LlamaGenerator, question: str = QUESTION) -> Generation:
    """One reply, read to its end (its text kept in `TEXTS`)."""
    generation = generator.stream(Request(question, PASSAGES))
    TEXTS[id(generation)] = "".join(generation)
    return generation


TEXTS: dict[int, str] = {}


def medians(generations: list[Generation]) -> dict[str, float]:
    return {"first_token_s": statistics.median(g.stats.first_token_s or 0.0 for g in generations),
            "tokens_per_s": statistics.median(g.stats.tokens_per_s or 0.0 for g in generations),
            "tokens": statistics.median(g.stats.generated_tokens for g in generations)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-1.5b")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrent", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    base = Settings().replace(model=args.model, temperature=0.0)
    models_dir = base.paths.models_dir
    local = LlamaGenerator(base.generation, models_dir)
    threads = int(local.llm.n_threads)  # what llama.cpp chose (or the n_threads setting): the server gets the same
    gguf = resolve_llm(args.model, models_dir).path
    runs = [f"{QUESTION} (run {n + 1})" for n in range(args.runs)]  # each read anew after the passages
    write(local)  # warm: the model loaded, its instructions read
    here = [write(local, q) for q in runs]
    local.close()

    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_server(gguf, threads, Path(tmp) / "server.log")
        try:
            plain = ServerGenerator(base.replace(llm_url=url, llm_logprobs=False).generation, models_dir)
            remote = ServerGenerator(base.replace(llm_url=url).generation, models_dir)
            write(remote)  # warm
            there = [write(remote, q) for q in runs]
            bare = [write(plain, q) for q in runs]
            questions = [f"{QUESTION} ({n + 1})" for n in range(args.concurrent)]
            started = time.perf_counter()
            alone = [write(remote, q) for q in questions]
            alone_s = time.perf_counter() - started
            together: list[Generation] = []
            lock = threading.Lock()

            def ask(question: str) -> None:
                generation = write(remote, question)
                with lock:
                    together.append(generation)

            threads_ = [threading.Thread(target=ask, args=(q,)) for q in questions]
            started = time.perf_counter()
            for thread in threads_:
                thread.start()
            for thread in threads_:
                thread.join()
            together_s = time.perf_counter() - started
            remote.close()
            plain.close()
        finally:
            process.terminate()
            process.wait(timeout=30)

    in_process, server, no_logprobs = medians(here), medians(there), medians(bare)
    result: dict[str, Any] = {
        "model": args.model, "threads": threads, "runs": args.runs,
        "in_process": in_process, "server": server, "server_without_logprobs": no_logprobs,
        "first_token_ratio": server["first_token_s"] / in_process["first_token_s"],
        "speed_ratio": server["tokens_per_s"] / in_process["tokens_per_s"],
        "first_token_ratio_without_logprobs": no_logprobs["first_token_s"] / in_process["first_token_s"],
        "speed_ratio_without_logprobs": no_logprobs["tokens_per_s"] / in_process["tokens_per_s"],
        "same_text": [TEXTS[id(g)] for g in here] == [TEXTS[id(g)] for g in there] == [TEXTS[id(g)] for g in bare],
        "one_at_a_time": {"seconds": alone_s, "tokens_per_s": sum(g.stats.generated_tokens for g in alone) / alone_s},
        "concurrent": {"questions": args.concurrent, "seconds": together_s,
                       "tokens_per_s": sum(g.stats.generated_tokens for g in together) / together_s},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.model}, {threads} threads, medians of {args.runs}")
    print(f"  in process : first token {in_process['first_token_s']:.2f} s, {in_process['tokens_per_s']:.1f} tok/s")
    print(f"  server     : first token {server['first_token_s']:.2f} s, {server['tokens_per_s']:.1f} tok/s")
    print(f"  server, no logprobs: first token {no_logprobs['first_token_s']:.2f} s, "
          f"{no_logprobs['tokens_per_s']:.1f} tok/s")
    print(f"  ratios     : first token {result['first_token_ratio']:.2f}x, speed {result['speed_ratio']:.2f}x; "
          f"without logprobs {result['first_token_ratio_without_logprobs']:.2f}x, "
          f"{result['speed_ratio_without_logprobs']:.2f}x; same text: {result['same_text']}")
    print(f"  {args.concurrent} questions one at a time: {alone_s:.1f} s "
          f"({result['one_at_a_time']['tokens_per_s']:.1f} tok/s); at once: {together_s:.1f} s "
          f"({result['concurrent']['tokens_per_s']:.1f} tok/s)")


if __name__ == "__main__":
    main()
