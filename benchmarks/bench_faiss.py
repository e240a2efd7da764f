"""Exact (IndexFlatIP) vs approximate (HNSW) search at growing index sizes, as ratios in one process.

Chooses index.retrieval.APPROXIMATE_ABOVE: exact search is kept while it stays fast on 2 cores,
because HNSW costs build time and memory and loses some recall.

    .venv/bin/python benchmarks/bench_faiss.py [--sizes 10000 50000 100000 200000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    import faiss

    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000, 200_000])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    dim = 384
    print(f"{'vectors':>9} {'flat ms/q':>10} {'hnsw ms/q':>10} {'flat/hnsw':>10} {'hnsw build s':>13} {'hnsw recall@10':>15}")
    for n in args.sizes:
        base = rng.standard_normal((n, dim)).astype(np.float32)
        base /= np.linalg.norm(base, axis=1, keepdims=True)
        queries = base[rng.choice(n, args.queries, replace=False)] + 0.1 * rng.standard_normal((args.queries, dim)).astype(np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        flat = faiss.IndexFlatIP(dim)
        flat.add(base)
        started = time.perf_counter()
        _, exact = np.array([0]), None
        exact = np.vstack([flat.search(q[None], 10)[1] for q in queries])
        flat_ms = 1000 * (time.perf_counter() - started) / args.queries
        hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 80
        started = time.perf_counter()
        hnsw.add(base)
        build = time.perf_counter() - started
        hnsw.hnsw.efSearch = 64
        started = time.perf_counter()
        approx = np.vstack([hnsw.search(q[None], 10)[1] for q in queries])
        hnsw_ms = 1000 * (time.perf_counter() - started) / args.queries
        recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)])
        print(f"{n:>9} {flat_ms:>10.2f} {hnsw_ms:>10.2f} {flat_ms / hnsw_ms:>10.1f} {build:>13.1f} {recall:>15.3f}")


if __name__ == "__main__":
    main()
