"""The system prompt read once and reused, against reading it with every question, in one process.

Every answer's prompt starts with the same system prompt. The generator keeps that prompt's
attention keys and values and copies them into each generation (``LlmGenerator(reuse_system_prompt=True)``,
the default), so only the passages and the question are read. This benchmark asks the eval's
questions both ways, alternating question by question on the same prompts (the assistant's own:
retrieval, evidence, the six best sentences), and prints the time to the first token and to the
end of the answer, p50 and the ratio of each pair, and whether the greedy answers are the same.

    .venv/bin/python benchmarks/bench_prefix.py --index DIR [--questions 12]

``DIR``: the eval's ``eval-out/indexes/swiss`` (journalist questions) or ``eval-out/indexes/samples`` (``--set seeds``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from assistant import Assistant
from assistant.llm import LlmGenerator
from eval.data import load_eval_data, load_seed_questions


def timed(generator: LlmGenerator, request) -> tuple[float, float, str]:
    started = time.perf_counter()
    first, pieces = None, []
    for piece in generator.stream(request):
        first = first or time.perf_counter() - started
        pieces.append(piece)
    return first or 0.0, time.perf_counter() - started, "".join(pieces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", required=True, type=Path)
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--set", choices=["journalists", "seeds"], default="journalists",
                        help="the questions: the Swiss journalist set (index: eval-out/indexes/swiss) or the seed questions")
    parser.add_argument("--data", help="evaluation data directory (default: ../shared/evaldata)")
    args = parser.parse_args()

    assistant = Assistant.open(args.index, generator="extractive")
    pool = load_eval_data(args.data).journalist_qa if args.set == "journalists" else load_seed_questions()
    questions = [q["question"] for q in pool if q["answerable"]]
    requests = [assistant.generation_request(assistant.retrieve(q))[1] for q in questions[: args.questions]]

    reusing, rereading = LlmGenerator(reuse_system_prompt=True), LlmGenerator(reuse_system_prompt=False)
    rereading.warm_up()
    timed(reusing, requests[0])  # reads the system prompt once, as a server does at its first question
    rows = []
    for i, request in enumerate(requests):
        # Alternate which goes first: a noisy machine then favours neither.
        order = (rereading, reusing) if i % 2 == 0 else (reusing, rereading)
        result = {generator.reuse_system_prompt: timed(generator, request) for generator in order}
        rows.append((result[False], result[True], reusing.prompt_tokens(request)))

    def p50(values):
        return statistics.median(values)

    first_ratio = p50([base[0] / cand[0] for base, cand, _ in rows])
    total_ratio = p50([base[1] / cand[1] for base, cand, _ in rows])
    print(f"{len(rows)} questions, prompts of {p50([t for *_, t in rows]):.0f} tokens (p50); "
          f"system prompt {LlmGenerator._system_caches and next(iter(LlmGenerator._system_caches.values()))[0].shape[1]} tokens")
    print(f"{'':<24}{'reread (baseline)':>18}{'reused':>10}{'speed-up (pairwise p50)':>26}")
    print(f"{'first token p50 s':<24}{p50([b[0] for b, _, _ in rows]):>18.2f}{p50([c[0] for _, c, _ in rows]):>10.2f}{first_ratio:>26.2f}")
    print(f"{'whole answer p50 s':<24}{p50([b[1] for b, _, _ in rows]):>18.2f}{p50([c[1] for _, c, _ in rows]):>10.2f}{total_ratio:>26.2f}")
    same = sum(base[2] == cand[2] for base, cand, _ in rows)
    print(f"greedy answers identical: {same} of {len(rows)}")
    for base, cand, _ in rows:
        if base[2] != cand[2]:
            print(f"  reread: {base[2]!r}\n  reused: {cand[2]!r}")


if __name__ == "__main__":
    main()
