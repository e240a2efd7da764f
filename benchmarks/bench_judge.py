"""The judge with its system prompt read once and reused, against reading it every time, in one process.

The policy asks the LLM whether an answer's source sentence states the answer (a yes/no prompt,
:meth:`assistant.llm.LlmGenerator.answer_probabilities`; the assistant judges one sentence, several
are judged in one batch: ``--sentences``). The
judge's system prompt is the same for every question: its keys and values are computed once and
copied into each judgement, so only the title, sentence and question are read. This benchmark
judges the best sentences of the eval's questions both ways, alternating question by question, and
prints p50 seconds, the pairwise speed-up and the largest difference in P(yes).

    .venv/bin/python benchmarks/bench_judge.py --index DIR [--questions 16] [--sentences 3]

``DIR``: the eval's ``indexes/swiss`` (e.g. ``.cache/eval-report/indexes/swiss`` after ``dev.py test``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from assistant import Assistant
from assistant.llm import LlmGenerator
from eval.data import load_eval_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", required=True, type=Path)
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--sentences", type=int, default=3, help="sentences judged per question (one batch)")
    parser.add_argument("--data", help="evaluation data directory (default: ../shared/evaldata)")
    args = parser.parse_args()

    assistant = Assistant.open(args.index, generator="extractive")
    questions = [q["question"] for q in load_eval_data(args.data).journalist_qa if q["answerable"]][: args.questions]
    cases = []
    for question in questions:
        evidence, _, _ = assistant.generation_request(assistant.retrieve(question))
        chosen = [evidence.sentences[i] for i in evidence.ranked(args.sentences)]
        cases.append((question, [s.text for s in chosen], [s.hit.document.title or "" for s in chosen]))

    reusing, rereading = LlmGenerator(reuse_system_prompt=True), LlmGenerator(reuse_system_prompt=False)
    rereading.warm_up()
    reusing.answer_probabilities(*cases[0])  # reads the system prompt once, as a server does at its first question
    rows = []
    for i, case in enumerate(cases):
        # Alternate which goes first: a noisy machine then favours neither.
        order = (rereading, reusing) if i % 2 == 0 else (reusing, rereading)
        result = {}
        for generator in order:
            started = time.perf_counter()
            probabilities = generator.answer_probabilities(*case)
            result[generator.reuse_system_prompt] = (time.perf_counter() - started, probabilities)
        rows.append((result[False], result[True]))

    p50 = statistics.median
    print(f"{len(rows)} questions, {args.sentences} sentence(s) judged in one batch each")
    print(f"{'':<22}{'reread (baseline)':>18}{'reused':>10}{'speed-up (pairwise p50)':>26}")
    print(f"{'judgement p50 s':<22}{p50([b[0] for b, _ in rows]):>18.3f}{p50([c[0] for _, c in rows]):>10.3f}"
          f"{p50([b[0] / c[0] for b, c in rows]):>26.2f}")
    gap = max(abs(x - y) for b, c in rows for x, y in zip(b[1], c[1]))
    print(f"largest difference in P(yes): {gap:.3f}")


if __name__ == "__main__":
    main()
