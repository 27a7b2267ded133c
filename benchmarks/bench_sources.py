"""How fast the source panel shows a PDF page: located, rendered, highlighted (issue 15: <= 1 s).

For every PDF in a folder, a sample of pages: the passage is a 600-character run of the page's
own text (what a chunk is) and the sentence a piece of it. Measured per page:
- ``plain``: PDFium's render of the page alone (the floor, measured in the same run);
- ``cold``: `render_page` with the highlights, cache emptied (a page seen for the first time);
- ``warm``: the same call again (the cache: turning back to a page).

Usage: ``.venv/bin/python -m benchmarks.bench_sources ../shared/eval/financebench-sample/pdfs``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks.bench_answer import percentiles
from rag_app.sources import pdf_pages


def plain_render(path: Path, page: int) -> None:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(path)
    try:
        document[page - 1].render(scale=pdf_pages.SCALE).to_pil().convert("RGB")
    finally:
        document.close()


def measure(folder: Path, pages_per_file: int = 8) -> dict[str, object]:
    plain, cold, warm, found = [], [], [], 0
    for path in sorted(folder.glob("*.pdf")):
        count = pdf_pages.page_count(path)
        step = max(1, count // pages_per_file)
        for page in range(1, count + 1, step)[:pages_per_file]:
            text = pdf_pages.page_text(path, page)
            passage = text[len(text) // 4: len(text) // 4 + 600]
            sentence = passage[200:320]
            started = time.perf_counter()
            plain_render(path, page)
            plain.append((time.perf_counter() - started) * 1000)
            pdf_pages.clear_cache()
            started = time.perf_counter()
            _, highlights = pdf_pages.render_page(path, page, passage, sentence)
            cold.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            pdf_pages.render_page(path, page, passage, sentence)
            warm.append((time.perf_counter() - started) * 1000)
            found += highlights.found or not passage.strip()
    return {
        "pages": len(cold),
        "located": found,
        "plain_ms_p50_p95": percentiles(plain),
        "cold_ms_p50_p95": percentiles(cold),
        "warm_ms_p50_p95": percentiles(warm),
        "cold_max_ms": round(max(cold), 1),
        "cold_over_plain_p50": round(percentiles(cold)[0] / percentiles(plain)[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--pages-per-file", type=int, default=8)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.folder, args.pages_per_file), indent=2))  # noqa: T201 - a developer tool
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
