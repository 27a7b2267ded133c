"""Tables on PDF pages read as "row / column: value" lines (rag_app.ingest.loaders.pdf_tables)."""

from __future__ import annotations

from fpdf import FPDF

from rag_app.ingest.loaders.pdf import load_pdf

COLUMNS = (120, 150, 180)  # right edges (mm) of the figure columns


def statement_pdf(rows: list[tuple[str, tuple[str, ...]]], *, prose: str = "") -> bytes:
    """A page laid out as a 10-Q statement: a title, a header spanning two columns over dates,
    figures right-aligned in three columns; then, when given, a paragraph of prose."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)
    pdf.set_xy(20, 15)
    pdf.cell(170, 6, "CONDENSED CONSOLIDATED STATEMENTS OF OPERATIONS (in millions)", align="C")

    def right(x: float, y: float, text: str) -> None:
        pdf.set_xy(x - 40, y)
        pdf.cell(40, 6, text, align="R")

    pdf.set_xy(95, 25)
    pdf.cell(60, 6, "Three Months Ended", align="C")
    right(180, 25, "Nine Months Ended")
    for x, date in zip(COLUMNS, ("July 1, 2023", "June 25, 2022", "July 1, 2023"), strict=True):
        right(x, 31, date)
    y = 40
    for label, figures in rows:
        pdf.set_xy(20, y)
        pdf.cell(60, 6, label)
        for x, figure in zip(COLUMNS, figures, strict=False):
            right(x, y, figure)
        y += 6
    if prose:
        pdf.set_xy(20, y + 10)
        pdf.multi_cell(170, 6, prose)
    return bytes(pdf.output())


ROWS = [
    ("Net sales:", ()),
    ("Products", ("$ 60,584", "$ 63,355", "$ 245,241")),
    ("Services", ("21,213", "19,604", "62,886")),
    ("Total net sales", ("81,797", "82,959", "308,127")),
    ("Operating expenses:", ()),
    ("Research and", ()),
    ("development", ("7,442", "6,797", "22,608")),
]


def test_a_statement_page_gets_rows_under_their_row_and_column_headers() -> None:
    sections, _ = load_pdf(statement_pdf(ROWS))
    assert [s.page for s in sections] == [1, 1]
    rows = sections[1].text.splitlines()
    assert rows[0] == ("Net sales: Products / Three Months Ended July 1, 2023: $60,584; "
                       "Net sales: Products / Three Months Ended June 25, 2022: $63,355; "
                       "Net sales: Products / Nine Months Ended July 1, 2023: $245,241")
    assert "Net sales: Total net sales / Three Months Ended June 25, 2022: 82,959" in rows[2]
    # A label wrapped over two lines is one label, under the section above it.
    assert rows[3].startswith("Operating expenses: Research and development / Three Months Ended July 1, 2023: 7,442")
    assert len(rows) == 4
    # The page's own text is kept as it was, first.
    assert "Total net sales 81,797 82,959 308,127" in " ".join(sections[0].text.split())


def test_french_figures_with_spaces_between_thousands_stay_one_figure() -> None:
    sections, _ = load_pdf(statement_pdf([("Chiffre d'affaires", ("63 355", "1 245 241", "12,5 %")),
                                          ("Charges", ("7 442", "6 797", "22 608"))]))
    rows = sections[1].text.splitlines()
    assert rows[0].endswith("Chiffre d'affaires / Nine Months Ended July 1, 2023: 12,5 %")
    assert "Chiffre d'affaires / Three Months Ended June 25, 2022: 1 245 241" in rows[0]
    assert "Charges / Three Months Ended July 1, 2023: 7 442" in rows[1]


def test_prose_and_a_lone_line_of_figures_are_not_tables() -> None:
    prose = ("Revenue grew 12% in 2023 to 4,500 units, against 3,900 in 2022 and 3,100 in 2021, "
             "as the company opened 14 stores. ") * 6
    sections, _ = load_pdf(statement_pdf([("Products", ("1", "2", "3"))], prose=prose))
    assert len(sections) == 1
