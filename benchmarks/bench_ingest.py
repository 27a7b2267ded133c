"""Ingestion benchmark (`make bench-ingest`): pipeline speed next to raw encoding, re-ingest, RSS.

    python -m benchmarks.bench_ingest [CORPUS_DIR] [--squad FILE.json]

Prints, in one run over the corpus: files, chunks, seconds, chunks/s, the raw encode rate of
the configured embedder on the very same chunk texts, the rate of all-MiniLM-L6-v2 in PyTorch
on them (the first baseline), the ratios, the time of a second (unchanged) ingest and the peak
RSS of the process. Targets: pipeline >= 0.9x raw encode (PDFs 0.85x) and >= 2x the baseline;
unchanged re-ingest <= 2% of the first; peak RSS <= 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import tempfile
import time
from pathlib import Path

from rag_app.config import Settings, load_settings
from rag_app.embedding import Embedder, embedder_from_settings, open_embedder
from rag_app.ingest.chunking import embed_text_for
from rag_app.ingest.pipeline import ingest
from rag_app.store import IndexStore

log = logging.getLogger(__name__)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def squad_to_files(squad_json: Path, out_dir: Path) -> Path:
    """Write each article of a SQuAD-format file as one text file (for corpora like covid-qa)."""
    data = json.loads(squad_json.read_text(encoding="utf-8"))["data"]
    out_dir.mkdir(parents=True, exist_ok=True)
    for number, article in enumerate(data):
        text = "\n\n".join(p["context"] for p in article["paragraphs"])
        title = str(article.get("title") or f"article {number}")
        (out_dir / f"{number:04d}.txt").write_text(f"{title}\n\n{text}", encoding="utf-8")
    return out_dir


def run(corpus: Path, settings: Settings) -> dict[str, float | int | str]:
    """Ingest ``corpus`` into a fresh temporary index twice, then time raw encoding; return figures.

    Raw encoding is the embedder's own batched `encode` of the very same chunk texts (no file
    reading, chunking or storing); the baseline is all-MiniLM-L6-v2 in PyTorch on those texts.
    Peak RSS is taken before the baseline model is loaded.
    """
    embedder = embedder_from_settings(settings)
    embedder.encode(["warm up the model"])
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
        settings = settings.replace(data_dir=corpus, index_dir=Path(tmp) / "index")
        first = ingest(settings, embedder=embedder)
        second = ingest(settings, embedder=embedder)
        with IndexStore.open(settings.paths.index_dir) as store:
            chunks = [c for d in store.documents() for c in store.document_chunks(d.path)]
    texts = list(dict.fromkeys(embed_text_for(c.text, c.heading) for c in chunks))
    rss = peak_rss_mb()
    raw_rate = _rate(embedder, texts)
    baseline = open_embedder("all-MiniLM-L6-v2", settings.paths.models_dir, settings.ingest.embedding_batch_size)
    baseline.encode(["warm up the model"])
    baseline_rate = _rate(baseline, texts)

    pipeline_rate = first.chunks_embedded / first.seconds if first.seconds else 0.0
    return {
        "corpus": str(corpus),
        "embedder": embedder.name,
        "files": first.added,
        "failed": len(first.failed),
        "chunks": first.chunks_total,
        "seconds": round(first.seconds, 2),
        "chunks_per_s": round(pipeline_rate, 1),
        "raw_encode_chunks_per_s": round(raw_rate, 1),
        "ratio_to_raw": round(pipeline_rate / raw_rate, 3) if raw_rate else 0.0,
        "minilm_torch_chunks_per_s": round(baseline_rate, 1),
        "ratio_to_minilm": round(pipeline_rate / baseline_rate, 3) if baseline_rate else 0.0,
        "reingest_seconds": round(second.seconds, 3),
        "reingest_share": round(second.seconds / first.seconds, 4) if first.seconds else 0.0,
        "reingest_chunks_embedded": second.chunks_embedded,
        "peak_rss_mb": round(rss, 1),
    }


def _rate(embedder: Embedder, texts: list[str]) -> float:
    started = time.perf_counter()
    embedder.encode(texts)
    seconds = time.perf_counter() - started
    return len(texts) / seconds if seconds else 0.0


def main() -> None:
    """Command-line entry point; prints a table of the figures and their targets."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="?", default="data", type=Path, help="folder of documents")
    parser.add_argument("--squad", type=Path, help="SQuAD-format JSON: one file per article")
    parser.add_argument("--embedder", default=None, help="embedding_model setting (default: the configured one)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="rag-bench-corpus-") as tmp:
        corpus = squad_to_files(args.squad, Path(tmp)) if args.squad else args.corpus
        figures = run(corpus, load_settings(embedding_model=args.embedder))
    if args.squad:
        figures["corpus"] = str(args.squad)
    if args.json:
        print(json.dumps(figures))
        return

    from rich.console import Console
    from rich.table import Table

    targets = {
        "ratio_to_raw": ">= 0.9 (PDFs >= 0.85)",
        "ratio_to_minilm": ">= 2",
        "reingest_share": "<= 0.02",
        "peak_rss_mb": "<= 1536",
    }
    table = Table(title="Ingestion benchmark")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("target")
    for key, value in figures.items():
        table.add_row(key, str(value), targets.get(key, ""))
    Console().print(table)


if __name__ == "__main__":
    main()
