"""The API's OpenAPI 3.1 description (``GET /v1/openapi.json``): what clients may send, from the
same pydantic models that validate it (`schemas`), so the description cannot drift from the code.

Clients generate bindings from it; the tests fuzz every route from it (schemathesis).
"""

from __future__ import annotations

from typing import Any

from rag_app.api.requests import ChatRequest, SearchRequest

OPENAPI_PATH = "/v1/openapi.json"
_REF = "#/components/schemas/{model}"


def _json_body(model: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": _REF.format(model=model)}}}}


def _answers(*codes: int) -> dict[str, Any]:
    """The responses of a route: its success, and errors in OpenAI's shape."""
    responses: dict[str, Any] = {"200": {"description": "Done.", "content": {"application/json": {}}}}
    for code in codes:
        responses[str(code)] = {"description": "An error in OpenAI's shape: {error: {message, type, code}}.",
                                "content": {"application/json": {}}}
    return responses


def _name(where: str = "path") -> dict[str, Any]:
    return {"name": "name", "in": where, "required": True, "schema": {"type": "string"},
            "description": "The collection (`rag-app collections list`)."}


def openapi_document(version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API (``version``: rag_app's)."""
    components: dict[str, Any] = {}
    for model in (ChatRequest, SearchRequest):
        schema = model.model_json_schema(ref_template=_REF)
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    documents = "/v1/collections/{name}/documents"
    errors = (400, 401, 403, 404, 429, 503)
    return {
        "openapi": "3.1.0",
        "info": {"title": "rag_app", "version": version,
                 "description": "OpenAI-compatible answers from your own documents, with their sources."},
        "components": {"schemas": components,
                       "securitySchemes": {"key": {"type": "http", "scheme": "bearer"}}},
        "security": [{"key": []}, {}],
        "paths": {
            "/v1/models": {"get": {"summary": "The collections this key may ask, as models.",
                                   "responses": _answers(401, 403, 429)}},
            "/v1/chat/completions": {"post": {
                "summary": "The verified answer to the last user message, with its sources (streamed with "
                           "stream: true).",
                "requestBody": _json_body("ChatRequest"), "responses": _answers(*errors)}},
            "/v1/search": {"post": {"summary": "The passages found for a query.",
                                    "requestBody": _json_body("SearchRequest"), "responses": _answers(*errors)}},
            documents: {
                "get": {"summary": "The documents of a collection.", "parameters": [_name()],
                        "responses": _answers(*errors)},
                "post": {"summary": "Upload files into a collection and index them.", "parameters": [_name()],
                         "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                             "type": "object", "required": ["file"],
                             "properties": {"file": {"type": "array", "items": {"type": "string",
                                                                                "format": "binary"}},
                                            "replace": {"type": "boolean"}}}}}},
                         "responses": _answers(*errors, 413)},
            },
            documents + "/{path}": {"delete": {
                "summary": "Remove a document from a collection (its file and its passages).",
                "parameters": [_name(), {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": _answers(*errors)}},
        },
    }
