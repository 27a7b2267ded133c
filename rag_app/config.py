"""One Settings object: defaults < rag_app.toml < RAG_APP_* environment < explicit arguments."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
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


def _field(default: Any, description: str, **limits: Any) -> Any:
    """A settings field with its description (what the README's table shows)."""
    return Field(default, description=description, **limits)


class _Group(BaseModel):
    """One group of settings (a part of the app receives its group, not the whole object)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PathSettings(_Group):
    """Where the documents, the index and the models are."""

    data_dir: Path = _field(Path("data"), "The folder of your documents (~ and $VARIABLES expanded; "
                            "relative to the folder the command runs in).")
    index_dir: Path = _field(Path("indexes"), "Where the index is kept (one SQLite database).")
    collections_dir: Path = _field(Path("collections"), "Where the other collections are registered, "
                                   "one folder each (`rag-app collections`); `default` is data_dir.")
    models_dir: Path = Field(default_factory=lambda: installed_models_dir(), description=(
        "Where the installed models are: by default the installation's models/ (found from any folder)."),
        json_schema_extra={"shown_default": "the installation's models/"})

    cache_dir: Path = Field(default_factory=lambda: user_cache_dir(), description=(
        "Where work that is slow to redo is kept (the text OCR read on each scanned page, by its "
        "content): by default the per-user cache folder (~/.cache/rag_app on Linux)."),
        json_schema_extra={"shown_default": "the per-user cache folder"})

    @field_validator("data_dir", "index_dir", "collections_dir", "models_dir", "cache_dir", mode="after")
    @classmethod
    def _expand(cls, path: Path) -> Path:
        """``~`` and environment variables expanded, once, for every path setting."""
        return expand_path(path)


class IndexSettings(_Group):
    """Which engine keeps the index: the embedded SQLite file, or a Milvus server."""

    store: Literal["sqlite", "milvus"] = _field("sqlite", "Where the index lives: `sqlite` (one file in "
                                                "index_dir) or `milvus` (collections on milvus_uri; "
                                                "`rag-app migrate --to milvus` copies an index there).")
    milvus_uri: str = _field("", "Milvus to keep the index on: http://host:19530 (standalone, distributed), "
                             "a Zilliz Cloud endpoint, or a local file path (Milvus Lite, one process); "
                             "empty: index_dir/milvus.db.")
    milvus_token: str = _field("", "Milvus credentials (user:password, or an API key), if it wants them.")
    milvus_collection: str = _field("", "Name of the index's collections on Milvus; empty: one derived "
                                    "from index_dir, so each document collection gets its own.")


class IngestSettings(_Group):
    """How documents become indexed passages."""

    embedding_model: str = _field("", "Embedder: an id of `rag-app models list`, a local "
                                  "sentence-transformers folder, empty for multilingual-e5-small, or \"fake\" "
                                  "(no model: hashed words, for tests). An index answers only to the embedder "
                                  "that built it.")
    embedding_batch_size: int = _field(32, "Passages embedded together.", ge=1)
    chunk_tokens: int = _field(200, "Chunk size, in tokens of the embedder's tokenizer (recorded "
                               "in the index: changing it needs `ingest --rebuild`).", ge=16)
    chunk_overlap: int = _field(30, "Tokens shared by consecutive chunks (recorded in the index).", ge=0)
    ingest_batch_chunks: int = _field(256, "Chunks embedded and committed together: a crash loses "
                                      "at most this much work.", ge=1)
    follow_external_links: bool = _field(False, "Also read (and serve) files and folders that "
                                         "symbolic links lead to outside the data folder.")
    max_file_mb: int = _field(200, "Larger files are reported, not read.", ge=1)
    max_text_chars: int = _field(5_000_000, "A file with more text than this is reported, not indexed.", ge=1000)


class RetrievalSettings(_Group):
    """How the passages of an answer are found."""

    top_k: int = _field(5, "Passages an answer is written from.", ge=1, le=50)
    candidates: int = _field(40, "Chunks each list (dense, BM25) hands to the fusion.", ge=1)
    dense_weight: float = _field(0.7, "Fusion: dense_weight x z(cosine) + (1 - dense_weight) x "
                                 "z(BM25) (tuned on the public eval sets).", ge=0.0, le=1.0)
    mmr: bool = _field(False, "Re-rank for diversity (maximal marginal relevance).")
    mmr_lambda: float = _field(0.7, "MMR: relevance against diversity.", ge=0.0, le=1.0)
    foreign_dense_factor: float = _field(0.8, "Dense weight multiplier for questions not in "
                                         "English with an English-only embedder.", ge=0.0)


class GenerationSettings(_Group):
    """The answer model and how it writes."""

    model: str = _field("", "Answer model: a catalogue id (`rag-app models list`), the path "
                        "of any GGUF file, or empty for the catalogue's default.")
    runtime: Literal["", "fake"] = _field("", "What writes the answers: empty for the model (in this process, "
                                          "or on the server at llm_url); \"fake\" for no model at all (it quotes "
                                          "the best passage: for tests, and to try the views).")
    n_ctx: int = _field(0, "Context window; 0: the one the catalogue recommends.", ge=0)
    n_threads: int = _field(0, "CPU threads; 0: one per physical core.", ge=0)
    n_gpu_layers: int = _field(0, "Layers offloaded to a GPU (none here).")
    repack_weights: bool = _field(False, "Let llama.cpp copy the weights into its CPU-tuned layout. "
                                  "Measured on 2 AVX2 cores: writing 20% faster, reading the prompt 25% "
                                  "slower, 600 MB more memory (docs/evaluation.md).")
    flash_attention: bool = _field(True, "llama.cpp's fused attention: prompts read 5-8% sooner here.")
    temperature: float = _field(0.1, "Sampling temperature.", ge=0.0, le=2.0)
    seed: int = _field(0, "Sampling seed, set for every answer: the same question over the "
                       "same passages gets the same answer.", ge=0)
    max_tokens: int = _field(256, "Longest answer, in model tokens.", ge=16)
    max_prompt_tokens: int = _field(300, "Longest prompt (passages, history, question): bounds "
                                    "the wait for the first word on a CPU.", ge=128)
    prompt_sentences: int = _field(1, "The model reads each passage's N best sentences and "
                                   "their neighbours (0: whole passages).", ge=0)
    history_turns: int = _field(3, "Earlier exchanges of the conversation the prompt keeps.", ge=0)
    history_answer_tokens: int = _field(96, "Tokens kept of each earlier answer in the prompt.", ge=0)
    llm_url: str = _field("", "An OpenAI-compatible inference server to write the answers on (llama.cpp's "
                          "server, `python -m llama_cpp.server`, vLLM), e.g. http://127.0.0.1:8080/v1; empty: "
                          "the model in this process. `model` then names the catalogue model whose "
                          "tokenizer counts the prompt: the server's, or one of its family.")
    llm_model: str = _field("", "The model name the server is asked for; empty: the catalogue id of `model`.")
    llm_api_key: str = _field("", "The server's API key, if it wants one.")
    llm_connect_timeout_s: float = _field(5.0, "Seconds to wait for the server to accept a connection.", gt=0)
    llm_read_timeout_s: float = _field(120.0, "Seconds to wait for the server's next piece of answer.", gt=0)
    llm_logprobs: bool = _field(True, "Ask the server for each token's log-probability, which the verified "
                                "decision reads (llama_cpp.server writes 2.5x slower with them here).")
    llm_retries: int = _field(2, "Times a question is asked again when the server fails before its first "
                              "word (never after).", ge=0)


class GroundingSettings(_Group):
    """The checks an answer passes before it is shown as verified (tuned on the eval sets,
    docs/evaluation.md; the cosine thresholds belong to the embedder's calibration)."""

    gate_coverage: float = _field(0.5, "Gate: share of the question's content words one passage must "
                                  "hold when the cosine alone does not open it.", ge=0.0, le=1.0)
    gate_coverage_foreign: float = _field(0.5, "The same share for a question not in English with an "
                                          "English-only embedder (words alone decide).", ge=0.0, le=1.0)
    gate_passages: int = _field(5, "Best passages the gate looks at.", ge=1)
    evidence_sentences: int = _field(3, "Sentences shown as the evidence of an answer.", ge=1)
    support_lexical_weight: float = _field(0.5, "Sentence support: weight of shared words against the "
                                           "cosine.", ge=0.0, le=1.0)
    subject_before: int = _field(3, "Subject check: sentences before the supporting one that may name "
                                 "the question's subject.", ge=0)
    subject_after: int = _field(1, "Subject check: sentences after it.", ge=0)
    follow_up_max_words: int = _field(4, "A question of at most this many content words is read as a "
                                      "follow-up of the conversation.", ge=0)
    model_check: bool = _field(False, "Also ask the model whether the passage states a verified "
                               "answer (one more prompt evaluation; it can only take the verdict away).")
    model_check_threshold: float = _field(0.5, "The model check's probability of \"yes\" that keeps "
                                          "the verdict.", ge=0.0, le=1.0)


class ServeSettings(_Group):
    """The chat page and the API (docs/api.md)."""

    host: str = _field("127.0.0.1", "Address the chat page listens on.")
    port: int = _field(7860, "Port of the chat page.")
    max_upload_mb: int = _field(50, "Largest file the chat page accepts.", ge=1)
    read_ahead: bool = _field(True, "While a question is typed, find its passages and have the model "
                              "read them, so the answer starts sooner after Enter (uses the CPU meanwhile).")
    keys_file: Path = _field(Path("api-keys.json"), "The API keys (`rag-app keys`), stored hashed. With no "
                             "key, the server answers on loopback only.")
    api_queue: int = _field(16, "Questions the API keeps waiting for the model; one more is answered "
                            "429 (retry later).", ge=1)
    max_request_kb: int = _field(256, "Largest API request body, uploads aside (max_upload_mb).", ge=1)
    max_question_chars: int = _field(4000, "Longest question the API accepts.", ge=16)

    @field_validator("keys_file", mode="after")
    @classmethod
    def _expand(cls, path: Path) -> Path:
        return expand_path(path)


GROUPS: dict[str, type[_Group]] = {
    "paths": PathSettings, "index": IndexSettings, "ingest": IngestSettings, "retrieval": RetrievalSettings,
    "generation": GenerationSettings, "grounding": GroundingSettings, "serve": ServeSettings,
}
FLAT_NAMES: dict[str, str] = {name: group for group, model in GROUPS.items() for name in model.model_fields}
"""Every setting's own name and its group: ``top_k`` is ``retrieval.top_k``."""


def nested(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with each setting's own name (``top_k``) moved into its group
    (``{"retrieval": {"top_k": …}}``), the names people write in rag_app.toml, ``RAG_APP_TOP_K``
    and the CLI; a grouped value given as well wins. Unknown names are kept (and ignored)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        group = FLAT_NAMES.get(key)
        if group is None:
            if key in GROUPS and isinstance(value, Mapping):
                out[key] = {**out.get(key, {}), **value}
            else:
                out[key] = value
        else:
            out.setdefault(group, {}).setdefault(key, value)
    return out


class _Nested(PydanticBaseSettingsSource):
    """A settings source whose flat names are put into their groups (before sources are merged,
    so that a flat name from the command line still wins over a grouped one in rag_app.toml)."""

    def __init__(self, settings_cls: type[BaseSettings], source: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self.source = source

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # unused: __call__ is
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return nested(self.source())


class _FlatEnvironment(PydanticBaseSettingsSource):
    """``RAG_APP_<NAME>`` for each setting's own name (``RAG_APP_TOP_K=3``), put into its group."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # unused: __call__ is
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        environment = {key.upper(): value for key, value in os.environ.items()}
        return nested({name: environment[f"RAG_APP_{name.upper()}"]
                       for name in FLAT_NAMES if f"RAG_APP_{name.upper()}" in environment})


class Settings(BaseSettings):
    """Every tunable of the application, in groups, with the source order documented in the module.

    Each setting has its own name, unique across groups: ``top_k = 3`` in rag_app.toml,
    ``RAG_APP_TOP_K=3``, ``Settings(top_k=3)`` and ``--top-k 3`` all set ``retrieval.top_k``;
    the grouped forms (a ``[retrieval]`` table, ``RAG_APP_RETRIEVAL__TOP_K``) work too.
    """

    # The settings file is the one $RAG_APP_CONFIG names when the settings are read (see
    # `settings_customise_sources`), rag_app.toml in the working folder by default.
    model_config = SettingsConfigDict(env_prefix="RAG_APP_", env_nested_delimiter="__", extra="ignore")

    # The README's settings table is generated from these, in this order (`settings_table`,
    # checked by tests/unit/test_settings_table.py).
    paths: PathSettings = Field(default_factory=PathSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    grounding: GroundingSettings = Field(default_factory=GroundingSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)

    @model_validator(mode="before")
    @classmethod
    def _grouped(cls, values: Any) -> Any:
        """Flat names that reached the model without a source (a subclass's own sources) grouped."""
        return nested(values) if isinstance(values, Mapping) else values

    def value(self, name: str) -> Any:
        """A setting by its own name (``value("top_k")`` is ``retrieval.top_k``)."""
        return getattr(getattr(self, FLAT_NAMES[name]), name)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed, by their own names (``replace(index_dir=…)``),
        validated like any other source."""
        data = self.model_dump()
        for group, values in nested(changes).items():
            data[group] = {**data[group], **values}
        return type(self).model_validate(data)

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
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file())
        return (_Nested(settings_cls, init_settings), _Nested(settings_cls, env_settings),
                _FlatEnvironment(settings_cls), _Nested(settings_cls, toml))


def settings_table() -> str:
    """The README's settings table (Markdown), from the groups' fields and descriptions."""
    lines = ["| setting | default | what it does |", "|---|---|---|"]
    for group, model in GROUPS.items():
        for name, info in model.model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            default = extra.get("shown_default") or repr(info.default).replace("PosixPath", "").strip("()'\"")
            if isinstance(info.default, bool | int | float) or info.default == "":
                default = json.dumps(info.default)
            lines.append(f"| `{name}` ({group}) | {default} | {info.description} |")
    return "\n".join(lines) + "\n"


def expand_path(path: Path | str) -> Path:
    """``path`` with ``~`` and ``$VARIABLES`` expanded."""
    return Path(os.path.expanduser(os.path.expandvars(str(path))))


def user_cache_dir() -> Path:
    """The per-user cache folder of rag_app (``~/.cache/rag_app`` on Linux, by platformdirs)."""
    from platformdirs import user_cache_path

    return user_cache_path("rag_app")


def installed_models_dir() -> Path:
    """Where `rag-app models install` puts the models, wherever the command runs from: the
    ``models/`` folder of the source checkout the package runs from (``make install``, even
    before that folder exists), else the per-user data folder (``~/.local/share/rag_app/models``
    on Linux, chosen by platformdirs). The ``models_dir`` setting overrides it."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout / "models"
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

