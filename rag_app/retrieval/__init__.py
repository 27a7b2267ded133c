"""Retrieval: the passages of the index that best match a question.

`HybridRetriever` (hybrid.py) searches by meaning (dense vectors) and by words (BM25) and fuses
the two rankings with the pure functions of fusion.py, inside a scope when one is chosen
(scope.py: the documents a question may be answered from); langchain_adapter.py offers the same
search as a LangChain retriever.
"""

from rag_app.retrieval.fusion import mmr_order, standard_scores, zscore_fuse
from rag_app.retrieval.hybrid import MODES, EmptyQueryError, HybridRetriever, Ranked, bm25_text
from rag_app.retrieval.scope import ScopeError, resolve_scope

__all__ = [
    "MODES",
    "EmptyQueryError",
    "HybridRetriever",
    "Ranked",
    "ScopeError",
    "bm25_text",
    "mmr_order",
    "resolve_scope",
    "standard_scores",
    "zscore_fuse",
]
