"""The SQuAD v1.1/v2.0 reader (`load_squad`): paragraphs or whole articles as documents; the
near-topic (``hide_gold``) and near-miss (``near_miss``) variants of the evaluation suite."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag_app.eval import near_miss as near_misses
from rag_app.eval.dataset import (
    UNITS,
    DatasetError,
    EvalDataset,
    EvalDocument,
    EvalQuestion,
    field_of,
    read_json,
    slug,
)
from rag_app.eval.metrics import normalize_answer


@dataclass
class _SquadQuestion:
    id: str
    question: str
    answers: list[str]
    impossible: bool
    block: int  # the paragraph (paragraph unit) or the line block (article unit) holding the answer


def _squad_questions(paragraph: dict[str, Any], where_p: str, a: int, p: int, lines: list[tuple[int, int]],
                     ) -> list[_SquadQuestion]:
    """The questions of one SQuAD paragraph; ``block`` is the index in ``lines`` (start, end
    character offsets) of the line holding each answer (0 with a single line)."""
    qas = field_of(paragraph, "qas", where_p, list)
    found = []
    for q, qa in enumerate(qas):
        where_q = f"{where_p}.qas[{q}]"
        if not isinstance(qa, dict):
            raise DatasetError(f"{where_q}: expected an object")
        question = field_of(qa, "question", where_q)
        answers = field_of(qa, "answers", where_q, list)
        texts, starts = [], []
        for n, answer in enumerate(answers):
            if not isinstance(answer, dict) or not isinstance(answer.get("text"), str):
                raise DatasetError(f"{where_q}.answers[{n}]: missing field 'text'")
            texts.append(answer["text"])
            if isinstance(answer.get("answer_start"), int):
                starts.append(answer["answer_start"])
        impossible = bool(qa.get("is_impossible", False))
        if not impossible and not texts:
            raise DatasetError(f"{where_q}: no answer and not marked is_impossible")
        at = starts[0] if starts else 0
        block = next((i for i, (s, e) in enumerate(lines) if s <= at < e), 0)
        found.append(_SquadQuestion(str(qa.get("id", f"{a}-{p}-{q}")), question,
                                    [] if impossible else list(dict.fromkeys(texts)), impossible, block))
    return found


def _line_blocks(context: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the non-empty lines of ``context``."""
    blocks, at = [], 0
    for line in context.split("\n"):
        if line.strip():
            blocks.append((at, at + len(line)))
        at += len(line) + 1
    return blocks or [(0, len(context))]


def load_squad(path: Path, *, unit: str = "paragraph", hide_gold: bool = False,
               near_miss: bool = False) -> EvalDataset:
    """SQuAD v1.1/v2.0 JSON: each paragraph (or article) is a document.

    A question's relevant document is the one holding its context; v2.0 questions marked
    ``is_impossible`` are unanswerable. Paragraph documents hold the context only (CNIL's
    article titles are the questions themselves); article documents start with the title.

    ``hide_gold`` turns part of the set into near-topic unanswerable questions: every other
    paragraph of an article (the 2nd, 4th, …; every other article when articles have one
    paragraph, as CNIL's FAQ entries) is left out of the corpus, or, with the article unit,
    every other line that holds an answer. The questions of what was left out are asked as
    unanswerable: the passages they find are on their topic (the rest of their article) and
    their answer is absent. A hidden question whose gold answer is still written in the corpus
    (in the rest of its article, or anywhere for one-paragraph articles) is dropped.

    ``near_miss`` (paragraph unit) adds, for every answerable question where a safe swap exists,
    its near-miss version as an unanswerable question (`rag_app.eval.near_miss`): one name,
    number or year swapped for another of its article; every paragraph stays in the corpus.
    """
    if unit not in UNITS:
        raise DatasetError(f"Unknown unit {unit!r}: use 'paragraph' or 'article'.")
    if near_miss and (unit != "paragraph" or hide_gold):
        raise DatasetError("--near-miss works on paragraph units without --hide-gold.")
    if path.is_dir():
        raise DatasetError(f"{path} is a folder: give the SQuAD JSON file.")
    data = read_json(path)
    articles = field_of(data, "data", f"{path}", list) if isinstance(data, dict) else None
    if articles is None:
        raise DatasetError(f"{path}: expected an object with a 'data' list (SQuAD JSON)")
    documents: list[EvalDocument] = []
    questions: list[EvalQuestion] = []
    hidden: list[tuple[int, _SquadQuestion]] = []  # (article, question) asked as unanswerable
    kept_text: dict[int, list[str]] = {}  # article -> the normalized text left in the corpus
    swappable: list[tuple[int, int, _SquadQuestion]] = []  # (article, paragraph, question) for near_miss
    paragraph_texts: dict[int, list[str]] = {}  # article -> its contexts, in order
    for a, article in enumerate(articles):
        where_a = f"{path}: data[{a}]"
        if not isinstance(article, dict):
            raise DatasetError(f"{where_a}: expected an object")
        paragraphs = field_of(article, "paragraphs", where_a, list)
        title = str(article.get("title") or "").replace("_", " ").strip()
        article_name = f"a{a:04d}-{slug(title or str(a))}.txt"
        contexts: list[str] = []
        for p, paragraph in enumerate(paragraphs):
            where_p = f"{where_a}.paragraphs[{p}]"
            if not isinstance(paragraph, dict):
                raise DatasetError(f"{where_p}: expected an object")
            context = field_of(paragraph, "context", where_p)
            lines = _line_blocks(context) if unit == "article" and hide_gold else [(0, len(context) + 1)]
            found = _squad_questions(paragraph, where_p, a, p, lines)
            paragraph_texts.setdefault(a, []).append(context)
            swappable += [(a, p, q) for q in found if not q.impossible]
            if unit == "paragraph":
                name = f"a{a:04d}-p{p:03d}-{slug(title or str(a), 30)}.txt"
                hide = hide_gold and (p % 2 == 1 if len(paragraphs) > 1 else a % 2 == 1)
                if hide:
                    hidden += [(a, q) for q in found if not q.impossible]
                    continue
                documents.append(EvalDocument(name=name, text=context))
                kept_text.setdefault(a, []).append(normalize_answer(context))
            else:
                name = article_name
                answer_blocks = sorted({q.block for q in found if not q.impossible})
                hidden_blocks = set(answer_blocks[1::2]) if hide_gold else set()
                hidden += [(a, q) for q in found if q.block in hidden_blocks and not q.impossible]
                found = [q for q in found if q.block not in hidden_blocks]
                kept = "\n".join(context[s:e] for i, (s, e) in enumerate(lines) if i not in hidden_blocks)
                contexts.append(kept)
                kept_text.setdefault(a, []).append(normalize_answer(kept))
            questions += [EvalQuestion(id=q.id, question=q.question, answers=q.answers,
                                       relevant=[] if q.impossible else [(name, None)],
                                       answerable=not q.impossible) for q in found]
        if unit == "article" and contexts:
            documents.append(EvalDocument(name=article_name, title=title, text="\n\n".join(contexts)))
    if not documents:
        raise DatasetError(f"{path}: no paragraph found in 'data'")
    everything = [text for texts in kept_text.values() for text in texts]
    for a, q in hidden:
        single = len(field_of(articles[a], "paragraphs", "", list)) == 1 and unit == "paragraph"
        haystacks = everything if single else kept_text.get(a, [])
        golds = [normalize_answer(g) for g in q.answers]
        if any(g and f" {g} " in f" {h} " for g in golds for h in haystacks):
            continue  # still answerable from what is left
        questions.append(EvalQuestion(id=f"{q.id}-hidden", question=q.question, answers=[], relevant=[],
                                      answerable=False))
    if near_miss:
        questions += _near_miss_questions(swappable, paragraph_texts)
    name = path.stem + ("-hidden-gold" if hide_gold else "-near-miss" if near_miss else "")
    return EvalDataset(name, "squad", documents, questions)


def _near_miss_questions(swappable: list[tuple[int, int, _SquadQuestion]],
                         paragraphs: dict[int, list[str]]) -> list[EvalQuestion]:
    """The unanswerable near-miss version of each question that has a safe swap."""
    corpus = near_misses.Corpus([text for texts in paragraphs.values() for text in texts])
    made = []
    for a, p, q in swappable:
        others = paragraphs[a][:p] + paragraphs[a][p + 1:]
        swapped = near_misses.near_miss(q.id, q.question, paragraphs[a][p], others, corpus)
        if swapped is not None:
            made.append(EvalQuestion(id=f"{q.id}-near-miss", question=swapped, answers=[], relevant=[],
                                     answerable=False))
    return made


# ----- BEIR --------------------------------------------------------------------------------
