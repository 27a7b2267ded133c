"""Near-topic unanswerable questions made from a SQuAD set (`rag-app eval --hide-gold`), and the
figures of the decision: the risk-coverage curve and what counts as a right reply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag_app.eval.formats import DatasetError, load_dataset
from rag_app.eval.metrics import reply_is_right, risk_coverage
from rag_app.eval.runner import prepare_index
from rag_app.service.app import App

from conftest import make_settings
from fakes import FakeEmbedder

PARAGRAPHS = [
    "Grey herons hunt fish in shallow water at dawn.",
    "Herons nest in colonies called heronries, high in old trees.",
    "A heron can live for twenty years in the wild.",
    "Herons swallow their prey whole, head first.",
]
QUESTIONS = ["When do herons hunt?", "What is a colony of herons called?", "How long can a heron live?",
             "How do herons swallow their prey?"]
ANSWERS = ["at dawn", "heronries", "twenty years", "head first"]


def squad(tmp_path: Path) -> Path:
    """One article of four paragraphs (one question each), and two one-paragraph articles."""
    paragraphs = [{"context": c, "qas": [{"id": f"q{i}", "question": q,
                                          "answers": [{"text": a, "answer_start": c.index(a)}]}]}
                  for i, (c, q, a) in enumerate(zip(PARAGRAPHS, QUESTIONS, ANSWERS, strict=True))]
    faq = [{"title": t, "paragraphs": [{"context": c, "qas": [{"id": t, "question": t,
                                                                "answers": [{"text": c, "answer_start": 0}]}]}]}
           for t, c in (("How to cook pasta?", "Boil salted water, cook ten minutes."),
                        ("How to cook rice?", "Rinse it, then simmer it covered."))]
    path = tmp_path / "set.json"
    path.write_text(json.dumps({"data": [{"title": "Herons", "paragraphs": paragraphs}, *faq]}), encoding="utf-8")
    return path


def test_every_other_paragraph_is_hidden_and_its_questions_become_unanswerable(tmp_path: Path) -> None:
    dataset = load_dataset(squad(tmp_path), "squad", hide_gold=True)
    texts = [d.text for d in dataset.documents]
    assert PARAGRAPHS[0] in texts and PARAGRAPHS[2] in texts  # the rest of the article stays
    assert PARAGRAPHS[1] not in texts and PARAGRAPHS[3] not in texts
    # One-paragraph articles (FAQ entries): every other article (the 2nd, 4th, …) is hidden.
    assert "Boil salted water, cook ten minutes." not in texts and "Rinse it, then simmer it covered." in texts
    kinds = {q.question: q.answerable for q in dataset.questions}
    assert kinds == {QUESTIONS[0]: True, QUESTIONS[2]: True, "How to cook rice?": True,
                     QUESTIONS[1]: False, QUESTIONS[3]: False, "How to cook pasta?": False}
    hidden = [q for q in dataset.questions if not q.answerable]
    assert all(q.answers == [] and q.relevant == [] for q in hidden)


def test_the_hidden_paragraph_is_absent_from_the_index_and_the_rest_is_there(tmp_path: Path) -> None:
    dataset = load_dataset(squad(tmp_path), "squad", hide_gold=True)
    settings = make_settings(tmp_path / "unused", tmp_path / "unused-index")
    eval_settings, _ = prepare_index(dataset, settings, "paragraph", tmp_path / "cache", FakeEmbedder())
    with App(eval_settings, embedder=FakeEmbedder()) as app:
        indexed = " ".join(p.text for p in app.search("herons heron heronries colonies prey dawn", k=10))
        assert "heronries" not in indexed and "head first" not in indexed
        assert "at dawn" in indexed and "twenty years" in indexed


def test_a_hidden_question_still_answered_elsewhere_is_dropped(tmp_path: Path) -> None:
    path = squad(tmp_path)
    data = json.loads(path.read_text())
    data["data"][0]["paragraphs"][2]["context"] += " Their colonies are called heronries."
    path.write_text(json.dumps(data))
    questions = {q.question for q in load_dataset(path, "squad", hide_gold=True).questions}
    assert QUESTIONS[1] not in questions and QUESTIONS[3] in questions


def test_the_article_unit_hides_every_other_answer_line(tmp_path: Path) -> None:
    context = "\n".join(PARAGRAPHS)
    qas = [{"id": f"q{i}", "question": q, "answers": [{"text": a, "answer_start": context.index(a)}]}
           for i, (q, a) in enumerate(zip(QUESTIONS, ANSWERS, strict=True))]
    path = tmp_path / "article.json"
    path.write_text(json.dumps({"data": [{"title": "Herons", "paragraphs": [{"context": context, "qas": qas}]}]}))
    dataset = load_dataset(path, "squad", unit="article", hide_gold=True)
    (document,) = dataset.documents
    assert PARAGRAPHS[0] in document.text and PARAGRAPHS[2] in document.text
    assert PARAGRAPHS[1] not in document.text and PARAGRAPHS[3] not in document.text
    assert [q.answerable for q in dataset.questions] == [True, True, False, False]


def test_hide_gold_needs_a_squad_set(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="SQuAD"):
        load_dataset(tmp_path, "beir", hide_gold=True)


def test_risk_coverage_curve_by_hand() -> None:
    # Answerable: (probability, right); None = refused. Unanswerable: probabilities.
    answerable = [(0.9, True), (0.8, False), (0.4, True), (None, True)]
    unanswerable = [0.7, 0.3]
    curve, area = risk_coverage(answerable, unanswerable)
    assert curve == [(0.9, 0.0, 0.25), (0.8, 0.0, 0.25), (0.7, 0.5, 0.25), (0.4, 0.5, 0.5), (0.3, 1.0, 0.5)]
    # Area: x 0 -> 0.5 at 0.25 (0.125), 0.5 -> 1.0 rising 0.25 -> 0.5... read from the points.
    assert area == pytest.approx(0.5 * 0.25 + 0.5 * 0.5)
    assert risk_coverage([], [0.5]) == ([], 0.0)


def test_a_right_reply_holds_the_gold_or_mostly_words_of_a_long_one() -> None:
    assert reply_is_right("The Denver Broncos won [1].", ["Denver Broncos"])
    assert not reply_is_right("The Carolina Panthers won.", ["Denver Broncos"])
    long_gold = ("Vous pouvez demander la suppression de vos données à tout moment auprès du responsable "
                 "du traitement, qui doit vous répondre dans un délai d'un mois, sauf exception prévue par la loi.")
    assert reply_is_right("Demander la suppression auprès du responsable du traitement.", [long_gold])
    assert not reply_is_right("Adressez une plainte à la CNIL en ligne.", [long_gold])
