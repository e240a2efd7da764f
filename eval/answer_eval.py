"""Answer quality: correctness, citations, language, refusals and latency, over the same :class:`Assistant`.

Each question is a dict with ``question``, ``lang``, ``answerable`` and, when answerable,
``gold_doc_ids`` plus either ``expected_facts`` (all must appear in the answer; numbers compared by
value across languages) or ``answers`` (gold spans, scored with EM / F1 / contains).
"""

from __future__ import annotations

import re
import time

from assistant import Answer, Assistant
from assistant.facts import extract_facts, fold, number_mentions
from ingest import detect_language

from .metrics import contains_answer, exact_match, percentile, token_f1


def fact_present(fact: str, answer_text: str) -> bool:
    """A number by value ("43,000" = "43 000"), a month/word by accent-free substring."""
    numbers = [values for _, values in number_mentions(fact)]
    if numbers:
        found = extract_facts(answer_text).numbers  # includes the year and day of ISO dates
        if not all(any(values & other for other in found) for values in numbers):
            return False
        words = re.sub(r"[\d.,%$ ]+", " ", fact).split()
        return all(fold(w) in fold(answer_text) for w in words if len(w) > 2)
    return fold(fact) in fold(answer_text)


def matches_patterns(question: dict, text: str) -> bool:
    """Journalist questions: at least ``min_groups`` of the regex groups match (swiss_qa/README.md)."""
    groups = question["pattern_groups"]
    satisfied = sum(1 for group in groups if any(re.search(p, text, re.IGNORECASE) for p in group))
    return satisfied >= question.get("min_groups", len(groups))


def is_correct(question: dict, text: str) -> tuple[bool, dict]:
    """Whether ``text`` answers ``question``, by its kind of gold (facts, spans or patterns)."""
    extra: dict = {}
    if "pattern_groups" in question:
        return matches_patterns(question, text), extra
    if "expected_facts" in question:
        return all(fact_present(f, text) for f in question["expected_facts"]), extra
    golds = question.get("answers") or []
    if golds:
        extra["em"] = max(exact_match(text, g) for g in golds)
        extra["f1"] = max(token_f1(text, g) for g in golds)
        extra["contains"] = max(contains_answer(text, g) for g in golds)
        return bool(extra["contains"]), extra
    return False, extra


def score_answer(question: dict, answer: Answer, documents: dict) -> dict:
    """Per-question record used by :func:`summarise`."""
    gold_docs = set(question.get("gold_doc_ids") or [])
    text_without_marks = re.sub(r"\[\d+\]", "", answer.text)
    record = {
        "qid": question.get("qid"),
        "question": question["question"],
        "lang": question["lang"],
        "answerable": bool(question["answerable"]),
        "refused": answer.refused,
        "refusal_reason": answer.refusal_reason,
        "best_similarity": answer.best_similarity,
        "answer": answer.text,
        "raw": answer.raw_text,
        "cited_docs": [c.doc_id for c in answer.citations],
        "latency_s": answer.timings.get("total", 0.0),
        "first_token_s": answer.timings.get("first_token"),
        "answer_language_ok": (detect_language(text_without_marks)[0] == question["lang"]) if answer.text else False,
        "quotes_verbatim": [documents[c.doc_id].text[c.char_start:c.char_end] == c.quote for c in answer.citations],
    }
    # What was on offer when the policy decided, shown or not: the data the policy is calibrated on.
    offered = re.sub(r"\[\d+\]", "", answer.offered_text)
    record.update({
        "mode": question.get("mode"), "half": question.get("half"), "answer_type": answer.answer_type,
        "confidence": answer.confidence, "signals": answer.signals, "offered": answer.offered_text,
        "offered_correct": bool(question["answerable"] and offered and is_correct(question, offered)[0]
                                and (not gold_docs or set(answer.offered_doc_ids) & gold_docs)),
    })
    if question["answerable"] and not answer.refused:
        record["correct"], extra = is_correct(question, text_without_marks)
        record.update(extra)
        cited = answer.citations
        good = [c for c in cited if c.doc_id in gold_docs or any(contains_answer(c.quote, g) for g in question.get("answers", []))]
        record["citation_precision"] = len(good) / len(cited) if cited else 0.0
        record["cites_gold"] = any(c.doc_id in gold_docs for c in cited)
    return record


def run_questions(assistant: Assistant, questions: list[dict], progress=None) -> list[dict]:
    # Latency is measured as a chat user meets it: the chat loads and warms the model at start,
    # so the first question here must not pay for that alone (≈ 7 s on its first token).
    assistant.generator.warm_up()
    records = []
    for question in questions:
        started = time.perf_counter()
        answer = assistant.ask(question["question"])
        answer.timings.setdefault("total", time.perf_counter() - started)
        records.append(score_answer(question, answer, assistant.index.documents))
        if progress:
            progress()
    return records


def _mean(values) -> float | None:
    values = [float(v) for v in values if v is not None]
    return sum(values) / len(values) if values else None


def summarise(records: list[dict]) -> dict:
    """Aggregate metrics (definitions in the report)."""
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    refused = [r for r in records if r["refused"]]
    answered = [r for r in answerable if not r["refused"]]
    quotes = [ok for r in records for ok in r["quotes_verbatim"]]
    summary = {
        "n_answerable": len(answerable),
        "n_unanswerable": len(unanswerable),
        "correct": _mean([r.get("correct", False) for r in answerable]) if answerable else None,
        "correct_and_cited": _mean([r.get("correct", False) and r.get("cites_gold", False) for r in answerable]) if answerable else None,
        "answer_language_accuracy": _mean([r["answer_language_ok"] for r in records]),
        "refusal_recall": _mean([r["refused"] for r in unanswerable]) if unanswerable else None,
        "refusal_precision": (sum(not r["answerable"] for r in refused) / len(refused)) if refused else None,
        "false_refusal_rate": _mean([r["refused"] for r in answerable]) if answerable else None,
        "citation_precision": _mean([r.get("citation_precision") for r in answered]),
        "citation_recall": _mean([r.get("cites_gold", False) for r in answerable]) if answerable else None,
        "quote_verbatim_rate": _mean(quotes) if quotes else None,
        "latency_p50_s": percentile([r["latency_s"] for r in records], 0.5),
        "latency_p95_s": percentile([r["latency_s"] for r in records], 0.95),
        "first_token_p50_s": percentile([r["first_token_s"] for r in records if r["first_token_s"]], 0.5),
        # Counts, for reading small sets ("15 of 16") without arithmetic.
        "n_correct_and_cited": sum(bool(r.get("correct") and r.get("cites_gold")) for r in answerable),
        "n_refused_unanswerable": sum(r["refused"] for r in unanswerable),
        "n_false_refusals": sum(r["refused"] for r in answerable),
    }
    if any("f1" in r for r in answerable):
        summary["em"] = _mean([r.get("em", 0.0) for r in answerable])
        summary["f1"] = _mean([r.get("f1", 0.0) for r in answerable])
        summary["contains"] = _mean([r.get("contains", 0.0) for r in answerable])
    return summary
