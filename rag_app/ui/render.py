"""The chat's HTML, as pure functions: `Answer` (or a streaming state) in, one line of HTML out.

Body sentence by sentence with unsupported ones marked; numbered sources with the supporting
sentence highlighted in the passage; refusals with the closest passages; timings. All text is
escaped; nothing here knows Gradio.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from rag_app.answer import Answer, Citation, Evidence, Passage, SourcesEvent, StatusEvent, where_in
from rag_app.service.library import DEFAULT
from rag_app.ui.source_view import source_url

REFUSAL_PASSAGES = 3
PASSAGE_PREVIEW_CHARS = 1200


def _esc(text: str) -> str:
    """Escaped text on one line (the chat renders Markdown: a blank line would end our HTML)."""
    return html.escape(text).replace("\r", "").replace("\n", "<br>")


def highlight(text: str, sentence: str, limit: int | None = None) -> str:
    """``text`` as HTML with the first occurrence of ``sentence`` wrapped in ``<mark>``.

    Whitespace differences are tolerated; with ``limit``, the text is cut to about that many
    characters around the mark.
    """
    words = sentence.split()
    match = None
    if words:
        pattern = r"\s+".join(re.escape(w) for w in words)
        match = re.search(pattern, text)
    if match is None:
        cut = text if limit is None or len(text) <= limit else text[:limit].rstrip() + " …"
        return _esc(cut)
    start, end = match.span()
    before, marked, after = text[:start], text[start:end], text[end:]
    if limit is not None:
        room = max(0, limit - len(marked)) // 2
        if len(before) > room:
            before = "… " + before[len(before) - room:].lstrip()
        if len(after) > room:
            after = after[:room].rstrip() + " …"
    return f"{_esc(before)}<mark>{_esc(marked)}</mark>{_esc(after)}"


def _where(path: str, page: int | None, heading: str, ocr: bool = False) -> str:
    parts = [f"<b>{_esc(Path(path).name)}</b>"]
    if page:
        parts.append(where_in(path, page, ocr))
    if heading:
        parts.append(_esc(heading))
    return " · ".join(parts)


def _score(passage: Passage | None, fused: float) -> str:
    details = [f"score {fused:.3f}"]
    if passage is not None:
        if passage.dense_score is not None:
            details.append(f"cosine {passage.dense_score:.2f}")
        if passage.bm25_rank is not None:
            details.append(f"BM25 #{passage.bm25_rank}")
    return f'<span class="rag-score">{" · ".join(details)}</span>'


def _source_item(n: int, chunk_id: int, path: str, page: int | None, heading: str, text: str, score: float,
                 passage: Passage | None, sentence: str, collection: str) -> str:
    quote = f'<div class="rag-quote">“<mark>{_esc(sentence)}</mark>”</div>' if sentence else ""
    body = highlight(text, sentence, PASSAGE_PREVIEW_CHARS)
    # Opens the passage in the source panel beside the chat (the page's script catches the click).
    link = html.escape(source_url(chunk_id, sentence, collection=collection))
    show = f'<a class="rag-open" data-chunk="{chunk_id}" href="{link}">Show in document</a>'
    where = _where(path, page, heading, bool(passage and passage.ocr))
    return (
        f'<li class="rag-source" value="{n}"><div class="rag-source-head">'
        f"[{n}] {where} {_score(passage, score)} {show}</div>{quote}"
        f'<details><summary>Passage</summary><div class="rag-passage">{body}</div></details></li>'
    )


def _sources(answer: Answer, collection: str) -> str:
    """The numbered sources of an answer: its citations, or its best passages if none."""
    by_chunk = {p.chunk_id: p for p in answer.passages}
    evidence: dict[int, str] = {}
    for item in answer.evidence:
        evidence.setdefault(item.chunk_id, item.text)
    citations: list[Citation] = answer.citations or [
        Citation(n, p.path, p.page, p.heading, p.text, p.score, p.chunk_id)
        for n, p in enumerate(answer.passages[:REFUSAL_PASSAGES], start=1)
    ]
    items = "".join(
        _source_item(c.n, c.chunk_id, c.path, c.page, c.heading, c.text, c.score, by_chunk.get(c.chunk_id),
                     c.supporting_sentence or evidence.get(c.chunk_id, ""), collection)
        for c in citations
    )
    return (f'<div class="rag-sources"><div class="rag-sources-title">Sources</div>'
            f"<ol>{items}</ol>{_confidence(answer)}</div>")


def _confidence(answer: Answer) -> str:
    """The decision's probability, in the details under the sources (nothing without a decision):
    calibrated, so that replies given 70% are right about 70% of the time (docs/evaluation.md)."""
    if answer.probability is None:
        return ""
    return (f'<details class="rag-confidence"><summary>Details</summary>The checks give this reply a '
            f"{100 * answer.probability:.0f}% chance of being right (calibrated on public question sets)."
            "</details>")


def _verdict(answer: Answer) -> str:
    """The plain verdict a person reads first: checked against the passages, or not (the body
    under it says why)."""
    kind = "checked" if answer.verified else "unchecked"
    return f'<div class="rag-verdict {kind}">{_esc(answer.verdict_line(with_reason=False))}</div>{_addressed(answer)}'


def _addressed(answer: Answer) -> str:
    """The warning naming the documents whose passages give the assistant instructions."""
    note = answer.addressed_note()
    return f'<div class="rag-addressed">{_esc(note)}</div>' if note else ""


def _closest(answer: Answer, collection: str) -> str:
    """The passages that came closest to a refused question."""
    return _passage_list("Closest passages (not enough to answer)", answer.passages, answer.evidence, collection)


def _passage_list(title: str, passages: list[Passage], found: list[Evidence], collection: str) -> str:
    """The first passages (`REFUSAL_PASSAGES`), numbered, each with its best evidence sentence."""
    if not passages:
        return ""
    evidence: dict[int, str] = {}
    for item in found:
        evidence.setdefault(item.chunk_id, item.text)
    items = "".join(
        _source_item(n, p.chunk_id, p.path, p.page, p.heading, p.text, p.score, p, evidence.get(p.chunk_id, ""),
                     collection)
        for n, p in enumerate(passages[:REFUSAL_PASSAGES], start=1)
    )
    return f'<div class="rag-sources"><div class="rag-sources-title">{title}</div><ol>{items}</ol></div>'


def _body(answer: Answer) -> str:
    """The answer text: sentence by sentence with unsupported ones marked, or the fallback."""
    if answer.verified and answer.sentences:
        parts, flagged = [], False
        for s in answer.sentences:
            if s.supported:
                parts.append(f'<span class="rag-sent supported">{_esc(s.text)}</span>')
            else:
                flagged = True
                parts.append(f'<span class="rag-sent unsupported" title="Not supported by your '
                             f'documents"><span class="rag-flag">⚠ </span>{_esc(s.text)}</span>')
        note = ('<div class="rag-note">⚠ Marked sentences are not supported by the passages: '
                "check them against the sources.</div>") if flagged else ""
        return f"<div>{' '.join(parts)}</div>{note}"
    lines = [line for line in answer.answer.split("\n") if line.strip()]
    head = [f"<p>{_esc(line)}</p>" for line in lines if not line.startswith("- ")]
    bullets = [f"<li>{_esc(line[2:])}</li>" for line in lines if line.startswith("- ")]
    listing = f"<ul>{''.join(bullets)}</ul>" if bullets else ""
    raw = (f"<details><summary>The model's own reply (not supported by your documents)</summary>"
           f'<div class="rag-passage">{_esc(answer.raw_answer)}</div></details>') if answer.raw_answer else ""
    return f'<div class="rag-unverified">{"".join(head)}{listing}{raw}</div>'


def _timings(answer: Answer) -> str:
    t = answer.timings
    parts = [f"retrieval {t.retrieval_ms:.0f} ms"]
    if t.first_token_ms is not None:
        parts.append(f"first token {t.first_token_ms / 1000:.1f} s")
    if t.cached_tokens:
        parts.append(f"{t.cached_tokens} of {t.prompt_tokens} prompt tokens read ahead")
    if t.tokens_per_s:
        parts.append(f"{t.tokens_per_s:.1f} tokens/s")
    parts.append(f"total {t.total_ms / 1000:.1f} s")
    return f'<div class="rag-timings">{" · ".join(parts)}</div>'


def render_answer(answer: Answer, collection: str = DEFAULT) -> str:
    """An `Answer` as one line of HTML for the chat: body, sources (or closest passages), timings.
    Its links open the sources in ``collection``'s documents."""
    if answer.refused:
        return (f'<div class="rag-refusal"><div class="rag-refusal-title">Not in your documents'
                f"</div>{_addressed(answer)}<p>{_esc(answer.answer)}</p></div>{_closest(answer, collection)}"
                f"{_timings(answer)}")
    return (f'<div class="rag-answer">{_verdict(answer)}{_body(answer)}{_sources(answer, collection)}'
            f"{_timings(answer)}</div>")


def render_streaming(text: str, status: StatusEvent | None = None, sources: SourcesEvent | None = None,
                     collection: str = DEFAULT) -> str:
    """The answer as it streams in (not verified yet), with what the app is doing meanwhile and,
    under it, the passages found (shown as soon as retrieval ends)."""
    found = _passage_list("Found in your documents (the answer is checked against them next)",
                          sources.passages, sources.evidence, collection) if sources is not None else ""
    if status is not None and status.stage == "checking":
        return (f'<div class="rag-streaming">{_esc(text)}</div>'
                f'<div class="rag-pending">Checking the reply against your documents…</div>{found}')
    if text:
        return f'<div class="rag-streaming">{_esc(text)} ▌</div>{found}'
    if status is not None and status.stage == "reading":
        return (f'<div class="rag-pending">{_esc(status.model)} is reading {status.passages} '
                f"passages from your documents (on a laptop CPU this takes a few seconds)…</div>{found}")
    return f'<div class="rag-pending">Searching your documents…</div>{found}'


def render_notice(markdown: str) -> str:
    """A message from the app itself (no index, an error) in the chat."""
    return f'<div class="rag-refusal"><div class="rag-refusal-title">Notice</div>{_md_inline(markdown)}</div>'


def _md_inline(text: str) -> str:
    """**bold** and `code` of our own fixed messages as HTML."""
    out = _esc(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)
