"""One Settings object: defaults < rag_app.toml < RAG_APP_* environment < explicit arguments."""

from __future__ import annotations

import json
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


def _field(default: Any, group: str, description: str, **limits: Any) -> Any:
    """A settings field with its group and its description (what the README's table shows)."""
    return Field(default, description=description, json_schema_extra={"group": group}, **limits)


class Settings(BaseSettings):
    """Every tunable of the application, with the source order documented in the module."""

    # The settings file is the one $RAG_APP_CONFIG names when the settings are read (see
    # `settings_customise_sources`), rag_app.toml in the working folder by default.
    model_config = SettingsConfigDict(
        env_prefix="RAG_APP_",
        extra="ignore",
    )

    # Every field: its group (the README's settings table is generated from these, in this
    # order: `settings_table`, checked by tests/unit/test_settings_table.py) and what it does.
    data_dir: Path = _field(Path("data"), "paths", "The folder of your documents (~ and $VARIABLES expanded; "
                            "relative to the folder the command runs in).")
    index_dir: Path = _field(Path("indexes"), "paths", "Where the index is kept (one SQLite database).")
    models_dir: Path = Field(default_factory=lambda: installed_models_dir(), description=(
        "Where the installed models are: by default the installation's models/ (found from any folder)."),
        json_schema_extra={"group": "paths", "shown_default": "the installation's models/"})

    embedding_model: str = _field("", "ingest", "Embedder: an id of `rag-app models list`, a local "
                                  "sentence-transformers folder, or empty for multilingual-e5-small. An index "
                                  "answers only to the embedder that built it.")
    embedding_batch_size: int = _field(32, "ingest", "Passages embedded together.", ge=1)
    chunk_tokens: int = _field(200, "ingest", "Chunk size, in tokens of the embedder's tokenizer (recorded "
                               "in the index: changing it needs `ingest --rebuild`).", ge=16)
    chunk_overlap: int = _field(30, "ingest", "Tokens shared by consecutive chunks (recorded in the index).", ge=0)
    ingest_batch_chunks: int = _field(256, "ingest", "Chunks embedded and committed together: a crash loses "
                                      "at most this much work.", ge=1)
    follow_external_links: bool = _field(False, "ingest", "Also read (and serve) files and folders that "
                                         "symbolic links lead to outside the data folder.")
    max_file_mb: int = _field(200, "ingest", "Larger files are reported, not read.", ge=1)
    max_text_chars: int = _field(5_000_000, "ingest", "A file with more text than this is reported, not "
                                 "indexed.", ge=1000)

    top_k: int = _field(5, "retrieval", "Passages an answer is written from.", ge=1, le=50)
    candidates: int = _field(40, "retrieval", "Chunks each list (dense, BM25) hands to the fusion.", ge=1)
    dense_weight: float = _field(0.7, "retrieval", "Fusion: dense_weight x z(cosine) + (1 - dense_weight) x "
                                 "z(BM25) (tuned on the public eval sets).", ge=0.0, le=1.0)
    mmr: bool = _field(False, "retrieval", "Re-rank for diversity (maximal marginal relevance).")
    mmr_lambda: float = _field(0.7, "retrieval", "MMR: relevance against diversity.", ge=0.0, le=1.0)
    foreign_dense_factor: float = _field(0.8, "retrieval", "Dense weight multiplier for questions not in "
                                         "English with an English-only embedder.", ge=0.0)

    model: str = _field("", "generation", "Answer model: a catalogue id (`rag-app models list`), the path "
                        "of any GGUF file, or empty for the catalogue's default.")
    n_ctx: int = _field(0, "generation", "Context window; 0: the one the catalogue recommends.", ge=0)
    n_threads: int = _field(0, "generation", "CPU threads; 0: one per physical core.", ge=0)
    n_gpu_layers: int = _field(0, "generation", "Layers offloaded to a GPU (none here).")
    temperature: float = _field(0.1, "generation", "Sampling temperature.", ge=0.0, le=2.0)
    seed: int = _field(0, "generation", "Sampling seed, set for every answer: the same question over the "
                       "same passages gets the same answer.", ge=0)
    max_tokens: int = _field(256, "generation", "Longest answer, in model tokens.", ge=16)
    max_prompt_tokens: int = _field(400, "generation", "Longest prompt (passages, history, question): bounds "
                                    "the wait for the first word on a CPU.", ge=128)
    prompt_sentences: int = _field(1, "generation", "The model reads each passage's N best sentences and "
                                   "their neighbours (0: whole passages).", ge=0)
    model_check: bool = _field(False, "grounding", "Also ask the model whether the passage states a verified "
                               "answer (one more prompt evaluation; it can only take the verdict away).")

    host: str = _field("127.0.0.1", "serve", "Address the chat page listens on.")
    port: int = _field(7860, "serve", "Port of the chat page.")
    max_upload_mb: int = _field(50, "serve", "Largest file the chat page accepts.", ge=1)

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


def settings_table() -> str:
    """The README's settings table (Markdown), from the fields' groups and descriptions."""
    lines = ["| setting | default | what it does |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        default = extra.get("shown_default") or repr(info.default).replace("PosixPath", "").strip("()'\"")
        if isinstance(info.default, bool | int | float) or info.default == "":
            default = json.dumps(info.default)
        lines.append(f"| `{name}` ({extra.get('group', '')}) | {default} | {info.description} |")
    return "\n".join(lines) + "\n"


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


TABLE_START = "<!-- settings-table: generated from rag_app/config.py by `python -m rag_app.config README.md` -->"
TABLE_END = "<!-- /settings-table -->"


def with_settings_table(text: str) -> str:
    """``text`` (the README) with the block between `TABLE_START` and `TABLE_END` regenerated."""
    before, start, rest = text.partition(TABLE_START)
    _, end, after = rest.partition(TABLE_END)
    if not start or not end:
        raise ValueError(f"the settings table markers are missing ({TABLE_START} … {TABLE_END})")
    return f"{before}{TABLE_START}\n{settings_table()}{TABLE_END}{after}"


if __name__ == "__main__":  # python -m rag_app.config [README.md]: print the table, or update the file
    import sys

    if len(sys.argv) > 1:
        readme = Path(sys.argv[1])
        readme.write_text(with_settings_table(readme.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        sys.stdout.write(settings_table())

