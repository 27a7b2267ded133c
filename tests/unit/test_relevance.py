"""Does a supported answer answer the question? Refusals, subject, kind of answer (no models)."""

from __future__ import annotations

import pytest

from rag_app.grounding.question import NUMBER, YEAR, Question, expected_kind
from rag_app.grounding.relevance import check_relevance, is_refusal
from rag_app.text import FRENCH, holds_phrase, names, normalized


@pytest.mark.parametrize("reply", [
    "The documents do not say.",
    "The passages do not mention the context length of Llama 3.",
    "This information is not provided in the documents.",
    "I cannot find the answer in the passages.",
    "There is no information about the 2021 revenue in the passages [1].",
    "Les documents ne le disent pas.",
    "Ce n'est pas précisé dans les documents.",
    "Il n'y a aucune information sur ce sujet dans les passages.",
    "Les passages ne mentionnent pas la taille du contexte de Llama 3.",
])
def test_refusals_are_recognised_in_both_languages(reply: str) -> None:
    assert is_refusal(reply)


@pytest.mark.parametrize("reply", [
    "GPT-2 has a vocabulary of 50,257 tokens [1].",
    "Patrick Lewis a décrit le RAG en 2020 [1].",
    "The model is not trained in context windows longer than 2048 tokens [2].",
    "It runs on port 7860 [1]. The passages do not say which host it binds to.",
    "Le modèle ne dépasse pas 14 Go en FP16 [1].",
])
def test_answers_are_not_taken_for_refusals(reply: str) -> None:
    assert not is_refusal(reply)


def test_focus_terms_are_names_key_terms_and_years() -> None:
    assert list(Question.read("What is the context length of Llama 3?").focus) == ["llama 3"]
    assert set(list(Question.read("Which NFL team represented the AFC at Super Bowl 50?").focus)) == {
        "nfl", "afc", "super", "bowl 50"}
    assert list(Question.read("Qui a décrit la génération augmentée par récupération en 2020 ?").focus) == ["2020"]
    assert list(Question.read("How many bits per weight does Q4_K_M use?").focus) == ["q4_k_m"]
    assert list(Question.read("what is an intrinsic hallucination?").focus) == []


@pytest.mark.parametrize(("question", "kind"), [
    ("In what year did Tesla die?", YEAR),
    ("En quelle année la CNIL a-t-elle été créée ?", YEAR),
    ("How many attention heads per layer does BERT-base have?", NUMBER),
    ("Combien de mémoire faut-il pour un modèle de 7 milliards de paramètres ?", NUMBER),
    ("What percentage of revenue came from services?", NUMBER),
    ("Who described retrieval-augmented generation?", None),  # a group is an answer too
    ("What is an intrinsic hallucination?", None),
    ("Why do tiny models loop?", None),
])
def test_expected_kind_of_answer(question: str, kind: str | None) -> None:
    assert expected_kind(question) == kind


def test_neighbouring_subject_is_not_an_answer() -> None:
    """Asked about Llama 3, the model answers with GPT-2's figure from the passages: refused."""
    passage = ("GPT-2 uses a context window of 1024 tokens. GPT-3 uses 2048 tokens.")
    result = check_relevance(Question.read("What is the context length of Llama 3?"),
                             "The context length is 1024 tokens [1].", [passage])
    assert not result.answers and "llama 3" in result.reason
    ok = check_relevance(Question.read("What is the context length of GPT-2?"),
                         "GPT-2 has a context of 1024 tokens [1].", [passage])
    assert ok.answers, ok.reason


def test_other_year_is_not_an_answer() -> None:
    passage = ("In 2023 the company's revenue was 12 million euros.")
    result = check_relevance(Question.read("What was the revenue in 2022?"),
                             "The revenue was 12 million euros [1].", [passage])
    assert not result.answers and "2022" in result.reason


def test_answer_must_be_of_the_kind_asked_for() -> None:
    passage = ("BERT-base has 12 layers and 12 attention heads per layer.")
    vague = check_relevance(Question.read("How many attention heads per layer does BERT-base have?"),
                            "BERT-base has several attention heads per layer [1].", [passage])
    assert not vague.answers and "number" in vague.reason
    fr = check_relevance(Question.read("Combien de têtes d'attention a BERT-base ?"),
                         "BERT-base a plusieurs têtes [1].", [passage], FRENCH)
    assert not fr.answers and "nombre" in fr.reason
    assert check_relevance(Question.read("How many attention heads per layer does BERT-base have?"),
                           "BERT-base has 12 attention heads per layer [1].", [passage]).answers
    who = ("Students thronged to Wittenberg to hear Luther speak.")
    assert check_relevance(Question.read("Who went to Wittenberg to hear Luther speak?"),
                           "Students went there [1].", [who]).answers


def test_nothing_supported_answers_nothing() -> None:
    assert not check_relevance(Question.read("What is GGUF?"), " [1]", ["GGUF is a format."]).answers


def test_numbers_of_the_question_must_be_in_the_supporting_text() -> None:
    passage = "A model of 7 billion parameters needs 14 GB in FP16; 4,096 by 4,096 matrices."
    assert check_relevance(Question.read("How much memory does a 7 billion parameter model need in FP16?"),
                           "It needs 14 GB [1].", [passage]).answers
    wrong = check_relevance(Question.read("How much memory does a 13 billion parameter model need in FP16?"),
                            "It needs 14 GB [1].", [passage])
    assert not wrong.answers and "13" in wrong.reason
    assert check_relevance(Question.read("What about a 4096 by 4096 matrix?"), "It is large [1].", [passage]).answers


def test_an_acronym_matches_its_expansion() -> None:
    passage = "None of the treaties establishing the European Union protected fundamental rights."
    q = Question.read("How many original treaties establishing the EU protected fundamental rights?")
    assert check_relevance(q,
                           "None of them did [1].", [passage]).answers
    assert not check_relevance(Question.read("How many treaties did the UN sign?"), "None [1].",
                               ["The union signed the treaty."]).answers


def test_names_and_phrases() -> None:
    assert names("The Denver Broncos won Super Bowl 50. Denver scored first [1].") == {
        "denver", "broncos", "super", "bowl 50"}
    text = normalized("Les modèles Llama 3 et GPT-2 (Q4_K_M, 4,8 bits) — É. Martin.")
    assert holds_phrase(text, "llama 3") and holds_phrase(text, "gpt-2") and holds_phrase(text, "Q4_K_M")
    assert holds_phrase(text, "modèle") and holds_phrase(text, "martin")
    assert not holds_phrase(text, "llama 2")
