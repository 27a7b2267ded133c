"""The calibrated decision over fake models: its signals from known log-probabilities, its
probability, the decision file's checks, and refusals that say what is missing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import rag_app.answering.pipeline as answer_pipeline
from rag_app.answer import Answer, Passage
from rag_app.grounding.decision import (
    ANY_MODEL,
    DECISION_FILE,
    DecisionFileError,
    DecisionModel,
    load_decisions,
    write_decisions,
)
from rag_app.grounding.missing import explain
from rag_app.grounding.question import Question
from rag_app.grounding.signals import FEATURES, text_signals, token_signals
from rag_app.service.app import App
from rag_app.ui.render import render_answer
from tests.unit.test_app_and_page import SUPPORTED, folder

from conftest import make_settings
from fakes import FakeEmbedder, FakeGenerator


def test_log_probability_signals_read_content_and_key_tokens() -> None:
    tokens = [("The", -0.1), (" Broncos", -2.0), (" won", -0.5), (" in", -0.05), (" 2016", -3.0),
              (" [", -0.01), ("1", -0.01), ("]", -0.01), (".", -0.02)]
    signals = token_signals(tokens)
    # Content: Broncos, won, 2016 ("The" and "in" are stop words, the citation is not read).
    assert signals["lp_mean"] == pytest.approx((-2.0 - 0.5 - 3.0) / 3)
    assert signals["lp_min"] == pytest.approx(-3.0)
    # Key: a name inside the sentence and a number.
    assert signals["lp_key_mean"] == pytest.approx(-2.5) and signals["lp_key_min"] == pytest.approx(-3.0)
    assert token_signals([])["lp_mean"] is None


def test_text_signals_read_what_the_reply_adds_to_the_question() -> None:
    passages = [Passage(1, "storks.md", None, "Storks", "White storks nest on church towers.", 1.0),
                Passage(2, "herons.md", None, "Herons", "Herons nest in colonies.", 0.5)]
    evidence = ["White storks nest on church towers.", "Herons nest in colonies."]
    storks = Question.read("Where do storks nest?")
    right = text_signals(storks, "Storks nest on church towers [1].", passages, evidence, 2)
    # Content words stork, nest, church, tower: the last two are new, and both are in the best sentence.
    assert right["novelty"] == 0.5 and right["answer_in_evidence"] == 1.0 and right["cited_rank"] == 1.0
    assert right["cited_question_coverage"] == 1.0
    echo = text_signals(Question.read("Where do storks nest?"), "Storks nest somewhere [2].", passages, evidence, 2)
    assert echo["answer_in_evidence"] == 0.0 and echo["cited_rank"] == 0.5
    assert text_signals(Question.read("Where do storks nest?"), "Yes.", passages, evidence, 5)["cited_rank"] == 0.0


def _model(threshold: float = 0.5, **coef: float) -> DecisionModel:
    """A decision over every feature: zero mean, unit scale, the given coefficients (others 0)."""
    return DecisionModel("fake-bag-of-words", "fake-model", FEATURES, (0.0,) * len(FEATURES),
                         (1.0,) * len(FEATURES), tuple(coef.get(f, 0.0) for f in FEATURES), -1.0, threshold)


def test_the_probability_is_the_logistic_of_the_standardised_signals() -> None:
    model = _model(lp_mean=2.0, support_max=3.0)
    expected = 1 / (1 + math.exp(-(-1.0 + 2.0 * -0.2 + 3.0 * 0.9)))
    assert model.probability({"lp_mean": -0.2, "support_max": 0.9}) == pytest.approx(expected)
    # A missing signal counts as its training mean (here 0): it moves nothing.
    assert model.probability({"lp_mean": None, "support_max": 0.9}) == pytest.approx(1 / (1 + math.exp(-1.7)))


def _answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, generator: FakeGenerator, question: str,
            model: DecisionModel | None) -> Answer:
    monkeypatch.setattr(answer_pipeline, "decision_for", lambda embedder, name: model)
    tmp_path.mkdir(parents=True, exist_ok=True)
    settings = make_settings(folder(tmp_path), tmp_path / "index")
    with App(settings, create=True, embedder=FakeEmbedder(), generator=generator) as app:
        app.ingest()
        return app.answer(question)


def test_the_decision_verifies_a_confident_reply_and_not_a_doubtful_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _model(threshold=0.6, lp_mean=4.0, supported_share=1.0)
    sure = _answer(tmp_path / "a", monkeypatch, FakeGenerator(SUPPORTED, logprob=-0.05), "Where do white storks nest?",
                   model)
    assert sure.signals["lp_mean"] == pytest.approx(-0.05) and sure.signals["supported_share"] == 1.0
    assert sure.probability == pytest.approx(1 / (1 + math.exp(-(-1.0 - 0.2 + 1.0))))
    assert sure.probability < 0.6 and not sure.verified  # below this decision's threshold
    confident = _model(threshold=0.4, lp_mean=4.0, supported_share=1.0)
    again = _answer(tmp_path / "b", monkeypatch, FakeGenerator(SUPPORTED, logprob=-0.05),
                    "Where do white storks nest?", confident)
    assert again.verified and "church towers" in again.answer and again.citations
    doubtful = _answer(tmp_path / "c", monkeypatch, FakeGenerator(SUPPORTED, logprob=-3.0),
                       "Where do white storks nest?", confident)
    assert not doubtful.verified and doubtful.probability < 0.4
    assert doubtful.evidence and "could not be verified" in doubtful.answer
    assert doubtful.to_json()["probability"] == round(doubtful.probability, 4)
    # The page leads with a plain verdict; the probability is in the details, not the headline.
    page = render_answer(again)
    assert page.index("✓ Checked against the passages") < page.index("church towers")
    assert f"<summary>Details</summary>The checks give this reply a {100 * again.probability:.0f}% chance" in page
    assert "⚠ Not checked" in render_answer(doubtful) and doubtful.to_json()["verdict"] == "not_checked"
    assert "chance of being right" not in render_answer(_answer(tmp_path / "d", monkeypatch, FakeGenerator(SUPPORTED),
                                                                "Where do white storks nest?", None))


def test_without_a_fitted_decision_the_rules_decide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answer = _answer(tmp_path, monkeypatch, FakeGenerator(SUPPORTED), "Where do white storks nest?", None)
    assert answer.verified and answer.probability is None and answer.signals["rules_verified"] == 1.0


def test_a_term_in_no_document_is_named_in_the_refusal_in_english_and_french(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generator = FakeGenerator("It is not in the documents.")
    english = _answer(tmp_path / "en", monkeypatch, generator, "Where do white storks nest in Patagonia?", None)
    assert english.refused and "none of your documents mention “Patagonia”" in english.answer
    assert "closest passages are about" in english.answer
    french = _answer(tmp_path / "fr", monkeypatch, FakeGenerator("Ce n'est pas dans les documents."),
                     "Où nichent les cigognes blanches en Patagonie ?", None)
    assert french.refused and "aucun de vos documents ne mentionne “Patagonie”" in french.answer


def test_a_named_subject_without_the_asked_value_gets_its_own_reason() -> None:
    reason = explain(Question.read("How many parameters does Vicuna have?"), [], lambda t, p: True)
    assert reason == "your documents mention “Vicuna”, but the passages found give no figure for it"
    french = explain(Question.read("Combien de paramètres a Vicuna ?"), [], lambda t, p: True)
    assert french == "vos documents mentionnent “Vicuna”, mais les passages trouvés n'en donnent pas le chiffre"
    assert explain(Question.read("What is it?"), [], lambda t, p: True, relevant=False) == (
        "no passage of your documents is close to the question")


def test_the_decision_file_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "decision.json"
    write_decisions(path, [_model(lp_mean=1.0)], {"fitted_by": "test", "data": []})
    assert load_decisions(path)[0].coef[0] == 1.0
    data = json.loads(path.read_text())
    data["entries"][0]["threshold"] = 0.01  # a hand edit
    path.write_text(json.dumps(data))
    with pytest.raises(DecisionFileError, match="checksum"):
        load_decisions(path)
    data["version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(DecisionFileError, match="version 99"):
        load_decisions(path)



def test_the_shipped_decision_file_loads_and_covers_the_default_pair() -> None:
    models = load_decisions(DECISION_FILE)
    assert any(m.embedder == "multilingual-e5-small" and m.model == "qwen2.5-1.5b" for m in models)
    own = next(m for m in models if m.model == "qwen2.5-1.5b")
    assert own.features == FEATURES and 0 < own.threshold < 1 and 0 < own.threshold_for("fr") < 1
    # The entry for any other answer model reads no log-probability (its own model gives none fitted).
    anyone = next(m for m in models if m.model == ANY_MODEL)
    assert not {"lp_mean", "lp_min", "refusal_start"} & set(anyone.features)
    assert set(anyone.features) < set(FEATURES)
