"""Tables on PDF pages as rows a search finds: "row header / column header: value".

A financial statement's text layer reads "Net sales: Products $ 63,355 $ 63,948 $ 245,241": the
figures lose the columns (quarters, years) they belong to, and no question finds them. PDFium
gives each character of the text layer its box, so:

- the page's words (split where PDFium puts spaces) are grouped into lines by their vertical
  centre, and a line's words into cells where the gap between them is wide;
- a line whose label is followed by two figures or more is a **figure row**; a table is a run
  of figure rows (a few label-only lines, such as "Cost of revenue:", may stand between them);
- the table's **columns** are the right edges its figures line up on (figures are right-aligned);
- the **column headers** are the cells of the lines just above the first figure row, each given to
  every column it stands over ("Twelve Months Ended June 30, 2023" spans four), read top down;
- each figure row becomes one line: ``label / column header: value; label / column header: value``.
  A label-only line ending with a colon ("Cost of revenue:") is kept before the labels under it.

It runs only on pages whose text has `MIN_FIGURE_LINES` lines of two figures or more, so prose
costs nothing (docs/formats.md has the cost on the pages that have tables).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from statistics import median
from typing import Any

# A cell that is a figure: "16,388", "$16,388", "(1,084)", "52.9", "12 %", "1 245 241 €", a dash.
_FIGURE = re.compile(r"^[$€£¥]?\(?[-−+]?[$€£¥]?\d[\d,.]*(?:\s\d{3}(?:[,.]\d+)?)*\)?\s?[%€]?\)?$|^[—–-]$")
_CURRENCIES = frozenset("$€£¥")
_THOUSANDS = re.compile(r"^\d{3}([,.]\d+)?\s*%?\)?$")
_YEAR = re.compile(r"^(19|20)\d\d$")
_FIGURE_WORD = re.compile(r"(?<![\w.])\(?\$?\d[\d,.]*\)?%?(?![\w.])")
MIN_FIGURE_LINES = 3  # a page needs this many lines of two figures or more to be looked at
MIN_ROWS = 2  # figure rows a table needs
MAX_GAP_LINES = 3  # label-only lines a table may hold between two figure rows
HEADER_LINES = 6  # lines above a table looked at for its column headers
COLUMN_TOLERANCE = 6.0  # points between right edges of one column's figures
WORD_GAP = 0.9  # line heights between words of one cell
SPACE_GAP = 0.45  # line heights of a plain space (between the thousands of "63 355")


@dataclass(frozen=True)
class Run:
    """A word, or a cell of words, and its box in PDF points (y grows upwards)."""

    text: str
    left: float
    bottom: float
    right: float
    top: float

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2

    @property
    def is_figure(self) -> bool:
        return bool(_FIGURE.match(self.text))


def may_hold_table(text: str) -> bool:
    """Whether a page's text has `MIN_FIGURE_LINES` lines with two figures or more (years
    alone count too: cheap, and only decides whether the runs are looked at)."""
    lines = 0
    for line in text.splitlines():
        if len(_FIGURE_WORD.findall(line)) >= 2:
            lines += 1
            if lines >= MIN_FIGURE_LINES:
                return True
    return False


def page_words(textpage: Any) -> list[Run]:
    """The words of a PDFium text page (``PdfTextPage``) with their boxes: its text split where
    PDFium put a space or a line end (it places them well, even where a PDF draws every letter
    on its own), each word's box the union of its characters' (font-high) boxes."""
    text = textpage.get_text_range()
    if len(text) != textpage.count_chars():  # characters beyond the BMP: offsets would drift
        return []
    words: list[Run] = []
    start = None
    for i in range(len(text) + 1):
        if i < len(text) and not text[i].isspace():
            start = i if start is None else start
            continue
        if start is not None:
            boxes = [textpage.get_charbox(j, loose=True) for j in range(start, i)]
            words.append(Run(text[start:i], min(b[0] for b in boxes), min(b[1] for b in boxes),
                             max(b[2] for b in boxes), max(b[3] for b in boxes)))
            start = None
    return words


def table_rows(runs: list[Run]) -> list[str]:
    """Every table found among the words of one page, each figure row as one line (module
    docstring)."""
    lines = _lines(runs)
    out: list[str] = []
    at = 0
    while at < len(lines):
        if _figures(lines[at]) < 2:
            at += 1
            continue
        end = _table_end(lines, at)
        if sum(1 for line in lines[at:end] if _figures(line) >= 2) >= MIN_ROWS:
            out.extend(_rows(lines[max(0, at - HEADER_LINES):at], lines[at:end]))
        at = end
    return out


def _lines(runs: list[Run]) -> list[list[Run]]:
    """Words grouped into lines, top down, each line's words joined into cells, left to right."""
    if not runs:
        return []
    tolerance = 0.6 * median(run.top - run.bottom for run in runs)
    lines: list[list[Run]] = []
    for run in sorted(runs, key=lambda r: -r.middle):
        if lines and abs(lines[-1][0].middle - run.middle) <= tolerance:
            lines[-1].append(run)
        else:
            lines.append([run])
    return [_merged(sorted(line, key=lambda r: r.left)) for line in lines]


def _merged(line: list[Run]) -> list[Run]:
    """Words of one line joined into cells: words closer than `WORD_GAP` line heights are one
    cell, unless both are figures (two columns) that are not one figure written with spaces
    between thousands, as in French ("63 355"); a currency sign goes with the figure after it."""
    height = median(run.top - run.bottom for run in line)
    out = [line[0]]
    for run in line[1:]:
        last = out[-1]
        gap = run.left - last.right
        if last.text in _CURRENCIES and run.is_figure:  # "$" set apart from its figure
            out[-1] = Run(f"{last.text}{run.text}", last.left, run.bottom, run.right, run.top)
        elif (gap < WORD_GAP * height and not (run.is_figure and last.is_figure)
              or gap < SPACE_GAP * height and last.is_figure and _THOUSANDS.match(run.text)):  # "63 355"
            out[-1] = Run(f"{last.text} {run.text}", last.left, min(last.bottom, run.bottom), run.right,
                          max(last.top, run.top))
        else:
            out.append(run)
    return out


def _figures(line: list[Run]) -> int:
    """Figures standing after the line's label (a line of figures only counts too; a line whose
    figures are all years heads columns, and counts none)."""
    label = _label_runs(line)
    figures = [run for run in line if run.is_figure]
    if label is None or all(_YEAR.match(run.text) for run in figures):
        return 0
    return len(figures)


def _label_runs(line: list[Run]) -> list[Run] | None:
    """The runs before the first figure; None when text runs follow a figure (prose, not a row)."""
    for i, run in enumerate(line):
        if run.is_figure:
            rest = line[i:]
            return line[:i] if all(r.is_figure for r in rest) else None
    return line


def _table_end(lines: list[list[Run]], start: int) -> int:
    """One past the table's last figure row, the table starting at figure row ``start``."""
    end, gap = start + 1, 0
    for i in range(start + 1, len(lines)):
        if _figures(lines[i]) >= 2:
            end, gap = i + 1, 0
        else:
            gap += 1
            if gap > MAX_GAP_LINES:
                break
    return end


def _rows(above: list[list[Run]], body: list[list[Run]]) -> list[str]:
    """The lines of one table: ``body`` its lines from the first figure row to the last,
    ``above`` the lines over it where its column headers may stand."""
    figures = [run for line in body for run in line if run.is_figure and _figures(line) >= 2]
    columns = _columns(figures)
    if not columns:
        return []
    first_left = columns[0][0]
    label_ends = [line[0].right for line in body if _figures(line) >= 2 and not line[0].is_figure]
    headers = _headers(above, columns, min(first_left, median(label_ends)) if label_ends else first_left)
    out: list[str] = []
    section = previous_label = ""
    if above and len(above[-1]) == 1 and above[-1][0].text.endswith(":"):
        section = above[-1][0].text  # "Revenue:" just above the first row
    for line in body:
        # The label is what comes before the first figure in a column (a figure outside the
        # columns, a footnote mark such as "(5)", is part of it).
        cells = [(column, run) for run in line if run.is_figure and (column := _column_of(run, columns)) is not None]
        first = line.index(cells[0][1]) if cells else len(line)
        label = " ".join(run.text for run in line[:first])
        if len(cells) < 2 or _label_runs(line) is None:
            previous_label = label
            if label.endswith(":"):
                section = label
            continue
        if label and label[0].islower() and previous_label:
            label = f"{previous_label} {label}"  # a label wrapped onto the figure row's line
        previous_label = ""
        name = f"{section} {label}".strip() if section and label != section else label
        pairs = [" / ".join(part for part in (name, headers[column]) if part) + f": {run.text}"
                 for column, run in cells]
        out.append("; ".join(pairs))
    return out


def _columns(figures: list[Run]) -> list[tuple[float, float]]:
    """(left, right) of each column, left to right: figures whose right edges lie within
    `COLUMN_TOLERANCE`, in `MIN_ROWS` rows or more (a lone figure is a footnote mark)."""
    columns: list[list[Run]] = []
    for run in sorted(figures, key=lambda r: r.right):
        if columns and run.right - columns[-1][-1].right <= COLUMN_TOLERANCE:
            columns[-1].append(run)
        else:
            columns.append([run])
    kept = [column for column in columns if len(column) >= MIN_ROWS]
    return [(min(r.left for r in column), max(r.right for r in column)) for column in kept]


def _column_of(run: Run, columns: list[tuple[float, float]]) -> int | None:
    """The column whose right edge the figure ``run`` ends on (None: it is in no column)."""
    best = min(range(len(columns)), key=lambda i: abs(columns[i][1] - run.right))
    return best if abs(columns[best][1] - run.right) <= COLUMN_TOLERANCE else None


def _headers(above: list[list[Run]], columns: list[tuple[float, float]], labels_end: float) -> list[str]:
    """Each column's header: on each line above the table, the cell that stands over most of
    it (a cell spanning several columns heads each of them), top down. The lines
    looked at stop at the first line (going up) that holds figures, or a run that starts among
    the labels (before ``labels_end``, where most labels end) or is centred left of the first
    column (a title, a sentence: a header stands over its columns)."""
    first_left = columns[0][0]
    kept: list[list[Run]] = []
    for line in reversed(above):
        over = [run for run in line if run.right > first_left]
        if _figures(line) >= 2 or any(run.left < labels_end or (run.left + run.right) / 2 < first_left
                                      for run in over):
            break
        if over:  # a line of labels only ("Revenue:") is passed over
            kept.insert(0, over)
    headers: list[list[str]] = [[] for _ in columns]
    for line in kept:
        for i, (left, right) in enumerate(columns):
            overlaps = [(min(run.right, right) - max(run.left, left), run.text) for run in line]
            overlap, text = max(overlaps)
            if overlap > 0:
                headers[i].append(text)
    return [" ".join(parts) for parts in headers]
