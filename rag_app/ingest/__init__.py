"""Ingestion: load files, split them into chunks, embed them and store them in the index."""
