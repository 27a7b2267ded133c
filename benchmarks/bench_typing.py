"""Typing benchmark (`make bench-typing`): how soon the chat page answers after Enter, in Chromium.

    python -m benchmarks.bench_typing [CORPUS_DIR] [--questions N] [--json]

The chat page is served in this process over a fresh index of the corpus (default: the demo
corpus in data/). Headless Chromium (Debian's, driven by Playwright) types each question at
4 characters a second, as a person would, and presses Enter; times are taken in the page
(``performance.now()``) from the Enter key to:

- **sources**: the passages found shown under the question;
- **first token**: the first answer text;
- **done**: the checked answer with its timings.

Four runs over the same questions, in one process (the ratios are what to compare):

1. ``paste``: the question pasted and sent at once, nothing read ahead (the page before read-ahead);
2. ``typed``: typed, Enter right after the last character;
3. ``paused``: typed, then a 2 s pause before Enter;
4. ``two tabs``: two tabs type their questions, one after the other, then both press Enter
   (the first tab's reading must survive the second's).

For each: p50/p95 of the three times, and the share of prompt tokens already read when the
question was asked (from the answer's timings line). Targets (issue 25): first token p50 <= 1.5 s
typed, <= 1.0 s paused; sources p95 <= 0.5 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rag_app.config import Settings, load_settings
from rag_app.embedding import embedder_from_settings

log = logging.getLogger(__name__)

CHROMIUM = "/usr/bin/chromium"
CHARS_PER_S = 4
PAUSE_S = 2.0
ANSWER_TOKENS = 64
# Questions about the demo corpus, half in French (each has its answer in data/).
QUESTIONS = [
    "How many tokens are in the vocabulary of the GPT-2 tokenizer?",
    "Combien de jetons compte le vocabulaire du tokenizer de GPT-2 ?",
    "How many attention heads per layer does BERT-base have?",
    "Combien de paramètres entraîne un adaptateur LoRA de rang 8 pour une matrice 4096 par 4096 ?",
    "How many bits per weight does the GGUF quantization type Q4_K_M use?",
    "Combien de bits par poids utilise le type de quantification GGUF Q4_K_M ?",
    "What is an intrinsic hallucination?",
    "Sur quel port la page de discussion de rag_app fonctionne-t-elle ?",
    "What is the name of the SQLite database file of the rag_app index?",
    "Quelle valeur de la constante k utilise-t-on dans la fusion RRF ?",
    "What is the usual value of the BM25 length normalization parameter b?",
    "Combien de dimensions ont les vecteurs de all-MiniLM-L6-v2 ?",
    "How many tokens of overlap are there between consecutive chunks by default in rag_app?",
    "Qui a décrit la génération augmentée par récupération en 2020 ?",
    "What context window size does rag_app open the model with by default?",
    "Quelle taille de fenêtre de contexte rag_app utilise-t-il par défaut ?",
    "How much memory do the weights of a 7-billion-parameter model need in FP16?",
    "Combien de mémoire faut-il pour un modèle de 7 milliards de paramètres en FP16 ?",
    "Which measure is the main metric of the BEIR benchmark?",
    "Quelle est la mesure principale du banc d'essai BEIR ?",
]
# Records, in the page's clock, when Enter is pressed and when the new message first shows the
# sources, answer text, and the final timings line (a MutationObserver on the chat).
WATCH = """() => {
  const t = window.__rag = {timings: document.querySelectorAll('#chat .rag-timings').length};
  const box = document.querySelector('#question textarea');
  box.addEventListener('keydown', e => { if (e.key === 'Enter' && !t.enter) t.enter = performance.now(); });
  const seen = () => {
    const now = performance.now();
    if (!t.enter) return;
    const found = [...document.querySelectorAll('#chat .rag-sources-title')]
      .some(e => e.innerText.startsWith('Found in your documents'));
    if (found && !t.sources) t.sources = now;
    const text = [...document.querySelectorAll('#chat .rag-streaming')]
      .some(e => e.innerText.replace('▌', '').trim().length > 0);
    if (text && !t.first) t.first = now;
    const done = document.querySelectorAll('#chat .rag-timings');
    if (done.length > t.timings && !t.done) {
      t.done = now;
      t.line = done[done.length - 1].innerText;
      if (!t.first) t.first = now;  // a refusal has no streamed text
    }
  };
  new MutationObserver(seen).observe(document.querySelector('#chat'), {subtree: true, childList: true,
                                                                       characterData: true});
}"""
READ_AHEAD = re.compile(r"(\d+) of (\d+) prompt tokens read ahead")
TOTAL = re.compile(r"total ([\d.]+) s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50 and p95 of ``values`` (None when empty)."""
    if not values:
        return {"p50": None, "p95": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"p50": round(statistics.median(ordered), 3), "p95": round(p95, 3)}


class Tab:
    """One browser tab on the chat page."""

    def __init__(self, browser: Any, url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 1000})
        self.page = self.context.new_page()
        self.page.goto(url)
        self.page.wait_for_selector("#question textarea")
        self.page.wait_for_selector("#index-status strong")

    def type(self, question: str, *, paste: bool = False) -> None:
        """Put ``question`` in the box: pasted at once, or typed key by key at `CHARS_PER_S`."""
        self.page.click("#question textarea")
        self.page.evaluate(WATCH)
        if paste:
            self.page.fill("#question textarea", question)
        else:
            self.page.keyboard.type(question, delay=1000 / CHARS_PER_S)

    def enter(self) -> None:
        self.page.keyboard.press("Enter")

    def result(self, timeout_s: float = 300) -> dict[str, Any]:
        """Seconds from Enter to the sources, the first token and the answer, and the share read."""
        self.page.wait_for_function("() => window.__rag && window.__rag.done", timeout=timeout_s * 1000,
                                    polling=100)
        t = self.page.evaluate("() => window.__rag")
        shares = READ_AHEAD.search(t.get("line") or "")
        row = {name: round((t[name] - t["enter"]) / 1000, 3) if t.get(name) else None
               for name in ("sources", "first", "done")}
        prompt = int(shares.group(2)) if shares else None
        row["read_ahead"] = round(int(shares.group(1)) / prompt, 3) if shares and prompt else 0.0
        return row

    def clear(self) -> None:
        self.page.click("#clear")
        self.page.wait_for_function("() => document.querySelectorAll('#chat .rag-timings').length === 0")

    def close(self) -> None:
        self.context.close()


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Percentiles of each time over ``rows``, and the mean share of prompt tokens read ahead."""
    out: dict[str, Any] = {"questions": len(rows)}
    for name in ("sources", "first", "done"):
        out[name] = percentiles([r[name] for r in rows if r[name] is not None])
    out["read_ahead"] = round(statistics.mean(r["read_ahead"] for r in rows), 3) if rows else None
    return out


def run_one(tab: Tab, question: str, mode: str) -> dict[str, Any]:
    tab.clear()  # each question starts a conversation (no follow-up)
    tab.type(question, paste=mode == "paste")
    if mode == "paused":
        time.sleep(PAUSE_S)
    tab.enter()
    return tab.result() | {"question": question, "mode": mode}


def bench(url: str, questions: list[str]) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    results: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        first, second = Tab(browser, url), Tab(browser, url)
        run_one(first, questions[0], "paused")  # warm-up: the model loads
        for mode in ("paste", "typed", "paused"):
            mine = [run_one(first, q, mode) for q in questions]
            rows += mine
            results[mode] = summary(mine)
            log.info("%s: %s", mode, results[mode])
        # Two tabs: each types its question (2 s pause), then the first, then the second, asks.
        pairs = []
        for a, b in zip(questions[::2], questions[1::2], strict=False):
            for tab, question in ((first, a), (second, b)):
                tab.clear()
                tab.type(question)
                time.sleep(PAUSE_S)
            first.enter()
            one = first.result()
            second.enter()
            pairs += [one | {"question": a, "mode": "two tabs"}, second.result() | {"question": b, "mode": "two tabs"}]
        rows += pairs
        results["two tabs"] = summary(pairs)
        first.close()
        second.close()
        browser.close()
    results["rows"] = rows
    return results


def run(corpus: Path, questions: list[str]) -> dict[str, Any]:
    """Ingest ``corpus`` into a temporary index, serve it, and time ``questions`` in Chromium."""
    from rag_app.ingest.pipeline import ingest
    from rag_app.web.serve import serve

    base = load_settings()
    embedder = embedder_from_settings(base)
    with tempfile.TemporaryDirectory(prefix="rag-bench-typing-") as tmp:
        settings: Settings = base.replace(data_dir=corpus, index_dir=Path(tmp) / "index", max_tokens=ANSWER_TOKENS)
        ingest(settings, embedder=embedder)
        port = _free_port()
        demo, page = serve(settings, host="127.0.0.1", port=port)
        try:
            return {"corpus": str(corpus), "model": page.app.model_path.name} | bench(
                f"http://127.0.0.1:{port}/", questions)
        finally:
            with contextlib.redirect_stdout(sys.stderr):  # Gradio prints "Closing server…": keep stdout for --json
                demo.close()
            page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", nargs="?", default="data", type=Path)
    parser.add_argument("--questions", type=int, default=len(QUESTIONS), help="how many of the 20 questions")
    parser.add_argument("--json", action="store_true", help="print every row as JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    figures = run(args.corpus, QUESTIONS[: args.questions])
    if args.json:
        print(json.dumps(figures, indent=2, ensure_ascii=False))
        return
    print(f"Model {figures['model']}, {len(QUESTIONS[: args.questions])} questions, typed at {CHARS_PER_S} chars/s")
    print(f"{'run':<10} {'sources p50/p95':>16} {'first token p50/p95':>20} {'done p50/p95':>14} {'read ahead':>10}")
    for mode in ("paste", "typed", "paused", "two tabs"):
        r = figures[mode]
        print(f"{mode:<10} {r['sources']['p50']!s:>7} / {r['sources']['p95']!s:<6} "
              f"{r['first']['p50']!s:>9} / {r['first']['p95']!s:<8} {r['done']['p50']!s:>6} / {r['done']['p95']!s:<6}"
              f" {r['read_ahead']:>9.0%}")


if __name__ == "__main__":
    main()
