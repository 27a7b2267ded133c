"""One Settings object: defaults < rag_app.toml < RAG_APP_* environment < explicit arguments."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_ENV = "RAG_APP_CONFIG"
DEFAULT_CONFIG_FILE = "rag_app.toml"


def config_file() -> Path:
    """The settings file read at start-up ($RAG_APP_CONFIG, or rag_app.toml in the working folder)."""
    return Path(os.environ.get(CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE))


class Settings(BaseSettings):
    """Every tunable of the application, with the source order documented in the module."""

    # The settings file is the one $RAG_APP_CONFIG names when the settings are read (see
    # `settings_customise_sources`), rag_app.toml in the working folder by default.
    model_config = SettingsConfigDict(
        env_prefix="RAG_APP_",
        extra="ignore",
    )

    # Where things live. "~" and $VARIABLES are expanded; data and index are relative to the
    # folder the command runs in, the models belong to the installation (`installed_models_dir`).
    data_dir: Path = Path("data")
    index_dir: Path = Path("indexes")
    models_dir: Path = Field(default_factory=lambda: installed_models_dir())

    # Embedder: an id of `rag-app models list` (multilingual-e5-small, all-MiniLM-L6-v2), a
    # local sentence-transformers folder, or empty for the default
    # (multilingual-e5-small). An index answers only to the embedder that built it.
    embedding_model: str = ""
    embedding_batch_size: int = Field(32, ge=1)

    # Chunking, in tokens of the embedding model's own tokenizer.
    chunk_tokens: int = Field(200, ge=16)
    chunk_overlap: int = Field(30, ge=0)
    # Chunks embedded and committed together: a crash loses at most this much work.
    ingest_batch_chunks: int = Field(256, ge=1)
    # The data folder is a boundary: a file or folder reached through a symbolic link that
    # leads out of it is not read (and not served) unless this is true.
    follow_external_links: bool = False
    # Limits that bound what one file can cost: its size, and the text extracted from it.
    max_file_mb: int = Field(200, ge=1)
    max_text_chars: int = Field(5_000_000, ge=1000)

    # Retrieval.
    top_k: int = Field(5, ge=1, le=50)
    candidates: int = Field(40, ge=1)
    # Fusion: dense_weight * z(cosine) + (1 - dense_weight) * z(BM25) over the candidates;
    # tuned on the five public eval sets (docs/evaluation.md).
    dense_weight: float = Field(0.7, ge=0.0, le=1.0)
    mmr: bool = False
    mmr_lambda: float = Field(0.7, ge=0.0, le=1.0)
    # Dense weight multiplier for questions not in English, with an English-only embedder
    # (all-MiniLM-L6-v2); a multilingual embedder keeps its full weight.
    foreign_dense_factor: float = Field(0.8, ge=0.0)

    # Generation: a catalogue id (`rag-app models list`), the path of any GGUF file, or empty
    # for the catalogue's default model. n_ctx 0: the window the catalogue recommends for it.
    model: str = ""
    n_ctx: int = Field(0, ge=0)
    n_threads: int = Field(0, ge=0)  # 0: one per physical core
    n_gpu_layers: int = 0
    temperature: float = Field(0.1, ge=0.0, le=2.0)
    # Sampling seed, set for every answer: the same question over the same passages gets the
    # same answer, whatever was asked before (and evaluations are reproducible).
    seed: int = Field(0, ge=0)
    max_tokens: int = Field(256, ge=16)
    # Longest prompt (passages + history + question), in model tokens: bounds the time to the
    # first token on a CPU (a 1.5B model reads about 60 tokens/s on 2 cores); the window n_ctx
    # still bounds prompt + answer. See docs/models.md.
    max_prompt_tokens: int = Field(400, ge=128)
    # 0: the model reads whole passages; N: each passage cut to its N sentences that best match
    # the question, with their neighbours (a third of the prompt, same answers: docs/models.md).
    prompt_sentences: int = Field(1, ge=0)
    # Ask the model, after its answer passed every other check, whether the supporting passage
    # states it (a yes/no judgement: one more prompt evaluation per answer).
    model_check: bool = False

    # Serving.
    host: str = "127.0.0.1"
    port: int = 7860
    max_upload_mb: int = Field(50, ge=1)

    @field_validator("data_dir", "index_dir", "models_dir", mode="after")
    @classmethod
    def _expand(cls, path: Path) -> Path:
        """``~`` and environment variables expanded, once, for every path setting."""
        return expand_path(path)

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
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config_file()))


def expand_path(path: Path | str) -> Path:
    """``path`` with ``~`` and ``$VARIABLES`` expanded."""
    return Path(os.path.expanduser(os.path.expandvars(str(path))))


def installed_models_dir() -> Path:
    """Where `rag-app models install` puts the models, wherever the command runs from: the
    ``models/`` folder beside the package when there is one (a checkout installed with
    ``make install``), else the per-user data folder (``~/.local/share/rag_app/models`` on
    Linux, chosen by platformdirs). The ``models_dir`` setting overrides it."""
    beside = Path(__file__).resolve().parent.parent / "models"
    if beside.is_dir():
        return beside
    from platformdirs import user_data_path

    return user_data_path("rag_app") / "models"


def load_settings(**overrides: Any) -> Settings:
    """Settings from all sources; ``None`` overrides (unset CLI flags) are ignored."""
    return Settings(**{key: value for key, value in overrides.items() if value is not None})


def save_setting(key: str, value: str, path: Path | None = None) -> Path:
    """Set ``key = value`` in the settings file (created if missing), keeping its other lines.

    Raises ``ValueError`` naming the file when it is not valid TOML (nothing is written then).
    """
    import tomlkit

    target = path or config_file()
    text = target.read_text(encoding="utf-8") if target.exists() else ""
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise ValueError(f"{target} is not valid TOML ({exc}); fix it, then try again.") from exc
    document[key] = value
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(tomlkit.dumps(document), encoding="utf-8")
    os.replace(tmp, target)
    return target
