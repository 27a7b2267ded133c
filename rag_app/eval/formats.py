"""Readers for public question sets: SQuAD v1.1/v2.0, BEIR, ClapNQ and FinanceBench.

Each reader returns an `EvalDataset`: the documents to write into a corpus folder (one file
each) and the questions with their gold answers and their relevant units. A unit is a document
(``(name, None)``) or, for FinanceBench, a page of a document (``(name, page)``, 1-based).
A bad or partial file raises `DatasetError` naming the file, line or field.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

from rag_app.eval.dataset import (
    UNITS,
    DatasetError,
    EvalDataset,
    EvalDocument,
    EvalQuestion,
    Unit,
    field_of,
    jsonl,
    slug,
)
from rag_app.eval.squad import load_squad

__all__ = ["FORMATS", "UNITS", "DatasetError", "EvalDataset", "EvalDocument", "EvalQuestion", "Unit",
           "guess_format", "load_beir", "load_clapnq", "load_dataset", "load_financebench", "load_squad"]

FORMATS = ("squad", "beir", "clapnq", "financebench")

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
    for number, obj in jsonl(corpus_file):
        where = f"{corpus_file}, line {number}"
        doc_id = str(field_of(obj, "_id", where, (str, int)))
        text = field_of(obj, "text", where)
        title = obj.get("title") or ""
        if not isinstance(title, str):
            raise DatasetError(f"{where}: field 'title' should be str")
        name = f"d{len(documents):06d}-{slug(doc_id, 30)}.txt"
        names[doc_id] = name
        documents.append(EvalDocument(name=name, title=title, text=text))

    texts: dict[str, str] = {}
    for number, obj in jsonl(queries_file):
        where = f"{queries_file}, line {number}"
        texts[str(field_of(obj, "_id", where, (str, int)))] = field_of(obj, "text", where)

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
        for number, obj in jsonl(file):
            where = f"{file}, line {number}"
            question = field_of(obj, "input", where)
            passages = field_of(obj, "passages", where, list)
            if not passages or not isinstance(passages[0], dict):
                raise DatasetError(f"{where}: field 'passages' should hold the gold passage")
            text = field_of(passages[0], "text", f"{where}, passages[0]")
            title = str(passages[0].get("title") or "")
            outputs = field_of(obj, "output", where, list)
            answer = outputs[0].get("answer", "") if outputs and isinstance(outputs[0], dict) else None
            if not isinstance(answer, str):
                raise DatasetError(f"{where}: missing field 'output[0].answer'")
            key = hashlib.sha256(f"{title}\0{text}".encode()).hexdigest()
            if key not in by_hash:
                by_hash[key] = f"p{len(documents):05d}-{slug(title, 30)}.txt"
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
    for number, obj in jsonl(questions_file):
        where = f"{questions_file}, line {number}"
        question = field_of(obj, "question", where)
        answer = field_of(obj, "answer", where)
        evidence = field_of(obj, "evidence", where, list)
        units: list[Unit] = []
        for n, item in enumerate(evidence):
            where_e = f"{where}, evidence[{n}]"
            if not isinstance(item, dict):
                raise DatasetError(f"{where_e}: expected an object")
            doc = str(field_of(item, "doc_name", where_e) if "doc_name" in item else field_of(obj, "doc_name", where))
            page = field_of(item, "evidence_page_num", where_e, int)
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
