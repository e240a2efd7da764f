"""The generator's weights: int8 (what ships) against bf16 (the earlier format), as ratios.

Both run in this process on the same prompts: the bf16 baseline is the GGUF dequantised by
transformers (as before the int8 format), the candidate is the cached int8 conversion. Printed:
prompt reading (tokens/s), generation (tokens/s), whether the greedy answers agree, and each
format's peak memory, measured in a child process of its own (peak RSS is per process).

    .venv/bin/python benchmarks/bench_generator.py [--prompt-tokens 550] [--new-tokens 48]
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

from assistant.llm import LlmGenerator
from assistant.llm.model_files import verified_gguf_path
from assistant.prompts import SYSTEM_PROMPT
from memory import peak_rss_gib

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "communiques"
QUESTIONS = [
    "Combien de personnes l'industrie aérospatiale emploie-t-elle au Québec ?",
    "Who signed the cooperation agreement between Toulouse and Montreal, and when?",
    "Quels sont les domaines de coopération prévus par l'entente ?",
]


def load(fmt: str):
    """(model, tokenizer) in the given format; the tokenizer is the same for both."""
    if fmt == "int8":
        return LlmGenerator()._load()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = verified_gguf_path()
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
    return model.eval(), AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)


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


def measure(model, tokenizer, inputs: list[torch.Tensor], new_tokens: int) -> dict:
    read, generate, answers = [], [], []
    with torch.inference_mode():
        model.generate(inputs[0][:, :16], max_new_tokens=2, do_sample=False)  # kernel set-up
        for ids in inputs:
            started = time.perf_counter()
            model(ids, use_cache=True, logits_to_keep=1)
            read.append(ids.shape[1] / (time.perf_counter() - started))
            started = time.perf_counter()
            out = model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.eos_token_id)
            elapsed = time.perf_counter() - started
            generate.append((new_tokens - 1) / max(1e-6, elapsed - ids.shape[1] / read[-1]))
            answers.append(tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True))
    return {"read_tps": statistics.median(read), "generate_tps": statistics.median(generate), "answers": answers}


def peak_rss_child(fmt: str, prompt_tokens: int, new_tokens: int) -> float:
    """Peak RSS (GiB) of a fresh process that loads ``fmt`` and answers the prompts."""
    done = subprocess.run([sys.executable, __file__, "--child", fmt, "--prompt-tokens", str(prompt_tokens),
                           "--new-tokens", str(new_tokens)], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_gib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompt-tokens", type=int, default=550, help="prompt length (the assistant's are 350-700)")
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--child", choices=["int8", "bf16"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(LlmGenerator().threads)

    if args.child:
        model, tokenizer = load(args.child)
        measure(model, tokenizer, prompts(tokenizer, args.prompt_tokens), args.new_tokens)
        print(json.dumps({"peak_rss_gib": peak_rss_gib()}))
        return

    results = {}
    for fmt in ("int8", "bf16"):
        model, tokenizer = load(fmt)
        results[fmt] = measure(model, tokenizer, prompts(tokenizer, args.prompt_tokens), args.new_tokens)
        results[fmt]["peak_rss_gib"] = peak_rss_child(fmt, args.prompt_tokens, args.new_tokens)
        del model

    base, cand = results["bf16"], results["int8"]
    print(f"{torch.get_num_threads()} threads, prompts of ≈{args.prompt_tokens} tokens, {args.new_tokens} new tokens")
    print(f"{'':<22}{'bf16 (baseline)':>16}{'int8':>10}{'int8/bf16':>11}")
    for key, label in (("read_tps", "prompt reading tok/s"), ("generate_tps", "generation tok/s"),
                       ("peak_rss_gib", "peak RSS GiB")):
        print(f"{label:<22}{base[key]:>16.1f}{cand[key]:>10.1f}{cand[key] / base[key]:>11.2f}")
    same = sum(a == b for a, b in zip(base["answers"], cand["answers"]))
    print(f"greedy answers identical: {same} of {len(base['answers'])}")
    for a, b in zip(base["answers"], cand["answers"]):
        if a != b:
            print(f"  bf16: {a!r}\n  int8: {b!r}")


if __name__ == "__main__":
    main()
