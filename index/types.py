"""Types that carry provenance from a document to a search hit: :class:`Chunk`, :class:`Hit`, :class:`SearchFilters`."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

from ingest import Document

from .errors import InvalidQueryError

#: Version of the JSON form of hits, citations and answers (``to_dict``), shared by the CLI's
#: ``--json``, the HTTP API and :mod:`assistant.schema`; raised when a field changes meaning or goes.
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: ``text == document.text[char_start:char_end]``, always."""

    chunk_id: str
    doc_id: str
    ordinal: int
    char_start: int
    char_end: int
    text: str
    embed_text: str

    @property
    def embed_hash(self) -> str:
        """Content hash of what is embedded: equal hashes reuse stored vectors instead of re-embedding."""
        return hashlib.sha256(self.embed_text.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Chunk":
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class OtherVersion:
    """The same release in another language: that document, and its passage closest to the hit's
    (the nearest centred vector: the same paragraph translated, as far as vectors can tell)."""

    document: Document
    chunk: Chunk

    def to_dict(self) -> dict:
        doc = self.document
        return {"doc_id": doc.doc_id, "lang": doc.lang, "title": doc.title, "date": doc.date, "url": doc.url,
                "chunk": _chunk_dict(self.chunk)}


def _chunk_dict(chunk: Chunk) -> dict:
    return {"chunk_id": chunk.chunk_id, "ordinal": chunk.ordinal, "text": chunk.text,
            "char_start": chunk.char_start, "char_end": chunk.char_end}


@dataclass(frozen=True)
class Hit:
    """One retrieved passage, with its document's metadata and the scores that ranked it.

    ``other_versions``: the release's versions in other languages (see :mod:`index.versions`).
    """

    chunk: Chunk
    document: Document
    score: float
    rank: int
    dense_score: float | None = None
    lexical_score: float | None = None
    other_versions: tuple[OtherVersion, ...] = ()

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id

    @property
    def supporting_text(self) -> str:
        """What a claim citing this passage may rely on: the passage, its document's stated title and date."""
        return f"{self.chunk.text} {self.document.stated('title')} {self.document.date}"

    def to_dict(self) -> dict:
        """The JSON form (``assistant.schema.HitModel``); the document's text is left out."""
        doc = self.document
        return {
            "rank": self.rank,
            "doc_id": self.doc_id,
            "score": round(self.score, 6),
            "dense_score": None if self.dense_score is None else round(self.dense_score, 6),
            "lexical_score": None if self.lexical_score is None else round(self.lexical_score, 6),
            "chunk": _chunk_dict(self.chunk),
            "document": {"doc_id": doc.doc_id, "title": doc.title, "date": doc.date, "issuer": doc.issuer,
                         "lang": doc.lang, "source": doc.source, "url": doc.url, "origin": dict(doc.origin),
                         "added_by": doc.added_by, "added_at": doc.added_at, "content_hash": doc.content_hash},
            "other_versions": [version.to_dict() for version in self.other_versions],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Hit":
        """A hit read back from its JSON form; its document has metadata but no text.

        Example:
            >>> doc = Document(doc_id="a", text="Bonjour tout le monde.", title="T")
            >>> hit = Hit(Chunk("a#0", "a", 0, 0, 7, "Bonjour", "T Bonjour"), doc, 0.5, 1)
            >>> Hit.from_dict(hit.to_dict()).to_dict() == hit.to_dict()
            True
        """
        chunk, meta = data["chunk"], data["document"]
        document = Document(text="", **{name: meta[name] for name in
                                        ("doc_id", "title", "date", "issuer", "lang", "source", "url", "origin",
                                         "added_by", "added_at", "content_hash")})
        return cls(
            chunk=_chunk_from_dict(chunk, data["doc_id"]),
            document=document, score=data["score"], rank=data["rank"],
            dense_score=data.get("dense_score"), lexical_score=data.get("lexical_score"),
            other_versions=tuple(
                OtherVersion(Document(text="", **{name: version[name] for name in ("doc_id", "lang", "title", "date", "url")}),
                             _chunk_from_dict(version["chunk"], version["doc_id"]))
                for version in data.get("other_versions", ())
            ),
        )


def _chunk_from_dict(chunk: dict, doc_id: str) -> Chunk:
    return Chunk(chunk_id=chunk["chunk_id"], doc_id=doc_id, ordinal=chunk["ordinal"], char_start=chunk["char_start"],
                 char_end=chunk["char_end"], text=chunk["text"], embed_text=chunk["text"])


def _date_bounds(value: str) -> tuple[str, str]:
    """Earliest and latest day an ISO date of any precision can mean (``2021-02`` → Feb 1..31)."""
    if len(value) == 4:
        return f"{value}-01-01", f"{value}-12-31"
    if len(value) == 7:
        return f"{value}-01", f"{value}-31"
    return value, value


def date_overlaps(value: str, since: str | None, until: str | None) -> bool:
    """Whether an ISO date of any precision (a day, ``2021-02``, ``2021``) overlaps the inclusive
    range ``since``..``until`` (either may be None); an empty date overlaps nothing.

    Example:
        >>> date_overlaps("2021-02", "2021-02-15", None), date_overlaps("2020", "2021-01-01", None)
        (True, False)
    """
    if not value:
        return False
    earliest, latest = _date_bounds(value)
    return (not since or latest >= _date_bounds(since)[0]) and (not until or earliest <= _date_bounds(until)[1])


def _check_iso(name: str, value: str | None) -> None:
    if value is None:
        return
    import re

    if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", value):
        raise InvalidQueryError(f"--{name} must be a date like 2021-01-31 (or 2021-01, 2021); got {value!r}")


@dataclass(frozen=True)
class SearchFilters:
    """Restrict a search to a date range (inclusive), issuers (substring, case-insensitive) and languages.

    A document whose date is only known to the month or year matches when that period overlaps
    the range; a document without a date is excluded by any date filter.

    Example:
        >>> f = SearchFilters(since="2021-01-01", lang=("fr",))
        >>> f.matches(Document(doc_id="a", text="x", date="2021-02", lang="fr"))
        True
    """

    since: str | None = None
    until: str | None = None
    issuer: tuple[str, ...] = ()
    lang: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_iso("since", self.since)
        _check_iso("until", self.until)
        if isinstance(self.issuer, str):
            object.__setattr__(self, "issuer", (self.issuer,) if self.issuer else ())
        if isinstance(self.lang, str):
            object.__setattr__(self, "lang", (self.lang,) if self.lang else ())
        unknown = [code for code in self.lang if code not in ("fr", "en")]
        if unknown:
            raise InvalidQueryError(f"language filter must be fr or en; got {', '.join(unknown)}")
        if self.since and self.until and _date_bounds(self.since)[0] > _date_bounds(self.until)[1]:
            raise InvalidQueryError(f"--since {self.since} is after --until {self.until}")

    @property
    def is_empty(self) -> bool:
        return not (self.since or self.until or self.issuer or self.lang)

    def matches(self, doc: Document) -> bool:
        if self.lang and doc.lang not in self.lang:
            return False
        if self.issuer and not any(wanted.casefold() in doc.issuer.casefold() for wanted in self.issuer):
            return False
        return not (self.since or self.until) or date_overlaps(doc.date, self.since, self.until)
