"""Formats benchmark (`make bench-formats`): can `rag-app search` find what is inside each file?

    python -m benchmarks.bench_formats [../shared/formats-corpus] [--k 10]

Ingests the corpus (its MANIFEST.json lists, per file, phrases known to be in its visible text)
into a temporary index with the configured embedder, then searches every phrase. A phrase is
found when one of the first ``k`` passages comes from its own file and holds it (after folding
whitespace, quotes and ligatures); for a file that needs OCR, when a window of a passage
matches it at a character similarity of at least 0.85. Prints a table per format and per file,
and the share of files all of whose phrases are found (target: at least 90%). Files the ingest
reports are listed with the reason.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import tempfile
import time
import unicodedata
from collections import defaultdict
from pathlib import Path

from rag_app.config import load_settings
from rag_app.service.app import App

log = logging.getLogger(__name__)

OCR_SIMILARITY = 0.85


def folded(text: str) -> str:
    """Text compared as a person reads it: NFKC (ligatures), straight quotes, one space, lower case."""
    text = unicodedata.normalize("NFKC", text)
    for curly, straight in (("’", "'"), ("‘", "'"), ("“", '"'), ("”", '"'), ("\u00a0", " ")):
        text = text.replace(curly, straight)
    return " ".join(text.split()).lower()


def similar_window(phrase: str, text: str) -> float:
    """The best character similarity of ``phrase`` to a window of ``text`` of its length."""
    if phrase in text:
        return 1.0
    size, best = len(phrase), 0.0
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(phrase)
    for start in range(0, max(1, len(text) - size + 1), max(1, size // 4)):
        matcher.set_seq1(text[start:start + size + size // 5])
        if matcher.real_quick_ratio() < best or matcher.quick_ratio() < best:
            continue
        best = max(best, matcher.ratio())
    return best


def run(corpus: Path, k: int) -> dict[str, object]:
    """Ingest ``corpus`` into a temporary index and search every phrase of its manifest."""
    manifest = json.loads((corpus / "MANIFEST.json").read_text(encoding="utf-8"))["files"]
    with tempfile.TemporaryDirectory(prefix="rag-formats-") as tmp:
        settings = load_settings(data_dir=corpus, index_dir=Path(tmp) / "index")
        started = time.perf_counter()
        with App(settings) as app:
            report = app.ingest()
            ingest_s = time.perf_counter() - started
            failures = {Path(f.path).name: f.reason for f in report.failed}
            failures |= {Path(name).name: "not a supported file type" for name in report.skipped}
            rows = []
            for entry in manifest:
                found = 0
                for phrase in entry["phrases"]:
                    passages = app.search(phrase, k=k)
                    own = [folded(f"{p.heading} {p.text}") for p in passages if Path(p.path).name == entry["file"]]
                    target = folded(phrase)
                    if entry.get("ocr"):
                        hit = any(similar_window(target, text) >= OCR_SIMILARITY for text in own)
                    else:
                        hit = any(target in text for text in own)
                    found += hit
                rows.append({"file": entry["file"], "format": entry["format"], "ocr": bool(entry.get("ocr")),
                             "phrases": len(entry["phrases"]), "found": found,
                             "failure": failures.get(entry["file"], "")})
    return {"ingest_s": round(ingest_s, 1), "rows": rows}


def print_table(result: dict[str, object]) -> None:
    """Per format, then per file, then the share of files fully found."""
    rows: list[dict] = result["rows"]  # type: ignore[assignment]
    by_format: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_format[row["format"]].append(row)
    print(f"{'format':8} {'files':>5} {'all found':>9} {'phrases':>8}")  # noqa: T201
    for fmt, group in sorted(by_format.items()):
        whole = sum(r["found"] == r["phrases"] for r in group)
        found, total = sum(r["found"] for r in group), sum(r["phrases"] for r in group)
        print(f"{fmt:8} {len(group):5d} {whole:9d} {found:4d}/{total:<3d}")  # noqa: T201
    print()  # noqa: T201
    for row in rows:
        mark = "ok " if row["found"] == row["phrases"] else "-- "
        why = f"  ({row['failure']})" if row["failure"] else ""
        print(f"{mark}{row['file']:55} {row['found']}/{row['phrases']}{' OCR' if row['ocr'] else ''}{why}")  # noqa: T201
    whole = sum(r["found"] == r["phrases"] for r in rows)
    print(f"\nfiles with every phrase found: {whole}/{len(rows)} = {100 * whole / len(rows):.1f}% "  # noqa: T201
          f"(target 90%); ingest {result['ingest_s']} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="?", type=Path, default=Path("../shared/formats-corpus"))
    parser.add_argument("--k", type=int, default=10, help="passages searched per phrase")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    result = run(args.corpus, args.k)
    print_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
