"""PowerPoint (.pptx): one section per slide, its number as the page, its title as heading.

Read with python-pptx after the zip's bounds are checked (`archive.check_zip`). A slide's text
is its shapes' text in order, group shapes opened, tables as rows (`tables.table_lines`),
pictures by their alternative text; then its speaker notes ("Notes: …"). The core properties
give the title (else the first slide's title) and the author.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

from rag_app.ingest.document import LoadError, Section
from rag_app.ingest.loaders.archive import check_zip
from rag_app.ingest.loaders.common import Loaded, Metadata
from rag_app.ingest.loaders.tables import table_lines

log = logging.getLogger(__name__)

PPTX_EXTENSIONS = frozenset({".pptx"})
PPTX_INVALID = "not a valid PowerPoint file (corrupt or truncated, or an old .ppt renamed .pptx)"


def load_pptx(data: bytes) -> Loaded:
    """One section per slide with text (see the module docstring)."""
    from pptx import Presentation

    check_zip(data, PPTX_INVALID)
    try:
        deck = Presentation(io.BytesIO(data))
        slides = [_slide(slide, number) for number, slide in enumerate(deck.slides, start=1)]
    except Exception as exc:
        log.debug("python-pptx could not open the file", exc_info=True)
        raise LoadError(PPTX_INVALID) from exc
    sections = [s for s in slides if s is not None]
    metadata: Metadata = {}
    props = deck.core_properties
    title = (props.title or "").strip() or next((s.heading for s in sections if s.heading), "")
    if title:
        metadata["title"] = title
    if (props.author or "").strip():
        metadata["author"] = props.author.strip()
    return sections, metadata


def _slide(slide: Any, number: int) -> Section | None:
    title_shape = slide.shapes.title
    title = " ".join(title_shape.text_frame.text.split()) if title_shape is not None else ""
    lines = [text for shape in slide.shapes if shape is not title_shape for text in _shape_text(shape)]
    if slide.has_notes_slide:
        notes = slide.notes_slide.notes_text_frame
        spoken = notes.text.strip() if notes is not None else ""
        if spoken:
            lines.append(f"Notes: {spoken}")
    text = "\n".join(line for line in lines if line.strip())
    if not text and not title:
        return None
    return Section(text or title, page=number, heading=title)


def _shape_text(shape: Any) -> Iterator[str]:
    """The text a shape shows: its paragraphs, a table's rows, a group's shapes, a picture's alt text."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
        for inner in shape.shapes:
            yield from _shape_text(inner)
        return
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
        yield from table_lines(rows)
        return
    if getattr(shape, "has_chart", False) and shape.has_chart:
        chart = shape.chart
        if chart.has_title and chart.chart_title.has_text_frame:
            yield chart.chart_title.text_frame.text
        return
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        for paragraph in shape.text_frame.paragraphs:
            yield paragraph.text
        return
    description = shape._element.xpath(".//p:cNvPr/@descr")  # a picture's alternative text
    if description and str(description[0]).strip():
        yield " ".join(str(description[0]).split())
