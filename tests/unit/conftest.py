"""The fast tier (`make test-fast`): no model is loaded, and this is checked at the end."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "sentence_transformers", "transformers", "llama_cpp")
HERE = Path(__file__).parent


@pytest.fixture(scope="session", autouse=True)
def no_model_runtime_loaded(request: pytest.FixtureRequest):
    """When only the fast tests run, fail if any of them pulled in a model runtime."""
    yield
    alone = all(HERE in Path(item.path).parents for item in request.session.items)
    loaded = sorted(name for name in HEAVY if name in sys.modules)
    assert not (alone and loaded), f"the fast tests imported {loaded}: use tests/fakes.py, not the real models"
