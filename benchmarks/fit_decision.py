"""Fit the calibrated "verified" decision on recorded evaluation answers, and show what it does.

    python -m benchmarks.fit_decision REPORT.json|ROWS.jsonl [...] [--rejudge] [--write]
           [--plot docs/x.png] [--reliability docs/y.png] [--hold-out sets|folds] [--drop SIGNAL]
           [--any-model] [--max-unanswerable 0.05] [--save-rows ROWS.jsonl]

Each report is a per-set JSON file of `make eval` / `python -m rag_app.cli.eval_suite` (every
asked question has its answer's signals, its probability under the decision in force, and
whether the model's reply is right); ``--save-rows`` keeps just what the fit reads, one JSON a
line (benchmarks/data/ holds the rows the shipped decision was fitted on). Rows are the replies
that could be shown: the gate was open and the model did not refuse. The label is "the reply is
right" (an answerable question and `rag_app.eval.metrics.reply_is_right`); unanswerable and
out-of-corpus questions are 0. ``--rejudge`` judges every recorded reply again with today's
rule checks (support, subject, kind: the embedder is loaded), so that a report written before a
check changed is read as the app would judge it now; the text signals are always recomputed.

It prints, for every set, the decision fitted on the *other* sets (its threshold chosen on
them) applied to this one: the transfer test. Then every set is scored by a decision fitted on
the other sets (``--hold-out sets``, the default; ``folds``: 5 interleaved folds), and the
threshold is the lowest at which no set so scored has more than ``--max-unanswerable`` of its
unanswerable questions verified (2% of out-of-corpus ones; with ``--min-precision``, also that
share of its verified answers right, where some threshold allows it): chosen on the worst
held-out set. The decision stored is fitted on all sets. ``--any-model`` leaves out the signals
that come from the model's log-probabilities and stores the entry for any answer model without
its own fit. ``--write`` stores the coefficients in rag_app/grounding/decision.json (with this
command and the data); ``--plot`` draws the risk–coverage curves (held out) with the threshold
marked, ``--reliability`` the reliability diagram of the held-out probabilities.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from rag_app.answer import Passage
from rag_app.config import load_settings
from rag_app.embedding import Embedder, embedder_from_settings
from rag_app.eval import metrics
from rag_app.generation import GenerationStats
from rag_app.grounding.decision import ANY_MODEL, DECISION_FILE, DecisionModel, write_decisions
from rag_app.grounding.evidence import PassageSentences
from rag_app.grounding.gate import GateDecision
from rag_app.grounding.question import Question
from rag_app.grounding.relevance import judge_reply
from rag_app.grounding.signals import FEATURES, answer_signals, text_signals

MAX_UNANSWERABLE = 0.05  # unanswerable questions answered as verified, per set, at most
MAX_FOREIGN = 0.02  # out-of-corpus questions answered as verified, per set, at most
MIN_PRECISION = 0.90  # the target for verified answers that are right (reported; --min-precision selects on it)
FOLDS = 5
C = 0.5  # inverse L2 strength of the logistic regression


@dataclass
class Row:
    """One asked question of a report."""

    dataset: str
    kind: str  # answerable, unanswerable, foreign
    refused: bool  # refused by the gate or by the model itself: never shown as verified
    right: bool  # the reply is right (answerable only)
    rules: bool  # the rule checks alone verified it
    signals: dict[str, float | None]


def read_rows(paths: Sequence[Path], embedder: Embedder | None = None) -> list[Row]:
    """The asked questions of every report (an eval report, or rows saved by ``--save-rows``).
    With ``embedder``, every reply is judged again by today's rule checks (`rejudged_signals`)."""
    rows = []
    for path in paths:
        if path.suffix == ".jsonl":
            rows += [Row(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line]
            continue
        report = json.loads(path.read_text(encoding="utf-8"))
        for record in report["questions"]:
            answer = record.get("answer")
            if answer is None:
                continue
            signals = dict(answer.get("signals") or {})
            refused = bool(answer["refused"])
            if signals and embedder is not None:
                signals, refused = rejudged_signals(record, embedder)
            elif signals:
                signals |= replayed_signals(record)
            rows.append(Row(report["dataset"], record["kind"], refused,
                            record["kind"] == "answerable" and bool(answer.get("reply_right")),
                            bool(signals.get("rules_verified")), signals))
    return rows


def replayed_signals(record: dict[str, Any]) -> dict[str, float | None]:
    """The text signals (`text_signals`) of a recorded answer, computed again from what the
    report keeps (so that a report written before a text signal existed has it too). The
    passages in the prompt are taken to be all of them (the report does not say)."""
    answer = record["answer"]
    passages = [Passage(**p) for p in answer["passages"]]
    evidence = [e["text"] for e in answer["evidence"]]
    values = text_signals(Question.read(record["question"]), answer["raw_answer"], passages, evidence,
                          len(passages))
    return {name: None if value is None else round(float(value), 5) for name, value in values.items()}


def rejudged_signals(record: dict[str, Any], embedder: Embedder) -> tuple[dict[str, float | None], bool]:
    """Every signal of a recorded answer computed again with today's checks (refusal, support,
    subject, kind, the text signals), from what the report keeps: the question, the reply, the
    passages and evidence, and the signals only the model or the gate gave (log-probabilities,
    the gate's figures). Returns the signals and whether the reply is a refusal."""
    answer = record["answer"]
    stored = answer["signals"]
    question = Question.read(record["question"])
    passages = [Passage(**p) for p in answer["passages"]]
    index = PassageSentences.build(passages, embedder)
    judgement = judge_reply(question, answer["raw_answer"], index, embedder, len(passages), question.language)
    gated = GateDecision(True, float(stored.get("gate_dense") or 0.0), float(stored.get("gate_coverage") or 0.0),
                         bool(stored.get("gate_key_term")), "")
    signals = answer_signals(question, answer["raw_answer"], GenerationStats(), gated, passages, index, judgement,
                             len(passages), question.language, [e["text"] for e in answer["evidence"]])
    for name in ("lp_mean", "lp_min", "lp_key_mean", "lp_key_min", "refusal_start", "reply_tokens"):
        signals[name] = stored.get(name)  # what the model gave while writing
    return signals, judgement.refusal


def matrix(rows: Sequence[Row], features: Sequence[str]) -> np.ndarray:
    """The signals as a matrix (NaN where missing)."""
    return np.array([[np.nan if r.signals.get(f) is None else float(r.signals[f]) for f in features]
                     for r in rows], dtype=np.float64)


def fit(rows: Sequence[Row], features: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(mean, scale, coefficients, intercept) of the logistic regression on the shown-able rows."""
    from sklearn.linear_model import LogisticRegression

    x = matrix(rows, features)
    mean = np.nanmean(x, axis=0)
    mean = np.where(np.isnan(mean), 0.0, mean)
    x = np.where(np.isnan(x), mean, x)
    scale = x.std(axis=0)
    scale = np.where(scale < 1e-6, 1.0, scale)
    y = np.array([r.right for r in rows], dtype=int)
    model = LogisticRegression(C=C, max_iter=2000).fit((x - mean) / scale, y)
    return mean, scale, model.coef_[0], float(model.intercept_[0])


def decision(rows: Sequence[Row], features: Sequence[str], threshold: float = 0.5,
             embedder: str = "", model: str = "") -> DecisionModel:
    """A `DecisionModel` fitted on ``rows`` (those not refused)."""
    shown = [r for r in rows if not r.refused]
    mean, scale, coef, intercept = fit(shown, features)
    return DecisionModel(embedder, model, tuple(features), tuple(map(float, mean)), tuple(map(float, scale)),
                         tuple(map(float, coef)), intercept, threshold)


def scores(rows: Sequence[Row], model: DecisionModel) -> list[float | None]:
    """The decision's probability per row as the product uses it: None for a refused row, 0 for
    a reply the rule checks reject (they veto; the decision ranks the rest)."""
    return [None if r.refused else (model.probability(r.signals) if r.rules else 0.0) for r in rows]


def out_of_fold(rows: Sequence[Row], features: Sequence[str], by_set: bool = False) -> list[float | None]:
    """Each row scored by a decision fitted without its fold: folds interleaved (`FOLDS`), or,
    ``by_set``, one fold a set (each set scored by a decision that never saw it)."""
    folds = sorted({r.dataset for r in rows}) if by_set else list(range(FOLDS))
    result: list[float | None] = [None] * len(rows)
    for fold in folds:
        held = [(r.dataset == fold) if by_set else (i % FOLDS == fold) for i, r in enumerate(rows)]
        model = decision([r for r, out in zip(rows, held, strict=True) if not out], features)
        for i, r in enumerate(rows):
            if held[i] and not r.refused:
                result[i] = model.probability(r.signals) if r.rules else 0.0  # the rules veto
    return result


def figures(rows: Sequence[Row], probs: Sequence[float | None], threshold: float) -> dict[str, Any]:
    """What a person sees at ``threshold``: per kind, verified / right shares, and the curve's area."""
    answerable = [(p, r.right) for r, p in zip(rows, probs, strict=True) if r.kind == "answerable"]
    unanswerable = [p for r, p in zip(rows, probs, strict=True) if r.kind == "unanswerable"]
    foreign = [p for r, p in zip(rows, probs, strict=True) if r.kind == "foreign"]
    shown = [(p, right) for p, right in answerable if p is not None and p >= threshold]
    out: dict[str, Any] = {"answerable": len(answerable), "unanswerable": len(unanswerable)}
    out["verified_right"] = sum(right for _, right in shown) / len(answerable) if answerable else None
    out["precision"] = sum(right for _, right in shown) / len(shown) if shown else None
    out["unanswerable_verified"] = (sum(1 for p in unanswerable if p is not None and p >= threshold)
                                    / len(unanswerable)) if unanswerable else None
    out["foreign_verified"] = (sum(1 for p in foreign if p is not None and p >= threshold)
                               / len(foreign)) if foreign else None
    out["refused_answerable"] = (sum(1 for p, _ in answerable if p is None) / len(answerable)) if answerable else None
    out["right_replies"] = (sum(1 for p, right in answerable if p is not None and right) / len(answerable)
                            if answerable else None)  # the ceiling of verified and right
    _, out["auc"] = metrics.risk_coverage(answerable, unanswerable)
    return out


def rule_figures(rows: Sequence[Row]) -> dict[str, Any]:
    """The same figures for the rule checks alone (the verdict before the decision)."""
    return figures(rows, [None if r.refused else float(r.rules) for r in rows], 0.5)


def choose_threshold(rows: Sequence[Row], probs: Sequence[float | None], limit: float,
                     min_precision: float | None = None) -> float:
    """The lowest threshold at which no set has more than ``limit`` of its unanswerable questions
    (nor more than `MAX_FOREIGN` of its out-of-corpus ones) verified and, when some threshold
    allows it, every set's verified answers are right at least ``min_precision`` of the time."""
    candidates = sorted({p for p in probs if p is not None})
    sets = sorted({r.dataset for r in rows})
    by_set = {name: figures([r for r in rows if r.dataset == name],
                            [p for r, p in zip(rows, probs, strict=True) if r.dataset == name], 0.0)
              for name in sets}

    def safe(t: float, precise: bool) -> bool:
        for name in sets:
            at = figures([r for r in rows if r.dataset == name],
                         [p for r, p in zip(rows, probs, strict=True) if r.dataset == name], t)
            if (at["unanswerable_verified"] or 0.0) > limit or (at["foreign_verified"] or 0.0) > MAX_FOREIGN:
                return False
            if precise and min_precision is not None and by_set[name]["answerable"] and \
                    at["precision"] is not None and at["precision"] < min_precision:
                return False
        return True

    for precise in (True, False):
        for t in candidates:
            if safe(t, precise):
                return float(t)
    return 1.0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def table(title: str, results: dict[str, dict[str, Any]]) -> Table:
    """Sets across, figures down."""
    out = Table(title=title, title_justify="left")
    out.add_column("figure (%)")
    for name in results:
        out.add_column(name, justify="right")
    labels = (("answerable", "answerable asked", False), ("unanswerable", "unanswerable asked", False),
              ("right_replies", "answerable: the reply is right", True),
              ("verified_right", "answerable: verified and right", True),
              ("precision", "right, of verified", True), ("refused_answerable", "answerable refused", True),
              ("unanswerable_verified", "unanswerable verified", True),
              ("foreign_verified", "out-of-corpus verified", True), ("auc", "risk-coverage area", True))
    for key, label, pct in labels:
        out.add_row(label, *[(_pct(r.get(key)) if pct else str(r.get(key))) for r in results.values()])
    return out


def language_of(rows: Sequence[Row]) -> str:
    """"fr" when most of the rows are French questions, else "en"."""
    french = [float(r.signals.get("french") or 0.0) for r in rows]
    return "fr" if french and sum(french) > len(french) / 2 else "en"


def plot(rows: Sequence[Row], probs: Sequence[float | None], thresholds: dict[str, float], path: Path,
         title: str) -> None:
    """One risk–coverage panel per set (held-out decision), its threshold and the rules marked;
    ``thresholds`` by set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = [s for s in dict.fromkeys(r.dataset for r in rows)
            if any(r.kind == "unanswerable" for r in rows if r.dataset == s)]
    fig, axes = plt.subplots(1, len(sets), figsize=(4.2 * len(sets), 4.0), squeeze=False)
    for ax, name in zip(axes[0], sets, strict=True):
        sub = [(r, p) for r, p in zip(rows, probs, strict=True) if r.dataset == name]
        answerable = [(p, r.right) for r, p in sub if r.kind == "answerable"]
        unanswerable = [p for r, p in sub if r.kind == "unanswerable"]
        curve, area = metrics.risk_coverage(answerable, unanswerable)
        ax.plot([0] + [x for _, x, _ in curve], [0] + [y for _, _, y in curve], lw=2,
                label=f"decision (area {100 * area:.0f}%)")
        threshold = thresholds[name]
        at = figures([r for r, _ in sub], [p for _, p in sub], threshold)
        ax.plot([at["unanswerable_verified"]], [at["verified_right"]], "o", ms=9, color="C3",
                label=f"threshold {threshold:.2f}")
        rules = rule_figures([r for r, _ in sub])
        ax.plot([rules["unanswerable_verified"]], [rules["verified_right"]], "s", ms=8, color="C7",
                label="rule checks alone")
        ax.axhline(at["right_replies"], color="C2", ls="--", lw=1,
                   label=f"replies right: {100 * at['right_replies']:.0f}%")
        ax.axvline(MAX_UNANSWERABLE, color="C3", ls=":", lw=1)
        ax.set_xlim(0, 0.5)
        ax.set_ylim(0, 1)
        ax.set_title(f"{name} ({len(answerable)} + {len(unanswerable)})", fontsize=10)
        ax.set_xlabel("unanswerable questions answered as verified")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    axes[0][0].set_ylabel("answerable questions answered, verified and right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


MODEL_SIGNALS = ("lp_mean", "lp_min", "lp_key_mean", "lp_key_min", "refusal_start", "reply_tokens")


def reliability(rows: Sequence[Row], probs: Sequence[float | None], path: Path, title: str, bins: int = 10) -> None:
    """The reliability diagram of the probabilities shown (replies the rules pass): per bin of
    probability, the share of those replies that are right, with the count of each bin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [(p, r.right) for r, p in zip(rows, probs, strict=True) if p is not None and r.rules]
    edges = np.linspace(0.0, 1.0, bins + 1)
    xs, ys, ns = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = [right for p, right in shown if lo <= p < hi or (hi == 1.0 and p == 1.0)]
        if inside:
            xs.append(float(np.mean([p for p, _ in shown if lo <= p < hi or (hi == 1.0 and p == 1.0)])))
            ys.append(sum(inside) / len(inside))
            ns.append(len(inside))
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    ax.plot([0, 1], [0, 1], color="C7", ls="--", lw=1, label="perfectly calibrated")
    ax.plot(xs, ys, "o-", color="C0", label="replies the rules pass")
    for x, y, n in zip(xs, ys, ns, strict=True):
        ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlabel("probability shown (out of set)")
    ax.set_ylabel("share right")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    """Transfer test, final fit, threshold; print the tables, optionally write and plot."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fit_decision", description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", type=Path, nargs="+")
    parser.add_argument("--max-unanswerable", type=float, default=MAX_UNANSWERABLE)
    parser.add_argument("--min-precision", type=float, default=None,
                        help=f"also require this share of right verified answers per set (target {MIN_PRECISION})")
    parser.add_argument("--hold-out", choices=("sets", "folds"), default="sets",
                        help="score each set with a decision fitted on the other sets (default), or 5 folds")
    parser.add_argument("--rejudge", action="store_true",
                        help="judge every recorded reply again with today's rule checks (needs the embedder)")
    parser.add_argument("--per-language", action="store_true",
                        help="choose the threshold apart for the French sets and the English ones")
    parser.add_argument("--drop", action="append", default=[], help="leave this signal out (repeatable)")
    parser.add_argument("--any-model", action="store_true",
                        help=f"fit on the signals of the text only (no log-probabilities) for model {ANY_MODEL!r}: "
                             "the decision of an answer model without its own fit")
    parser.add_argument("--write", action="store_true", help=f"store the fitted decision in {DECISION_FILE}")
    parser.add_argument("--plot", type=Path, default=None, help="write the risk-coverage curves as PNG")
    parser.add_argument("--reliability", type=Path, default=None, help="write the reliability diagram as PNG")
    parser.add_argument("--save-rows", type=Path, default=None,
                        help="also write the rows read (signals and labels, one JSON a line) to this file")
    parser.add_argument("--embedder", default="multilingual-e5-small")
    parser.add_argument("--model", default="qwen2.5-1.5b")
    args = parser.parse_args(argv)
    console = Console()
    embedder = embedder_from_settings(load_settings()) if args.rejudge else None
    rows = read_rows(args.reports, embedder)
    if args.save_rows:
        args.save_rows.parent.mkdir(parents=True, exist_ok=True)
        args.save_rows.write_text("".join(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in rows),
                                  encoding="utf-8")
    sets = list(dict.fromkeys(r.dataset for r in rows))
    model_name = ANY_MODEL if args.any_model else args.model
    dropped = set(args.drop) | (set(MODEL_SIGNALS) if args.any_model else set())
    features = [f for f in FEATURES if f not in dropped]
    by_set = args.hold_out == "sets" and len(sets) > 1
    held_out = "each set scored by a decision fitted on the others" if by_set else f"out of fold ({FOLDS} folds)"

    console.print(table("Rule checks alone (the verdict before the decision)",
                        {s: rule_figures([r for r in rows if r.dataset == s]) for s in sets}))
    transfer = {}
    for held in sets if len(sets) > 1 else []:
        train = [r for r in rows if r.dataset != held]
        test = [r for r in rows if r.dataset == held]
        model = decision(train, features)
        t = choose_threshold(train, out_of_fold(train, features), args.max_unanswerable, args.min_precision)
        transfer[held] = figures(test, scores(test, model), t) | {"threshold": round(t, 3)}
    if transfer:
        console.print(table("Transfer: fitted on the other sets, threshold chosen on them", transfer))

    # The threshold: the lowest at which every set, held out, stays within the limits: chosen on
    # the worst held-out set, not the average (with --per-language, one for each language).
    oof = out_of_fold(rows, features, by_set=by_set)
    language = {s: language_of([r for r in rows if r.dataset == s]) if args.per_language else "en" for s in sets}
    chosen = {lang: choose_threshold([r for r in rows if language[r.dataset] == lang],
                                     [p for r, p in zip(rows, oof, strict=True) if language[r.dataset] == lang],
                                     args.max_unanswerable, args.min_precision)
              for lang in sorted(set(language.values()))}
    threshold = chosen.get("en", min(chosen.values()))
    by_set_threshold = {s: chosen[language[s]] for s in sets}
    named = ", ".join(f"{lang} {t:.3f}" for lang, t in chosen.items())
    console.print(table(f"All sets, {held_out}, threshold {named}",
                        {s: figures([r for r in rows if r.dataset == s],
                                    [p for r, p in zip(rows, oof, strict=True) if r.dataset == s],
                                    by_set_threshold[s]) for s in sets}))
    final = decision(rows, features, threshold, args.embedder, model_name)
    final = dataclasses.replace(final, thresholds=tuple((lang, t) for lang, t in chosen.items() if t != threshold))
    weights = sorted(zip(features, final.coef, strict=True), key=lambda item: -abs(item[1]))
    console.print("Coefficients (standardised signals): " + ", ".join(f"{f} {c:+.2f}" for f, c in weights))
    title = f"{model_name} + {args.embedder}, {held_out}"
    if args.plot:
        plot(rows, oof, by_set_threshold, args.plot, title)
        console.print(f"Curves written to {args.plot}")
    if args.reliability:
        reliability(rows, oof, args.reliability, title)
        console.print(f"Reliability diagram written to {args.reliability}")
    if args.write:
        provenance = {
            "fitted_by": "python -m benchmarks.fit_decision "
                         + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
            "data": sorted({str(p) for p in args.reports}),
            "rows": {s: sum(1 for r in rows if r.dataset == s and not r.refused) for s in sets},
            "max_unanswerable": args.max_unanswerable,
            "held_out": held_out,
        }
        write_decisions(DECISION_FILE, [final], provenance)
        console.print(f"Decision for {model_name} written to {DECISION_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
