"""Retrieval quality per method, split by query kind (same-language / cross-lingual)."""

from __future__ import annotations

import time
from collections import defaultdict

from index import Index

from .metrics import mrr_at, ndcg_at, percentile, recall_at

# (label, search keyword arguments): what each compared method means.
METHODS = {
    "bm25": {"mode": "lexical"},
    "dense_plain": {"mode": "dense", "centred": False},
    "dense": {"mode": "dense"},
    "hybrid": {"mode": "hybrid"},
}
KS = (1, 5, 10)


def evaluate_retrieval(index: Index, queries: list[dict], methods=METHODS, progress=None) -> dict:
    """``queries``: dicts with ``qid``, ``query``, ``query_lang``, ``gold_doc_ids`` and a ``group`` name.

    Returns ``{method: {group: {metric: value}, ...}}`` plus per-query latencies.
    """
    results: dict = {}
    for method, kwargs in methods.items():
        per_group: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        latencies = []
        for query in queries:
            started = time.perf_counter()
            hits = index.search(query["query"], k=10, per_document=True, query_lang=query.get("query_lang"), **kwargs)
            latencies.append(time.perf_counter() - started)
            ranked = [hit.doc_id for hit in hits]
            gold = set(query["gold_doc_ids"])
            for group in (query["group"], "all"):
                bucket = per_group[group]
                for k in KS:
                    bucket[f"recall@{k}"].append(recall_at(ranked, gold, k))
                bucket["mrr@10"].append(mrr_at(ranked, gold, 10))
                bucket["ndcg@10"].append(ndcg_at(ranked, gold, 10))
            if progress:
                progress()
        results[method] = {
            group: {name: sum(values) / len(values) for name, values in metrics.items()} | {"n": len(next(iter(metrics.values())))}
            for group, metrics in per_group.items()
        }
        results[method]["latency_ms"] = {"p50": 1000 * percentile(latencies, 0.5), "p95": 1000 * percentile(latencies, 0.95)}
    return results


def swiss_queries(rows: list[dict]) -> list[dict]:
    return [{**row, "group": row["mode"]} for row in rows]


def piaf_queries(rows: list[dict]) -> list[dict]:
    return [{"qid": row["qid"], "query": row["question"], "query_lang": "fr", "gold_doc_ids": [row["context_id"]],
             "group": "piaf"} for row in rows]
