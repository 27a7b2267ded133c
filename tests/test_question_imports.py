"""A question, answered or refused, in `rag-app ask` as a whole process: PyTorch is never
imported (the ONNX encoder embeds the question and the sentences checked; issue 25, item 5).

Python's ``-X importtime`` lists every module the process imports, so the check is made from
outside, on the real command with the real bundled models over the demo index."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rag_app.config import Settings

from conftest import ROOT
from demo_facts import DEMO_FACTS, NOT_IN_CORPUS_FR


def imported_modules(settings: Settings, question: str) -> tuple[set[str], str]:
    """The top-level modules `rag-app ask QUESTION` imports, and what it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_APP_")}
    env |= {"RAG_APP_INDEX_DIR": str(settings.paths.index_dir), "RAG_APP_DATA_DIR": str(settings.paths.data_dir),
            "RAG_APP_MODELS_DIR": str(ROOT / "models"), "RAG_APP_CACHE_DIR": str(settings.paths.cache_dir),
            "RAG_APP_CONFIG": str(settings.paths.index_dir / "no-config.toml")}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "rag_app.cli", "ask", question],
                          cwd=settings.paths.index_dir, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    names = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in done.stderr.splitlines()
             if line.startswith("import time:")}
    return names, done.stdout


@pytest.mark.parametrize("question", [NOT_IN_CORPUS_FR[0], DEMO_FACTS[0].question], ids=["refused", "answered"])
def test_a_question_never_imports_pytorch(demo_index: Settings, question: str) -> None:
    names, printed = imported_modules(demo_index, question)
    assert printed.strip() and "onnxruntime" in names  # the question was embedded, by ONNX Runtime
    assert not {"torch", "sentence_transformers", "transformers"} & names
