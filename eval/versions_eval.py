"""One release, two languages: are language versions linked, and do the sources count releases?

Measured on the Swiss releases (every release is published in French and in English, each pair
sharing a ``release_id``):

* ``pairs``: the links found **from content alone** (explicit ids ignored: same date, mutual best
  cosine, :mod:`index.versions`) against the known pairs: precision, recall, per half (odd
  release numbers tune, even report). ``pairs_any_date`` is the same rule without the date, to
  show what the date brings. ``unpaired``: one version of each release removed, so every link
  found is wrong (``found`` should be 0).
* ``sources``: the six passages an answer is made from (``Assistant.retrieve``), before (every
  document counted apart, ``per_release=False``) and after (one version per release):
  ``releases@6`` (distinct releases), ``right@6`` (a passage of the right release is among them),
  ``question_lang@6`` (share of passages in the question's language), on the journalist
  questions (all 80) and the headline queries.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from index import Index
from ingest import detect_language
from index.retrieval import centre
from index.versions import link_versions

from .data import half_of


def _release_half(release_id: str) -> str:
    return "tune" if release_id.isdigit() and int(release_id) % 2 == 1 else "report"


def pair_quality(index: Index, *, any_date: bool = False, unpaired: bool = False) -> dict:
    """Precision and recall of the content-only links against the documents' ``release_id``.

    ``any_date``: every document put on one day (the rule then rests on the vectors alone).
    ``unpaired``: one version of each release only (French of odd releases, English of even
    ones), so that no right link exists and every link found is wrong.
    """
    docs = index.documents
    if unpaired:
        keep = {"fr": "tune", "en": "report"}
        docs = {doc_id: doc for doc_id, doc in docs.items() if keep.get(doc.lang) == _release_half(doc.release_id)}
    if any_date:
        docs = {doc_id: type(doc).from_dict({**doc.to_dict(), "date": "2000-01-01"}) for doc_id, doc in docs.items()}
    rows = [i for i, chunk in enumerate(index.chunks) if chunk.doc_id in docs]
    chunk_doc_ids = [index.chunks[i].doc_id for i in rows]
    centred = centre(index.embeddings[rows], [docs[doc_id].lang for doc_id in chunk_doc_ids], index.centring)
    found = link_versions(docs, chunk_doc_ids, centred, use_ids=False)
    known: dict[str, set[str]] = defaultdict(set)
    for doc_id, doc in docs.items():
        if doc.release_id:
            known[doc.release_id].add(doc_id)
    true_pairs = {frozenset(ids): release_id for release_id, ids in known.items() if len(ids) == 2}
    counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    counts["all"]["found"] += 0  # reported even when nothing is known or found
    for pair, release_id in true_pairs.items():
        for group in (_release_half(release_id), "all"):
            counts[group]["known"] += 1
    for release in found.releases:
        pair = frozenset(release.doc_ids)
        release_id = index.documents[release.doc_ids[0]].release_id
        for group in (_release_half(release_id), "all"):
            counts[group]["found"] += 1
            counts[group]["right"] += pair in true_pairs
    return {group: {"n": int(c["known"]), "known": int(c["known"]), "found": int(c["found"]), "right": int(c["right"]),
                    "precision": c["right"] / c["found"] if c["found"] else 1.0,
                    "recall": c["right"] / c["known"] if c["known"] else 1.0}
            for group, c in counts.items()}


def _source_figures(index: Index, question: str, gold_releases: set[str], per_release: bool) -> dict:
    hits = index.search(question, k=6, per_release=per_release)
    releases = [index.releases.key_of(hit.doc_id) for hit in hits]
    lang = detect_language(question)[0]
    return {
        "releases@6": len(set(releases)),
        "documents@6": len({hit.doc_id for hit in hits}),
        "right@6": float(bool(gold_releases & set(releases))) if gold_releases else None,
        "question_lang@6": float(np.mean([hit.document.lang == lang for hit in hits])) if hits else 0.0,
    }


def source_diversity(index: Index, questions: list[dict], progress=None) -> dict:
    """``questions``: dicts with ``qid``, ``question`` and ``gold_docs`` (may be empty)."""
    sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for question in questions:
        gold = {index.releases.key_of(doc_id) for doc_id in question["gold_docs"] if doc_id in index.documents}
        for setting, per_release in (("before", False), ("after", True)):
            figures = _source_figures(index, question["question"], gold, per_release)
            for group in (question.get("half", "all"), "all") if question.get("half") else ("all",):
                for name, value in figures.items():
                    if value is not None:
                        sums[group][f"{name}_{setting}"].append(value)
        if progress:
            progress()
    return {group: {name: float(np.mean(values)) for name, values in metrics.items()} | {"n": len(metrics["releases@6_before"])}
            for group, metrics in sums.items()}


def versions_section(data, swiss_index: Index, progress_factory=None) -> dict:
    section = {"pairs": pair_quality(swiss_index), "pairs_any_date": pair_quality(swiss_index, any_date=True),
               "unpaired": pair_quality(swiss_index, unpaired=True),
               "unpaired_any_date": pair_quality(swiss_index, unpaired=True, any_date=True)}
    sets = {}
    if data.journalist_qa:
        sets["journalists"] = [{"qid": q["qid"], "question": q["question"], "gold_docs": q["gold_doc_ids"],
                                "half": half_of(q["qid"])} for q in data.journalist_qa]
    if data.retrieval:
        sets["headlines"] = [{"qid": q["qid"], "question": q["query"], "gold_docs": q["gold_doc_ids"]}
                             for q in data.retrieval]
    for name, questions in sets.items():
        bar = progress_factory(len(questions), f"Sources per release ({name})") if progress_factory else None
        section[name] = source_diversity(swiss_index, questions, progress=(lambda: bar.update(1)) if bar else None)
        if bar:
            bar.close()
    return section
