"""`rag-app eval`: dataset formats, metrics by hand, clear errors on bad files, an end-to-end run."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest

from rag_app.cli.evaluate import summary_markdown, summary_rows
from rag_app.config import Settings
from rag_app.embedding import Embedder
from rag_app.eval import metrics
from rag_app.eval.formats import DatasetError, guess_format, load_dataset
from rag_app.eval.runner import EvalOptions, EvalResult, corpus_key, run_eval

FIXTURES = Path(__file__).parent / "fixtures" / "eval"
SQUAD = FIXTURES / "squad_v2.json"


# ----- formats -------------------------------------------------------------------------------
def test_squad_paragraph_unit() -> None:
    ds = load_dataset(SQUAD, "squad")
    assert len(ds.documents) == 3
    assert len(ds.questions) == 5
    by_id = {q.id: q for q in ds.questions}
    assert by_id["q1"].answers == ["James Douglass"]
    assert by_id["q2"].answers == ["1882", "in 1882"]
    assert by_id["q1"].relevant == by_id["q2"].relevant != by_id["q3"].relevant
    assert by_id["q4"].answerable is False and by_id["q4"].relevant == [] and by_id["q4"].answers == []
    doc = next(d for d in ds.documents if d.name == by_id["q1"].relevant[0][0])
    assert doc.text.startswith("The Eddystone Lighthouse") and doc.title == ""


def test_squad_article_unit() -> None:
    ds = load_dataset(SQUAD, "squad", unit="article")
    assert len(ds.documents) == 2
    lighthouses = ds.documents[0]
    assert lighthouses.title == "Lighthouses"
    assert "Eddystone" in lighthouses.text and "clockwork" in lighthouses.text
    by_id = {q.id: q for q in ds.questions}
    assert by_id["q1"].relevant == by_id["q3"].relevant == [(lighthouses.name, None)]
    assert by_id["q5"].relevant == [(ds.documents[1].name, None)]


def test_beir() -> None:
    ds = load_dataset(FIXTURES / "beir", "beir")
    assert [q.id for q in ds.questions] == ["q1", "q2", "q3"]
    names = [d.name for d in ds.documents]
    assert ds.questions[2].relevant == [(names[2], None)]  # the 0-score judgement is not relevant
    assert ds.documents[0].title == "Tides"


def test_clapnq() -> None:
    ds = load_dataset(FIXTURES / "clapnq.jsonl", "clapnq")
    assert len(ds.documents) == 2  # the shared gold passage is written once
    answerable = [q for q in ds.questions if q.answerable]
    assert [q.id for q in answerable] == ["c1", "c3"]
    unanswerable = next(q for q in ds.questions if not q.answerable)
    assert unanswerable.id == "c2" and unanswerable.relevant == [] and unanswerable.answers == []
    assert ds.questions[0].relevant == [(ds.documents[0].name, None)]


def _financebench(root: Path) -> Path:
    from fpdf import FPDF

    (root / "pdfs").mkdir(parents=True)
    pdf = FPDF()
    for text in ("Cover page of the annual report.", "Revenue was 12 million dollars in 2023."):
        pdf.add_page()
        pdf.set_font("Helvetica", size=12)
        pdf.cell(0, 10, text)
    pdf.output(str(root / "pdfs" / "ACME_2023_10K.pdf"))
    line = {
        "financebench_id": "fb1", "doc_name": "ACME_2023_10K", "question": "What was ACME's revenue in 2023?",
        "answer": "12 million dollars",
        "evidence": [{"doc_name": "ACME_2023_10K", "evidence_page_num": 1, "evidence_text": "Revenue"}],
    }
    (root / "questions.jsonl").write_text(json.dumps(line) + "\n")
    return root


def test_financebench_pages_are_one_based(tmp_path: Path) -> None:
    ds = load_dataset(_financebench(tmp_path / "fb"), "financebench")
    assert ds.page_level
    assert [d.name for d in ds.documents] == ["ACME_2023_10K.pdf"]
    assert ds.documents[0].source is not None
    assert ds.questions[0].relevant == [("ACME_2023_10K.pdf", 2)]
    assert ds.questions[0].answers == ["12 million dollars"]


def test_guess_format(tmp_path: Path) -> None:
    assert guess_format(SQUAD) == "squad"
    assert guess_format(FIXTURES / "beir") == "beir"
    assert guess_format(FIXTURES / "clapnq.jsonl") == "clapnq"
    assert guess_format(_financebench(tmp_path / "fb")) == "financebench"


def test_limit_spreads_questions() -> None:
    ds = load_dataset(SQUAD, "squad").limited(2)
    assert [q.id for q in ds.questions] == ["q1", "q3"]
    assert len(ds.documents) == 3  # the corpus stays whole


# ----- malformed files -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"data": [', r"not valid JSON at line 1"),
        ('{"version": "1.1"}', r"missing field 'data'"),
        ('{"data": [{"paragraphs": [{"qas": []}]}]}', r"data\[0\]\.paragraphs\[0\]: missing field 'context'"),
        ('{"data": [{"paragraphs": [{"context": "x", "qas": [{"id": "a", "answers": []}]}]}]}',
         r"qas\[0\]: missing field 'question'"),
        ('{"data": [{"paragraphs": [{"context": "x", "qas": [{"question": "q?", "answers": []}]}]}]}',
         r"no answer and not marked is_impossible"),
        ('[1, 2]', r"expected an object with a 'data' list"),
    ],
)
def test_malformed_squad_names_the_field(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        load_dataset(path, "squad")


def test_malformed_clapnq_names_the_line(tmp_path: Path) -> None:
    good = (FIXTURES / "clapnq.jsonl").read_text().splitlines()[0]
    path = tmp_path / "bad.jsonl"
    path.write_text(good + "\n" + '{"input": "q", "passages": []}\n')
    with pytest.raises(DatasetError, match=r"bad.jsonl, line 2: field 'passages'"):
        load_dataset(path, "clapnq")
    path.write_text(good + "\n" + good[:-10] + "\n")
    with pytest.raises(DatasetError, match=r"line 2: not valid JSON"):
        load_dataset(path, "clapnq")


def test_malformed_beir_names_the_line(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "beir"
    shutil.copytree(FIXTURES / "beir", root)
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tnope\t1\n")
    with pytest.raises(DatasetError, match=r"test.tsv, line 2: corpus-id 'nope'"):
        load_dataset(root, "beir")
    (root / "corpus.jsonl").write_text('{"_id": "d1"}\n')
    with pytest.raises(DatasetError, match=r"corpus.jsonl, line 1: missing field 'text'"):
        load_dataset(root, "beir")


def test_malformed_financebench_and_missing_paths(tmp_path: Path) -> None:
    root = _financebench(tmp_path / "fb")
    (root / "questions.jsonl").write_text('{"question": "q", "answer": "a", "evidence": '
                                          '[{"doc_name": "OTHER", "evidence_page_num": 0}]}\n')
    with pytest.raises(DatasetError, match=r"line 1, evidence\[0\]: OTHER.pdf is not in"):
        load_dataset(root, "financebench")
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "missing.json", "squad")
    with pytest.raises(DatasetError, match="Unknown format"):
        load_dataset(SQUAD, "xml")


# ----- metrics -------------------------------------------------------------------------------
def test_retrieval_metrics_by_hand() -> None:
    ranked = ["a", "b", "c", "d"]
    assert metrics.recall_at(ranked, {"b", "x"}, 1) == 0.0
    assert metrics.recall_at(ranked, {"b", "x"}, 5) == 0.5
    assert metrics.recall_at(ranked, {"b", "d"}, 2) == 0.5
    assert metrics.mrr_at(ranked, {"c"}) == pytest.approx(1 / 3)
    assert metrics.mrr_at(ranked, {"d"}, k=3) == 0.0
    # relevant at ranks 2 and 4 of two relevant: (1/log2(3) + 1/log2(5)) / (1 + 1/log2(3))
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert metrics.ndcg_at(ranked, {"b", "d"}) == pytest.approx(expected)
    assert metrics.ndcg_at(ranked, {"a"}) == 1.0
    assert metrics.dedupe(["a", "a", "b", "a", "c"]) == ["a", "b", "c"]
    scores = metrics.retrieval_scores(ranked, ["c"])
    assert scores["recall@1"] == 0 and scores["recall@5"] == 1 and scores["mrr@10"] == pytest.approx(1 / 3)


def test_normalization_en_and_fr() -> None:
    assert metrics.normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert metrics.normalize_answer("L'Autorité de la protection des données") == "autorite de protection donnees"
    assert metrics.normalize_answer("Élève, «une» école…") == "eleve ecole"


def test_exact_match_f1_containment_by_hand() -> None:
    assert metrics.exact_match("the James Douglass.", ["James Douglass"]) == 1.0
    assert metrics.exact_match("Douglass", ["James Douglass"]) == 0.0
    # prediction "james douglass designed it": 2 common of 4 predicted, 2 gold -> P=.5 R=1 F1=2/3
    assert metrics.f1("James Douglass designed it", ["James Douglass"]) == pytest.approx(2 / 3)
    assert metrics.f1("nothing here", ["James Douglass", "Douglass"]) == 0.0
    assert metrics.f1("Douglass", ["James Douglass", "Douglass"]) == 1.0
    assert metrics.contains("It was lit in 1882 by the keepers.", ["1882"]) == 1.0
    assert metrics.contains("It was lit in 18825.", ["1882"]) == 0.0
    assert metrics.contains("Vous pouvez saisir la CNIL.", ["saisir l'autorité", "saisir CNIL"]) == 1.0


def test_percentile_by_hand() -> None:
    assert metrics.percentile([1, 2, 3, 4], 50) == 2.5
    assert metrics.percentile([10, 20, 30, 40, 50], 95) == pytest.approx(48.0)
    assert metrics.percentile([], 50) is None


# ----- end to end ----------------------------------------------------------------------------
def test_end_to_end_retrieval_eval(tmp_path: Path, embedder: Embedder) -> None:
    settings = Settings(data_dir=tmp_path / "unused", index_dir=tmp_path / "unused-index")
    options = EvalOptions(dataset=SQUAD, format="squad", index_dir=tmp_path / "cache", retrieval_only=True)
    result = run_eval(options, settings, embedder=embedder)
    report = result.to_dict()
    assert report["corpus"]["documents"] == 3 and report["corpus"]["chunks"] >= 3
    assert report["corpus"]["reused"] is False
    summary = report["summary"]
    assert summary["answerable"] == 4 and summary["unanswerable"] == 1
    assert summary["retrieval"]["judged"] == 4
    for mode in ("dense", "bm25", "hybrid"):
        assert summary["retrieval"][mode]["recall@5"] == 1.0  # only three documents
        assert summary["retrieval"][mode]["ndcg@10"] >= 0.75
    assert summary["retrieval"]["hybrid"]["recall@1"] == 1.0
    first = report["questions"][0]
    assert first["question"] == "Who designed the present Eddystone tower?"
    assert first["retrieval"]["hybrid"]["top"][0] == first["relevant"][0]
    assert "retrieval" not in next(q for q in report["questions"] if q["kind"] == "unanswerable")
    json.dumps(report)  # the report is JSON-ready

    again = run_eval(options, settings, embedder=embedder)
    assert again.corpus["reused"] is True
    assert again.summary["retrieval"] == summary["retrieval"]


def test_cache_key_follows_corpus_and_chunk_settings() -> None:
    ds = load_dataset(SQUAD, "squad")
    base = Settings()
    assert corpus_key(ds, base, "paragraph") == corpus_key(ds, Settings(top_k=9), "paragraph")
    assert corpus_key(ds, base, "paragraph") != corpus_key(ds, Settings(chunk_tokens=100), "paragraph")
    other = load_dataset(SQUAD, "squad", unit="article")
    assert corpus_key(ds, base, "paragraph") != corpus_key(other, base, "article")


def test_cache_key_of_copied_files_follows_their_bytes_not_their_place(tmp_path: Path) -> None:
    first = _financebench(tmp_path / "first")
    key = corpus_key(load_dataset(first, "financebench"), Settings(), "paragraph")
    # The same files unpacked again elsewhere, later (as a fresh checkout of the eval data is).
    again = tmp_path / "again"
    shutil.copytree(first, again)
    os.utime(again / "pdfs" / "ACME_2023_10K.pdf", (1, 1))
    assert corpus_key(load_dataset(again, "financebench"), Settings(), "paragraph") == key
    with (again / "pdfs" / "ACME_2023_10K.pdf").open("ab") as pdf:
        pdf.write(b"\n% an incremental update\n")
    assert corpus_key(load_dataset(again, "financebench"), Settings(), "paragraph") != key


@pytest.mark.slow
def test_end_to_end_answer_eval_with_foreign_questions(tmp_path: Path, embedder: Embedder) -> None:
    settings = Settings(data_dir=tmp_path / "unused", index_dir=tmp_path / "unused-index", max_tokens=48)
    options = EvalOptions(dataset=SQUAD, format="squad", index_dir=tmp_path / "cache",
                          foreign=FIXTURES / "beir", foreign_limit=2)
    result = run_eval(options, settings, embedder=embedder)
    summary = result.summary
    assert summary["answers"]["answerable"]["n"] == 4
    assert summary["answers"]["unanswerable"]["n"] == 1
    assert summary["answers"]["foreign"]["n"] == 2
    for kind in ("unanswerable", "foreign"):
        shares = summary["answers"][kind]
        assert shares["refused"] + shares["unverified"] + shares["supported"] == pytest.approx(1.0)
    assert summary["answers"]["foreign"]["refused"] == 1.0  # tides and volcanoes are not in the corpus
    answered = [q for q in result.questions if "answer" in q]
    assert len(answered) == 7
    for record in answered:
        answer = record["answer"]
        assert {"answer", "refused", "citations", "sentences", "timings"} <= set(answer)
        if not answer["refused"]:
            assert all({"n", "path", "page"} <= set(c) for c in answer["citations"])
    assert summary["timings"]["total_ms"]["p50"] > 0
    json.dumps(result.to_dict())


def test_cli_eval_json_report_and_clear_error(tmp_path: Path, embedder: Embedder) -> None:
    from typer.testing import CliRunner

    from rag_app.cli import app

    runner = CliRunner()
    out = tmp_path / "report.json"
    result = runner.invoke(app, ["eval", str(FIXTURES / "beir"), "--retrieval-only", "--json",
                                 "--index-dir", str(tmp_path / "cache"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["format"] == "beir"
    assert report["summary"]["retrieval"]["hybrid"]["recall@5"] == 1.0
    assert json.loads(out.read_text())["summary"] == report["summary"]

    bad = tmp_path / "bad.json"
    bad.write_text('{"data": [{"paragraphs": [{"qas": []}]}]}')
    result = runner.invoke(app, ["eval", str(bad), "--retrieval-only"])
    assert result.exit_code == 1
    assert "missing field 'context'" in result.output


# ----- the summary table ---------------------------------------------------------------------
def _result(name: str, summary: dict) -> EvalResult:
    return EvalResult(dataset=name, format="squad", unit="paragraph", settings={}, corpus={}, summary=summary)


def test_summary_table_puts_datasets_across_and_leaves_out_empty_sections() -> None:
    scores = {"recall@1": 0.5, "recall@5": 0.75, "recall@10": 1.0, "recall@100": 1.0, "mrr@10": 0.625, "ndcg@10": 0.7}
    answered = _result("answered", {
        "retrieval": {"judged": 4, "dense": scores, "bm25": scores, "hybrid": scores},
        "answers": {"answerable": {"n": 4, "gold_in_verified": 0.25, "gold_in_answer": 0.5, "refused": 0.0},
                    "unanswerable": {"n": 2, "refused": 0.5, "unverified": 0.5, "supported": 0.0}},
        "timings": {"retrieval_ms": {"p50": 12.4, "p95": 20.6}},
    })
    retrieval_only = _result("retrieval-only", {"retrieval": {"judged": 3, "hybrid": scores}})
    rows = {(row.label, row.heading): row.values for row in summary_rows([answered, retrieval_only])}
    headings = [label for label, heading in rows if heading]
    assert headings == ["Questions", "Retrieval, dense (%)", "Retrieval, BM25 (%)", "Retrieval, fused (%)",
                        "Answerable (%)", "Unanswerable (%)", "Timings (ms)"]  # no out-of-corpus questions
    assert rows[("for retrieval", False)] == ("4", "3")
    assert rows[("asked: unanswerable", False)] == ("2", "-")
    assert rows[("MRR@10", False)] == ("62.5", "62.5")
    assert rows[("gold in verified answer", False)] == ("25.0", "-")
    assert rows[("gold in shown answer", False)] == ("50.0", "-")
    assert rows[("refused", False)] == ("50.0", "-")
    assert rows[("retrieval p95", False)] == ("21", "-")

    markdown = summary_markdown([answered, retrieval_only]).splitlines()
    assert markdown[0] == "| metric | answered | retrieval-only |"
    assert "| **Retrieval, fused (%)** |  |  |" in markdown
    assert "| nDCG@10 | 70.0 | 70.0 |" in markdown


def test_suite_runs_the_sets_it_finds_and_prints_one_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rag_app.cli import eval_suite as suite

    eval_dir = tmp_path / "eval"
    (eval_dir / "xquad-en").mkdir(parents=True)
    (eval_dir / "xquad-en" / "xquad.en.json").write_text(SQUAD.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("RAG_APP_EVAL_CACHE", str(tmp_path / "cache"))
    reports = tmp_path / "reports"
    assert suite.main([str(eval_dir), "--retrieval-only", "--out", str(reports)]) == 0
    out = capsys.readouterr()
    assert out.out.count("rag-app eval") == 1 and "xquad-en" in out.out
    assert "Skipping clapnq-dev" in out.err
    assert json.loads((reports / "xquad-en.json").read_text())["summary"]["retrieval"]["judged"] == 4
    assert "| **Retrieval, fused (%)** |  |" in (reports / "summary.md").read_text()
    assert suite.main([str(tmp_path / "empty"), "--retrieval-only", "--out", str(reports)]) == 1
