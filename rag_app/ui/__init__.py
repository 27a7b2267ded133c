"""The chat page (Gradio): `render` (Answer -> HTML, pure), `page` (state and handlers over an
`App`), `layout` (components); `rag_app.web.serve` serves it."""

from rag_app.ui.layout import build_blocks
from rag_app.ui.page import ChatPage
from rag_app.ui.render import highlight, render_answer, render_notice, render_streaming

__all__ = ["ChatPage", "build_blocks", "highlight", "render_answer", "render_notice", "render_streaming"]
