"""The checks every store makes before it is read or written: the embedder and the chunking an
index was built with are the ones asked for."""

from __future__ import annotations

from rag_app.store.records import IndexMismatchError
from rag_app.store.schema import REBUILD_HINT


def chunking_key(chunk_tokens: int, chunk_overlap: int) -> str:
    """How the chunk settings are recorded in the index's meta: "tokens/overlap"."""
    return f"{chunk_tokens}/{chunk_overlap}"


def check_model(where: str, recorded: str | None, recorded_dim: str | None, embedding_model: str,
                dimension: int) -> None:
    """Raise `IndexMismatchError` unless the index in ``where`` is empty (``recorded`` None) or
    was built with this model and dimension."""
    if recorded is None:
        return
    if recorded != embedding_model or int(recorded_dim or 0) != dimension:
        raise IndexMismatchError(
            f"The index in {where} was built with embedding model '{recorded}' "
            f"(dimension {recorded_dim}), not '{embedding_model}' (dimension {dimension}). "
            f"To keep using it, set embedding_model = \"{recorded}\" in rag_app.toml "
            f"(or RAG_APP_EMBEDDING_MODEL); to move to '{embedding_model}', "
            f"{REBUILD_HINT[0].lower()}{REBUILD_HINT[1:]}"
        )


def check_chunking(where: str, recorded: str | None, chunk_tokens: int, chunk_overlap: int) -> None:
    """Raise `IndexMismatchError` when the index's chunks were cut with other settings (an
    index that records none, empty or from before they were recorded, accepts any)."""
    if recorded is None or recorded == chunking_key(chunk_tokens, chunk_overlap):
        return
    tokens, _, overlap = recorded.partition("/")
    raise IndexMismatchError(
        f"The index in {where} was cut into chunks of {tokens} tokens with {overlap} of "
        f"overlap, not {chunk_tokens} with {chunk_overlap}: one index cannot mix two chunkings. "
        f"To keep it, set chunk_tokens = {tokens} and chunk_overlap = {overlap} in rag_app.toml; "
        f"to use the new chunking, {REBUILD_HINT[0].lower()}{REBUILD_HINT[1:]}"
    )
