"""Tokens drafted from the context (prompt lookup) against one token per step, as ratios measured
in one process on the assistant's real answers.

The same assistant answers each question twice, once per setting, alternating which goes first
(a noisy machine then favours neither). Printed per setting: first token and whole answer p50,
the pairwise ratio of whole answers, how many answers are the same text, and the share of
drafted tokens the model accepted.

    .venv/bin/python benchmarks/bench_drafts.py --index DIR [--questions 25] [--draft-tokens 3]
    .venv/bin/python benchmarks/bench_drafts.py --index DIR --journalists 20

``DIR``: an index of the bundled samples (``porteparole ingest samples/communiques --index DIR``)
for the seed questions, or of the eval's Swiss corpus with ``--journalists``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from assistant import Assistant
from assistant.llm import LlmGenerator
from assistant.llm.generator import DEFAULT_DRAFT_TOKENS


def questions(args) -> list[str]:
    if args.journalists:
        from eval.data import load_eval_data

        return [item["question"] for item in load_eval_data().journalist_qa][:args.journalists]
    from eval.data import load_seed_questions

    return [item["question"] for item in load_seed_questions()][:args.questions]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--questions", type=int, default=25, help="seed questions")
    parser.add_argument("--journalists", type=int, default=0, help="Swiss journalist questions instead")
    parser.add_argument("--draft-tokens", type=int, default=DEFAULT_DRAFT_TOKENS,
                        help="the candidate's draft length (default: what ships)")
    args = parser.parse_args()

    assistant = Assistant.open(args.index, generator="llm")
    assistant.generator.warm_up()
    decoder = LlmGenerator._decoder()
    settings = {"one token per step": 0, f"drafts of {args.draft_tokens}": args.draft_tokens}
    rows: dict[str, list[dict]] = {name: [] for name in settings}
    counts = {name: [0, 0] for name in settings}
    for i, question in enumerate(questions(args)):
        order = list(settings) if i % 2 == 0 else list(settings)[::-1]
        for name in order:
            decoder.draft_tokens = settings[name]
            drafted, accepted = decoder.drafted, decoder.accepted
            started = time.perf_counter()
            answer = assistant.ask(question)
            rows[name].append({"total": time.perf_counter() - started, "text": answer.text,
                               "first": answer.timings.get("first_token")})
            counts[name][0] += decoder.drafted - drafted
            counts[name][1] += decoder.accepted - accepted
        print(f"{i + 1:>3} " + "  ".join(f"{rows[name][-1]['total']:5.2f} s" for name in settings), flush=True)

    base, cand = settings
    print(f"{torch.get_num_threads()} threads, {len(rows[base])} questions")
    print(f"{'':<24}{base:>22}{cand:>16}{'ratio (pairwise p50)':>22}")
    for key, label in (("first", "first token p50 s"), ("total", "whole answer p50 s")):
        pairs = [c[key] / b[key] for b, c in zip(rows[base], rows[cand]) if b[key] and c[key]]
        medians = [statistics.median(r[key] for r in rows[name] if r[key]) for name in settings]
        print(f"{label:<24}{medians[0]:>22.2f}{medians[1]:>16.2f}{statistics.median(pairs):>22.2f}")
    drafted, accepted = counts[cand]
    print(f"drafted tokens accepted: {accepted} of {drafted} ({accepted / max(drafted, 1):.0%})")
    same = sum(b["text"] == c["text"] for b, c in zip(rows[base], rows[cand]))
    print(f"same answer text: {same} of {len(rows[base])}")
    for b, c in zip(rows[base], rows[cand]):
        if b["text"] != c["text"]:
            print(f"  differs:\n    {b['text'][:200]!r}\n    {c['text'][:200]!r}")


if __name__ == "__main__":
    main()
