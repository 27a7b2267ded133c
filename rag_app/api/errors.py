"""Errors of the API in the OpenAI shape: ``{"error": {"message", "type", "code", "param"}}``.

Every refusal of a request is an `ApiError` with its 4xx status; `error_response` turns one into
the JSON response, so a client reads the same shape whatever went wrong, never a traceback.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "invalid_request_error",
         405: "invalid_request_error", 413: "invalid_request_error", 415: "invalid_request_error",
         422: "invalid_request_error", 429: "rate_limit_error", 503: "server_error", 500: "server_error"}


class ApiError(Exception):
    """A request the API refuses: ``status`` (4xx, or 503 when the index is not ready), a message
    saying what to do, a short ``code`` and the request field at fault (``param``)."""

    def __init__(self, status: int, message: str, code: str, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, dict[str, str | None]]:
        """The OpenAI error object."""
        return {"error": {"message": self.message, "type": TYPES.get(self.status, "invalid_request_error"),
                          "code": self.code, "param": self.param}}


def error_response(error: ApiError) -> JSONResponse:
    """``error`` as the response a client gets."""
    headers = dict(error.headers)
    if error.status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(error.body(), status_code=error.status, headers=headers)
