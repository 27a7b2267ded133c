"""`python -m rag_app.cli` runs the command line."""

from rag_app.cli.main import app

app()
