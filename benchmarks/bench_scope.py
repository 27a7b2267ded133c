"""Scope benchmark (`make bench-scope`): a question restricted to one file of a large index.

    python -m benchmarks.bench_scope [--documents 1000] [--chunks 100] [--questions 50] [--json]

Builds a synthetic embedded index (``documents`` x ``chunks`` chunks, random unit vectors of
384 dimensions, texts of random words; 100,000 chunks by default, so the vector search is the
IVF index), then searches it with random questions: dense and BM25, each ``k`` = 40 (the
candidates a question takes), unscoped and scoped to one random file. Reports p50/p95 of both,
their ratio, and checks that every scoped hit belongs to the file and that the file gives its
``k`` best (all its chunks when it has fewer), as filtering the global top-k afterwards would not.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from rag_app.store import IndexStore, NewChunk

T = TypeVar("T")
DIMENSION = 384
K = 40
WORDS = [f"w{i}" for i in range(5000)]


def build(index: Path, documents: int, chunks: int, rng: np.random.Generator) -> None:
    """The synthetic index: one transaction per 50 documents."""
    with IndexStore.open(index) as store, store.writing():
        for start in range(0, documents, 50):
            with store.transaction("synthetic", DIMENSION) as writer:
                for d in range(start, min(documents, start + 50)):
                    texts = [" ".join(rng.choice(WORDS, 30)) for _ in range(chunks)]
                    vectors = rng.standard_normal((chunks, DIMENSION)).astype(np.float32)
                    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                    writer.add_document(path=f"doc-{d:05d}.txt", content_hash=str(d), size=0, mtime=0.0,
                                        title=str(d), metadata={},
                                        chunks=[NewChunk(i, t, f"{d}-{i}", None, "", 0, len(t))
                                                for i, t in enumerate(texts)], vectors=vectors)


def timed(call: Callable[..., T], *args: Any) -> tuple[T, float]:
    """``call(*args)`` and the milliseconds it took."""
    started = time.perf_counter()
    result = call(*args)
    return result, (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--chunks", type=int, default=100)
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="bench-scope-") as tmp:
        index = Path(tmp) / "index"
        started = time.perf_counter()
        build(index, args.documents, args.chunks, rng)
        built_s = time.perf_counter() - started
        times: dict[str, list[float]] = {"dense": [], "dense scoped": [], "bm25": [], "bm25 scoped": []}
        wrong = short = 0
        with IndexStore.open(index) as store:
            store.refresh()  # the vector search built once, before timing
            for q in range(args.questions):
                vector = rng.standard_normal(DIMENSION).astype(np.float32)
                vector /= np.linalg.norm(vector)
                text = " ".join(random.Random(q).sample(WORDS, 4))
                scope = {f"doc-{random.Random(q).randrange(args.documents):05d}.txt"}
                _, ms = timed(store.dense_search, vector, K)
                times["dense"].append(ms)
                hits, ms = timed(store.dense_search, vector, K, scope)
                times["dense scoped"].append(ms)
                _, ms = timed(store.bm25_search, text, K)
                times["bm25"].append(ms)
                words, ms = timed(store.bm25_search, text, K, scope)
                times["bm25 scoped"].append(ms)
                paths = {c.path for c in store.chunks([i for i, _ in hits + words])}
                wrong += bool(paths - scope)
                short += len(hits) < min(K, args.chunks)
            approximate = store.approximate
    p = {name: (statistics.median(v), sorted(v)[int(0.95 * (len(v) - 1))]) for name, v in times.items()}
    report = {
        "chunks": args.documents * args.chunks, "ivf": approximate, "build_s": round(built_s, 1),
        "p50_ms": {name: round(v[0], 2) for name, v in p.items()},
        "p95_ms": {name: round(v[1], 2) for name, v in p.items()},
        "ratio_p50": {"dense": round(p["dense scoped"][0] / p["dense"][0], 2),
                      "bm25": round(p["bm25 scoped"][0] / p["bm25"][0], 2)},
        "questions": args.questions, "scoped_hits_outside_the_file": wrong, "scoped_dense_short_of_k": short,
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{report['chunks']:,} chunks ({'IVF' if approximate else 'exact'} vector search), built in "
          f"{built_s:.0f} s; {args.questions} questions, k = {K}")
    for name, (p50, p95) in p.items():
        print(f"  {name:13s} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms")
    print(f"  scoped / unscoped p50: dense {report['ratio_p50']['dense']}x, bm25 {report['ratio_p50']['bm25']}x")
    print(f"  questions with a scoped hit outside the file: {wrong}; scoped dense short of k: {short}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
