"""Stand-ins for the models, for fast unit tests (tests/unit): no weights, no PyTorch, no llama.cpp.

They live in the package, behind the real switches (``embedding_model = "fake"``,
``runtime = "fake"``), so that the views are tested through the factories that choose real
parts; the tests build them directly when they script a reply.
"""

from rag_app.embedding.fake import FAKE_CALIBRATION, FakeEmbedder
from rag_app.generation.fake import FakeGenerator

__all__ = ["FAKE_CALIBRATION", "FakeEmbedder", "FakeGenerator"]
