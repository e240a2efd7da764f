"""Replay an answer eval with the drafts an earlier run's model wrote: a change to the stages after
generation (attribution, fact checks, policy) measured in minutes instead of an hour of LLM time.

    python -m eval.replay .cache/eval-report/report.json [--sets seeds,piaf,journalists] [--out DIR]

Retrieval, evidence and the prompt are computed again by the current code; where the model would
be asked, the draft it wrote for that question in the earlier run is given instead. This is exact
as long as the change leaves the prompt alone (the same passages in the same order): the report
says for how many questions the prompt differed from the recorded run's (``drafts_missing``).
Translations of quotes are not replayed (a quote stays in its source's language), which can only
lower ``answer_language_accuracy``; the other metrics are what a full run would give. Prints the
metrics next to the recorded ones and the questions whose outcome changed, and writes the
replayed records as ``replay.json`` (same layout as ``report.json``: ``python -m eval.calibrate``
reads it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict, deque
from pathlib import Path

from assistant.generators import GenerationRequest, Generator

from .data import load_eval_data
from .run import answer_section


class ReplayGenerator(Generator):
    """Gives back, for each question, the draft recorded for it (in the recorded order)."""

    name = "llm"
    can_translate = False

    def __init__(self, records: list[dict], judge: Generator | None = None) -> None:
        #: A real generator that judges source sentences (``--judge``): its signal is computed afresh.
        self.judge = judge
        self.can_judge = judge is not None and judge.can_judge
        self.drafts: dict[str, deque[str]] = defaultdict(deque)
        for record in records:
            if record.get("raw") is not None:
                self.drafts[record["question"]].append(record["raw"])
        self.missing: list[str] = []

    def stream(self, request: GenerationRequest):
        queue = self.drafts.get(request.question)
        if not queue:
            # The recorded run did not ask the model here (an early refusal then): nothing to give.
            self.missing.append(request.question)
            return
        yield queue.popleft()

    def answer_probabilities(self, question, sentences, titles=None):
        return self.judge.answer_probabilities(question, sentences, titles) if self.judge else None


def replay_section(report: dict, sets: set[str], indexes: Path, data_dir: str | None = None,
                   judge: Generator | None = None) -> tuple[dict, list[str]]:
    """The answer section of ``report``'s LLM run computed again by the current code on its drafts;
    also the questions whose draft was missing (the prompt differed, or the model was not asked)."""
    recorded = report["answers"]["llm"]
    records = [r for name in ("seeds", "journalists", "piaf") if name in sets for r in recorded[name]["records"]]
    generator = ReplayGenerator(records, judge)
    section = answer_section(load_eval_data(data_dir), indexes, "llm", report.get("sample", 15), sets,
                             shared_generator=generator)
    return section, generator.missing


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="report.json of a run with --generator llm (or --ci)")
    parser.add_argument("--sets", default="seeds,piaf,journalists")
    parser.add_argument("--out", type=Path, help="where the indexes are (default: next to the report)")
    parser.add_argument("--data", help="evaluation data directory (default: ../shared/evaldata)")
    parser.add_argument("--judge", action="store_true",
                        help="load the LLM to compute its judgement of the answer's source (model_yes) afresh")
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text(encoding="utf-8"))
    recorded = report["answers"]["llm"]
    sets = {s.strip() for s in args.sets.split(",") if s.strip()} & set(recorded)
    judge = None
    if args.judge:
        from assistant.llm import LlmGenerator

        judge = LlmGenerator()
    section, missing = replay_section(report, sets, (args.out or args.report.parent) / "indexes", args.data, judge)
    sample = report.get("sample", 15)
    for name in sorted(set(section) & sets):
        before, after = recorded[name]["summary"], section[name]["summary"]
        print(f"\n{name}")
        for metric in ("correct", "correct_and_cited", "refusal_recall", "false_refusal_rate", "citation_precision"):
            if before.get(metric) is not None:
                print(f"  {metric:22s} {before[metric]:.3f} -> {after.get(metric) or 0:.3f}")
        old = {(r["question"], r["answerable"]): r for r in recorded[name]["records"]}
        for r in section[name]["records"]:
            o = old.get((r["question"], r["answerable"]))
            if o and (o.get("correct"), o["refused"]) != (r.get("correct"), r["refused"]):
                print(f"  changed: {'answerable' if r['answerable'] else 'unanswerable'} {r['question'][:70]!r}: "
                      f"correct {o.get('correct')} -> {r.get('correct')}, refused {o['refused']} -> {r['refused']} "
                      f"{r.get('refusal_reason', '')[:90]}")
    target = (args.out or args.report.parent) / "replay.json"
    target.write_text(json.dumps({"sample": sample, "answers": {"llm": section}}, ensure_ascii=False, default=str),
                      encoding="utf-8")
    print(f"\ndrafts_missing: {len(missing)}; records in {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
