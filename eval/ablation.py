"""Each rule of the answering policy switched off in turn, on the drafts of an earlier LLM run.

    python -m eval.ablation .cache/eval-report/report.json [--sets seeds,piaf,journalists] [--judge]

Built on :mod:`eval.replay`: retrieval, evidence, attribution and the policy run again with the
current code while the model's drafts are the recorded ones, so one line of the table costs minutes,
not the hour of LLM time a full run would. What changes the prompt (the evidence's ranking, the
asked-for type's place in it, the early gate that decides whether the model is asked at all) cannot
be replayed: those are measured by full eval runs (eval/history.md).

With ``--judge`` the LLM's judgement of a source sentence is computed afresh, once per sentence
for all lines of the table; without it the judge's veto and the pointed-at passage are decided
as for a generator that cannot judge.

Prints a Markdown table: per set, answerable questions answered right and cited, unanswerable ones
refused, answerable ones refused (false refusals) and wrong answers shown; one line per rule off.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path

from assistant import policy
from assistant.generators import Generator

from .replay import replay_section


class RememberingJudge(Generator):
    """``judge`` whose judgements are computed once per (question, sentences) and reused by every
    line of the table; anything else it is asked goes to ``judge`` as it is."""

    name = "llm"
    can_judge = True

    def __init__(self, judge: Generator) -> None:
        self.judge = judge
        self.known: dict[tuple, list[float] | None] = {}

    def stream(self, request):
        yield from self.judge.stream(request)

    def answer_probabilities(self, question, sentences, titles=None):
        key = (question, tuple(sentences), tuple(titles or ()))
        if key not in self.known:
            self.known[key] = self.judge.answer_probabilities(question, sentences, titles)
        return self.known[key]


def _decide_without(*offers: str):
    """``policy.decide`` that refuses the quotes of the given kinds: ``drawn`` (the sentence a failed
    draft was drawn from), ``pointed`` (the passage a restating draft pointed at), ``best`` (the
    best-ranked sentence, shown by the calibrated quote model)."""
    decide = policy.decide

    def without(values, generator, model=None, problem="", drawn_from_draft=False, pointed_at=False):
        kind = "drawn" if drawn_from_draft else "pointed" if pointed_at else "best"
        if problem and kind in offers:
            return policy.Decision(True, f"{problem}; ablation: {kind} quotes off", None, values)
        return decide(values, generator, model, problem, drawn_from_draft=drawn_from_draft, pointed_at=pointed_at)

    return without


#: name -> (what is switched off, the policy attributes replaced while it is off).
RULES: dict[str, tuple[str, dict]] = {
    "relevance_bar": ("a shown answer's evidence must reach relevance 0.40", {"UNCALIBRATED_MIN_RELEVANCE": 0.0}),
    "kind_of_fact": ("the answer must state the kind of fact asked for", {"STRICT_TYPES": frozenset()}),
    "subject": ("the answer's sentence must be about the question's subject", {"SUBJECT_MARGIN": float("inf")}),
    "judge_veto": ("the LLM's veto of an answer's source (P(yes) < 0.25)", {"MIN_MODEL_YES": 0.0}),
    "quote_drawn": ("quote: the sentence a failed draft was drawn from", {"decide": _decide_without("drawn")}),
    "quote_pointed": ("quote: the passage a restating draft pointed at", {"decide": _decide_without("pointed")}),
    "quote_best": ("quote: the best-ranked sentence (calibrated model)", {"decide": _decide_without("best")}),
    "all_quotes": ("never refuse what can be quoted (all three quotes)",
                   {"decide": _decide_without("drawn", "pointed", "best")}),
}


@contextmanager
def switched_off(rule: str):
    """The policy with ``rule`` off (``"none"``: as it ships)."""
    replaced = RULES[rule][1] if rule != "none" else {}
    saved = {name: getattr(policy, name) for name in replaced}
    try:
        for name, value in replaced.items():
            setattr(policy, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(policy, name, value)


def counts(summary: dict) -> tuple[int, int, int, int]:
    """(right and cited, unanswerable refused, false refusals, wrong answers shown) of a set; an answer
    shown that is right but does not cite the gold release counts as wrong."""
    answerable = summary["n_answerable"]
    right, false_refusals = summary["n_correct_and_cited"], summary["n_false_refusals"]
    return right, summary["n_refused_unanswerable"], false_refusals, answerable - right - false_refusals


def table(lines: list[tuple[str, dict]], sets: list[str]) -> str:
    head = "| rule off | " + " | ".join(f"{s}: right / refused / false ref. / wrong" for s in sets) + " |"
    rows = [head, "|" + "---|" * (len(sets) + 1)]
    for rule, section in lines:
        label = "none (as shipped)" if rule == "none" else f"{rule}: {RULES[rule][0]}"
        cells = []
        for name in sets:
            summary = section[name]["summary"]
            right, refused, false_refusals, wrong = counts(summary)
            cells.append(f"{right} / {summary['n_answerable']}, {refused} / {summary['n_unanswerable']}, "
                         f"{false_refusals}, {wrong}")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="report.json of a run with --generator llm (or --ci)")
    parser.add_argument("--sets", default="seeds,piaf,journalists")
    parser.add_argument("--rules", default=",".join(RULES), help=f"which rules to switch off, one line each ({', '.join(RULES)})")
    parser.add_argument("--out", type=Path, help="where the indexes are (default: next to the report)")
    parser.add_argument("--data", help="evaluation data directory (default: ../shared/evaldata)")
    parser.add_argument("--judge", action="store_true", help="load the LLM to compute its judgement afresh (once)")
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text(encoding="utf-8"))
    sets = [s for s in ("journalists", "seeds", "piaf") if s in args.sets.split(",") and s in report["answers"]["llm"]]
    rules = ["none"] + [r.strip() for r in args.rules.split(",") if r.strip()]
    unknown = [r for r in rules if r != "none" and r not in RULES]
    if unknown:
        parser.error(f"unknown rule(s) {', '.join(unknown)}; known: {', '.join(RULES)}")
    judge = None
    if args.judge:
        from assistant.llm import LlmGenerator

        judge = RememberingJudge(LlmGenerator())
    indexes = (args.out or args.report.parent) / "indexes"
    lines = []
    for rule in rules:
        with switched_off(rule):
            section, missing = replay_section(report, set(sets), indexes, args.data, judge)
        lines.append((rule, section))
        print(f"{rule}: done ({len(missing)} drafts missing)", file=sys.stderr, flush=True)
    print(table(lines, sets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
