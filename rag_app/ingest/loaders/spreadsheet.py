"""Excel workbooks (.xlsx, .xlsm; legacy .xls): one section per sheet, rows as "header: value" lines.

.xlsx is read with openpyxl in read-only mode, values only (the cached results of formulas),
after the zip's bounds are checked; .xls (Excel 97-2003) with xlrd. Each sheet is a section
under its name, its rows through `tables.table_lines`, so that a figure stays next to its column
header. Numbers are written as a person reads them (12.0 as 12, dates as 2023-06-30). A sheet
is read to `MAX_ROWS` rows and `MAX_COLUMNS` columns at most (a sheet can declare a million).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from rag_app.ingest.document import LoadError, Section
from rag_app.ingest.loaders.archive import check_zip
from rag_app.ingest.loaders.common import Loaded, Metadata
from rag_app.ingest.loaders.tables import table_lines

log = logging.getLogger(__name__)

XLSX_EXTENSIONS = frozenset({".xlsx", ".xlsm"})
XLS_EXTENSIONS = frozenset({".xls"})
XLSX_INVALID = "not a valid Excel workbook (corrupt or truncated, password-protected, or an old .xls renamed)"
XLS_INVALID = "not a valid Excel 97-2003 workbook (corrupt, truncated or password-protected)"
MAX_ROWS = 100_000
MAX_COLUMNS = 200


def load_xlsx(data: bytes) -> Loaded:
    """One section per sheet with text (see the module docstring)."""
    import openpyxl

    check_zip(data, XLSX_INVALID)
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheets = [(sheet.title, _bounded(sheet.iter_rows(values_only=True))) for sheet in book.worksheets]
        title = (book.properties.title or "").strip()
        author = (book.properties.creator or "").strip()
        book.close()
    except Exception as exc:
        log.debug("openpyxl could not open the file", exc_info=True)
        raise LoadError(XLSX_INVALID) from exc
    return _sections(sheets), _metadata(title, author)


def load_xls(data: bytes) -> Loaded:
    """The same for an Excel 97-2003 workbook (xlrd)."""
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=True, logfile=_XlrdLog())
        sheets = []
        for sheet in book.sheets():
            rows = (_xls_row(sheet.row(r), book.datemode) for r in range(min(sheet.nrows, MAX_ROWS)))
            sheets.append((sheet.name, _bounded(rows)))
        author = (book.user_name or "").strip()
        book.release_resources()
    except Exception as exc:
        log.debug("xlrd could not open the file", exc_info=True)
        raise LoadError(XLS_INVALID) from exc
    return _sections(sheets), _metadata("", author)


class _XlrdLog(io.TextIOBase):
    """Where xlrd writes its warnings ("File is truncated, …"): the debug log, not stdout, which
    belongs to the command's output (`ingest --json`)."""

    def write(self, text: str) -> int:
        if text.strip():
            log.debug("xlrd: %s", text.rstrip())
        return len(text)


def _bounded(rows: Iterable[Sequence[Any]]) -> list[list[str]]:
    out: list[list[str]] = []
    for n, row in enumerate(rows):
        if n >= MAX_ROWS:
            break
        out.append([cell_text(v) for v in list(row)[:MAX_COLUMNS]])
    return out


def _xls_row(cells: Sequence[Any], datemode: int) -> list[Any]:
    import xlrd

    values: list[Any] = []
    for cell in cells:
        if cell.ctype == xlrd.XL_CELL_DATE:
            try:
                values.append(xlrd.xldate.xldate_as_datetime(cell.value, datemode))
            except (ValueError, OverflowError):
                values.append(cell.value)
        elif cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
            values.append(None)
        else:
            values.append(cell.value)
    return values


def cell_text(value: Any) -> str:
    """A cell's value as a person reads it: 12.0 as "12", a date without a midnight time."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.10g}"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return " ".join(str(value).split())


def _sections(sheets: list[tuple[str, list[list[str]]]]) -> list[Section]:
    sections = []
    for name, rows in sheets:
        lines = table_lines(rows)
        if lines:
            sections.append(Section("\n".join(lines), heading=name))
    return sections


def _metadata(title: str, author: str) -> Metadata:
    metadata: Metadata = {}
    if title:
        metadata["title"] = title
    if author:
        metadata["author"] = author
    return metadata
