"""The body of `rag-app show`: a passage (or a document's page) in its context, in the terminal.

The passage is marked in its PDF page or its section, the supporting sentence more strongly;
``--png`` writes the rendered PDF page with the same highlights.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.text import Text

from rag_app.service.app import App, SourceError, SourceView

# Around a passage, at most this many characters of its page or section are printed.
CONTEXT_CHARS = 1200
PASSAGE_STYLE = "bold yellow"
SENTENCE_STYLE = "bold black on yellow"


def parse_target(target: str) -> tuple[int | None, str, int | None]:
    """``"123"`` -> passage 123; ``"a/b.pdf:3"`` -> page 3 of a/b.pdf; ``"notes.md"`` -> that file."""
    if target.isdigit():
        return int(target), "", None
    path, colon, page = target.rpartition(":")
    if colon and page.isdigit() and path:
        return None, path, int(page)
    return None, target, None


def show_command(app: App, target: str, *, sentence: str, png: Path | None, console: Console) -> SourceView:
    """Print ``target`` in context; with ``png``, write its PDF page there. Raises `SourceError`."""
    chunk_id, path, page = parse_target(target)
    view = app.source(chunk_id, sentence=sentence, page=page) if chunk_id is not None else \
        app.document_source(path, page)
    where = [view.path] + ([f"page {view.page} of {view.pages}"] if view.is_pdf else []) + \
        ([view.heading] if view.heading else [])
    console.print(" · ".join(where), style="bold", markup=False, highlight=False)
    if view.changed:
        console.print("The file changed after it was indexed: run `rag-app ingest` to update the index.",
                      style="yellow", markup=False)
    if view.passage and view.context.passage is None:
        console.print("The passage is not on this page (or no longer in the file).", style="dim", markup=False)
    console.print(excerpt(view), highlight=False)
    if png is not None:
        if not view.is_pdf or view.page is None:
            raise SourceError(f"{view.path} is not a PDF: only PDF pages are written as images.")
        png.write_bytes(app.page_image(view.path, view.page, chunk_id=chunk_id, sentence=sentence)[0])
        console.print(f"Page {view.page} written to {png}", style="dim", markup=False)
    return view


def excerpt(view: SourceView) -> Text:
    """The page or section around the passage, with the passage and the sentence styled."""
    context = view.context
    text = Text(context.text)
    start, end = 0, len(context.text)
    if context.passage is not None:
        text.stylize(PASSAGE_STYLE, *context.passage)
        room = max(0, CONTEXT_CHARS - (context.passage[1] - context.passage[0])) // 2
        start, end = max(0, context.passage[0] - room), min(len(context.text), context.passage[1] + room)
    elif len(context.text) > CONTEXT_CHARS:
        end = CONTEXT_CHARS
    if context.sentence is not None:
        text.stylize(SENTENCE_STYLE, *context.sentence)
    shown = text[start:end]
    if start > 0:
        shown = Text("… ") + shown
    if end < len(context.text):
        shown.append(" …")
    return shown
