"""Dense, lexical and language-aware hybrid retrieval over one loaded index generation.

Two measured problems shape this module (see ../shared/MODELS.md):

* **Per-language centring.** French and English passage vectors share a large language-specific
  mean; plain cosine then favours passages written in the question's language. Each passage
  vector has the mean of its own language subtracted, the query the average of the language means
  (no language detection needed on the dense side), and all are re-normalised.
* **Slot-preserving fusion.** Equal-weight fusion with BM25 hurts cross-lingual recall because
  BM25 only matches words in the question's language. Here the dense ranking decides which rank
  *slots* go to which language; BM25 (fused with the dense ranks by reciprocal rank fusion) only
  reorders the passages written in the question's language among the slots that language already
  holds, and may bring in same-language passages dense missed. Other-language passages keep the
  exact ranks dense gave them, so cross-lingual recall cannot drop, while monolingual questions get
  the gains of fusion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ingest import Document, detect_language

from .embedders import Embedder
from .errors import InvalidQueryError
from .lexical import LexicalIndex
from .types import Chunk, Hit, OtherVersion, SearchFilters
from .versions import Releases

MODES = ("hybrid", "dense", "lexical")
RRF_K = 60
# Above this many vectors an HNSW graph replaces exact search: measured in
# benchmarks/bench_faiss.py, exact inner-product search stays under ~10 ms on 2 cores up to about
# 100k vectors of 384 dimensions, while HNSW costs memory and build time and loses some recall.
APPROXIMATE_ABOVE = 100_000
MAX_K = 1000
MAX_QUERY_CHARS = 2000


def compute_centring(embeddings: np.ndarray, langs: Sequence[str], reference: dict | None) -> dict:
    """Mean vectors per language, plus the ``query`` mean (the average of the language means).

    A reference (computed once on a large bilingual corpus for the default embedder) is preferred:
    measured, a small or one-language corpus's own means are noisy and can hurt.
    """
    if reference:
        return {key: list(map(float, value)) for key, value in reference.items()}
    means = {}
    langs = np.asarray(langs)
    for lang in ("fr", "en"):
        rows = embeddings[langs == lang]
        if len(rows) >= 20:
            means[lang] = rows.mean(axis=0)
    if not means:
        return {}
    means["query"] = np.mean([means[lang] for lang in ("fr", "en") if lang in means], axis=0)
    return {key: [float(x) for x in value] for key, value in means.items()}


def centre(vectors: np.ndarray, langs: Sequence[str], centring: dict) -> np.ndarray:
    """Subtract each row's language mean (``query`` mean for other rows) and re-normalise."""
    if not centring:
        return np.ascontiguousarray(vectors, dtype=np.float32)
    means = {key: np.asarray(value, dtype=np.float32) for key, value in centring.items()}
    fallback = means.get("query")
    out = np.array(vectors, dtype=np.float32, copy=True)
    for i, lang in enumerate(langs):
        mean = means.get(lang, fallback)
        if mean is not None:
            out[i] -= mean
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


def build_faiss_index(vectors: np.ndarray):
    """Exact inner-product search, or HNSW above :data:`APPROXIMATE_ABOVE` vectors."""
    import faiss

    dim = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[0] else 384
    if len(vectors) > APPROXIMATE_ABOVE:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


@dataclass
class _Candidate:
    row: int
    dense: float | None
    lexical: float | None = None
    score: float | None = None  # what the hit shows; defaults to the dense score

    @property
    def shown_score(self) -> float:
        if self.score is not None:
            return self.score
        return self.dense if self.dense is not None else (self.lexical or 0.0)


#: A dense search done by the store itself (``PostgresStore.dense_search``): centred query vector,
#: how many, filters -> ``(doc_id, ordinal, score)`` best first.
StoreDenseSearch = Callable[[np.ndarray, int, "SearchFilters | None"], list[tuple[str, int, float]]]


class HybridRetriever:
    """Search one index generation; build with the loaded chunks, documents and FAISS index.

    Without a FAISS index (``faiss_index=None``), ``store_dense_search`` ranks the dense half:
    a large index in PostgreSQL is searched by its HNSW graph in SQL, filters in the WHERE clause,
    instead of a graph built again in each server's memory. The lexical half, fusion and language
    versions work on the loaded passages either way.
    """

    def __init__(
        self,
        *,
        chunks: list[Chunk],
        documents: dict[str, Document],
        faiss_index,
        centring: dict,
        embedder: Embedder,
        raw_embeddings: np.ndarray | None = None,
        releases: Releases | None = None,
        store_dense_search: StoreDenseSearch | None = None,
    ) -> None:
        if faiss_index is None and store_dense_search is None and chunks:
            raise ValueError("a dense search is needed: a FAISS index or the store's own")
        self.store_dense_search = store_dense_search
        self._row_of_chunk: dict[tuple[str, int], int] | None = None
        self._document_of_row: np.ndarray | None = None
        self.chunks = chunks
        self.documents = documents
        self.faiss_index = faiss_index
        self.centring = centring
        self.embedder = embedder
        self.raw_embeddings = raw_embeddings
        self.chunk_langs = [documents[c.doc_id].lang for c in chunks]
        self.releases = releases or Releases()
        self._lexical: LexicalIndex | None = None
        self._rows_of_doc: dict[str, list[int]] | None = None

    @property
    def lexical(self) -> LexicalIndex:
        # Built on first use: opening an index for dense search or info stays instant.
        if self._lexical is None:
            self._lexical = LexicalIndex([c.embed_text for c in self.chunks], self.chunk_langs)
        return self._lexical

    def _allowed_rows(self, filters: SearchFilters | None) -> np.ndarray | None:
        if filters is None or filters.is_empty:
            return None
        if self._document_of_row is None:
            # Each row's document as a number, so a filter costs one pass over the documents
            # and a numpy lookup, not a Python pass over every passage (1,000,000 of them: 0.7 s).
            number = {doc_id: i for i, doc_id in enumerate(self.documents)}
            self._document_of_row = np.fromiter((number[c.doc_id] for c in self.chunks), dtype=np.int64, count=len(self.chunks))
        allowed_docs = np.fromiter((filters.matches(doc) for doc in self.documents.values()), dtype=bool, count=len(self.documents))
        return np.flatnonzero(allowed_docs[self._document_of_row]).astype(np.int64)

    def _query_vector(self, query: str, centred: bool) -> np.ndarray:
        vector = self.embedder.encode_query([query])
        if centred and self.centring:
            vector = centre(vector, ["query"], self.centring)
        return vector.astype(np.float32)

    def _dense(self, query_vector: np.ndarray, n: int, allowed: np.ndarray | None,
               filters: SearchFilters | None = None) -> list[_Candidate]:
        """The ``n`` passages closest to the centred query among ``allowed`` rows (the rows that
        pass ``filters``; a store that searches in SQL applies ``filters`` itself)."""
        import faiss

        if allowed is not None and len(allowed) == 0:
            return []
        if self.faiss_index is None:
            return self._store_dense(query_vector, n, filters)
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
            if isinstance(self.faiss_index, faiss.IndexHNSW):
                params = faiss.SearchParametersHNSW(sel=faiss.IDSelectorBatch(allowed), efSearch=max(64, n))
            scores, rows = self.faiss_index.search(query_vector, min(n, len(allowed)), params=params)
        elif isinstance(self.faiss_index, faiss.IndexHNSW):
            # FAISS's default efSearch (16) found 55 % of the true top 10 at 1,000,000 passages
            # (benchmarks/bench_stores.py); the filtered search's setting serves both.
            params = faiss.SearchParametersHNSW(efSearch=max(64, n))
            scores, rows = self.faiss_index.search(query_vector, min(n, self.faiss_index.ntotal), params=params)
        else:
            scores, rows = self.faiss_index.search(query_vector, min(n, self.faiss_index.ntotal))
        return [_Candidate(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]

    def _store_dense(self, query_vector: np.ndarray, n: int, filters: SearchFilters | None) -> list[_Candidate]:
        if self._row_of_chunk is None:
            self._row_of_chunk = {(c.doc_id, c.ordinal): row for row, c in enumerate(self.chunks)}
        found = self.store_dense_search(query_vector[0], n, None if filters is None or filters.is_empty else filters)
        # The table may already hold another writer's newer rows than this loaded snapshot (the
        # server takes them in within seconds): passages it does not know are left out.
        rows = ((self._row_of_chunk.get((doc_id, ordinal)), score) for doc_id, ordinal, score in found)
        return [_Candidate(row, score) for row, score in rows if row is not None]

    def _dense_uncentred(self, query_vector: np.ndarray, n: int, allowed: np.ndarray | None) -> list[_Candidate]:
        # Plain cosine on the raw vectors, kept for measuring what centring brings.
        scores = self.raw_embeddings @ query_vector[0]
        if allowed is not None:
            masked = np.full_like(scores, -np.inf)
            masked[allowed] = scores[allowed]
            scores = masked
        order = np.argsort(-scores)[:n]
        return [_Candidate(int(r), float(scores[r])) for r in order if np.isfinite(scores[r])]

    def search(
        self,
        query: str,
        k: int = 10,
        filters: SearchFilters | None = None,
        mode: str = "hybrid",
        per_document: bool = False,
        centred: bool = True,
        query_lang: str | None = None,
        per_release: bool = False,
    ) -> list[Hit]:
        """Rank passages for ``query``; see :meth:`index.Index.search` for the arguments."""
        if not isinstance(query, str) or not query.strip():
            raise InvalidQueryError("The query is empty; type a question or some keywords.")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidQueryError(f"The query is {len(query)} characters long; the limit is {MAX_QUERY_CHARS}.")
        if mode not in MODES:
            raise InvalidQueryError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        if not isinstance(k, int) or isinstance(k, bool) or k < 1 or k > MAX_K:
            raise InvalidQueryError(f"k must be a whole number between 1 and {MAX_K}; got {k!r}")
        if not self.chunks:
            return []
        allowed = self._allowed_rows(filters)
        # Over-fetch: per-document results and same-language reordering need more candidates than k.
        n_candidates = min(len(self.chunks), max(50, k * (8 if per_document or per_release else 4)))
        lang = query_lang or detect_language(query)[0]

        if mode == "lexical":
            ranked = self._lexical_only(query, lang, n_candidates, allowed)
        else:
            query_vector = self._query_vector(query, centred)
            if centred or self.raw_embeddings is None:
                dense = self._dense(query_vector, n_candidates, allowed, filters)
            else:
                dense = self._dense_uncentred(query_vector, n_candidates, allowed)
            ranked = dense if mode == "dense" or not lang else self._fuse(query, lang, dense, query_vector, allowed, n_candidates)
        if per_release:
            ranked = self._one_version_per_release(ranked, lang, allowed)
        return self._to_hits(ranked, k, per_document)

    def _lexical_only(self, query: str, lang: str, n: int, allowed: np.ndarray | None) -> list[_Candidate]:
        scores = self.lexical.scores(query, lang or "en")
        if allowed is not None:
            keep = np.zeros(len(scores), dtype=bool)
            keep[allowed] = True
            scores = np.where(keep, scores, 0.0)
        order = [int(r) for r in np.argsort(-scores, kind="stable")[:n] if scores[r] > 0]
        return [_Candidate(r, None, float(scores[r])) for r in order]

    def _fuse(self, query, lang, dense, query_vector, allowed, n) -> list[_Candidate]:
        lexical_scores = self.lexical.scores(query, lang)
        same_lang = np.array([chunk_lang == lang for chunk_lang in self.chunk_langs])
        candidates = {c.row: c for c in dense}
        # Same-language passages BM25 likes that dense did not fetch.
        eligible = np.where(same_lang & (lexical_scores > 0), lexical_scores, 0.0)
        if allowed is not None:
            keep = np.zeros(len(eligible), dtype=bool)
            keep[allowed] = True
            eligible = np.where(keep, eligible, 0.0)
        extra_rows = [int(r) for r in np.argsort(-eligible, kind="stable")[:n] if eligible[r] > 0 and int(r) not in candidates]
        if extra_rows:
            vectors = (self._centred_rows(extra_rows) if self.faiss_index is None
                       else np.vstack([self.faiss_index.reconstruct(r) for r in extra_rows]))
            for row, score in zip(extra_rows, vectors @ query_vector[0]):
                candidates[row] = _Candidate(row, float(score))
        for candidate in candidates.values():
            candidate.lexical = float(lexical_scores[candidate.row])

        by_dense = sorted(candidates.values(), key=lambda c: (-c.dense, c.row))
        same = [c for c in by_dense if same_lang[c.row]]
        if not same:
            return by_dense
        lexical_rank = {c.row: r for r, c in enumerate(sorted(same, key=lambda c: (-(c.lexical or 0.0), -c.dense, c.row)))}

        def fused(item: tuple[int, _Candidate]) -> float:
            dense_rank, candidate = item
            lexical_part = 1.0 / (RRF_K + lexical_rank[candidate.row]) if candidate.lexical else 0.0
            return 1.0 / (RRF_K + dense_rank) + lexical_part

        reordered = [c for _, c in sorted(enumerate(same), key=lambda item: (-fused(item), item[0]))]
        slot_scores = [c.dense for c in by_dense]
        result, next_same = [], iter(reordered)
        for candidate in by_dense:
            result.append(next(next_same) if same_lang[candidate.row] else candidate)
        # The score shown is the slot's dense score, so scores stay monotone with the rank.
        return [_Candidate(c.row, c.dense, c.lexical, score=slot_scores[i]) for i, c in enumerate(result)]

    # ------------------------------------------------------------------ language versions
    def _rows_of(self, doc_id: str) -> list[int]:
        if self._rows_of_doc is None:
            rows: dict[str, list[int]] = {}
            for row, chunk in enumerate(self.chunks):
                rows.setdefault(chunk.doc_id, []).append(row)
            self._rows_of_doc = rows
        return self._rows_of_doc.get(doc_id, [])

    def _centred_rows(self, rows: list[int]) -> np.ndarray:
        return centre(self.raw_embeddings[rows], [self.chunk_langs[r] for r in rows], self.centring)

    def _aligned_row(self, row: int, doc_id: str) -> int | None:
        """The passage of document ``doc_id`` closest to passage ``row`` (its translation, when
        ``doc_id`` is another language version of the same release)."""
        rows = self._rows_of(doc_id)
        if not rows or self.raw_embeddings is None:
            return rows[0] if rows else None
        similarity = self._centred_rows(rows) @ self._centred_rows([row])[0]
        return rows[int(np.argmax(similarity))]

    def _one_version_per_release(self, ranked: list[_Candidate], lang: str | None,
                                 allowed: np.ndarray | None) -> list[_Candidate]:
        """Each release counted once: its passages come from one version, the question's language
        when the release has it (a passage of another version is replaced, at its rank, by the
        same passage in that version); so the top results hold more releases, quoted in the
        question's language."""
        allowed_docs = None if allowed is None else {self.chunks[r].doc_id for r in allowed}
        chosen: dict[str, str] = {}
        used_rows: set[int] = set()
        result = []
        for candidate in ranked:
            doc_id = self.chunks[candidate.row].doc_id
            key = self.releases.key_of(doc_id)
            if key not in chosen:
                chosen[key] = next((other for other in self.releases.other_versions(doc_id)
                                    if lang and self.documents[doc_id].lang != lang
                                    and self.documents[other].lang == lang
                                    and (allowed_docs is None or other in allowed_docs)), doc_id)
            row = candidate.row
            if chosen[key] != doc_id:
                row = self._aligned_row(row, chosen[key])
            if row is None or row in used_rows:
                continue
            used_rows.add(row)
            result.append(candidate if row == candidate.row else
                          _Candidate(row, candidate.dense, candidate.lexical, score=candidate.shown_score))
        return result

    def _other_versions(self, row: int) -> tuple[OtherVersion, ...]:
        versions = []
        for other in self.releases.other_versions(self.chunks[row].doc_id):
            aligned = self._aligned_row(row, other)
            if aligned is not None and other in self.documents:
                versions.append(OtherVersion(self.documents[other], self.chunks[aligned]))
        return tuple(versions)

    def _to_hits(self, ranked: list[_Candidate], k: int, per_document: bool) -> list[Hit]:
        hits: list[Hit] = []
        seen: set[str] = set()
        for candidate in ranked:
            chunk = self.chunks[candidate.row]
            if per_document:
                if chunk.doc_id in seen:
                    continue
                seen.add(chunk.doc_id)
            hits.append(
                Hit(
                    chunk=chunk,
                    document=self.documents[chunk.doc_id],
                    score=candidate.shown_score,
                    rank=len(hits) + 1,
                    dense_score=candidate.dense,
                    lexical_score=candidate.lexical,
                    other_versions=self._other_versions(candidate.row),
                )
            )
            if len(hits) == k:
                break
        return hits
