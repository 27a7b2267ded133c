"""Questions restricted to chosen documents (issue 43, scope): the patterns, retrieval inside
the scope (exact and IVF indexes), the refusal that says where else the answer may be, and the
scope through `App`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag_app.answer import AskOptions
from rag_app.retrieval import ScopeError, resolve_scope
from rag_app.service.app import App
from rag_app.store import IndexStore, NewChunk

from conftest import SUPPORTED, folder, make_settings
from fakes import FakeEmbedder, FakeGenerator

PATHS = ["reports/2023.pdf", "reports/2024.pdf", "contracts/lease.docx", "notes.md"]


def test_a_pattern_is_a_path_a_folder_a_file_name_or_a_glob() -> None:
    assert resolve_scope([], PATHS) is None  # no scope: the whole collection
    assert resolve_scope(["notes.md"], PATHS) == {"notes.md"}
    assert resolve_scope(["reports"], PATHS) == resolve_scope(["reports/"], PATHS) == {"reports/2023.pdf",
                                                                                         "reports/2024.pdf"}
    assert resolve_scope(["lease.docx"], PATHS) == {"contracts/lease.docx"}
    assert resolve_scope(["*.pdf", "notes.md"], PATHS) == {"reports/2023.pdf", "reports/2024.pdf", "notes.md"}
    assert resolve_scope(["reports/*4.pdf"], PATHS) == {"reports/2024.pdf"}
    with pytest.raises(ScopeError, match="“report”.*“budget.xlsx”"):  # a name's prefix is not a folder
        resolve_scope(["report", "notes.md", "budget.xlsx"], PATHS)


def _app(tmp_path: Path, reply: str = SUPPORTED) -> App:
    data = folder(tmp_path)
    (data / "cigognes.md").write_text("# Cigognes\n\nLes cigognes blanches nichent sur les clochers.\n",
                                      encoding="utf-8")
    app = App(make_settings(data, tmp_path / "index"), create=True, embedder=FakeEmbedder(),
              generator=FakeGenerator(reply))
    app.ingest()
    return app


def test_a_scoped_question_is_answered_only_from_its_documents(tmp_path: Path) -> None:
    with _app(tmp_path) as app:
        assert {p.path for p in app.search("storks nest towers herons", k=5, documents=["storks.md"])} == {
            "storks.md"}
        answer = app.answer("Where do white storks nest?", options=_only("storks.md"))
        assert answer.verified and answer.scope == ("storks.md",)
        assert {c.path for c in answer.citations} == {"storks.md"} and {p.path for p in answer.passages} == {
            "storks.md"}
        assert answer.to_json()["scope"] == ["storks.md"]


def test_a_question_answered_only_outside_its_scope_says_where(tmp_path: Path) -> None:
    generator = FakeGenerator(SUPPORTED)
    with _app(tmp_path) as app:
        app.pipeline.generator = generator
        answer = app.answer("Where do white storks nest?", options=_only("pasta.md"))
        assert answer.refused and not answer.verified and generator.calls == 0
        assert "the documents you chose do not answer it" in answer.reason and "storks.md" in answer.reason
        french = app.answer("Où nichent les cigognes blanches ?", options=_only("pasta.md"))
        assert french.refused and french.reason.startswith("les documents choisis n'y répondent pas")
        assert "cigognes.md" in french.reason


def test_a_scope_that_matches_nothing_is_an_error_naming_it(tmp_path: Path) -> None:
    with _app(tmp_path) as app:
        with pytest.raises(ScopeError, match="“owls.md”"):
            app.answer("Where do white storks nest?", options=_only("owls.md"))
        with pytest.raises(ScopeError, match="“owls.md”"):
            app.search("storks", documents=["owls.md"])


def test_one_file_among_many_in_an_ivf_index_still_gives_its_best_passages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scope is searched inside the index: a file far from the question keeps its k best,
    where filtering the global top-k afterwards would leave nothing."""
    import rag_app.store.vector_index as vector_module

    monkeypatch.setattr(vector_module, "IVF_MIN_VECTORS", 100)
    fake = FakeEmbedder()
    crowd = [f"storks nest on towers number {i} in the old town" for i in range(400)]
    lonely = ["Cook the pasta in salted water.", "Drain the pasta.", "Add the tomato sauce."]
    with IndexStore.open(tmp_path / "index") as store, store.writing():
        for path, texts in (("storks.md", crowd), ("pasta.md", lonely)):
            with store.transaction(fake.name, fake.dimension) as writer:
                writer.add_document(path=path, content_hash=path, size=0, mtime=0.0, title=path, metadata={},
                                    chunks=[NewChunk(i, t, f"{path}{i}", None, "", 0, len(t))
                                            for i, t in enumerate(texts)], vectors=fake.encode(texts))
    with IndexStore.open(tmp_path / "index") as store:
        assert store.approximate  # an IVF index over 403 vectors
        query = fake.encode_query("where do storks nest")
        assert all(store.chunks([i])[0].path == "storks.md" for i, _ in store.dense_search(query, 10))
        scoped = store.dense_search(query, 10, within={"pasta.md"})
        assert sorted(store.chunks([i])[0].text for i, _ in scoped) == sorted(lonely)
        assert all(np.isfinite(score) for _, score in scoped)
        assert store.bm25_search("storks pasta", 10, within={"pasta.md"})[0][0] in {i for i, _ in scoped}
        assert store.dense_search(query, 10, within=set()) == [] == store.bm25_search("pasta", 10, within=set())


def test_bm25_in_a_scope_gives_the_same_hits_run_by_run_or_in_one_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rag_app.store.fts as fts

    assert fts.id_runs([1, 2, 3, 7, 8, 10]) == [(1, 3), (7, 8), (10, 10)]
    with _app(tmp_path) as app:
        scope = {"storks.md", "herons.md"}
        by_runs = app.store.bm25_search("storks herons nest", 5, within=scope)
        monkeypatch.setattr(fts, "MAX_RUNS", 0)  # a scope too scattered for runs: one query
        assert app.store.bm25_search("storks herons nest", 5, within=scope) == by_runs
        assert {c.path for c in app.store.chunks([i for i, _ in by_runs])} == scope


def _only(*patterns: str) -> AskOptions:
    return AskOptions(documents=patterns)
