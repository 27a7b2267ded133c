"""Hybrid retrieval on a small real index: right files, fusion, hostile queries, LangChain."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag_app.embedding import Embedder, open_embedder
from rag_app.ingest.pipeline import ingest
from rag_app.retrieval import EmptyQueryError, HybridRetriever, mmr_order, standard_scores, zscore_fuse
from rag_app.retrieval.langchain_adapter import IndexRetriever
from rag_app.store import IndexStore
from rag_app.text import guess_language

from conftest import MODELS, make_settings

DOCS = {
    "battery.txt": (
        "Battery care for the Orbit headphones.\n\n"
        "The battery lasts about thirty hours of playback. Charging from empty to full takes "
        "two hours with the USB-C cable. Store the headphones half charged if unused for months."
    ),
    "garden.txt": (
        "Growing tomatoes in a small garden.\n\n"
        "Tomato plants need six to eight hours of direct sunlight and deep watering twice a week. "
        "Pinch off the suckers that grow between the stem and the branches."
    ),
    "cookies_fr.txt": (
        "Les cookies et le consentement.\n\n"
        "Un site web doit recueillir le consentement de l'internaute avant de déposer des cookies "
        "publicitaires. Refuser les cookies doit être aussi simple que de les accepter."
    ),
    "kiln.txt": (
        "Pottery kiln firing schedule.\n\n"
        "Bisque firing heats the clay slowly to about 1000 degrees Celsius; a glaze firing then "
        "reaches 1220 degrees. Never open the kiln lid above 200 degrees."
    ),
}

HOSTILE = [
    "NEAR(battery charging)",
    '"unbalanced quote about the battery',
    "battery AND OR NOT",
    "*",
    "text:battery",
    "heading:tomato^2",
    "battery -- '; DROP TABLE chunks; --",
    "🔋🔋 battery ⚡",
    "🙂",
    "???",
    "(((",
    "\x00 battery \x00",
    "a" * 5000,
]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder):
    root = tmp_path_factory.mktemp("retrieval")
    data = root / "data"
    data.mkdir()
    for name, text in DOCS.items():
        (data / name).write_text(text, encoding="utf-8")
    settings = make_settings(data, root / "index")
    ingest(settings, embedder=embedder)
    store = IndexStore.open(settings.paths.index_dir, embedder.name, embedder.dimension, create=False)
    yield settings, store
    store.close()


@pytest.fixture
def retriever(index, embedder: Embedder) -> HybridRetriever:
    settings, store = index
    return HybridRetriever(store, embedder, settings.retrieval)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("How long does the battery last?", "battery.txt"),
        ("how much sun do tomato plants need", "garden.txt"),
        ("Comment refuser les cookies publicitaires ?", "cookies_fr.txt"),
        ("temperature of a glaze firing", "kiln.txt"),
    ],
)
@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_results_point_to_the_right_file(retriever: HybridRetriever, query: str, expected: str, mode: str) -> None:
    passages = retriever.search(query, k=3, mode=mode)
    assert passages, f"no passage for {query!r} in {mode}"
    assert passages[0].path == expected


def test_hybrid_passages_carry_both_scores_and_ranks(retriever: HybridRetriever) -> None:
    query = "How long does charging the battery take?"
    hybrid = retriever.search(query, k=4)
    dense = retriever.search(query, k=4, mode="dense")
    bm25 = retriever.search(query, k=4, mode="bm25")
    assert [p.fused_rank for p in hybrid] == list(range(1, len(hybrid) + 1))
    assert all(a.score >= b.score for a, b in zip(hybrid, hybrid[1:], strict=False))
    top = hybrid[0]
    assert top.path == "battery.txt"
    assert top.dense_rank == 1 and top.bm25_rank == 1
    assert top.dense_score == pytest.approx(dense[0].dense_score, abs=1e-5)
    assert top.bm25_score == pytest.approx(bm25[0].bm25_score, abs=1e-5)
    # The cosine is known for every passage, even one outside the dense candidates.
    assert all(p.dense_score is not None for p in hybrid)
    # The fused score of the top passage combines its z-scores among the candidates.
    ranked = retriever.ranked_lists(query, retriever.settings.candidates)
    ids = ranked.union(retriever.settings.candidates)
    cosines = [retriever._cosines(ids, ranked)[i] for i in ids]
    bm25_scores = dict(ranked.bm25)
    present = np.array([bm25_scores[i] for i in ids if i in bm25_scores])
    dense_w, bm25_w = retriever.weights("en")
    membership = np.array([1.0 if i in bm25_scores else 0.0 for i in ids])
    if present.std() > 0:
        bm25_z = (present.max() - present.mean()) / present.std()
    else:  # a single BM25 hit: only membership counts
        bm25_z = (1.0 - membership.mean()) / membership.std()
    expected = dense_w * (cosines[0] - np.mean(cosines)) / np.std(cosines) + bm25_w * bm25_z
    assert ids[0] == top.chunk_id
    assert top.score == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_raise(retriever: HybridRetriever, query: str) -> None:
    for mode in ("hybrid", "dense", "bm25"):
        passages = retriever.search(query, k=3, mode=mode)
        assert isinstance(passages, list)
    # Dense search works on any text, so the fused list is never empty on a non-empty index.
    assert retriever.search(query, k=3)


@pytest.mark.parametrize("query", ["NEAR(battery charging)", '"unbalanced quote about the battery',
                                   "charging battery AND OR NOT", "text:battery", "🔋🔋 battery ⚡"])
def test_fts5_syntax_is_searched_as_words(retriever: HybridRetriever, query: str) -> None:
    assert retriever.search(query, k=1, mode="bm25")[0].path == "battery.txt"


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_empty_query_is_a_clear_error(retriever: HybridRetriever, query: str) -> None:
    with pytest.raises(EmptyQueryError, match="empty"):
        retriever.search(query)
    assert issubclass(EmptyQueryError, ValueError)


def test_a_100_kb_paste_is_searched(retriever: HybridRetriever) -> None:
    paste = ("The kiln glaze firing reaches 1220 degrees. " + "lorem ipsum dolor sit amet " * 40) * 100
    assert len(paste) > 100_000
    passages = retriever.search(paste, k=2)
    assert passages[0].path == "kiln.txt"


def test_unknown_mode_is_rejected(retriever: HybridRetriever) -> None:
    with pytest.raises(ValueError, match="mode"):
        retriever.search("battery", mode="magic")


def test_french_question_lowers_the_dense_weight_of_an_english_only_embedder(retriever: HybridRetriever) -> None:
    settings = retriever.settings
    both = pytest.approx((settings.dense_weight, 1 - settings.dense_weight))
    assert retriever.weights("en") == both and retriever.weights("fr") == both  # multilingual e5
    english_only = HybridRetriever(retriever.store, open_embedder("all-MiniLM-L6-v2", MODELS), settings)
    assert english_only.weights("en") == both
    dense, bm25 = english_only.weights("fr")
    assert dense == pytest.approx(settings.dense_weight * settings.foreign_dense_factor)
    assert dense < settings.dense_weight and bm25 == pytest.approx(1 - settings.dense_weight)


def test_standard_scores_by_hand() -> None:
    # mean 2, population std sqrt(2/3); a missing value gets the lowest z-score.
    z = standard_scores([1.0, None, 3.0, 2.0])
    s = (2 / 3) ** 0.5
    assert z == pytest.approx([-1 / s, -1 / s, 1 / s, 0.0])
    assert standard_scores([None, None]).tolist() == [0.0, 0.0]
    assert standard_scores([0.5, 0.5]).tolist() == [0.0, 0.0]
    # One BM25 hit among three candidates: membership (1, 0, 0) standardized.
    assert standard_scores([None, 7.0, None]) == pytest.approx([-(2**-0.5), 2**0.5, -(2**-0.5)])


def test_zscore_fuse_by_hand() -> None:
    cosines = {1: 0.9, 2: 0.5, 3: 0.4}  # dense: 1 far ahead
    bm25 = {3: 12.0, 2: 11.0}  # BM25: 3 barely ahead of 2, 1 not found
    fused = zscore_fuse([1, 2, 3], cosines, bm25, (0.6, 0.4))
    dense_z = standard_scores([0.9, 0.5, 0.4])
    bm25_z = [-1.0, -1.0, 1.0]  # 1 gets BM25's lowest z-score
    expected = {i: 0.6 * dense_z[j] + 0.4 * bm25_z[j] for j, i in enumerate([1, 2, 3])}
    assert [i for i, _ in fused] == [1, 3, 2]  # a clear dense winner beats a close BM25 race
    assert dict(fused) == pytest.approx(expected)
    # A zero dense weight leaves BM25's order; ties keep the order given.
    assert [i for i, _ in zscore_fuse([1, 2, 3], cosines, bm25, (0.0, 1.0))] == [3, 1, 2]


def test_mmr_skips_a_near_duplicate() -> None:
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    assert mmr_order([1.0, 0.99, 0.9], vectors, k=2, lambda_=1.0) == [0, 1]
    assert mmr_order([1.0, 0.99, 0.9], vectors, k=2, lambda_=0.5) == [0, 2]


def test_mmr_setting_diversifies_results(tmp_path: Path, embedder: Embedder) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name, text in DOCS.items():
        (data / name).write_text(text, encoding="utf-8")
    (data / "battery_copy.txt").write_text(DOCS["battery.txt"] + "\n\nCopied.", encoding="utf-8")
    plain = make_settings(data, tmp_path / "index")
    ingest(plain, embedder=embedder)
    query = "battery charging with the USB-C cable"
    with IndexStore.open(plain.paths.index_dir, create=False) as store:
        without = HybridRetriever(store, embedder, plain.retrieval).search(query, k=2)
        diverse = HybridRetriever(store, embedder, plain.replace(mmr=True, mmr_lambda=0.3).retrieval)
        with_mmr = diverse.search(query, k=2)
    assert {p.path for p in without} == {"battery.txt", "battery_copy.txt"}
    assert with_mmr[0].path in {"battery.txt", "battery_copy.txt"}
    assert with_mmr[1].path not in {"battery.txt", "battery_copy.txt"}


def test_search_sees_a_newer_ingest_without_reopening(tmp_path: Path, embedder: Embedder) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "garden.txt").write_text(DOCS["garden.txt"], encoding="utf-8")
    settings = make_settings(data, tmp_path / "index")
    ingest(settings, embedder=embedder)
    with IndexStore.open(settings.paths.index_dir, create=False) as store:
        retriever = HybridRetriever(store, embedder, settings.retrieval)
        assert retriever.search("pottery kiln firing", k=1)[0].path == "garden.txt"
        (data / "kiln.txt").write_text(DOCS["kiln.txt"], encoding="utf-8")
        ingest(settings, embedder=embedder)
        assert retriever.search("pottery kiln firing", k=1)[0].path == "kiln.txt"


def test_langchain_adapter_returns_documents_with_sources(retriever: HybridRetriever) -> None:
    from langchain_core.retrievers import BaseRetriever

    adapter = IndexRetriever(retriever=retriever, k=2)
    assert isinstance(adapter, BaseRetriever)
    docs = adapter.invoke("how much sun do tomato plants need")
    assert len(docs) == 2
    top = docs[0]
    assert top.metadata["path"] == "garden.txt"
    assert "sunlight" in top.page_content
    assert {"path", "page", "heading", "chunk_id", "score"} <= set(top.metadata)
    assert isinstance(top.metadata["chunk_id"], int) and top.metadata["score"] > 0
    bm25_docs = IndexRetriever(retriever=retriever, k=1, mode="bm25").invoke("kiln lid")
    assert bm25_docs[0].metadata["path"] == "kiln.txt"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("How long does the battery last?", "en"),
        ("What's Thomas Piketty's job?", "en"),
        ("Which shaman's proclamation aided Temüjin's rise?", "en"),
        ("Comment faire supprimer un compte Badoo ?", "fr"),
        ("Qu'est-ce qu'un cookie ?", "fr"),
        ("Puis-je refuser les cookies ?", "fr"),
        ("Что такое батарея?", "other"),
        ("🙂", "en"),
        ("", "en"),
    ],
)
def test_guess_language(text: str, language: str) -> None:
    assert guess_language(text) == language


def test_bm25_text_drops_function_words_only_when_something_is_left() -> None:
    from rag_app.retrieval import bm25_text

    assert bm25_text("What is the capital of the country?") == "capital country"
    assert bm25_text("Qu'est-ce qu'un cookie ?") == "cookie"
    assert bm25_text("to be or not to be") == "to be or not to be"
    assert bm25_text("🙂 ???") == ""
