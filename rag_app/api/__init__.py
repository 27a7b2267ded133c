"""The OpenAI-compatible API view (`rag_app.api.routes`), served beside the chat page."""

from rag_app.api.routes import api_routes

__all__ = ["api_routes"]
