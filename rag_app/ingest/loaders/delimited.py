"""CSV and TSV (.csv, .tsv): the table as one section, each row a "header: value" line.

Decoded with the same encoding detection as plain text (a Shift-JIS or Windows-1252 export
reads as it should); the delimiter is sniffed among comma, semicolon (the French Excel export),
tab and bar, tab for a .tsv that defeats the sniffer. Rows go through `tables.table_lines`.
"""

from __future__ import annotations

import csv
import io

from rag_app.ingest.document import Section
from rag_app.ingest.encoding import UNICODE, decode_text
from rag_app.ingest.loaders.common import Loaded, Metadata
from rag_app.ingest.loaders.tables import table_lines

CSV_EXTENSIONS = frozenset({".csv", ".tsv"})
_DELIMITERS = ",;\t|"
_SNIFFED_CHARS = 64 * 1024


def load_csv(data: bytes) -> Loaded:
    """The rows as lines under their header; the encoding, when not Unicode, in the metadata."""
    text, encoding = decode_text(data)
    sample = text[:_SNIFFED_CHARS]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS)
    except csv.Error:  # one column, or too irregular: tabs if there are any, else commas
        dialect = csv.excel_tab if "\t" in sample else csv.excel
    csv.field_size_limit(max(csv.field_size_limit(), len(text)))
    rows = list(csv.reader(io.StringIO(text, newline=""), dialect))
    lines = table_lines(rows)
    metadata: Metadata = {} if encoding in UNICODE else {"encoding": encoding}
    return ([Section(text="\n".join(lines))] if lines else []), metadata
