"""Retrieval: the passages of the index that best match a question.

`HybridRetriever` (hybrid.py) searches by meaning (dense vectors) and by words (BM25) and fuses
the two rankings with the pure functions of fusion.py; langchain_adapter.py offers the same
search as a LangChain retriever.
"""

from rag_app.retrieval.fusion import mmr_order, standard_scores, zscore_fuse
from rag_app.retrieval.hybrid import MODES, EmptyQueryError, HybridRetriever, Ranked, bm25_text

__all__ = [
    "MODES",
    "EmptyQueryError",
    "HybridRetriever",
    "Ranked",
    "bm25_text",
    "mmr_order",
    "standard_scores",
    "zscore_fuse",
]
