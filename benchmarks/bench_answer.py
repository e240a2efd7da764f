"""Answer latency and memory with the real generator, as ratios against a baseline in the same process.

Baseline: the set-up measured in MODELS.md (the top 5 whole chunks in the prompt). Candidates:
the assistant's sentence budget at several sizes. For each: prompt tokens, time to first token,
total time, and correctness on the answerable seed questions, so the budget is picked by data.

    .venv/bin/python benchmarks/bench_answer.py --index DIR [--questions 8]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

from assistant import Assistant
from assistant.generators import GenerationRequest, Passage
from assistant.prompts import SYSTEM_PROMPT, build_user_prompt
from eval.answer_eval import run_questions, summarise
from eval.data import load_seed_questions


def whole_chunk_baseline(assistant: Assistant, questions: list[dict]) -> dict:
    first, total, tokens = [], [], []
    generator = assistant.generator
    for q in questions:
        hits = assistant.search(q["question"], k=5)
        passages = [Passage(n=i + 1, text=h.chunk.text, title=h.document.title, date=h.document.date,
                            issuer=h.document.issuer, lang=h.document.lang, score=h.score) for i, h in enumerate(hits)]
        request = GenerationRequest(question=q["question"], language=q["lang"], passages=passages, system=SYSTEM_PROMPT,
                                    user=build_user_prompt(q["question"], q["lang"], passages))
        tokens.append(generator.prompt_tokens(request))
        started = time.perf_counter()
        got_first = None
        for _ in generator.stream(request):
            got_first = got_first or time.perf_counter() - started
        first.append(got_first or 0.0)
        total.append(time.perf_counter() - started)
    return {"prompt_tokens": statistics.median(tokens), "first_token_s": statistics.median(first), "total_s": statistics.median(total)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", required=True)
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--budgets", type=int, nargs="+", default=[3, 6, 10])
    args = parser.parse_args()
    assistant = Assistant.open(args.index, generator="llm")
    started = time.perf_counter()
    assistant.generator.warm_up()
    print(f"model load: {time.perf_counter() - started:.1f} s; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    questions = [q for q in load_seed_questions() if q["answerable"]][: args.questions]
    base = whole_chunk_baseline(assistant, questions)
    print(f"baseline (5 whole chunks): prompt {base['prompt_tokens']:.0f} tokens, first token {base['first_token_s']:.1f} s, total {base['total_s']:.1f} s (medians)")
    print(f"{'sentences':>9} {'correct':>8} {'cited':>6} {'first tok s':>11} {'total s':>8} {'first/base':>10} {'total/base':>10}")
    for budget in args.budgets:
        assistant.prompt_sentences = budget
        records = run_questions(assistant, questions)
        summary = summarise(records)
        first = statistics.median(r["first_token_s"] or r["latency_s"] for r in records)
        total = statistics.median(r["latency_s"] for r in records)
        print(f"{budget:>9} {summary['correct']:>8.2f} {summary['correct_and_cited']:>6.2f} {first:>11.1f} {total:>8.1f} "
              f"{first / base['first_token_s']:>10.2f} {total / base['total_s']:>10.2f}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB (whole process: model, embedder, index)")


if __name__ == "__main__":
    main()
