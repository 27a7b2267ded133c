"""The source panel's HTML, as a pure function of a `SourceView` (served into the panel's frame).

A PDF is shown as its rendered page (passage and supporting sentence highlighted on it) with
previous/next links and the passage's text below; another format as its section under the
heading path, the passage marked and the sentence marked more strongly. Every text is escaped;
links stay on this server (``/rag/…``).
"""

from __future__ import annotations

import html
from bisect import bisect_right
from pathlib import Path
from urllib.parse import quote, urlencode

from rag_app.answer import where_in
from rag_app.service.app import SourceView
from rag_app.service.library import DEFAULT

SOURCE_ROUTE = "/rag/source"
DOCUMENT_ROUTE = "/rag/document"
PAGE_ROUTE = "/rag/page.png"
FILE_ROUTE = "/rag/file"

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; margin: 0.6em; color: #111827; }
.head { font-size: 0.95em; margin-bottom: 0.4em; }
.head .heading { color: #4b5563; }
nav { display: flex; gap: 0.8em; align-items: center; font-size: 0.9em; margin: 0.4em 0; flex-wrap: wrap; }
nav a { color: #1d4ed8; text-decoration: none; } nav a:hover { text-decoration: underline; }
nav .off { color: #9ca3af; }
img.rag-page { width: 100%; border: 1px solid #e5e7eb; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
.section { white-space: pre-wrap; line-height: 1.45; font-size: 0.92em; }
mark.passage { background: #fef08a; color: inherit; }
mark.sentence { background: #fdba74; color: inherit; outline: 1px solid #c2410c; }
.note { font-size: 0.85em; color: #92400e; background: #fffbeb; padding: 0.3em 0.5em; border-radius: 4px; }
.skipped { color: #6b7280; font-size: 0.85em; margin: 0.3em 0; }
.passage-text { font-size: 0.9em; color: #374151; border-left: 3px solid #fde047; padding-left: 0.5em; }
"""


def _query(collection: str, **values: object) -> str:
    """``?key=value&…`` of the values given (none empty), with ``c=collection`` unless default."""
    query = {key: value for key, value in values.items() if value is not None and value != ""}
    if collection != DEFAULT:
        query["c"] = collection
    return f"?{urlencode(query)}" if query else ""


def source_url(chunk_id: int, sentence: str = "", page: int | None = None, collection: str = DEFAULT) -> str:
    """The panel's address for passage ``chunk_id`` of ``collection`` (optionally another page
    of its PDF)."""
    return f"{SOURCE_ROUTE}/{chunk_id}" + _query(collection, s=sentence, page=page)


def document_url(path: str, page: int | None = None, collection: str = DEFAULT) -> str:
    """The panel's address for page ``page`` of document ``path`` (no passage marked)."""
    return f"{DOCUMENT_ROUTE}/{quote(path)}" + _query(collection, page=page)


def file_url(path: str, page: int | None = None, collection: str = DEFAULT) -> str:
    """Where the original file is served (a PDF opens at ``page`` in the browser's viewer)."""
    return f"{FILE_ROUTE}/{quote(path)}" + _query(collection) + (f"#page={page}" if page else "")


def page_image_url(path: str, page: int, chunk_id: int | None, sentence: str, collection: str = DEFAULT) -> str:
    """A rendered PDF page, with passage ``chunk_id`` and ``sentence`` highlighted on it."""
    return PAGE_ROUTE + _query(collection, path=path, page=page, chunk=chunk_id, s=sentence)


def render_source_page(view: SourceView, highlighted: bool | None = None, collection: str = DEFAULT) -> str:
    """The whole HTML document of the source panel for ``view`` (a document of ``collection``).

    ``highlighted``: for a PDF page, whether the passage was found on the rendered page (None
    when the page holds no passage).
    """
    esc = html.escape
    where = [f"<b>{esc(Path(view.path).name)}</b>"]
    if view.is_pdf:
        where.append(f"page {view.page} of {view.pages}")
    elif view.passage_page:  # a slide, an image's page
        where.append(esc(where_in(view.path, view.passage_page)))
    if view.heading:
        where.append(f'<span class="heading">{esc(view.heading)}</span>')
    notes = []
    if view.addressed:
        notes.append(f"This passage gives the assistant instructions (“{esc(view.addressed)}”): it is treated as "
                     "data, and not used to answer.")
    if view.changed:
        notes.append("This file changed after it was indexed: the highlight may be off. Run "
                     "<code>rag-app ingest</code> (or Rescan in Documents) to update the index.")
    if view.passage and not view.is_pdf and view.context.passage is None:
        notes.append("The passage could not be found in the file as it is now.")
    if view.is_pdf and highlighted is False:
        notes.append("The passage could not be located on the page image.")
    body = _pdf_body(view, highlighted, collection) if view.is_pdf else _section_body(view, collection)
    note = "".join(f'<p class="note">{n}</p>' for n in notes)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(view.title)}</title>'
            f"<style>{STYLE}</style></head><body>"
            f'<div class="head" id="where">{" · ".join(where)}</div>{note}{body}</body></html>')


def _pdf_body(view: SourceView, highlighted: bool | None, collection: str) -> str:
    esc = html.escape
    assert view.page is not None and view.pages is not None
    links = []
    for label, target, css in (("◀ Previous", view.page - 1, "prev"), ("Next ▶", view.page + 1, "next")):
        if 1 <= target <= view.pages:
            links.append(f'<a class="{css}" href="{esc(_page_link(view, target, collection))}">{label}</a>')
        else:
            links.append(f'<span class="{css} off">{label}</span>')
    if view.chunk_id is not None and view.page != view.passage_page:
        links.append(f'<a class="back" href="{esc(source_url(view.chunk_id, view.sentence, collection=collection))}">'
                     f"Back to the passage (page {view.passage_page})</a>")
    links.append(f'<a class="file" href="{esc(file_url(view.path, view.page, collection))}" target="_blank" '
                 'rel="noopener">Open the file</a>')
    image = page_image_url(view.path, view.page, view.chunk_id, view.sentence, collection)
    count = "" if highlighted is None else f' data-highlighted="{str(highlighted).lower()}"'
    passage = ""
    if view.passage and view.page == view.passage_page:
        passage = f'<p class="passage-text">{_marked(view)}</p>'
    return (f'<nav id="pages">{" ".join(links)}</nav>'
            f'<img class="rag-page" id="page-image" data-page="{view.page}"{count} '
            f'src="{esc(image)}" alt="Page {view.page} of {esc(view.path)}">'
            f"{passage}")


def _page_link(view: SourceView, page: int, collection: str) -> str:
    if view.chunk_id is not None:
        return source_url(view.chunk_id, view.sentence, page, collection)
    return document_url(view.path, page, collection)


def _marked(view: SourceView) -> str:
    """The passage as found on the page, with the supporting sentence marked in it."""
    esc = html.escape
    text, span, inner = view.context.text, view.context.passage, view.context.sentence
    if span is None:
        return esc(view.passage)
    a, b = span
    if inner is None:
        return esc(text[a:b])
    c, d = inner
    return f'{esc(text[a:c])}<mark class="sentence">{esc(text[c:d])}</mark>{esc(text[d:b])}'


def _section_body(view: SourceView, collection: str) -> str:
    esc = html.escape
    text, span, inner = view.context.text, view.context.passage, view.context.sentence
    if span is None:
        marked = esc(text)
    else:
        a, b = span
        middle = esc(text[a:b])
        if inner is not None:
            c, d = inner
            middle = (f'{esc(text[a:c])}<mark class="sentence" id="sentence">{esc(text[c:d])}</mark>'
                      f"{esc(text[d:b])}")
        start, end, above, below = _window(text, a, b)
        marked = (_skipped(above) + f'{esc(text[start:a])}<mark class="passage" id="passage">{middle}</mark>'
                  f"{esc(text[b:end])}" + _skipped(below))
    link = (f'<nav><a class="file" href="{esc(file_url(view.path, collection=collection))}" target="_blank" '
            'rel="noopener">Open the file</a></nav>')
    script = '<script>document.getElementById("passage")?.scrollIntoView({block: "center"});</script>'
    return f'{link}<div class="section" id="section">{marked}</div>{script}'


# A section longer than this many lines (a sheet of a thousand rows) is shown as the passage with
# `CONTEXT_LINES` lines either side.
LONG_SECTION_LINES = 80
CONTEXT_LINES = 20


def _window(text: str, a: int, b: int) -> tuple[int, int, int, int]:
    """What to show of ``text`` around the passage ``text[a:b]``: the offsets (start, end) and
    the number of lines left out above and below. All of it, unless the section has more than
    `LONG_SECTION_LINES` lines: then `CONTEXT_LINES` whole lines either side of the passage."""
    starts = [0] + [i + 1 for i, char in enumerate(text) if char == "\n"]  # where each line starts
    if len(starts) <= LONG_SECTION_LINES:
        return 0, len(text), 0, 0
    first = bisect_right(starts, a) - 1
    last = bisect_right(starts, max(b - 1, a)) - 1
    low, high = max(0, first - CONTEXT_LINES), min(len(starts), last + CONTEXT_LINES + 1)
    return starts[low], starts[high] if high < len(starts) else len(text), low, len(starts) - high


def _skipped(lines: int) -> str:
    """Lines a window leaves out, said in a line ("⋯ 240 more lines ⋯"); nothing for none."""
    return f'<div class="skipped">⋯ {lines} more line{"s" if lines != 1 else ""} ⋯</div>' if lines else ""
