"""Time-aware questions: does the question's own date expression bring the right release up?

Two sets over the Swiss releases, each run with the question's dates applied and without
(``Assistant.retrieve(..., question_dates=False)``), so the difference is the feature's alone:

* ``dated`` (``tests/data/time_questions.jsonl``): 40 questions whose right release depends on a
  date ("in 2018", "en octobre 2021", "since May 2021", "avant 2010", "the latest ...", "l'an
  dernier" with the user's ``today``) about series that have releases in several years (price
  indexes, GDP, bonds, ambassadors, ...). Each gold lists the release in both languages.
* ``journalists`` (``swiss_qa``, the 60 answerable questions): most name a month or a year in
  passing ("when it announced ... in December 2008"); the feature must not make them worse.

Metrics, per half (odd question numbers tune, even report) and overall: ``top1`` (the first
passage is from a right release), ``recall@6`` (one of the six passages the answer is made from
is), for ``with`` and ``without`` the question's dates, and ``scoped`` (share of questions in
which a time expression was found).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from pathlib import Path

from .data import half_of

TIME_QUESTIONS = Path(__file__).resolve().parent.parent / "tests" / "data" / "time_questions.jsonl"


def load_time_questions(path: Path = TIME_QUESTIONS) -> list[dict]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _measure(assistant, questions: list[dict], progress=None) -> tuple[dict, list[dict]]:
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    records = []
    for question in questions:
        today = date.fromisoformat(question["today"]) if question.get("today") else None
        gold = set(question["gold_docs"])
        record = {"qid": question["qid"], "question": question["question"]}
        for setting, use_dates in (("with", True), ("without", False)):
            retrieved = assistant.retrieve(question["question"], today=today, question_dates=use_dates)
            docs = [hit.doc_id for hit in retrieved.hits]
            record[f"top1_{setting}"] = bool(docs) and docs[0] in gold
            record[f"recall@6_{setting}"] = bool(gold & set(docs[:6]))
            record[f"first_{setting}"] = docs[0] if docs else ""
            if use_dates:
                record["scope"] = retrieved.time_scope.to_dict() if retrieved.time_scope else None
        records.append(record)
        for group in (half_of(question["qid"]), "all"):
            sums[group]["n"] += 1
            sums[group]["scoped"] += record["scope"] is not None
            for setting in ("with", "without"):
                sums[group][f"top1_{setting}"] += record[f"top1_{setting}"]
                sums[group][f"recall@6_{setting}"] += record[f"recall@6_{setting}"]
        if progress:
            progress()
    summary = {group: {name: (value if name == "n" else value / values["n"]) for name, value in values.items()}
               for group, values in sums.items()}
    return summary, records


def time_section(data, swiss_index, progress_factory=None) -> dict:
    """``{"dated": {"tune": {...}, "report": {...}, "all": {...}, "records": [...]}, "journalists": {...}}``."""
    from assistant import Assistant

    assistant = Assistant(swiss_index, "extractive")  # retrieval only: no answer is written
    section = {}
    sets = {"dated": load_time_questions()}
    if data.journalist_qa:
        sets["journalists"] = [{"qid": q["qid"], "question": q["question"], "gold_docs": q["gold_doc_ids"]}
                               for q in data.journalist_qa if q["answerable"]]
    for name, questions in sets.items():
        bar = progress_factory(len(questions), f"Time-aware retrieval ({name})") if progress_factory else None
        summary, records = _measure(assistant, questions, progress=(lambda: bar.update(1)) if bar else None)
        if bar:
            bar.close()
        section[name] = {**summary, "records": records}
    return section
