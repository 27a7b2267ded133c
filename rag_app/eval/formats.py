"""Readers for public question sets: SQuAD v1.1/v2.0, BEIR, ClapNQ and FinanceBench.

Each reader returns an `EvalDataset`: the documents to write into a corpus folder (one file
each) and the questions with their gold answers and their relevant units. A unit is a document
(``(name, None)``) or, for FinanceBench, a page of a document (``(name, page)``, 1-based).
A bad or partial file raises `DatasetError` naming the file, line or field.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag_app.eval import near_miss as near_misses
from rag_app.eval.metrics import normalize_answer

FORMATS = ("squad", "beir", "clapnq", "financebench")
UNITS = ("paragraph", "article")

Unit = tuple[str, int | None]


class DatasetError(ValueError):
    """The dataset cannot be read; the message names the file and the line or field."""


@dataclass
class EvalDocument:
    """One corpus file: ``name`` is its path in the corpus folder.

    Either ``text`` (written as a text file, ``title`` as its first line) or ``source`` (a file
    copied as it is, e.g. a PDF) is set.
    """

    name: str
    text: str = ""
    title: str = ""
    source: Path | None = None

    def fingerprint(self) -> str:
        """Hash of what the file will hold (used to key the index cache).

        A copied file is hashed by its bytes, not its path or time stamp: the same PDFs
        unpacked again elsewhere reuse the cached index.
        """
        digest = hashlib.sha256(self.name.encode())
        if self.source is not None:
            digest.update(self.source.read_bytes())
        else:
            digest.update(self.title.encode() + b"\0" + self.text.encode())
        return digest.hexdigest()


@dataclass
class EvalQuestion:
    """A question with its gold answers and relevant units (empty when unanswerable)."""

    id: str
    question: str
    answers: list[str] = field(default_factory=list)
    relevant: list[Unit] = field(default_factory=list)
    answerable: bool = True


@dataclass
class EvalDataset:
    """Documents and questions of one evaluation set."""

    name: str
    format: str
    documents: list[EvalDocument]
    questions: list[EvalQuestion]
    page_level: bool = False  # relevance is judged per page (FinanceBench)

    def limited(self, limit: int | None) -> EvalDataset:
        """The same corpus with at most ``limit`` questions, spread evenly over the set."""
        if not limit or limit >= len(self.questions):
            return self
        n = len(self.questions)
        picked = [self.questions[i * n // limit] for i in range(limit)]
        return EvalDataset(self.name, self.format, self.documents, picked, self.page_level)


def load_dataset(path: Path | str, fmt: str, *, unit: str = "paragraph", split: str | None = None,
                 hide_gold: bool = False, near_miss: bool = False) -> EvalDataset:
    """Read a dataset of format ``fmt`` (one of `FORMATS`) from ``path``; ``hide_gold`` (SQuAD
    only) asks part of it as near-topic unanswerable questions, ``near_miss`` (SQuAD only) adds
    near-miss versions of its questions (see `load_squad`)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"Dataset not found: {path}")
    if hide_gold and fmt != "squad":
        raise DatasetError(f"--hide-gold needs a SQuAD-style set (with answer offsets), not {fmt}.")
    if near_miss and fmt != "squad":
        raise DatasetError(f"--near-miss needs a SQuAD-style set, not {fmt}.")
    if fmt == "squad":
        return load_squad(path, unit=unit, hide_gold=hide_gold, near_miss=near_miss)
    if fmt == "beir":
        return load_beir(path, split=split)
    if fmt == "clapnq":
        return load_clapnq(path)
    if fmt == "financebench":
        return load_financebench(path)
    raise DatasetError(f"Unknown format {fmt!r}: use one of {', '.join(FORMATS)}.")


def guess_format(path: Path | str) -> str:
    """The format of a dataset path: a BEIR or FinanceBench folder, SQuAD .json, ClapNQ .jsonl."""
    path = Path(path)
    if path.is_dir():
        if (path / "corpus.jsonl").is_file():
            return "beir"
        if (path / "questions.jsonl").is_file():
            return "financebench"
        return "clapnq"
    if path.suffix == ".jsonl":
        return "financebench" if path.name == "questions.jsonl" else "clapnq"
    return "squad"


# ----- helpers ---------------------------------------------------------------------------
def _slug(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:limit]
    return slug or "doc"


def _read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason})") from exc


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSON Lines file."""
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path}, line {number}: not valid JSON ({exc.msg})") from exc
                if not isinstance(obj, dict):
                    raise DatasetError(f"{path}, line {number}: expected a JSON object")
                yield number, obj
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason})") from exc


def _field(obj: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...] = str) -> Any:
    if key not in obj:
        raise DatasetError(f"{where}: missing field '{key}'")
    value = obj[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DatasetError(f"{where}: field '{key}' should be {names}, not {type(value).__name__}")
    return value


# ----- SQuAD -------------------------------------------------------------------------------
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
    qas = _field(paragraph, "qas", where_p, list)
    found = []
    for q, qa in enumerate(qas):
        where_q = f"{where_p}.qas[{q}]"
        if not isinstance(qa, dict):
            raise DatasetError(f"{where_q}: expected an object")
        question = _field(qa, "question", where_q)
        answers = _field(qa, "answers", where_q, list)
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
    data = _read_json(path)
    articles = _field(data, "data", f"{path}", list) if isinstance(data, dict) else None
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
        paragraphs = _field(article, "paragraphs", where_a, list)
        title = str(article.get("title") or "").replace("_", " ").strip()
        article_name = f"a{a:04d}-{_slug(title or str(a))}.txt"
        contexts: list[str] = []
        for p, paragraph in enumerate(paragraphs):
            where_p = f"{where_a}.paragraphs[{p}]"
            if not isinstance(paragraph, dict):
                raise DatasetError(f"{where_p}: expected an object")
            context = _field(paragraph, "context", where_p)
            lines = _line_blocks(context) if unit == "article" and hide_gold else [(0, len(context) + 1)]
            found = _squad_questions(paragraph, where_p, a, p, lines)
            paragraph_texts.setdefault(a, []).append(context)
            swappable += [(a, p, q) for q in found if not q.impossible]
            if unit == "paragraph":
                name = f"a{a:04d}-p{p:03d}-{_slug(title or str(a), 30)}.txt"
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
        single = len(_field(articles[a], "paragraphs", "", list)) == 1 and unit == "paragraph"
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
def load_beir(path: Path, *, split: str | None = None) -> EvalDataset:
    """BEIR folder: corpus.jsonl (_id, title, text), queries.jsonl (_id, text), qrels/SPLIT.tsv.

    Without ``split`` the first of test, dev, train that exists is used. Only queries with a
    positive judgement are kept.
    """
    if not path.is_dir():
        raise DatasetError(f"{path}: a BEIR dataset is a folder with corpus.jsonl, queries.jsonl and qrels/")
    corpus_file, queries_file = path / "corpus.jsonl", path / "queries.jsonl"
    for needed in (corpus_file, queries_file):
        if not needed.is_file():
            raise DatasetError(f"{path}: missing {needed.name}")
    splits = [split] if split else ["test", "dev", "train"]
    qrels_file = next((path / "qrels" / f"{s}.tsv" for s in splits if (path / "qrels" / f"{s}.tsv").is_file()), None)
    if qrels_file is None:
        raise DatasetError(f"{path}: missing qrels/{splits[0]}.tsv")

    documents: list[EvalDocument] = []
    names: dict[str, str] = {}
    for number, obj in _jsonl(corpus_file):
        where = f"{corpus_file}, line {number}"
        doc_id = str(_field(obj, "_id", where, (str, int)))
        text = _field(obj, "text", where)
        title = obj.get("title") or ""
        if not isinstance(title, str):
            raise DatasetError(f"{where}: field 'title' should be str")
        name = f"d{len(documents):06d}-{_slug(doc_id, 30)}.txt"
        names[doc_id] = name
        documents.append(EvalDocument(name=name, title=title, text=text))

    texts: dict[str, str] = {}
    for number, obj in _jsonl(queries_file):
        where = f"{queries_file}, line {number}"
        texts[str(_field(obj, "_id", where, (str, int)))] = _field(obj, "text", where)

    relevant: dict[str, list[Unit]] = {}
    with open(qrels_file, encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if not row or (number == 1 and row[0] in ("query-id", "query_id", "qid")):
                continue
            where = f"{qrels_file}, line {number}"
            if len(row) < 3:
                raise DatasetError(f"{where}: expected 3 tab-separated columns (query-id, corpus-id, score)")
            query_id, doc_id, score = row[0], row[1], row[2]
            try:
                positive = float(score) > 0
            except ValueError as exc:
                raise DatasetError(f"{where}: score {score!r} is not a number") from exc
            if query_id not in texts:
                raise DatasetError(f"{where}: query-id {query_id!r} is not in {queries_file.name}")
            if doc_id not in names:
                raise DatasetError(f"{where}: corpus-id {doc_id!r} is not in {corpus_file.name}")
            if positive:
                relevant.setdefault(query_id, []).append((names[doc_id], None))
    questions = [EvalQuestion(id=qid, question=texts[qid], relevant=units) for qid, units in relevant.items()]
    return EvalDataset(path.name, "beir", documents, questions)


# ----- ClapNQ ------------------------------------------------------------------------------
def _clapnq_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(path.glob("*.jsonl")) or sorted(path.glob("annotated_dev/*.jsonl")) or sorted(path.rglob("*.jsonl"))
    if not files:
        raise DatasetError(f"{path}: no ClapNQ .jsonl file found")
    return files


def load_clapnq(path: Path) -> EvalDataset:
    """ClapNQ JSONL (a file, or a folder of them such as clapnq-dev/annotated_dev).

    Each line: ``input`` (question), ``passages[0]`` (gold passage: title, text) and
    ``output[0].answer`` (empty: unanswerable). The corpus is every gold passage, once.
    """
    documents: list[EvalDocument] = []
    by_hash: dict[str, str] = {}
    questions: list[EvalQuestion] = []
    for file in _clapnq_files(path):
        for number, obj in _jsonl(file):
            where = f"{file}, line {number}"
            question = _field(obj, "input", where)
            passages = _field(obj, "passages", where, list)
            if not passages or not isinstance(passages[0], dict):
                raise DatasetError(f"{where}: field 'passages' should hold the gold passage")
            text = _field(passages[0], "text", f"{where}, passages[0]")
            title = str(passages[0].get("title") or "")
            outputs = _field(obj, "output", where, list)
            answer = outputs[0].get("answer", "") if outputs and isinstance(outputs[0], dict) else None
            if not isinstance(answer, str):
                raise DatasetError(f"{where}: missing field 'output[0].answer'")
            key = hashlib.sha256(f"{title}\0{text}".encode()).hexdigest()
            if key not in by_hash:
                by_hash[key] = f"p{len(documents):05d}-{_slug(title, 30)}.txt"
                documents.append(EvalDocument(name=by_hash[key], title=title, text=text))
            answerable = bool(answer.strip())
            questions.append(
                EvalQuestion(
                    id=str(obj.get("id", f"{file.stem}-{number}")),
                    question=question,
                    answers=[answer] if answerable else [],
                    relevant=[(by_hash[key], None)] if answerable else [],
                    answerable=answerable,
                )
            )
    name = path.name if path.is_dir() else path.stem
    return EvalDataset(name, "clapnq", documents, questions)


# ----- FinanceBench ------------------------------------------------------------------------
def load_financebench(path: Path) -> EvalDataset:
    """FinanceBench folder: questions.jsonl and pdfs/DOC_NAME.pdf; the relevant unit is the page.

    ``evidence[].evidence_page_num`` is 0-based; pages in the index are 1-based.
    """
    questions_file = path / "questions.jsonl" if path.is_dir() else path
    pdf_dir = questions_file.parent / "pdfs"
    if not questions_file.is_file():
        raise DatasetError(f"{path}: missing questions.jsonl")
    if not pdf_dir.is_dir():
        raise DatasetError(f"{path}: missing the pdfs/ folder")
    documents = [EvalDocument(name=pdf.name, source=pdf) for pdf in sorted(pdf_dir.glob("*.pdf"))]
    available = {doc.name for doc in documents}
    questions: list[EvalQuestion] = []
    for number, obj in _jsonl(questions_file):
        where = f"{questions_file}, line {number}"
        question = _field(obj, "question", where)
        answer = _field(obj, "answer", where)
        evidence = _field(obj, "evidence", where, list)
        units: list[Unit] = []
        for n, item in enumerate(evidence):
            where_e = f"{where}, evidence[{n}]"
            if not isinstance(item, dict):
                raise DatasetError(f"{where_e}: expected an object")
            doc = str(_field(item, "doc_name", where_e) if "doc_name" in item else _field(obj, "doc_name", where))
            page = _field(item, "evidence_page_num", where_e, int)
            pdf_name = f"{doc}.pdf"
            if pdf_name not in available:
                raise DatasetError(f"{where_e}: {pdf_name} is not in {pdf_dir}")
            units.append((pdf_name, page + 1))
        questions.append(
            EvalQuestion(
                id=str(obj.get("financebench_id", number)),
                question=question,
                answers=[answer],
                relevant=list(dict.fromkeys(units)),
            )
        )
    name = path.name if path.is_dir() else path.parent.name
    return EvalDataset(name, "financebench", documents, questions, page_level=True)
