"""Any text a person types reaches an answer or a clear message: generated French and English
questions (accents and none, case, punctuation, repeated words, FTS5 operators) through search
and ask, over fake models."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from rag_app.service.app import App

from conftest import make_settings
from fakes import FakeEmbedder, FakeGenerator

WORDS = ["modèle", "modele", "Modèle", "MODÈLE", "données", "donnees", "Mistral", "élève", "eleve", "café",
         "cafe", "quantization", "GGUF", "Q4_K_M", "naïve", "naive", "œuvre", "oeuvre", "été", "ete", "NEAR",
         "AND", "OR", "NOT", "l'index", "aujourd'hui", "c'est", "GPT-2", "3.5", "50,257", "2023"]
GLUE = [" ", " ", " ", ", ", " ? ", " ! ", " ; ", ' "', '" ', " (", ") ", " - ", " * ", " ^", ":", " …"]
DOCUMENTS = {
    "modeles.md": "# Modèles\n\nLe modèle Mistral est quantifié en Q4_K_M dans un fichier GGUF.\n",
    "donnees.txt": "Les données de l'élève sont protégées. The GPT-2 vocabulary holds 50,257 tokens.\n",
}


def questions(n: int, seed: int = 0) -> list[str]:
    """``n`` questions of 1 to 8 words from `WORDS`, some repeated, glued by punctuation."""
    rng = random.Random(seed)
    out = ["Le modèle de Mistral, modele ou modèle ?"]  # the case that crashed search (issue 23)
    for _ in range(n - 1):
        words = [rng.choice(WORDS) for _ in range(rng.randint(1, 8))]
        if rng.random() < 0.4:
            words += words[: rng.randint(1, len(words))]
        text = words[0]
        for word in words[1:]:
            text += rng.choice(GLUE) + word
        out.append(text + rng.choice(["", "?", " ?", "...", "!!"]))
    return out


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> App:
    root = tmp_path_factory.mktemp("typed")
    data = root / "data"
    data.mkdir()
    for name, text in DOCUMENTS.items():
        (data / name).write_text(text, encoding="utf-8")
    generator = FakeGenerator("Le modèle Mistral est quantifié en Q4_K_M [1].")
    with App(make_settings(data, root / "index"), create=True, embedder=FakeEmbedder(), generator=generator) as app:
        app.ingest()
        yield app


@pytest.mark.parametrize("question", questions(150), ids=range(150))
def test_any_typed_question_is_searched_and_answered(app: App, question: str, tmp_path: Path) -> None:
    passages = app.search(question, k=3)
    assert all(p.path in DOCUMENTS for p in passages)
    answer = app.answer(question)
    assert answer.answer.strip()  # an answer, a refusal or the unverified message, never an error
    assert answer.refused or answer.raw_answer
