"""Stage 7, newer values: "a newer communiqué says otherwise", and cited sources that disagree.

Press releases are superseded: this month's index, this year's budget. For each cited quote that
states a figure (a percentage, an amount, index points, a count; not a year, a day or an ordinal
like "2nd quarter"):

the same issuer's releases dated after the cited one, searched with the quote itself (one version
per release, the reader's language first) → in each, the sentence closest to the quote that states
a figure of the same kind (centred cosine plus word overlap, as the evidence stage scores sentences)
→ it speaks of the same thing when that score plus the likeness of the two releases' titles reaches
:data:`MIN_SCORE` (and is close to the best newer release's) → the newest such
release whose figure differs from the cited one is the update, shown under the answer with both
quotes and dates. A newer release that states the same figure is not an update.

Two cited quotes of different releases that speak of the same thing (the same test) and give
different figures of one kind are shown side by side as a disagreement, oldest first, instead of
leaving the reader to notice. Nothing here is generated: both sides are verified quotes.

Example:
    >>> answer = Assistant.open("swiss-index").ask("How much did retail turnover grow in December 2009?")  # doctest: +SKIP
    >>> print(answer.updates[0].describe("en"))                                                          # doctest: +SKIP
    Newer: the communiqué of 1 February 2019 (Federal Statistical Office) gives 0.1% [2] where [1] gives 3.1%.
"""

from __future__ import annotations

import weakref

import numpy as np

from index import Index, InvalidQueryError, SearchFilters

from .attribution import quote_citation
from .evidence import LEXICAL_WEIGHT, EvidenceScorer, word_overlap
from .facts import figures
from .sentences import SourceSentence
from .types import Citation, Update

#: How alike a newer sentence (or another cited quote) and a cited quote are: their relevance (centred
#: cosine + 0.15 × shared stemmed words, as the evidence stage scores sentences) plus this weight ×
#: the cosine of their releases' titles. Releases of a series share their title's wording
#: ("Retail trade turnover growth in …"); a neighbouring statistic of the same office rarely does.
TITLE_WEIGHT = 0.5
#: They speak of the same thing from this score, and within :data:`MIN_SCORE_RATIO` of the best
#: newer release's. Chosen on the tune half of tests/data/newer_facts.jsonl (eval/updates_eval.py):
#: there, every superseded fact is found and no other gets a warning.
MIN_SCORE = 0.74
MIN_SCORE_RATIO = 0.8
#: Newer releases of the issuer looked at for one quote.
CANDIDATES = 12

# The newest date of each issuer, per index generation: most cited releases have no newer one, and
# knowing it costs no embedding (measured: 20 users at once, the check added 2.5 s to the median
# answer when every citation was searched). An index updated in place gets new documents.
_LATEST: "weakref.WeakKeyDictionary[Index, tuple[tuple, dict[str, str]]]" = weakref.WeakKeyDictionary()


def _latest_dates(index: Index) -> dict[str, str]:
    version = (index.manifest.get("generation"), id(index.documents), len(index.documents))
    cached = _LATEST.get(index)
    if cached is None or cached[0] != version:
        latest: dict[str, str] = {}
        for doc in index.documents.values():
            if doc.issuer and doc.date > latest.get(doc.issuer, ""):
                latest[doc.issuer] = doc.date
        cached = _LATEST[index] = (version, latest)
    return cached[1]


def find_updates(index: Index, scorer: EvidenceScorer, citations: list[Citation], question: str,
                 language: str) -> list[Update]:
    """Disagreements between ``citations``, then newer values for each of them; see the module docstring."""
    release_of = {c.n: index.releases.key_of(c.doc_id) for c in citations}
    updates = _disagreements(index, scorer, citations, question)
    # A release already shown against another cited one gets no second line; nor does a release
    # quoted twice (both quotes would name the same newer release).
    updated = {release_of[u.cited] for u in updates} | {release_of[u.citation.n] for u in updates}
    cited_releases = set(release_of.values())
    next_n = max((c.n for c in citations), default=0) + 1
    for citation in citations:
        release = release_of[citation.n]
        if release in updated:
            continue
        update = _newer_value(index, scorer, citation, question, language, cited_releases, next_n)
        if update is not None:
            updates.append(update)
            updated.add(release)
            next_n += 1
    return updates


def _newer_value(index: Index, scorer: EvidenceScorer, citation: Citation, question: str, language: str,
                 cited_releases: set[str], n: int) -> Update | None:
    if len(citation.date) != 10 or not citation.issuer or _latest_dates(index).get(citation.issuer, "") <= citation.date:
        return None  # no way to tell "newer" and "same issuer", or the issuer has published nothing since
    cited = figures(citation.quote, ignore=question)
    if not cited:
        return None
    filters = SearchFilters(since=citation.date, issuer=(citation.issuer,))
    try:
        hits = index.search(citation.quote, k=CANDIDATES, filters=filters, per_document=True, per_release=True,
                            query_lang=language)
    except InvalidQueryError:
        return None  # an issuer or date the filters cannot hold: no check rather than no answer
    newer = [hit for hit in hits if hit.document.date > citation.date and hit.document.issuer == citation.issuer
             and index.releases.key_of(hit.doc_id) not in cited_releases]
    if not newer:
        return None
    evidence = scorer.score(citation.quote, newer)
    titles = dict(zip((hit.doc_id for hit in newer),
                      _title_similarity(index, scorer, citation.title, [hit.document.title for hit in newer],
                                        [hit.document.lang for hit in newer])))
    best: dict[str, tuple[float, SourceSentence, tuple[str, str]]] = {}
    for i in evidence.ranked():
        sentence = evidence.sentences[i]
        if sentence.doc_id in best:
            continue
        stated = figures(sentence.text, ignore=question)
        shared = set(stated) & set(cited)
        if shared:  # the release's closest sentence that states a figure of a kind the quote states
            score = float(evidence.relevance[i]) + TITLE_WEIGHT * titles[sentence.doc_id]
            best[sentence.doc_id] = (score, sentence, _differing(cited, stated, shared))
    top = max((b[0] for b in best.values()), default=0.0)
    same_subject = [b for b in best.values() if b[0] >= max(MIN_SCORE, MIN_SCORE_RATIO * top)]
    # The newest release that gives the figure otherwise; one giving the same figure says nothing new.
    for score, sentence, (old, new) in sorted(same_subject, key=lambda b: b[1].hit.document.date, reverse=True):
        if old and new:
            quoted = quote_citation(sentence, n)
            return Update("newer", citation.n, old, new, quoted, score) if quoted else None
    return None


def _title_similarity(index: Index, scorer: EvidenceScorer, title: str, titles: list[str], langs: list[str]) -> list[float]:
    if not title or not titles:
        return [0.0] * len(titles)
    vectors = scorer.text_vectors([t or "" for t in titles])  # cached: a series' titles recur
    return [float(x) if t else 0.0 for x, t in zip(index.centred_similarity(title, vectors, langs), titles)]


def _disagreements(index: Index, scorer: EvidenceScorer, citations: list[Citation], question: str) -> list[Update]:
    stated = {c.n: figures(c.quote, ignore=question) for c in citations}
    ordered = sorted((c for c in citations if stated[c.n]), key=lambda c: (c.date, c.n))
    if len({index.releases.key_of(c.doc_id) for c in ordered}) < 2:
        return []  # one release (or none) with figures: nothing to disagree with
    vectors = scorer.text_vectors([c.quote for c in ordered])
    releases = [index.releases.key_of(c.doc_id) for c in ordered]
    updates, shown = [], set()
    for i, first in enumerate(ordered[:-1]):
        later = ordered[i + 1:]
        langs = [c.lang for c in later]
        scores = (index.centred_similarity(first.quote, vectors[i + 1:], langs)
                  + LEXICAL_WEIGHT * word_overlap(first.quote, [c.quote for c in later], langs)
                  + TITLE_WEIGHT * np.array(_title_similarity(index, scorer, first.title, [c.title for c in later], langs)))
        for j, (other, score) in enumerate(zip(later, scores), start=i + 1):
            pair = (releases[i], releases[j])
            shared = set(stated[first.n]) & set(stated[other.n])
            if score < MIN_SCORE or not shared or pair[0] == pair[1] or pair in shown:
                continue  # about something else, one release quoted twice, or a pair already shown
            old, new = _differing(stated[first.n], stated[other.n], shared)
            if old and new:
                updates.append(Update("disagreement", first.n, old, new, other, float(score)))
                shown.add(pair)
    return updates


def _differing(cited: dict[str, list[tuple[str, set[float]]]], stated: dict[str, list[tuple[str, set[float]]]],
               kinds: set[str]) -> tuple[str, str]:
    """The first figure of a shared kind that each side gives and the other does not ("" when none)."""
    for kind in sorted(kinds):
        old = [written for written, values in cited[kind] if not any(values & v for _, v in stated[kind])]
        new = [written for written, values in stated[kind] if not any(values & v for _, v in cited[kind])]
        if old and new:
            return old[0], new[0]
    return "", ""
