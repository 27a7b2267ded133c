"""Tables as text a search finds: each row a line of "header: value" pairs.

A figure alone in a cell ("63,355") is found by no question; next to its column header
("Net sales: 63,355") it is. The header is the first row, near the top, that looks like one (two
cells or more, none a number, no two alike); without one, cells are joined with " | ".
Shared by the spreadsheet, CSV and slide loaders.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# A cell that is a figure: digits with separators, a sign, a currency or a percent; a year is
# not one (financial tables head their columns with years).
_NUMBER = re.compile(r"^[\s$€£¥%+\-−(),.\d]*\d[\s$€£¥%+\-−(),.\d]*$")
_YEAR = re.compile(r"^(19|20)\d\d$")


HEADER_SEARCH = 10  # rows looked at for the header (a title or a note may stand above it)


def looks_like_header(row: Sequence[str]) -> bool:
    """At least two cells filled, none of them a figure (years may be), no two alike."""
    cells = [c.strip() for c in row if c.strip()]
    figures = [c for c in cells if _NUMBER.match(c) and not _YEAR.match(c)]
    return len(cells) >= 2 and not figures and len(set(cells)) == len(cells)


def table_lines(rows: Sequence[Sequence[str]]) -> list[str]:
    """One line per row that holds anything. The header is the first row among the first
    `HEADER_SEARCH` that looks like one (rows above it, a title, are kept as they are); under
    it a row reads "header: value; header: value" (a cell under no header alone). Without a
    header, cells are joined by " | ". Empty cells are left out."""
    rows = [[" ".join(str(c).split()) for c in row] for row in rows]
    rows = [row for row in rows if any(row)]
    at = next((i for i, row in enumerate(rows[:HEADER_SEARCH]) if looks_like_header(row) and i + 1 < len(rows)), None)
    if at is None:
        return [_joined(row) for row in rows]
    header = rows[at]
    lines = [_joined(row) for row in rows[:at + 1]]
    for row in rows[at + 1:]:
        pairs = [f"{header[i]}: {cell}" if i < len(header) and header[i] else cell
                 for i, cell in enumerate(row) if cell]
        lines.append("; ".join(pairs))
    return lines


def _joined(row: Sequence[str]) -> str:
    return " | ".join(cell for cell in row if cell)
