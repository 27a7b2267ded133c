"""The `rag-app` command line (typer + rich): `main` holds the commands, `ask` the streamed
answer, `models` the `rag-app models` group. Every command goes through `rag_app.service.app.App`."""

from rag_app.cli.main import app

__all__ = ["app"]
