""""A newer communiqué says otherwise": are superseded figures flagged, and only them?

Dev set ``tests/data/newer_facts.jsonl`` (45 cited facts from the Swiss releases): 24 figures of
recurring statistics that a newer release of the same office gives otherwise (retail trade,
producer and import prices, consumer prices, quarterly GDP, consumer sentiment, employment,
construction prices; ``newer_release_ids``: the series' later releases, any of which is a right
update) and 21 with no newer value (the newest release of each series, and one-off statistics
whose office published later on neighbouring subjects: crime, prisons, wages, population ...).
Each item is the cited quote of an answer (a sentence of the release, in the question's language)
and the question; the check (:func:`assistant.updates.find_updates`) runs on it as it runs under
an answer, so the figures do not depend on which sentence a generator happens to cite.

Metrics, per half (pairs of items alternate: nf01-02 tune, nf03-04 report, ...) and overall:
``superseded``/``current`` (items of each kind), ``right`` (a superseded fact warned with a newer
release of its series), ``missed`` (a superseded fact without a right warning), ``wrong`` (warnings
naming another release, or given on a current fact), ``recall`` = right / superseded,
``precision`` = right / warnings, ``wrong_on_current`` = current facts warned / current.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

from .data import half_of

NEWER_FACTS = Path(__file__).resolve().parent.parent / "tests" / "data" / "newer_facts.jsonl"


def load_facts(path: Path = NEWER_FACTS) -> list[dict]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def cited(index, item: dict):
    """The item's quote as the answer's citation [1] (the quote is verbatim in its document)."""
    from assistant import Citation

    doc = index.documents[item["doc_id"]]
    start = doc.text.index(item["quote"])
    return Citation(n=1, doc_id=doc.doc_id, title=doc.title, date=doc.date, issuer=doc.issuer, lang=doc.lang,
                    source=doc.source, url=doc.url, quote=item["quote"], char_start=start,
                    char_end=start + len(item["quote"]))


def updates_section(swiss_index, progress_factory=None) -> dict:
    """``{"facts": {"tune": {...}, "report": {...}, "all": {...}, "records": [...]}}``."""
    from assistant.evidence import EvidenceScorer
    from assistant.updates import find_updates

    scorer = EvidenceScorer(swiss_index)
    items = load_facts()
    bar = progress_factory(len(items), "Newer values") if progress_factory else None
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    records = []
    for item in items:
        started = time.perf_counter()
        updates = find_updates(swiss_index, scorer, [cited(swiss_index, item)], item["question"], item["lang"])
        seconds = time.perf_counter() - started
        warned = [swiss_index.documents[u.citation.doc_id].release_id for u in updates]
        superseded = bool(item["newer_release_ids"])
        right = superseded and bool(warned) and warned[0] in item["newer_release_ids"]
        records.append({"nid": item["nid"], "superseded": superseded, "warned": warned, "right": right,
                        "old": [u.old for u in updates], "new": [u.new for u in updates],
                        "score": [round(u.relevance, 3) for u in updates], "seconds": round(seconds, 3)})
        for group in (half_of(item["nid"]), "all"):
            counts = sums[group]
            counts["n"] += 1
            counts["superseded" if superseded else "current"] += 1
            counts["warnings"] += bool(warned)
            counts["right"] += right
            counts["missed"] += superseded and not right
            counts["wrong"] += bool(warned) and not right
            counts["warned_current"] += bool(warned) and not superseded
            counts["seconds"] += seconds
        if bar:
            bar.update(1)
    if bar:
        bar.close()
    summary = {}
    for group, c in sums.items():
        summary[group] = {
            "n": int(c["n"]), "superseded": int(c["superseded"]), "current": int(c["current"]),
            "right": int(c["right"]), "missed": int(c["missed"]), "wrong": int(c["wrong"]),
            "recall": c["right"] / c["superseded"] if c["superseded"] else 1.0,
            "precision": c["right"] / c["warnings"] if c["warnings"] else 1.0,
            "wrong_on_current": c["warned_current"] / c["current"] if c["current"] else 0.0,
            "seconds_mean": c["seconds"] / c["n"],
        }
    return {"facts": {**summary, "records": records}}
