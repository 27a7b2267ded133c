"""One calibrated decision: the probability that a reply is right, and whether to show it as verified.

A logistic regression over the answer's signals (`rag_app.grounding.signals.FEATURES`, each
standardised) gives P(the reply is stated by the passages and answers the question correctly).
It was fitted on the evaluation sets, where "right" means the gold answer is in the reply (or,
for long gold answers, the reply overlaps it enough: `rag_app.eval.metrics.reply_is_right`), so it
learns from wrong replies to answerable questions as well as from unanswerable ones. A reply
is shown as verified when the rule checks pass it (they veto) and its probability reaches the
threshold of the question's language, chosen so that at most 5% of the unanswerable and
near-miss development questions of any set of that language get a verified answer
(docs/evaluation.md).

The coefficients live in ``decision.json`` beside this module: plain numbers (no pickle), with
the command and the data that fitted them, one entry per (embedder, answer model), and a
SHA-256 of the entries that `load_decisions` checks (a hand edit must go through the fitting
command: ``python -m benchmarks.fit_decision``). A model without an entry of its own (a GGUF file
of the person's own) gets the `ANY_MODEL` entry, fitted on the signals of the text alone (no
log-probabilities); without either, the rule checks decide alone and the probability is None.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DECISION_FILE = Path(__file__).with_name("decision.json")
DECISION_VERSION = 1
ANY_MODEL = "*"  # the entry for any answer model without its own: fitted without log-probabilities


class DecisionFileError(ValueError):
    """The decision file is unreadable, of another version, or does not match its checksum."""


@dataclass(frozen=True)
class DecisionModel:
    """A fitted logistic regression for one (embedder, answer model) pair."""

    embedder: str
    model: str
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float  # P at or above which a reply is shown as verified
    # Per question language, where fitted apart ({"fr": 0.56}); others use ``threshold``.
    thresholds: tuple[tuple[str, float], ...] = ()

    def probability(self, signals: Mapping[str, float | None]) -> float:
        """P(the reply is right) from ``signals``; a missing signal counts as its training mean."""
        z = self.intercept
        for name, mean, scale, coef in zip(self.features, self.mean, self.scale, self.coef, strict=True):
            value = signals.get(name)
            if value is not None:
                z += coef * (float(value) - mean) / scale
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def threshold_for(self, language: str) -> float:
        """The threshold for a question in ``language``."""
        return dict(self.thresholds).get(language, self.threshold)

    def verified(self, probability: float, language: str = "en") -> bool:
        """True when ``probability`` reaches the threshold of the question's ``language``."""
        return probability >= self.threshold_for(language)

    def to_dict(self) -> dict[str, Any]:
        """The entry as stored in the decision file."""
        return {"embedder": self.embedder, "model": self.model, "features": list(self.features),
                "mean": list(self.mean), "scale": list(self.scale), "coef": list(self.coef),
                "intercept": self.intercept, "threshold": self.threshold,
                "thresholds": dict(self.thresholds)}


def entries_checksum(entries: Sequence[Mapping[str, Any]]) -> str:
    """SHA-256 of the entries, as canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(list(entries), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_decisions(path: Path = DECISION_FILE) -> list[DecisionModel]:
    """Every entry of the decision file; raises `DecisionFileError` naming the file and the fault."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DecisionFileError(f"{path}: cannot be read ({exc}); reinstall rag_app.") from exc
    if data.get("version") != DECISION_VERSION:
        raise DecisionFileError(f"{path}: version {data.get('version')!r}, this rag_app reads version "
                                f"{DECISION_VERSION}; upgrade rag_app or fit the decision again.")
    entries = data.get("entries", [])
    if data.get("sha256") != entries_checksum(entries):
        raise DecisionFileError(f"{path}: the coefficients do not match their checksum: fit them with "
                                "`python -m benchmarks.fit_decision` instead of editing them by hand.")
    models = []
    for n, entry in enumerate(entries):
        try:
            model = DecisionModel(entry["embedder"], entry["model"], tuple(entry["features"]),
                                  tuple(map(float, entry["mean"])), tuple(map(float, entry["scale"])),
                                  tuple(map(float, entry["coef"])), float(entry["intercept"]),
                                  float(entry["threshold"]),
                                  tuple(sorted((str(k), float(v)) for k, v in entry.get("thresholds", {}).items())))
        except (KeyError, TypeError, ValueError) as exc:
            raise DecisionFileError(f"{path}: entries[{n}] is incomplete ({exc!r}).") from exc
        if not len(model.features) == len(model.mean) == len(model.scale) == len(model.coef):
            raise DecisionFileError(f"{path}: entries[{n}] has lists of different lengths.")
        models.append(model)
    return models


def write_decisions(path: Path, entries: Sequence[DecisionModel], provenance: Mapping[str, Any]) -> None:
    """Write ``entries`` into the decision file: they replace the entries of the same (embedder,
    model), the others are kept; ``provenance`` (command, data, figures) is stored per entry."""
    kept: list[dict[str, Any]] = []
    fits: dict[str, Any] = {}
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        fits = dict(old.get("fits", {}))
        new = {(e.embedder, e.model) for e in entries}
        kept = [e for e in old.get("entries", []) if (e.get("embedder"), e.get("model")) not in new]
    for entry in entries:
        fits[f"{entry.embedder} {entry.model}"] = dict(provenance)
    stored = kept + [e.to_dict() for e in entries]
    data = {"version": DECISION_VERSION, "fits": fits, "entries": stored, "sha256": entries_checksum(stored)}
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


@lru_cache(maxsize=8)
def decision_for(embedder: str, model: str, path: Path = DECISION_FILE) -> DecisionModel | None:
    """The fitted decision for this embedder and answer model; for a model without its own fit
    (a GGUF file of the person's own), the entry fitted on the text's signals alone
    (`ANY_MODEL`); None when neither exists (the rules decide alone)."""
    if not path.is_file():
        return None
    entries = load_decisions(path)
    for entry in entries:
        if entry.embedder == embedder and entry.model == model:
            return entry
    for entry in entries:
        if entry.embedder == embedder and entry.model == ANY_MODEL:
            log.info("No decision fitted for %s: the one fitted on the text's signals alone is used "
                     "(docs/evaluation.md says how much worse it is)", model)
            return entry
    log.warning("No fitted decision for %s with %s: the rule checks decide alone", model, embedder)
    return None
