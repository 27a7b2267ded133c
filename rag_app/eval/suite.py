"""The evaluation suite (`make eval`, run by `python -m rag_app.cli.eval_suite`): the public sets
of an eval folder, and how each is read.

Runs, when present in EVAL_DIR: xquad-en (SQuAD paragraphs; plus as many covid-qa questions,
asked as out-of-corpus "foreign" questions), clapnq-dev (both halves: answerable and unanswerable),
cnil-faq-fr (French), covid-qa (whole articles, --unit article) and financebench-sample (PDF
pages). Retrieval is measured on every question (or ``--limit``); answers on
``--answer-limit`` questions of each kind per set (default 50), spread evenly. The three
``-hidden`` sets ask every other paragraph's questions with that paragraph left out of the index
(near-topic unanswerable questions, see `rag_app.eval.formats.load_squad`); the three near-miss
sets ask SQuAD 2.0's crowd-written unanswerable questions and synthetic ones
(`rag_app.eval.near_miss`) beside answerable ones. Indexes are cached (see
`rag_app.eval.runner.cache_root`). The per-set JSON reports go to REPORT_DIR (default
eval-reports/), with summary.md: the table in Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SuiteEntry:
    """One dataset of the suite: where it lives under EVAL_DIR and how to read it."""

    name: str
    path: str
    format: str
    unit: str = "paragraph"
    foreign: str | None = None
    hide_gold: bool = False  # ask every other paragraph's questions with it left out (near-topic)
    near_miss: bool = False  # also ask each question with a term swapped (rag_app.eval.near_miss)


SUITE = (
    SuiteEntry("xquad-en", "xquad-en/xquad.en.json", "squad", foreign="covid-qa/200423_covidQA.json"),
    SuiteEntry("clapnq-dev", "clapnq-dev/annotated_dev", "clapnq"),
    SuiteEntry("cnil-faq-fr", "cnil-faq-fr/cnil_besoindaide_squad.json", "squad"),
    SuiteEntry("covid-qa", "covid-qa/200423_covidQA.json", "squad", unit="article"),
    SuiteEntry("financebench", "financebench-sample", "financebench"),
    # Near-topic unanswerable questions at scale: the same sets with every other paragraph hidden.
    SuiteEntry("xquad-en-hidden", "xquad-en/xquad.en.json", "squad", foreign="covid-qa/200423_covidQA.json",
               hide_gold=True),
    SuiteEntry("cnil-faq-fr-hidden", "cnil-faq-fr/cnil_besoindaide_squad.json", "squad", hide_gold=True),
    SuiteEntry("covid-qa-hidden", "covid-qa/200423_covidQA.json", "squad", unit="article", hide_gold=True),
    # Near-miss questions (a name, number or year swapped; the paragraph stays in the index):
    # crowd-written ones (SQuAD 2.0) and synthetic ones in English and French.
    SuiteEntry("squad2-train", "squad2-train-sample/squad2-train-10-articles.json", "squad"),
    SuiteEntry("xquad-en-near-miss", "xquad-en/xquad.en.json", "squad", near_miss=True),
    SuiteEntry("piaf-fr-near-miss", "piaf-fr-dev/piaf-fr-dev.json", "squad", near_miss=True),
)
