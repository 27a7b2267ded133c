"""Importing any part of rag_app switches Hugging Face and Gradio to offline first."""

from __future__ import annotations

import os
import subprocess
import sys


def test_any_rag_app_module_sets_the_offline_variables_before_anything_else_loads() -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "GRADIO_ANALYTICS_ENABLED")}
    script = "import os, rag_app.store; print(os.environ['HF_HUB_OFFLINE'], os.environ['GRADIO_ANALYTICS_ENABLED'])"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["1", "False"]
