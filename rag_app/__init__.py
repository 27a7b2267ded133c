"""rag_app: local, offline question answering over your own documents."""

import os

__version__ = "0.1.0"

# Offline by construction: set when any rag_app module is first imported, so before any Hugging
# Face library or Gradio is imported by it.
for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
