"""Scale benchmark (`make bench-scale`): the index at 100k and 1M chunks, and a kill test.

    python -m benchmarks.bench_scale [--sizes 100000 1000000] [--kill-test] [--store milvus] [--json]

``--store milvus`` runs the same figures on the Milvus store (`milvus_uri` of the settings, or a
Milvus Lite file in the temporary index folder); `make bench-scale STORE=milvus`.

For each size, a synthetic index is written in a temporary folder through the store's own
transactions (batches of 10,000 chunks, as an ingest commits them):
- text: words drawn from a Zipf law over a 50,000-word vocabulary, 120 words a chunk;
- vectors: realistic rather than random: sentences of the demo corpus are embedded by the real
  embedder, and each chunk vector is a random mix of two of them plus noise (normalized), so
  neighbourhoods look like those of real passages; queries are embedded by the real embedder.
Figures: build time, vector-cache time (IVF training above its threshold), open time (a new
process's first question), the commit time of a 1,000-chunk update and the time a reader takes
to see it, retrieval p50/p95 (hybrid, dense, BM25; index side alone and with the query
embedding), recall@10 of the approximate index against exact search, and peak RSS.

``--kill-test`` ingests a generated corpus in a subprocess, SIGKILLs it at random points 10
times, then runs a clean ingest: the index must be consistent, every file present, and the
chunks embedded over all runs at most 1.2x the corpus.

Targets: hybrid p50 <= 25 ms at 100k and <= 60 ms at 1M; recall@10 >= 0.95; open <= 5 s at 1M.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from benchmarks.bench_answer import peak_rss_mb, percentiles
from rag_app.config import IndexSettings, Settings, load_settings
from rag_app.embedding import Embedder, embedder_from_settings
from rag_app.ingest.loaders import load_document
from rag_app.retrieval import HybridRetriever
from rag_app.store import NewChunk, Store, open_store
from rag_app.text import split_sentences

log = logging.getLogger(__name__)

VOCABULARY = 50_000
WORDS_PER_CHUNK = 120
CHUNKS_PER_DOCUMENT = 100
COMMIT_CHUNKS = 10_000
QUERIES = 100
SYLLABLES = ["ka", "lo", "mi", "nu", "pe", "ro", "si", "tu", "va", "ze", "bar", "cor", "dun", "fel", "gim",
             "hos", "jal", "kur", "lem", "mop", "ta", "re", "shi", "po", "da", "ne", "gu", "li", "mo", "zu"]


class SyntheticCorpus:
    """Zipf text and mixed real-sentence vectors (see the module docstring)."""

    def __init__(self, embedder: Embedder, sample_dir: Path, seed: int = 7) -> None:
        self.rng = np.random.default_rng(seed)
        words = set()
        while len(words) < VOCABULARY:
            words.add("".join(self.rng.choice(SYLLABLES, self.rng.integers(2, 5))))
        self.words = np.array(sorted(words))
        self.rng.shuffle(self.words)
        zipf = 1.0 / np.arange(1, VOCABULARY + 1) ** 1.07
        self.zipf = zipf / zipf.sum()
        sentences = [s for path in sorted(sample_dir.rglob("*")) if path.is_file()
                     for s in _sentences(path) if len(s) > 40]
        if not sentences:
            raise SystemExit(f"No sentences to sample in {sample_dir}: pass --sample with a folder of documents.")
        self.sentences = embedder.encode(sentences[:600])
        log.info("Sampled %d real sentence vectors", len(self.sentences))

    def texts(self, n: int) -> list[str]:
        """``n`` chunk texts."""
        picks = self.rng.choice(VOCABULARY, size=(n, WORDS_PER_CHUNK), p=self.zipf)
        return [" ".join(row) for row in self.words[picks]]

    def vectors(self, n: int) -> np.ndarray:
        """``n`` normalized vectors, each a noisy mix of two real sentence vectors."""
        base = self.sentences
        first = base[self.rng.integers(0, len(base), n)]
        second = base[self.rng.integers(0, len(base), n)]
        mix = self.rng.uniform(0.5, 1.0, (n, 1)).astype(np.float32)
        noise = self.rng.standard_normal((n, base.shape[1])).astype(np.float32) * 0.02
        vectors = mix * first + (1 - mix) * second + noise
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def queries(self, n: int) -> list[str]:
        """``n`` questions: five words of middling frequency and one common word."""
        middling = self.rng.integers(50, 20_000, (n, 5))
        common = self.rng.integers(0, 50, (n, 1))
        return [" ".join(self.words[row]) + "?" for row in np.hstack([common, middling])]


def _sentences(path: Path) -> list[str]:
    try:
        return [s for section in load_document(path).sections for s in split_sentences(section.text)]
    except Exception:  # noqa: BLE001 - a sample file that cannot be read is just not sampled
        return []


def write_chunks(store: Store, corpus: SyntheticCorpus, n: int, model: str, start_doc: int = 0) -> float:
    """Add ``n`` chunks in commits of `COMMIT_CHUNKS`; returns the seconds spent committing."""
    committed = 0.0
    document = start_doc
    for start in range(0, n, COMMIT_CHUNKS):
        size = min(COMMIT_CHUNKS, n - start)
        texts, vectors = corpus.texts(size), corpus.vectors(size)
        began = time.perf_counter()
        with store.transaction(model, vectors.shape[1]) as writer:
            for first in range(0, size, CHUNKS_PER_DOCUMENT):
                part = texts[first : first + CHUNKS_PER_DOCUMENT]
                writer.add_document(
                    path=f"synthetic/{document:07d}.txt", content_hash=str(document), size=0, mtime=0.0,
                    title="", metadata={},
                    chunks=[NewChunk(i, t, f"{document}-{i}", None, "", 0, len(t)) for i, t in enumerate(part)],
                    vectors=vectors[first : first + len(part)],
                )
                document += 1
        committed += time.perf_counter() - began
    return committed


def time_calls(call: Callable[[Any], object], items: list[Any]) -> list[float]:
    """Milliseconds of ``call(item)`` for each item (after one warm-up call)."""
    call(items[0])
    times = []
    for item in items:
        began = time.perf_counter()
        call(item)
        times.append((time.perf_counter() - began) * 1000)
    return times


def bench_size(n: int, embedder: Embedder, corpus: SyntheticCorpus, settings: Settings) -> dict[str, Any]:
    """All figures for one index size, on the store ``settings.index`` names."""
    figures: dict[str, Any] = {"store": settings.index.store, "chunks": n}
    model = embedder.name
    with tempfile.TemporaryDirectory(prefix=f"rag-bench-scale-{n}-") as tmp:
        index_dir = Path(tmp)
        began = time.perf_counter()
        with open_store(index_dir, settings.index) as store, store.writing():
            figures["commit_s_total"] = round(write_chunks(store, corpus, n, model), 1)
            figures["build_s"] = round(time.perf_counter() - began, 1)
            began = time.perf_counter()
            store.update_vector_cache()
            figures["vector_cache_s"] = round(time.perf_counter() - began, 1)
            figures["approximate"] = getattr(store, "approximate", "engine's own")
        figures["db_mb"] = round(sum(p.stat().st_size for p in index_dir.iterdir()) / 1e6)

        queries = corpus.queries(QUERIES)
        query_vectors = {q: embedder.encode_query(q) for q in queries}
        began = time.perf_counter()
        reader = open_store(index_dir, settings.index, model, embedder.dimension)
        reader.refresh()
        figures["open_s"] = round(time.perf_counter() - began, 2)

        retriever = HybridRetriever(reader, _Precomputed(embedder, query_vectors), settings.retrieval)
        for mode in ("hybrid", "dense", "bm25"):
            p50, p95 = percentiles(time_calls(lambda q, mode=mode: retriever.search(q, mode=mode), queries))
            figures[f"{mode}_p50_ms"], figures[f"{mode}_p95_ms"] = p50, p95
        encode = time_calls(embedder.encode_query, queries[:30])
        figures["query_embedding_p50_ms"] = percentiles(encode)[0]
        full = HybridRetriever(reader, embedder, settings.retrieval)
        figures["hybrid_with_embedding_p50_ms"] = percentiles(time_calls(full.search, queries[:30]))[0]
        figures["recall_at_10"] = recall_at_10(reader, list(query_vectors.values()))

        with open_store(index_dir, settings.index) as writer, writer.writing():
            figures["commit_1000_s"] = round(write_chunks(writer, corpus, 1000, model, start_doc=10**6), 3)
        began = time.perf_counter()
        reader.refresh()
        figures["reader_sees_commit_s"] = round(time.perf_counter() - began, 3)
        reader.close()
    figures["peak_rss_mb"] = round(peak_rss_mb())
    return figures


class _Precomputed:
    """The embedder with the bench queries' vectors computed beforehand (index-side timing)."""

    def __init__(self, embedder: Embedder, vectors: dict[str, np.ndarray]) -> None:
        self._embedder, self._vectors = embedder, vectors
        self.calibration = embedder.calibration

    def encode_query(self, text: str) -> np.ndarray:
        return self._vectors[text] if text in self._vectors else self._embedder.encode_query(text)


def recall_at_10(store: Store, query_vectors: list[np.ndarray]) -> float:
    """Mean share of the exact top 10 (flat inner product) that the store's dense search finds."""
    ids = np.array(store.chunk_ids(), dtype=np.int64)
    exact = faiss.IndexIDMap2(faiss.IndexFlatIP(store.dimension))
    exact.add_with_ids(store.vectors(ids.tolist()), ids)
    found = []
    for vector in query_vectors:
        _, truth = exact.search(vector.reshape(1, -1).astype(np.float32), 10)
        got = {i for i, _ in store.dense_search(vector, 10)}
        found.append(len(got & set(truth[0].tolist())) / 10)
    return round(float(np.mean(found)), 3)


KILLED_INGEST = textwrap.dedent(
    """
    import sys
    from rag_app.config import load_settings
    from rag_app.embedding import embedder_from_settings
    from rag_app.ingest.pipeline import ingest

    settings = load_settings(data_dir=sys.argv[1], index_dir=sys.argv[2], ingest_batch_chunks=int(sys.argv[3]))
    embedder = embedder_from_settings(settings)
    encode = embedder.encode

    def counted(texts, progress=None):  # counted when handed over: work lost to a kill counts too
        print("embedded", len(texts), flush=True)
        return encode(texts, progress)

    embedder.encode = counted
    report = ingest(settings, embedder=embedder)
    print("done", report.chunks_total, flush=True)
    """
)


def kill_test(index: IndexSettings, files: int = 1000, batch: int = 8, kills: int = 10,
              seed: int = 3) -> dict[str, Any]:
    """SIGKILL an ingest into the store of ``index`` ``kills`` times at random points, then
    finish it (see the docstring)."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="rag-bench-kill-") as tmp:
        data, index_dir = Path(tmp) / "data", Path(tmp) / "index"
        data.mkdir()
        for i in range(files):
            body = "\n\n".join(f"Note {i}, part {j}: the measurement of item {i * 31 + j} was recorded on day {j}."
                               for j in range(5))
            (data / f"note{i:04d}.txt").write_text(body, encoding="utf-8")
        embedded, runs = 0, []
        command = [sys.executable, "-c", KILLED_INGEST, str(data), str(index_dir), str(batch)]
        env = {**os.environ, "RAG_APP_STORE": index.store, "RAG_APP_MILVUS_URI": index.milvus_uri,
               "RAG_APP_MILVUS_COLLECTION": index.milvus_collection}
        for _ in range(kills):
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
            assert proc.stdout is not None
            deadline = time.monotonic() + rng.uniform(4.0, 12.0)  # past start-up, at a random point
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            out, _ = proc.communicate()
            embedded += sum(int(line.split()[1]) for line in out.splitlines() if line.startswith("embedded"))
            runs.append("finished" if "done" in out else "killed")
        final = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
        embedded += sum(int(line.split()[1]) for line in final.stdout.splitlines() if line.startswith("embedded"))
        total = int(final.stdout.split("done")[1].split()[0])
        with open_store(index_dir, index, create=False) as store:
            ids = store.chunk_ids()
            consistent = ([c.id for c in store.chunks(ids)] == ids and len(ids) == total
                          and sum(d.n_chunks for d in store.documents()) == total)
            documents = len(store.documents())
    return {"files": files, "kills": runs.count("killed"), "documents": documents, "chunks": total,
            "consistent": consistent, "embedded_total": embedded, "embedded_ratio": round(embedded / total, 3)}


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--sample", type=Path, default=Path("data"), help="folder whose sentences are embedded")
    parser.add_argument("--kill-test", action="store_true", help="also run the SIGKILL test")
    parser.add_argument("--store", choices=["sqlite", "milvus"], default=None,
                        help="the store to measure (default: the settings' `store`)")
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    settings = load_settings(**({"store": args.store} if args.store else {}))
    embedder = embedder_from_settings(settings)
    corpus = SyntheticCorpus(embedder, args.sample)
    results = (bench_size(n, embedder, corpus, settings) for n in args.sizes)
    if args.kill_test:
        results = itertools.chain(results, [{"kill_test": kill_test(settings.index)}])
    for result in results:  # each line as soon as it is measured
        print(json.dumps(result) if args.json else "  ".join(f"{k}={v}" for k, v in result.items()), flush=True)


if __name__ == "__main__":
    main()
