"""What API clients send, validated with pydantic: OpenAI's chat request (unknown fields are
ignored, as OpenAI clients send many) and the search request. A field of the wrong type or out
of its limits becomes a 400 naming the field (`parse`)."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rag_app.api.errors import ApiError

MAX_TOP_K = 20
MAX_TOKENS = 2048


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(BaseModel):
    """One part of a message's content list (only text parts carry words here)."""

    model_config = ConfigDict(extra="ignore")
    type: str
    text: str = ""


class Message(_Request):
    """One turn of the conversation."""

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = None

    @property
    def text(self) -> str:
        """The turn's words (text parts joined)."""
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content if p.type in {"text", "input_text"})
        return self.content or ""


class RagAppOptions(_Request):
    """Our own fields of a chat request (``rag_app``; the `openai` client sends them in
    ``extra_body``): the documents the question may be answered from (paths, globs, folders)."""

    documents: list[str] = Field(default_factory=list, max_length=100)


class ChatRequest(_Request):
    """``POST /v1/chat/completions``: the last user message is the question; ``model`` names the
    collection (``rag_app/<name>``, ``<name>``, or anything else for the default)."""

    messages: list[Message] = Field(min_length=1)
    model: str = ""
    stream: bool = False
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS)
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS)
    top_k: int | None = Field(None, ge=1, le=MAX_TOP_K)
    user: str = ""
    rag_app: RagAppOptions = Field(default_factory=RagAppOptions)


class SearchRequest(_Request):
    """``POST /v1/search``: passages for ``query`` from collection ``model`` (or ``collection``)."""

    query: str = Field(min_length=1)
    model: str = ""
    collection: str = ""
    top_k: int = Field(5, ge=1, le=MAX_TOP_K)
    documents: list[str] = Field(default_factory=list, max_length=100)  # only these (paths, globs, folders)


Parsed = TypeVar("Parsed", bound=BaseModel)


def parse(model: type[Parsed], body: Any) -> Parsed:
    """``body`` (decoded JSON) as ``model``; raises a 400 `ApiError` naming the first bad field."""
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", "invalid_body")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise ApiError(400, f"Invalid '{field}': {first['msg']}.", "invalid_value", field) from exc
