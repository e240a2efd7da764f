"""The index as a LangChain retriever, for staff who build with LangChain (``pip install porteparole[langchain]``).

Imported only by :meth:`index.Index.as_langchain_retriever`, so LangChain is never needed otherwise.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LangChainDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from .types import Hit, SearchFilters


def to_langchain_document(hit: Hit) -> LangChainDocument:
    """A hit as a LangChain ``Document``: the passage as ``page_content``, provenance in ``metadata``.

    ``metadata["char_start"]:metadata["char_end"]`` locates ``page_content`` in the source text.
    """
    doc = hit.document
    return LangChainDocument(
        id=hit.chunk.chunk_id,
        page_content=hit.chunk.text,
        metadata={
            "doc_id": hit.doc_id, "chunk_id": hit.chunk.chunk_id, "char_start": hit.chunk.char_start,
            "char_end": hit.chunk.char_end, "title": doc.title, "date": doc.date, "issuer": doc.issuer,
            "lang": doc.lang, "url": doc.url, "source": doc.source, "origin": dict(doc.origin),
            "score": hit.score, "rank": hit.rank,
        },
    )


class PorteParoleRetriever(BaseRetriever):
    """Hybrid (dense + BM25), cross-lingual search of a Porte-parole index behind LangChain's interface.

    Example:
        >>> retriever = Index.open("sample-index").as_langchain_retriever(k=3)   # doctest: +SKIP
        >>> retriever.invoke("Qui a signé l'entente ?")[0].metadata["doc_id"]     # doctest: +SKIP
        '000_3179670368aa1673'
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Any
    k: int = 4
    filters: SearchFilters | None = None
    mode: Literal["hybrid", "dense", "lexical"] = "hybrid"

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LangChainDocument]:
        hits = self.index.search(query, k=self.k, filters=self.filters, mode=self.mode)
        return [to_langchain_document(hit) for hit in hits]
