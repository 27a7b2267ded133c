"""The sources behind an answer, as a person checks them: a passage located in its PDF page
(rendered, highlighted) or in its section (`locate`, `pdf_pages`, `context`)."""
