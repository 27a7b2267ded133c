"""The index as a LangChain `BaseRetriever`, so it plugs into LangChain chains.

Example::

    retriever = IndexRetriever(retriever=HybridRetriever(store, embedder, settings.retrieval), k=5)
    docs = retriever.invoke("How do I reset the device?")
    docs[0].metadata["path"], docs[0].metadata["page"]
"""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag_app.answer import Passage
from rag_app.retrieval.hybrid import HybridRetriever


def passage_document(passage: Passage) -> Document:
    """A LangChain Document for a passage, with where it comes from and how it scored."""
    return Document(
        page_content=passage.text,
        id=str(passage.chunk_id),
        metadata={
            "path": passage.path,
            "page": passage.page,
            "heading": passage.heading,
            "chunk_id": passage.chunk_id,
            "score": passage.score,
            "dense_score": passage.dense_score,
            "bm25_score": passage.bm25_score,
            "dense_rank": passage.dense_rank,
            "bm25_rank": passage.bm25_rank,
            "fused_rank": passage.fused_rank,
        },
    )


class IndexRetriever(BaseRetriever):
    """LangChain retriever over a `HybridRetriever` (``mode``: hybrid, dense or bm25).

    An empty query raises the retriever's `EmptyQueryError` (a ValueError).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: HybridRetriever
    k: int | None = None
    mode: str = "hybrid"

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        passages = self.retriever.search(query, k=self.k, mode=self.mode)
        return [passage_document(p) for p in passages]
