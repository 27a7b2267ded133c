"""Issue 40: the question read once, names compared spelling-tolerantly, proposition-level
signals on constructed near-miss cases, reasons that never name an ordinary word, and the
synthetic near-miss questions of the evaluation (no models)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag_app.answer import Evidence, Passage
from rag_app.eval.formats import load_squad
from rag_app.eval.near_miss import Corpus, near_miss
from rag_app.grounding.decision import ANY_MODEL, DecisionModel, decision_for, write_decisions
from rag_app.grounding.missing import ABSENT, PRESENT, UNSURE, explain, lookup
from rag_app.grounding.proposition import answering_sentence, proposition_signals
from rag_app.grounding.question import NUMBER, QUESTION_WORDS, Question, holds_name, same_name
from rag_app.grounding.relevance import check_relevance
from rag_app.text import normalized, term_spans


def _passage(text: str, heading: str = "") -> Passage:
    return Passage(chunk_id=1, path="notes.md", page=None, heading=heading, text=text, score=1.0)


# ----- the question, read once -------------------------------------------------------------
def test_the_question_is_read_once_into_one_value() -> None:
    q = Question.read("How many parameters does the largest Llama-2 model have in 2023?")
    assert q.language == "en" and q.kind == NUMBER
    assert "llama-2" in q.names and "2023" in q.years and "2023" in q.focus
    assert "largest" in q.constraints and "parameter" in q.constraints
    assert not set(q.constraints) & {"how", "many", "does"}
    fr = Question.read("Combien de paramètres compte le plus grand modèle Llama 2 ?")
    assert fr.language == "fr" and fr.kind == NUMBER and "llama 2" in fr.names


@pytest.mark.parametrize(("a", "b", "same"), [
    ("Llama-2", "LLaMa 2", True),
    ("Llama-2", "llama2", True),
    ("Mistral", "Mistrall", True),  # one letter doubled
    ("Transformers", "Transformer", True),
    ("Llama 2", "Llama 3", False),  # another version is another model
    ("GPT-4", "GPT-3", False),
    ("Paris", "Pars", False),  # short names must match exactly
    ("Lyon", "Lille", False),
])
def test_names_are_compared_spelling_tolerantly(a: str, b: str, same: bool) -> None:
    assert same_name(a, b) is same


def test_a_name_spelled_another_way_is_found_in_its_passage() -> None:
    text = "Le modèle LLaMa 2 de Meta a été publié en juillet 2023."
    assert holds_name(text, "Llama-2") and holds_name(text, "llama2") and not holds_name(text, "Llama 3")
    passage = "LLaMa 2 compte 70 milliards de paramètres dans sa plus grande version."
    relevance = check_relevance(Question.read("Combien de paramètres compte Llama-2 ?"),
                                "Llama-2 compte 70 milliards de paramètres [1].", [passage], "fr")
    assert relevance.answers, relevance.reason


# ----- proposition-level signals -------------------------------------------------------------
SCHOOL = ("The Conservatoire de Lyon is one of the largest art schools in France. "
          "It was founded in 1872 and teaches painting and sculpture.")


def test_a_swapped_qualifier_put_back_in_the_reply_is_seen() -> None:
    right = proposition_signals(Question.read("What kind of school is the Conservatoire de Lyon?"),
                                "It is one of the largest art schools in France [1].", [_passage(SCHOOL)], 1)
    swapped = proposition_signals(Question.read("What kind of music school is the Conservatoire de Lyon?"),
                                  "It is one of the largest music schools in France [1].", [_passage(SCHOOL)], 1)
    assert right["echo_missing"] == 0 and swapped["echo_missing"] == 1
    assert right["constraints_missing"] == 0 and swapped["constraints_missing"] == 1
    assert swapped["constraints_in_sentence"] < right["constraints_in_sentence"] == 1.0


def test_a_swapped_name_is_missing_from_the_sentence_answered_from() -> None:
    text = ("Paul Martin founded the magazine in 1990 in Lyon. "
            "Anne Roy, a friend of his, later moved to Lille, where she opened a bookshop.")
    right = proposition_signals(Question.read("Where did Paul Martin found the magazine?"),
                                "Paul Martin founded it in Lyon [1].", [_passage(text)], 1)
    wrong = proposition_signals(Question.read("Where did Anne Roy found the magazine?"),
                                "Anne Roy founded it in Lyon [1].", [_passage(text)], 1)
    assert right["constraints_in_sentence"] == 1.0
    assert wrong["constraints_in_sentence"] < 1.0  # "anne roy" is in the passage, not in that sentence


def test_the_neighbours_figure_in_a_list_is_not_in_the_asked_items_sentence() -> None:
    listing = "Llama 2 has 70 billion parameters.\nMistral 7B has 7 billion parameters.\nFalcon has 180 billion."
    asked = Question.read("How many parameters does Mistral 7B have?")
    right = proposition_signals(asked, "Mistral 7B has 7 billion parameters [1].", [_passage(listing)], 1)
    neighbour = proposition_signals(asked, "It has 70 billion parameters [1].", [_passage(listing)], 1)
    assert right["new_in_sentence"] == 1.0
    assert neighbour["constraints_in_sentence"] < right["constraints_in_sentence"]


def test_a_paraphrased_question_keeps_its_answer_words_in_the_sentence() -> None:
    text = "The company was founded by former employees of Google and OpenAI in 2021."
    signals = proposition_signals(Question.read("Where do the company's founders come from?"),
                                  "Its founders are former employees of Google and OpenAI [1].", [_passage(text)], 1)
    assert signals["new_in_sentence"] == 1.0 and signals["echo_missing"] == 0


# ----- reasons that are true -------------------------------------------------------------
@pytest.mark.parametrize("question", [
    "Est-il possible de demander l'effacement de mes données après un an ?",
    "Que faut-il faire après avoir demandé un accès ?",
    "Is it possible to ask for a refund after the deadline?",
])
def test_a_reason_never_names_an_ordinary_word(question: str) -> None:
    reason = explain(Question.read(question), [], lambda t, p: False)
    assert "“" not in reason  # no term named: none of them carries the subject


def test_no_question_word_is_ever_named_missing() -> None:
    for word in sorted(QUESTION_WORDS):
        question = Question.read(f"What about {word} here, and the {word} of 2024?")
        reason = explain(question, [], lambda t, p: False)
        assert reason == "none of your documents mention “2024”"
        assert f"“{word}”" not in reason.lower()


def test_a_name_spelled_another_way_in_the_index_is_not_called_absent() -> None:
    index = {"llama 2", "llama", "mistral"}

    def mentions(term: str, prefix: bool) -> bool:
        term = normalized(term)
        return any(w.startswith(term) for w in index) if prefix else term in index

    assert lookup("Llama-2", mentions) == PRESENT
    assert lookup("Llama2", mentions) == UNSURE
    assert lookup("Mistrall", mentions) == UNSURE
    assert lookup("Patagonia", mentions) == ABSENT
    reason = explain(Question.read("Quelle est la taille du contexte de Llama2 ?"), [], mentions)
    assert "aucun de vos documents" not in reason


# ----- synthetic near-miss questions -------------------------------------------------------
def test_spans_are_names_years_and_numbers_not_question_words() -> None:
    found = {(s.kind, s.text) for s in term_spans("What did the Denver Broncos win in 2016 with 24 points?")}
    assert found == {("name", "Denver Broncos"), ("year", "2016"), ("number", "24")}
    assert {s.text for s in term_spans("Quand François-Xavier Lafrance ouvre-t-il l'école ?")} == {
        "François-Xavier Lafrance"}


def test_a_near_miss_swaps_a_term_for_one_of_its_article_not_in_its_paragraph() -> None:
    gold = "The Denver Broncos won Super Bowl 50 in 2016, beating the Carolina Panthers."
    other = "In 1998 the Green Bay Packers lost to the Broncos in San Diego."
    corpus = Corpus([gold, other])
    swapped = near_miss("q1", "Who did the Denver Broncos beat in 2016?", gold, [other], corpus)
    assert swapped in {"Who did the Green Bay Packers beat in 2016?", "Who did the Denver Broncos beat in 1998?",
                       "Who did the Green Bay beat in 2016?", "Who did the San Diego beat in 2016?"}
    assert near_miss("q1", "Who did the Denver Broncos beat in 2016?", gold, [other], corpus) == swapped


def test_a_swap_that_another_paragraph_answers_is_not_made() -> None:
    gold = "The Denver Broncos won Super Bowl 50 in 2016."
    other = "The Green Bay Packers won Super Bowl 31 in 1997."
    assert near_miss("q", "Which Super Bowl did the Denver Broncos win?", gold, [other], Corpus([gold, other])) is None


def test_the_near_miss_set_keeps_every_paragraph_and_adds_unanswerable_questions(tmp_path: Path) -> None:
    data = {"data": [{"title": "Broncos", "paragraphs": [
        {"context": "The Denver Broncos won Super Bowl 50 in 2016, beating the Carolina Panthers.",
         "qas": [{"id": "a", "question": "Who did the Denver Broncos beat in 2016?",
                  "answers": [{"text": "the Carolina Panthers", "answer_start": 50}]}]},
        {"context": "In 1998 the Green Bay Packers lost to the Broncos in San Diego.",
         "qas": [{"id": "b", "question": "Where did the Packers lose in 1998?",
                  "answers": [{"text": "San Diego", "answer_start": 50}]}]}]}]}
    path = tmp_path / "set.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    plain = load_squad(path)
    dataset = load_squad(path, near_miss=True)
    assert len(dataset.documents) == len(plain.documents) == 2
    unanswerable = [q for q in dataset.questions if not q.answerable]
    assert unanswerable and all(q.id.endswith("-near-miss") and not q.answers for q in unanswerable)
    assert dataset.name.endswith("-near-miss")


# ----- what a person sees -------------------------------------------------------------------
def _evidence(text: str) -> Evidence:
    return Evidence(text=text, path="policy.md", page=None, heading="", score=0.9, chunk_id=1)


def test_the_sentence_that_answers_the_question_is_found_among_the_evidence() -> None:
    asked = Question.read("In what year was the Conservatoire de Lyon founded?")
    found = answering_sentence(asked, [_evidence("The Conservatoire de Lyon teaches painting."),
                                       _evidence("The Conservatoire de Lyon was founded in 1872.")])
    assert found is not None and "1872" in found.text
    # Without the year asked for, or about another school, no sentence answers by itself.
    assert answering_sentence(asked, [_evidence("The Conservatoire de Lyon was founded long ago.")]) is None
    assert answering_sentence(Question.read("In what year was the Conservatoire de Paris founded?"),
                              [_evidence("The Conservatoire de Lyon was founded in 1872.")]) is None


def test_a_model_without_its_own_decision_gets_the_text_only_one(tmp_path: Path) -> None:
    own = DecisionModel("e5", "qwen", ("lp_mean",), (0.0,), (1.0,), (1.0,), 0.0, 0.5)
    anyone = DecisionModel("e5", ANY_MODEL, ("support_max",), (0.0,), (1.0,), (1.0,), 0.0, 0.6)
    path = tmp_path / "decision.json"
    write_decisions(path, [own], {"fitted_by": "test"})
    write_decisions(path, [anyone], {"fitted_by": "test, text only"})  # kept beside the first
    assert decision_for("e5", "qwen", path) == own
    assert decision_for("e5", "my-own.gguf", path) == anyone
    assert decision_for("other", "qwen", path) is None
    assert json.loads(path.read_text())["fits"]["e5 *"] == {"fitted_by": "test, text only"}
