"""The generator's weights: 4 bits per weight where the GGUF has Q4_K (the candidate) against int8
(what ships), as ratios measured in one process.

Both models are built from the same verified GGUF and run on the same prompts, alternating prompt
by prompt (a noisy machine then favours neither). Printed:

* prompt reading and generation, tokens/s, on chat prompts of ``--prompt-tokens`` tokens;
* the memory-bandwidth bound of generation: the weight bytes read per token divided by this
  machine's read bandwidth, measured here (a token reads every weight once);
* with ``--index``, whole answers of the assistant (retrieval, generation, judge) on the seed
  questions: first token and whole answer, p50 and the pairwise ratio, and how many answers are
  the same text;
* each format's peak memory, in a child process of its own (peak RSS is per process; int4's
  includes its conversion from the GGUF, int8 is read from the generator's cache).

    .venv/bin/python benchmarks/bench_generator.py [--index DIR] [--prompt-tokens 550] [--new-tokens 48]

``DIR``: an index of the bundled samples (``porteparole ingest samples/communiques --index DIR``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from assistant.llm import LlmGenerator, attention
from assistant.llm.model_files import verified_gguf_path
from assistant.llm.quantized import quantise_gguf
from assistant.prompts import SYSTEM_PROMPT
from memory import peak_rss_gib

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "communiques"
QUESTIONS = [
    "Combien de personnes l'industrie aérospatiale emploie-t-elle au Québec ?",
    "Who signed the cooperation agreement between Toulouse and Montreal, and when?",
    "Quels sont les domaines de coopération prévus par l'entente ?",
]
FORMATS = ("int8", "int4")


def load(fmt: str):
    """(model, tokenizer): ``int8`` is the generator's own (cached) model, ``int4`` converted here
    (with the generator's attention and tokenizer, read from its cache: int8 must be loaded once first)."""
    if fmt == "int8":
        return LlmGenerator()._load()
    from transformers import AutoTokenizer

    model = quantise_gguf(verified_gguf_path(), four_bit=True)
    model.set_attn_implementation(attention.register())
    return model, AutoTokenizer.from_pretrained(LlmGenerator.weights_dir())


def prompts(tokenizer, prompt_tokens: int) -> list[torch.Tensor]:
    """Chat prompts of about ``prompt_tokens`` tokens: sample communiqués, then a question."""
    sources = "\n\n".join(path.read_text(encoding="utf-8") for path in sorted(SAMPLES.glob("*.txt")))
    budget = tokenizer(sources)["input_ids"][: max(16, prompt_tokens - 120)]
    context = tokenizer.decode(budget)
    out = []
    for question in QUESTIONS:
        messages = [{"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": f"[1] {context}\n\nQuestion : {question}"}]
        out.append(tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                 return_dict=True)["input_ids"])
    return out


def measure_prompt(model, tokenizer, ids: torch.Tensor, new_tokens: int) -> dict:
    """Prompt reading and generation speed of one prompt, and the greedy answer."""
    with torch.inference_mode():
        started = time.perf_counter()
        model(ids, use_cache=True, logits_to_keep=1)
        reading = time.perf_counter() - started
        started = time.perf_counter()
        out = model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                             pad_token_id=tokenizer.eos_token_id)
        elapsed = time.perf_counter() - started
    return {"read_tps": ids.shape[1] / reading, "generate_tps": (new_tokens - 1) / max(1e-6, elapsed - reading),
            "answer": tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)}


def weight_bytes_per_token(model) -> int:
    """Bytes of weights one generated token reads: every tensor, except the input embedding table
    (one row of it is read); a table shared with the output layer is read there, once."""
    embedding = model.get_input_embeddings()
    table = {tensor.data_ptr() for tensor in embedding.buffers()} | {p.data_ptr() for p in embedding.parameters()}
    output = model.get_output_embeddings()
    shared = {tensor.data_ptr() for tensor in output.buffers()} & table if output is not None else set()
    seen, total = set(), 0
    for tensor in [*model.parameters(), *model.buffers()]:
        pointer = tensor.data_ptr()
        if pointer in seen or (pointer in table and pointer not in shared):
            continue
        seen.add(pointer)
        total += tensor.numel() * tensor.element_size()
    return total


def read_bandwidth_gbs() -> float:
    """GB/s at which this process reads a 1 GiB tensor (the best of 5 sums)."""
    data = torch.ones(2**28, dtype=torch.float32)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        data.sum()
        best = min(best, time.perf_counter() - started)
    return data.numel() * 4 / best / 1e9


def whole_answers(models: dict, index: Path, limit: int) -> dict[str, list[dict]]:
    """The assistant's answers to the seed questions with each model in turn, question by question."""
    from assistant import Assistant
    from eval.data import load_seed_questions

    assistant = Assistant.open(index, generator="llm")
    for model in models.values():
        LlmGenerator._model = model
        assistant.generator.warm_up()
    rows: dict[str, list[dict]] = {fmt: [] for fmt in models}
    for i, question in enumerate(load_seed_questions()[:limit]):
        for fmt in (FORMATS if i % 2 == 0 else FORMATS[::-1]):
            LlmGenerator._model = models[fmt]
            started = time.perf_counter()
            answer = assistant.ask(question["question"])
            rows[fmt].append({"total": time.perf_counter() - started, "text": answer.text,
                              "first": answer.timings.get("first_token")})
    return rows


def peak_rss_child(fmt: str, prompt_tokens: int, new_tokens: int) -> float:
    """Peak RSS (GiB) of a fresh process that loads ``fmt`` and answers the prompts."""
    done = subprocess.run([sys.executable, __file__, "--child", fmt, "--prompt-tokens", str(prompt_tokens),
                           "--new-tokens", str(new_tokens)], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_gib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompt-tokens", type=int, default=550, help="prompt length (the assistant's are 350-700)")
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--index", type=Path, help="an index of the bundled samples: also time whole answers")
    parser.add_argument("--questions", type=int, default=25, help="seed questions for whole answers")
    parser.add_argument("--child", choices=FORMATS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(LlmGenerator().threads)

    if args.child:
        model, tokenizer = load(args.child)
        for ids in prompts(tokenizer, args.prompt_tokens):
            measure_prompt(model, tokenizer, ids, args.new_tokens)
        print(json.dumps({"peak_rss_gib": peak_rss_gib()}))
        return

    models, tokenizer = {}, None
    for fmt in FORMATS:
        models[fmt], tokenizer = load(fmt)
        with torch.inference_mode():
            models[fmt].generate(torch.tensor([[9707, 0]]), max_new_tokens=2, do_sample=False)  # kernel set-up
    per_prompt: dict[str, list[dict]] = {fmt: [] for fmt in FORMATS}
    for i, ids in enumerate(prompts(tokenizer, args.prompt_tokens)):
        for fmt in (FORMATS if i % 2 == 0 else FORMATS[::-1]):
            per_prompt[fmt].append(measure_prompt(models[fmt], tokenizer, ids, args.new_tokens))
    bandwidth = read_bandwidth_gbs()

    base, cand = "int8", "int4"
    print(f"{torch.get_num_threads()} threads, prompts of ≈{args.prompt_tokens} tokens, {args.new_tokens} new tokens; "
          f"read bandwidth {bandwidth:.1f} GB/s")
    print(f"{'':<34}{'int8 (shipped)':>15}{'int4':>10}{'int4/int8 (pairwise p50)':>26}")
    for key, label in (("read_tps", "prompt reading tok/s"), ("generate_tps", "generation tok/s")):
        pairs = [c[key] / b[key] for b, c in zip(per_prompt[base], per_prompt[cand])]
        medians = [statistics.median(r[key] for r in per_prompt[fmt]) for fmt in (base, cand)]
        print(f"{label:<34}{medians[0]:>15.1f}{medians[1]:>10.1f}{statistics.median(pairs):>26.2f}")
    weights = {fmt: weight_bytes_per_token(models[fmt]) for fmt in FORMATS}
    print(f"{'weight GB read per token':<34}{weights[base] / 1e9:>15.2f}{weights[cand] / 1e9:>10.2f}"
          f"{weights[cand] / weights[base]:>26.2f}")
    bound = {fmt: bandwidth * 1e9 / weights[fmt] for fmt in FORMATS}
    print(f"{'bandwidth bound tok/s':<34}{bound[base]:>15.1f}{bound[cand]:>10.1f}")
    reached = [statistics.median(r["generate_tps"] for r in per_prompt[fmt]) / bound[fmt] for fmt in (base, cand)]
    print(f"{'generation / bound':<34}{reached[0]:>15.2f}{reached[1]:>10.2f}")
    same = sum(b["answer"] == c["answer"] for b, c in zip(per_prompt[base], per_prompt[cand]))
    print(f"greedy answers identical: {same} of {len(per_prompt[base])}")

    if args.index:
        rows = whole_answers(models, args.index, args.questions)
        print(f"whole answers, {len(rows[base])} seed questions (retrieval, generation, judge):")
        for key, label in (("first", "first token p50 s"), ("total", "whole answer p50 s")):
            pairs = [c[key] / b[key] for b, c in zip(rows[base], rows[cand]) if b[key] and c[key]]
            medians = [statistics.median(r[key] for r in rows[fmt] if r[key]) for fmt in (base, cand)]
            print(f"{label:<34}{medians[0]:>15.2f}{medians[1]:>10.2f}{statistics.median(pairs):>26.2f}")
        same = sum(b["text"] == c["text"] for b, c in zip(rows[base], rows[cand]))
        print(f"same answer text: {same} of {len(rows[base])}")

    del models
    print(f"{'peak RSS GiB (own process)':<34}"
          + "".join(f"{peak_rss_child(fmt, args.prompt_tokens, args.new_tokens):>{w}.2f}"
                    for fmt, w in ((base, 15), (cand, 10))))


if __name__ == "__main__":
    main()
