"""The JSON schema of what Porte-parole returns: answers, citations, hits, search results, documents.

One schema for every consumer: ``Answer.to_dict()`` / ``Hit.to_dict()`` produce it, the CLI's
``--json`` prints it, the HTTP API returns it and publishes it in its OpenAPI description
(``/api/docs``), and the tests validate real outputs against these models (unknown fields are
errors). ``schema_version`` changes when a field changes meaning or disappears.

Example:
    >>> from assistant.schema import AnswerModel
    >>> AnswerModel.model_json_schema()["properties"]["schema_version"]["const"]
    1
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from index import SCHEMA_VERSION


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DocumentMetadataModel(_Strict):
    """A document's metadata; ``origin`` says how each field was found (see ``ingest.ORIGINS``)."""

    doc_id: str
    title: str = Field(description="the communiqué's title; when origin.title is 'derived', its first sentence")
    date: str = Field(description="ISO 8601: YYYY-MM-DD, or YYYY-MM / YYYY; '' when unknown")
    issuer: str = Field(description="who issued it; '' when unknown")
    lang: str = Field(description="fr or en ('' when unknown)")
    source: str = Field(description="the file it was read from")
    url: str
    origin: dict[str, str] = Field(description="field -> file | text | speaker | derived | detected | flag | folder | set")
    added_by: str = Field(description="who uploaded it through the chat or the API ('' for the CLI)")
    added_at: str = Field(description="when it was uploaded, ISO 8601 UTC ('' for the CLI)")
    content_hash: str
    release_id: str = Field(default="", description="shared by the language versions of one release, when the JSONL gave it")


class DocumentModel(DocumentMetadataModel):
    """``GET /api/documents/{doc_id}``: metadata and the full text (offsets of hits and citations index it)."""

    schema_version: Literal[SCHEMA_VERSION]
    text: str


class ChunkModel(_Strict):
    chunk_id: str
    ordinal: int
    text: str = Field(description="exactly document.text[char_start:char_end]")
    char_start: int
    char_end: int


class OtherVersionModel(_Strict):
    """The same release in another language, and its passage closest to the hit's."""

    doc_id: str
    lang: str
    title: str
    date: str
    url: str
    chunk: ChunkModel


class HitModel(_Strict):
    """A retrieved passage and the scores that ranked it."""

    rank: int
    doc_id: str
    score: float
    dense_score: float | None
    lexical_score: float | None
    chunk: ChunkModel
    document: DocumentMetadataModel
    other_versions: list[OtherVersionModel] = Field(
        default_factory=list, description="the same release in other languages (linked at ingest; index/versions.py)")


class CitationModel(_Strict):
    """Source [n] of an answer: ``quote`` is exactly ``document.text[char_start:char_end]``."""

    n: int
    doc_id: str
    title: str
    date: str
    issuer: str
    lang: str
    source: str
    url: str
    quote: str
    char_start: int
    char_end: int


class TimelineEntryModel(_Strict):
    """One release of a timeline: its most relevant sentence, quoted."""

    citation: CitationModel
    score: float = Field(description="the release's search score for the subject")
    other_versions: list[OtherVersionModel]


class TimelineModel(_Strict):
    """``porteparole timeline --json`` and ``POST /api/timeline``: releases about a subject, oldest first."""

    schema_version: Literal[SCHEMA_VERSION]
    subject: str
    language: str
    entries: list[TimelineEntryModel]


class TimeScopeModel(_Strict):
    """The time expression read from the question; releases of its period were ranked first."""

    since: str | None = Field(description="first day of the period (ISO 8601), or null")
    until: str | None = Field(description="last day of the period, or null")
    latest: bool = Field(description="the question asks for the most recent release")
    phrase: str = Field(description="the question's own words it was read from")
    tolerance_until: str | None = Field(description="releases up to this day still count, less strongly (a year's "
                                                    "figures appear the next spring)")
    label_en: str
    label_fr: str


class UpdateModel(_Strict):
    """A cited figure given otherwise: by a newer release of the same issuer (``newer``; its quote is
    numbered after the answer's citations) or by another of the answer's citations (``disagreement``)."""

    kind: Literal["newer", "disagreement"]
    cited: int = Field(description="the number of the answer's citation whose figure is given otherwise")
    old: str = Field(description="the cited figure, as written in its quote")
    new: str = Field(description="the other source's figure, as written in its quote")
    citation: CitationModel = Field(description="the other source's verified quote")
    relevance: float = Field(description="how alike the two quotes are (see assistant.updates)")


class AnswerModel(_Strict):
    """An answer with its citations, or a refusal (``refused``; ``refusal_reason`` says why)."""

    schema_version: Literal[SCHEMA_VERSION]
    question: str
    standalone_question: str = Field(description="the question as searched (a follow-up rewritten to stand alone)")
    text: str = Field(description="the answer with [n] markers, in the question's language")
    language: str
    refused: bool
    refusal_reason: str
    best_similarity: float
    answer_type: str
    confidence: float | None
    signals: dict[str, float]
    generator: str
    citations: list[CitationModel]
    hits: list[HitModel]
    timings: dict[str, float] = Field(description="seconds since the question arrived, at the end of each stage")
    raw_text: str = Field(description="the generator's unchecked draft (for debugging; never show it as the answer)")
    time_scope: TimeScopeModel | None = Field(None, description="the question's time expression, as applied; null when "
                                                                "it has none or question_dates was off")
    updates: list[UpdateModel] = Field(default_factory=list, description="cited figures that a newer release of the "
                                                                         "same issuer or another cited source gives otherwise")


class SearchResultModel(_Strict):
    """``porteparole search --json`` and ``POST /api/search``."""

    schema_version: Literal[SCHEMA_VERSION]
    query: str
    hits: list[HitModel]


def search_result(query: str, hits) -> dict:
    """The JSON form of a search (:class:`SearchResultModel`)."""
    return {"schema_version": SCHEMA_VERSION, "query": query, "hits": [hit.to_dict() for hit in hits]}


def document_record(document) -> dict:
    """The JSON form of a whole document (:class:`DocumentModel`)."""
    return {"schema_version": SCHEMA_VERSION, **document.to_dict()}
