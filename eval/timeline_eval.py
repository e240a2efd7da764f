"""Timelines of a subject: are the releases of a series all there, and only them?

Dev set ``tests/data/timeline_subjects.jsonl``: six subjects of the Swiss releases that recur over
the years (producer and import prices, retail trade, quarterly GDP, consumer prices, Confederation
bonds, new ambassadors), each asked in French and in English (12 timelines). The releases of a
subject are those whose English title matches the subject's ``series`` pattern (e.g. every
"Producer and Import Price Index ..." release), counted as one release per language pair.

Metrics, per half (odd subject numbers tune, even report) and overall, averaged over timelines:
``precision`` (share of the timeline's releases that belong to the series), ``recall`` (share
of the series' releases in the timeline), ``exact`` (share of timelines with exactly the series),
``entries`` (releases shown).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

from .data import half_of

TIMELINE_SUBJECTS = Path(__file__).resolve().parent.parent / "tests" / "data" / "timeline_subjects.jsonl"


def load_subjects(path: Path = TIMELINE_SUBJECTS) -> list[dict]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def series_releases(index, pattern: str) -> set[str]:
    """The release keys (``index.releases``) of the documents whose English title matches ``pattern``."""
    return {index.releases.key_of(doc_id) for doc_id, doc in index.documents.items()
            if doc.lang == "en" and re.search(pattern, doc.title, re.IGNORECASE)}


def timeline_section(swiss_index, progress_factory=None) -> dict:
    """``{"subjects": {"tune": {...}, "report": {...}, "all": {...}, "records": [...]}}``."""
    from assistant import Assistant

    assistant = Assistant(swiss_index, "extractive")  # a timeline asks no model
    subjects = load_subjects()
    bar = progress_factory(len(subjects), "Timelines") if progress_factory else None
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    records = []
    for subject in subjects:
        gold = series_releases(swiss_index, subject["series"])
        timeline = assistant.timeline(subject["subject"])
        shown = [swiss_index.releases.key_of(entry.citation.doc_id) for entry in timeline.entries]
        right = len(set(shown) & gold)
        record = {"sid": subject["sid"], "subject": subject["subject"], "series": len(gold), "entries": len(shown),
                  "precision": right / len(shown) if shown else 0.0, "recall": right / len(gold) if gold else 1.0,
                  "exact": float(set(shown) == gold), "dates": [entry.citation.date for entry in timeline.entries],
                  "extra": [entry.citation.title for entry in timeline.entries
                            if swiss_index.releases.key_of(entry.citation.doc_id) not in gold]}
        records.append(record)
        for group in (half_of(subject["sid"]), "all"):
            sums[group]["n"] += 1
            for name in ("precision", "recall", "exact", "entries"):
                sums[group][name] += record[name]
        if bar:
            bar.update(1)
    if bar:
        bar.close()
    summary = {group: {name: (int(value) if name == "n" else value / values["n"]) for name, value in values.items()}
               for group, values in sums.items()}
    return {"subjects": {**summary, "records": records}}
