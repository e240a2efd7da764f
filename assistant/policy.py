"""Stage 6, the policy: every rule that makes the assistant refuse, in one place.

Three kinds of rule, applied in this order:

1. **Before generation** (:func:`refuse_before_generation`): nothing retrieved, or no retrieved
   sentence anywhere near the question. The model is not asked; this saves seconds, so the bar
   is set low enough that almost no answerable question falls under it.
2. **Problems with the model's draft** (:func:`draft_problem`): the model's own NOT_FOUND (which
   it may only write when it is sure of it, :data:`MIN_NOT_FOUND_PROBABILITY`), no
   sentence supported by a source (attribution and fact check), an answer that does not state
   the type of fact asked for, or one drawn only from sentences about something else. A draft
   with a problem is not shown; the pipeline then quotes a source sentence instead (never refuse
   what can be quoted): the one the draft was drawn from when only a figure, date or name of the
   draft is missing from it, the passage a draft that only restated the question pointed at with
   its [n], else the best-ranked one.
3. **The decision** (:func:`decide`): a draft that passed every check is answered when the
   evidence is close enough to the question and the LLM does not judge that its source sentence
   fails to state the answer, and so is the sentence a draft was drawn from; the passage a
   restating draft pointed at is answered when the LLM judges that it states the answer; the
   best-ranked sentence offered in its place is answered only when a
   logistic model over measured signals (how close its sentence is to the question, whether it is
   the best sentence, whether it holds the type asked for, whether the question's years and names
   are in its context, the model's NOT_FOUND, ...) is confident enough. That model is fitted on
   one half of the public dev questions (``eval/calibrate.py``) and stored as plain JSON in
   ``assistant/data/refusal.json``.

Example:
    >>> model = {"llm": {"bias": -4.0, "weights": {"source_relevance": 10.0}, "threshold": 0.5}}
    >>> decide({"relevance": 0.6, "source_relevance": 0.2}, "llm", model, problem="NOT_FOUND").refused
    True
    >>> decide({"relevance": 0.6, "source_relevance": 0.6}, "llm", model, problem="NOT_FOUND").refused
    False
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from . import prompts
from .answer_types import STRICT_TYPES, holds_type, states_type
from .attribution import AttributedSentence
from .evidence import Evidence
from .facts import extract_facts, fold

REFUSAL_MODEL = Path(__file__).with_name("data") / "refusal.json"
# Below this best question–sentence relevance the model is not even asked. Chosen on the public
# dev halves (eval/history.md): the earlier single gate at 0.40 refused answerable questions whose
# answer sentence was short ("at what time", "for how long"); the calibrated decision now weighs
# relevance with the other signals, so this bar only stops the hopeless cases.
MIN_RELEVANCE_TO_ASK = 0.30
# A draft that passed its checks still needs evidence this close to the question (the single gate
# measured before: AUC 0.78 on PIAF; on the dev halves, moving it changed no journalist answer).
UNCALIBRATED_MIN_RELEVANCE = 0.40
# A draft supported only by sentences this much less relevant to the question than the best
# retrieved sentence answers about something else (chosen on the tune halves, eval/history.md).
SUBJECT_MARGIN = 0.35
UNSUPPORTED = "no answer sentence is supported by the sources"
# The LLM's judgement of the answer's source sentence (P(yes) that it states the answer, see
# assistant.llm.LlmGenerator.answer_probabilities): below this, an answer the rules would show is
# refused. Chosen on the tune halves (eval/calibrate.py prints the table; eval/history.md).
MIN_MODEL_YES = 0.25
JUDGE_VETO = "the model judges that the answer's source does not state it"
# The passage a draft pointed at while only restating the question is shown when the LLM judges,
# with at least this P(yes), that it states the answer: the veto's threshold (the dev sets' tune
# halves hold no such case to choose another on; eval/history.md).
MIN_POINTED_YES = MIN_MODEL_YES
# The model's own NOT_FOUND counts only when the model is sure of it: when it gives NOT_FOUND's
# first token less than this probability, it writes its best answer instead, and that draft goes
# through every check above like any other. Half is the plain reading of "more likely than
# anything else put together"; on the dev sets the answerable questions it refused had 0.38-0.47
# and most unanswerable ones 0.53-0.89 (eval/history.md).
MIN_NOT_FOUND_PROBABILITY = 0.5
POINTED_NOT_ANSWERING = "the passage the draft pointed at is not judged to state the answer"


@dataclass
class Decision:
    """The policy's verdict on the answer on offer, with the signals it was based on."""

    refused: bool
    reason: str = ""
    confidence: float | None = None
    signals: dict[str, float] = field(default_factory=dict)


def refuse_before_generation(evidence: Evidence) -> str:
    """Why not to ask the model at all ("" = ask it)."""
    if not evidence.sentences:
        return "no passage retrieved"
    if evidence.best_relevance < MIN_RELEVANCE_TO_ASK:
        return f"no sentence close enough to the question (best relevance {evidence.best_relevance:.2f})"
    return ""


def draft_problem(raw_text: str, attributed: list[AttributedSentence], answer_text: str, answer_type: str,
                  quotes_sources: bool, question: str = "", evidence: Evidence | None = None) -> str:
    """Why the generator's draft cannot be the answer ("" = it can).

    With ``evidence``, a draft whose supporting source sentences are all far less relevant to the
    question than the best retrieved sentence answers about something else (the figure of the
    whole population given for the sub-group asked about, the date of another event of the same
    story): a value that occurs in the sources is not enough.
    """
    if not raw_text or prompts.NOT_FOUND in raw_text:
        return "the model found no answer in the passages"
    if not any(a.supported for a in attributed):
        problems = sorted({m for a in attributed for m in a.unsupported})
        return UNSUPPORTED + (f" ({', '.join(problems[:5])})" if problems else "")
    if answer_type in STRICT_TYPES and not states_type(re.sub(r"\[\d+\]", "", answer_text), answer_type, question,
                                                       number_words=not quotes_sources):
        # "How many ...?" answered without any number (the question's own "Gantry 3" or "2014"
        # not counted): whatever it says, it is not the answer.
        return f"the answer does not state the kind of fact asked for ({answer_type})"
    if evidence is not None and not quotes_sources:
        sources = [s for a in attributed if a.supported for s in a.sources]
        stated_at = source_relevance(evidence, sources)
        if evidence.best_relevance - stated_at > SUBJECT_MARGIN:
            return (f"the answer comes from a sentence about something else (relevance {stated_at:.2f} against "
                    f"{evidence.best_relevance:.2f} for the sentence closest to the question)")
    return ""


def question_qualifiers(question: str) -> list[str]:
    """What narrows the question's subject and can be checked in any language: its years and names.

    Example:
        >>> question_qualifiers("How many students did SFUVET have in 2021?")
        ['2021', 'sfuvet']
    """
    facts = extract_facts(question)
    years = sorted({str(int(min(v))) for v in facts.numbers if any(1800 <= x <= 2100 and x == int(x) for x in v)})
    return years + sorted(facts.names)


def qualifier_coverage(question: str, context: str) -> float:
    """Share of the question's years and names found in ``context`` (1.0 when it has none).

    A name counts as found when its last word is in the context, accents and case ignored.
    """
    qualifiers = question_qualifiers(question)
    if not qualifiers:
        return 1.0
    words = set(re.findall(r"\w+", fold(context)))
    found = sum(1 for q in qualifiers if (re.findall(r"\w+", q) or [""])[-1] in words)
    return found / len(qualifiers)


def source_relevance(evidence: Evidence, sources: list) -> float:
    """The best relevance to the question of the source sentences an answer was attributed to."""
    return max((float(evidence.relevance[i]) for i in evidence.rows_of(sources)), default=0.0)


def signals(evidence: Evidence, *, not_found: bool, draft_problem_found: bool, answer_text: str,
            sources: list, question: str) -> dict[str, float]:
    """The measured signals about the answer on offer (see the module docstring)."""
    ranked = evidence.ranked()
    top = ranked[0] if ranked else None
    source_rows = evidence.rows_of(sources)
    context = " ".join(s.hit.supporting_text for s in sources)
    plain = re.sub(r"\[\d+\]", "", answer_text)
    return {
        "relevance": evidence.best_relevance,
        "top_overlap": float(evidence.overlap[top]) if top is not None else 0.0,
        "type_in_evidence": float(evidence.answer_type not in STRICT_TYPES or evidence.best_holding_type() is not None),
        "not_found": float(not_found),
        "draft_failed": float(draft_problem_found),
        "type_in_answer": float(bool(plain) and holds_type(plain, evidence.answer_type)),
        "source_relevance": source_relevance(evidence, sources),
        "source_is_top": float(top is not None and top in source_rows),
        "qualifiers": qualifier_coverage(question, context) if sources else 0.0,
    }


@lru_cache(maxsize=1)
def _stored_model() -> dict:
    try:
        return json.loads(REFUSAL_MODEL.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def confidence(values: dict[str, float], weights: dict[str, float], bias: float) -> float:
    """The logistic model's probability that the answer on offer is right."""
    z = bias + sum(weight * values.get(name, 0.0) for name, weight in weights.items())
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def wants_judgement(decision: Decision, problem: str, drawn_from_draft: bool, pointed_at: bool = False) -> bool:
    """Whether the LLM's judgement (``model_yes``) can change ``decision``: the judgement that
    decides a passage a restating draft pointed at, or a veto of what the rules would show (a
    passed draft, the sentence a failed draft was drawn from). The quote model does not use it."""
    return pointed_at or ((not problem or drawn_from_draft) and not decision.refused)


def _judged(decision: Decision) -> Decision:
    """An answer the rules show is refused when the LLM judged (``model_yes``) that its source
    sentence does not state the answer (the signal is absent for generators that cannot judge)."""
    judged = decision.signals.get("model_yes")
    if not decision.refused and judged is not None and judged < MIN_MODEL_YES:
        decision.refused = True
        decision.reason = f"{JUDGE_VETO} (P(yes) {judged:.2f} < {MIN_MODEL_YES})"
    return decision


def decide(values: dict[str, float], generator: str, model: dict | None = None, problem: str = "",
           drawn_from_draft: bool = False, pointed_at: bool = False) -> Decision:
    """Answer or refuse the answer on offer, from the signals.

    * The generator's own draft passed every check (``problem`` is empty): it is answered unless
      no retrieved sentence is close to the question (relevance below 0.40). Measured on the dev
      halves, a calibrated model over these drafts refused more right answers than wrong ones.
    * The draft failed on a figure, date or name and the sentence it was drawn from is on offer
      (``drawn_from_draft``): answered when that sentence is as close to the question as a passed
      draft's evidence must be (replayed on the dev sets: 4 more right answers, 2 wrong, no
      unanswerable question answered; eval/history.md).
    * In both cases above, when the generator judged the answer's source sentence (``model_yes``,
      the LLM's P(yes) that it states the answer), below :data:`MIN_MODEL_YES` it is refused.
    * The draft only restated the question but cited a passage, which is on offer (``pointed_at``):
      answered when the LLM judged that it states the answer (``model_yes`` at least
      :data:`MIN_POINTED_YES`, the veto's threshold), whatever its relevance; not judged, refused.
    * The draft failed and the best-ranked sentence is on offer: answered only when the calibrated
      model of ``generator`` (fitted on such cases, ``eval/calibrate.py``) gives it at least its
      threshold; without a model (a test's fake generator), refused.
    """
    if not problem:
        refused = values.get("relevance", 0.0) < UNCALIBRATED_MIN_RELEVANCE
        return _judged(Decision(refused, "no sentence close enough to the question" if refused else "", None, values))
    if pointed_at:
        judged = values.get("model_yes")
        if judged is None or judged < MIN_POINTED_YES:
            why = "not judged" if judged is None else f"P(yes) {judged:.2f} < {MIN_POINTED_YES}"
            return Decision(True, f"{problem}; {POINTED_NOT_ANSWERING} ({why})", None, values)
        return Decision(False, "", None, values)
    if drawn_from_draft:
        refused = values.get("source_relevance", 0.0) < UNCALIBRATED_MIN_RELEVANCE
        return _judged(Decision(refused, f"{problem}; the sentence it came from is not close enough to the question"
                                if refused else "", None, values))
    model = _stored_model() if model is None else model
    fitted = model.get(generator)
    if not fitted:
        return Decision(True, problem, None, values)
    p = confidence(values, fitted["weights"], fitted["bias"])
    if p < fitted["threshold"]:
        return Decision(True, f"{problem}; the best quote is not convincing (confidence {p:.2f} < {fitted['threshold']:.2f})",
                        p, values)
    return Decision(False, "", p, values)
