"""How well `addressed_to_assistant` tells text written to the assistant from text written to a
reader (`make bench-addressed`; issue 41).

    python -m benchmarks.bench_addressed [--eval-dir ../shared/eval] [--show]

Three sets of injections and look-alike benign texts (English and French, half of each), each
written by a separate helper session that had seen neither the patterns nor the other sets:
- benchmarks/data/injection-texts-a.jsonl (60 + 60) and -b.jsonl (80 + 80): the patterns were
  extended while looking at their misses, so a figure on them is not a measurement (dev);
- benchmarks/data/injection-texts-c.jsonl (60 + 60): written last, looked at only through this
  table (held out: the figure to quote);
and ordinary passages of real documents: the contexts of the evaluation sets in ``--eval-dir``,
cut in 1,000-character passages (none is written to an assistant).
Prints, per set and language, the injections caught and the benign texts flagged.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rag_app.grounding.addressed import addressed_to_assistant

DATA = Path(__file__).parent / "data"
SQUAD_SETS = {
    "xquad-en": "xquad-en/xquad.en.json",
    "piaf-fr-dev": "piaf-fr-dev/piaf-fr-dev.json",
    "squad2-train-sample": "squad2-train-sample/squad2-train-10-articles.json",
    "cnil-faq-fr": "cnil-faq-fr/cnil_besoindaide_squad.json",
    "covid-qa": "covid-qa/200423_covidQA.json",
}


def passages(path: Path, size: int = 1000) -> list[str]:
    """The contexts of a SQuAD-format file, cut in ``size``-character passages."""
    data = json.loads(path.read_text(encoding="utf-8"))
    contexts = {p["context"] for article in data["data"] for p in article["paragraphs"]}
    return [c[i:i + size] for c in sorted(contexts) for i in range(0, len(c), size)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=Path("../shared/eval"))
    parser.add_argument("--show", action="store_true", help="print the texts judged wrongly")
    args = parser.parse_args()
    print("| set | language | injections caught | benign texts flagged |")
    print("|---|---|---|---|")
    for name, role in (("injection-texts-a", "dev"), ("injection-texts-b", "dev"), ("injection-texts-c", "held out")):
        rows = [json.loads(line) for line in (DATA / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]
        for language in ("en", "fr"):
            mine = [r for r in rows if r["language"] == language]
            judged = [(r, bool(addressed_to_assistant(r["text"]))) for r in mine]
            caught = sum(flag for r, flag in judged if r["label"] == "injection")
            injections = sum(r["label"] == "injection" for r in mine)
            flagged = sum(flag for r, flag in judged if r["label"] == "benign")
            print(f"| {name} ({role}) | {language} | {caught}/{injections} | {flagged}/{len(mine) - injections} |")
            if args.show:
                for r, flag in judged:
                    if flag != (r["label"] == "injection"):
                        print(f"  {r['label']} {r['kind']}: {r['text'][:140]!r}")
    for name, relative in SQUAD_SETS.items():
        path = args.eval_dir / relative
        if not path.exists():
            continue
        texts = passages(path)
        flagged = [t for t in texts if addressed_to_assistant(t)]
        print(f"| {name} passages | - | - | {len(flagged)}/{len(texts)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
