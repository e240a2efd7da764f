"""Fit the policy's quote model on one half of the dev questions and report it on the other half.

    python -m eval.calibrate .cache/eval-report/report.json [--write]

Reads the records of a ``porteparole eval`` run: for every question, the signals the policy saw and
whether the answer that was on offer (shown or not) was right. The model decides whether to show
a quote offered in place of a draft that failed its checks (see :func:`assistant.policy.decide`),
so it is fitted on those questions. Per generator it fits a logistic
model (plain numpy, L2-regularised) on the **tune** half, chooses the probability threshold there,
and prints on the **report** half each signal's AUC, the combination's, and what the decision does
(correct answers given, unanswerable refused, false refusals), with one signal left out at a time.
``--write`` stores the fitted models in ``assistant/data/refusal.json`` (JSON, with provenance).

Halves: the Swiss journalist questions by question number (odd = tune), PIAF questions by a hash
of their id; the project's seed questions are never tuned on (report only).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import numpy as np

from .data import half_of

REFUSAL_MODEL = Path(__file__).resolve().parents[1] / "assistant" / "data" / "refusal.json"
FEATURES = ("relevance", "top_overlap", "type_in_evidence", "not_found", "type_in_answer", "source_relevance",
            "source_is_top", "qualifiers")
#: The LLM's judgement (P(yes) that the answer's source sentence states the answer), recorded for the
#: answers the policy shows by rule (assistant.policy.MIN_MODEL_YES); not a feature of the quote model.
JUDGE_SIGNAL = "model_yes"
L2 = 0.5
# Utility of a decision, to choose the threshold: a wrong answer shown costs more than a refusal
# (a journalist may publish it); a right answer is worth one.
WRONG_ANSWER_COST = 1.0


def half(record: dict, dataset: str) -> str:
    """The seed questions are never tuned on; the others split by :func:`eval.data.half_of`."""
    return "report" if dataset == "seeds" else half_of(str(record.get("qid")))


def load_records(paths: list[Path]) -> dict[str, list[dict]]:
    """``{generator: [record + dataset + split], ...}`` for the records that carry signals."""
    out: dict[str, list[dict]] = {}
    for path in paths:
        report = json.loads(path.read_text(encoding="utf-8"))
        for generator, section in report.get("answers", {}).items():
            for dataset, content in section.items():
                if not isinstance(content, dict) or "records" not in content:
                    continue
                for record in content["records"]:
                    out.setdefault(generator, []).append({**record, "dataset": dataset, "split": half(record, dataset)})
    return out


def matrix(records: list[dict], features) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels (the answer on offer was right) and which records the model decides: a
    quote offered after a failed draft (the others are decided by rule, see assistant.policy)."""
    has = np.array([bool(r.get("signals")) and bool(r["signals"].get("draft_failed")) and bool(r.get("offered"))
                    for r in records])
    x = np.array([[float((r.get("signals") or {}).get(f, 0.0)) for f in features] for r in records]).reshape(len(records), len(features))
    y = np.array([bool(r.get("offered_correct")) for r in records], dtype=float)
    return x, y, has


def auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Probability that a right answer scores above a wrong one (ties count half)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    if not len(pos) or not len(neg):
        return None
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2, steps: int = 200) -> tuple[np.ndarray, float]:
    """Newton's method on the L2-regularised log-loss (the bias is not regularised)."""
    n, d = x.shape
    design = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    penalty = np.diag([l2] * d + [0.0])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(design @ w, -50, 50)))
        gradient = design.T @ (p - y) + penalty @ w
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def probabilities(x: np.ndarray, weights: np.ndarray, bias: float) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(x @ weights + bias, -50, 50)))


def outcome(records: list[dict], answered: np.ndarray) -> dict:
    """What a decision does: counts of right answers, unanswerable refused, false refusals."""
    answerable = np.array([r["answerable"] for r in records])
    right = np.array([bool(r.get("offered_correct")) for r in records])
    n_a, n_u = int(answerable.sum()), int((~answerable).sum())
    return {
        "correct": f"{int((answered & right & answerable).sum())}/{n_a}",
        "refused_unanswerable": f"{int((~answered & ~answerable).sum())}/{n_u}",
        "false_refusals": f"{int((~answered & answerable).sum())}/{n_a}",
        "wrong_shown": int((answered & ~right).sum()),
    }


def choose_threshold(p: np.ndarray, y: np.ndarray, usable: np.ndarray, wrong_cost: float | None = None) -> float:
    """The threshold of best utility on these questions: +1 per right answer shown, minus
    ``wrong_cost`` per wrong one (a refusal scores 0)."""
    wrong_cost = WRONG_ANSWER_COST if wrong_cost is None else wrong_cost
    best, best_utility = 0.5, -np.inf
    for threshold in np.unique(np.concatenate([p[usable], [0.5]])):
        answered = usable & (p >= threshold)
        utility = (answered & (y == 1)).sum() - wrong_cost * (answered & (y == 0)).sum()
        if utility > best_utility + 1e-9:
            best, best_utility = float(threshold), utility
    return best


def calibrate(records: list[dict], features=FEATURES, wrong_cost: float | None = None) -> dict:
    tune = [r for r in records if r["split"] == "tune"]
    x, y, has = matrix(tune, features)
    if not y[has].any():
        # Not one right quote to learn from: quotes are never shown for this generator.
        return {"features": list(features), "weights": {f: 0.0 for f in features}, "bias": -50.0, "threshold": 0.5,
                "n_tune": int(has.sum()), "note": "no right quote among the tune questions: quotes never shown"}
    weights, bias = fit_logistic(x[has], y[has])
    threshold = choose_threshold(probabilities(x, weights, bias), y, has, wrong_cost)
    return {"features": list(features), "weights": {f: round(float(w), 4) for f, w in zip(features, weights)},
            "bias": round(bias, 4), "threshold": round(threshold, 4), "n_tune": int(has.sum())}


def passed_drafts(records: list[dict]) -> np.ndarray:
    """Questions whose draft passed its checks and that the rule answers (relevance >= 0.40)."""
    from assistant.policy import UNCALIBRATED_MIN_RELEVANCE

    return np.array([bool(r.get("signals")) and not r["signals"].get("draft_failed")
                     and r["signals"].get("relevance", 0.0) >= UNCALIBRATED_MIN_RELEVANCE for r in records])


def decisions(records: list[dict], model: dict) -> np.ndarray:
    """Which questions the whole policy answers: passed drafts by rule, quotes by the model."""
    x, _, quotes = matrix(records, model["features"])
    p = probabilities(x, np.array([model["weights"][f] for f in model["features"]]), model["bias"])
    return passed_drafts(records) | (quotes & (p >= model["threshold"]))


def evaluate(records: list[dict], model: dict, split: str) -> dict:
    chosen = [r for r in records if r["split"] == split]
    features = model["features"]
    x, y, quotes = matrix(chosen, features)
    result: dict = {"n_quotes": int(quotes.sum()), "signal_auc": {}}
    for j, name in enumerate(features):
        result["signal_auc"][name] = auc(x[quotes, j], y[quotes])
    p = probabilities(x, np.array([model["weights"][f] for f in features]), model["bias"])
    result["combined_auc"] = auc(p[quotes], y[quotes])
    result["decision"] = outcome(chosen, decisions(chosen, model))
    result["every_quote"] = outcome(chosen, passed_drafts(chosen) | quotes)
    result["no_quote"] = outcome(chosen, passed_drafts(chosen))
    return result


def judged_by_rule(records: list[dict]) -> list[dict]:
    """The answers that the policy's rules show or that the judge refused (a passed draft, the
    sentence a failed draft was drawn from, the passage a restating draft pointed at), with the
    LLM's judgement."""
    from assistant.policy import JUDGE_VETO, POINTED_NOT_ANSWERING

    return [r for r in records if r.get("confidence") is None and r.get("offered")
            and JUDGE_SIGNAL in (r.get("signals") or {})
            and (not r["refused"] or r.get("refusal_reason", "").startswith(JUDGE_VETO)
                 or POINTED_NOT_ANSWERING in r.get("refusal_reason", ""))]


def threshold_table(records: list[dict], signal: str, select, what: str, wrong_cost: float) -> float:
    """Print ``signal``'s AUC (right against wrong answer on offer) on each half, over the records
    ``select`` keeps, and what showing only those at or above each threshold does; return the
    threshold of best utility on the tune half (ties: the lowest, the one that refuses least)."""
    cuts = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8)
    best, best_utility = 0.0, -np.inf
    for split in ("tune", "report"):
        chosen = select([r for r in records if r["split"] == split])
        scores = np.array([r["signals"][signal] for r in chosen])
        right = np.array([bool(r.get("offered_correct")) for r in chosen])
        unanswerable = np.array([not r["answerable"] for r in chosen])
        score_auc = auc(scores, right.astype(float)) if len(chosen) else None
        print(f"  {signal} on {len(chosen)} {what} ({split}): AUC {float('nan') if score_auc is None else score_auc:.2f}")
        for cut in cuts:
            shown = scores >= cut
            utility = (shown & right).sum() - wrong_cost * (shown & ~right).sum()
            print(f"    shown at {cut:.2f} or above: right {int((shown & right).sum())}, wrong {int((shown & ~right).sum())} "
                  f"(unanswerable {int((shown & unanswerable).sum())}), utility {utility:g}")
            if split == "tune" and utility > best_utility + 1e-9:
                best, best_utility = cut, utility
    print(f"  threshold of best utility on the tune half: {best}")
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", type=Path, help="report.json files of `porteparole eval` runs")
    parser.add_argument("--write", action="store_true", help=f"store the fitted models in {REFUSAL_MODEL}")
    parser.add_argument("--wrong-cost", type=float, default=WRONG_ANSWER_COST,
                        help=f"cost of a wrong answer shown, against +1 for a right one (default {WRONG_ANSWER_COST})")
    args = parser.parse_args(argv)
    by_generator = load_records(args.reports)
    stored: dict = {"format": "porteparole-refusal/1", "fitted": date.today().isoformat(),
                    "fitted_on": "tune half of the Swiss journalist questions and of the PIAF answer sample",
                    "sources": [str(p) for p in args.reports]}
    for generator, records in sorted(by_generator.items()):
        model = calibrate(records, wrong_cost=args.wrong_cost)
        model["wrong_cost"] = args.wrong_cost
        stored[generator] = model
        print(f"\n## {generator}: fitted on {model['n_tune']} tune questions; threshold {model['threshold']}")
        print("weights:", json.dumps(model["weights"]), "bias", model["bias"])
        for split in ("tune", "report"):
            result = evaluate(records, model, split)
            aucs = ", ".join(f"{k} {v:.2f}" for k, v in result["signal_auc"].items() if v is not None)
            print(f"{split:6} quotes={result['n_quotes']}: combined AUC {result.get('combined_auc') or float('nan'):.2f}; "
                  f"signals: {aucs}")
            print(f"        policy {result['decision']}; every quote shown {result['every_quote']}; "
                  f"no quote shown {result['no_quote']}")
        if judged_by_rule(records):
            threshold_table(records, JUDGE_SIGNAL, judged_by_rule, "answers shown by rule (the veto)", args.wrong_cost)
        for left_out in model["features"]:
            reduced = calibrate(records, [f for f in model["features"] if f != left_out], args.wrong_cost)
            result = evaluate(records, reduced, "report")
            print(f"  without {left_out:17} report: AUC {result.get('combined_auc') or float('nan'):.2f} {result['decision']}")
        for dataset in sorted({r["dataset"] for r in records}):
            subset = [r for r in records if r["dataset"] == dataset]
            print(f"  {dataset:22} all: {outcome(subset, decisions(subset, model))}")
    if args.write:
        REFUSAL_MODEL.parent.mkdir(parents=True, exist_ok=True)
        REFUSAL_MODEL.write_text(json.dumps(stored, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nWritten: {REFUSAL_MODEL}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
