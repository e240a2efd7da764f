"""What an answer is made of: :class:`Citation` (a verified quote), :class:`Update` (a cited figure
that another source gives otherwise) and :class:`Answer`."""

from __future__ import annotations

from dataclasses import dataclass, field

from index import SCHEMA_VERSION, Hit

from . import prompts


@dataclass(frozen=True)
class Citation:
    """A numbered source for part of an answer, quoting an exact span of the document's text.

    ``document_text[char_start:char_end] == quote`` was verified when the citation was made.
    """

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

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict) -> "Citation":
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})

    def reference(self) -> str:
        """One line for a reference list: ``[1] Title — Issuer, 2021-02-02 (doc-id): « quote »``."""
        who = ", ".join(part for part in (self.issuer, self.date) if part)
        head = f"[{self.n}] {self.title or self.doc_id}" + (f" — {who}" if who else "")
        return f"{head} ({self.doc_id}): « {self.quote} »"


#: How an :class:`Update` is told to the reader.
UPDATE_LABELS = {
    "en": {"newer": "Newer: the communiqué of {date}{issuer} gives {new} [{m}] where [{n}] gives {old}.",
           "disagree": "The sources differ: [{n}] ({date}) gives {old}, [{m}] ({other_date}) gives {new}."},
    "fr": {"newer": "Plus récent : le communiqué du {date}{issuer} donne {new} [{m}] là où [{n}] donne {old}.",
           "disagree": "Les sources divergent : [{n}] ({date}) donne {old}, [{m}] ({other_date}) donne {new}."},
}


@dataclass(frozen=True)
class Update:
    """A cited figure given otherwise by another source.

    ``kind`` is ``"newer"`` (``citation`` quotes a newer release of the same issuer, numbered after
    the answer's citations) or ``"disagreement"`` (``citation`` is another of the answer's own
    citations). ``cited`` is the number of the answer's citation concerned; ``old`` and ``new`` are
    the two figures as written in their quotes.
    """

    kind: str
    cited: int
    old: str
    new: str
    citation: Citation
    relevance: float

    def to_dict(self) -> dict:
        return {"kind": self.kind, "cited": self.cited, "old": self.old, "new": self.new,
                "citation": self.citation.to_dict(), "relevance": round(self.relevance, 4)}

    @classmethod
    def from_dict(cls, data: dict) -> "Update":
        return cls(kind=data["kind"], cited=data["cited"], old=data["old"], new=data["new"],
                   citation=Citation.from_dict(data["citation"]), relevance=data["relevance"])

    def describe(self, language: str, cited_date: str = "") -> str:
        """One sentence for the reader, in ``language`` ("fr" or "en").

        Example:
            >>> c = Citation(4, "d", "T", "2019-02-01", "FSO", "en", "", "", "It fell by 0.1%.", 0, 16)
            >>> Update("newer", 1, "3.1%", "0.1%", c, 0.9).describe("en")
            'Newer: the communiqué of 1 February 2019 (FSO) gives 0.1% [4] where [1] gives 3.1%.'
        """
        labels = UPDATE_LABELS.get(language, UPDATE_LABELS["en"])
        date = prompts.written_date(self.citation.date, language) if self.citation.date else "?"
        if self.kind == "newer":
            issuer = f" ({self.citation.issuer})" if self.citation.issuer else ""
            return labels["newer"].format(date=date, issuer=issuer, new=self.new, m=self.citation.n, n=self.cited, old=self.old)
        when = prompts.written_date(cited_date, language) if cited_date else "?"
        return labels["disagree"].format(n=self.cited, date=when, old=self.old, m=self.citation.n,
                                         other_date=date, new=self.new)


@dataclass
class Answer:
    """The assistant's answer: text with [n] markers, its citations, what was retrieved, and timings.

    ``refused`` is True when the sources do not support an answer; ``text`` then says so in the
    question's language and ``hits`` still lists the closest sources.
    """

    question: str
    text: str
    language: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    standalone_question: str = ""
    generator: str = ""
    raw_text: str = ""
    refusal_reason: str = ""
    #: Highest question–sentence relevance among the retrieved passages (evidence strength).
    best_similarity: float = 0.0
    #: What the question asks for ("number", "person", "date", ...; see assistant.answer_types).
    answer_type: str = "other"
    #: The refusal policy's probability that the answer on offer is right (None: not computed).
    confidence: float | None = None
    #: The signals the policy decided on (see assistant.policy.signals).
    signals: dict[str, float] = field(default_factory=dict)
    #: The answer that was on offer when the policy decided, shown or not (for evaluation).
    offered_text: str = ""
    offered_doc_ids: list[str] = field(default_factory=list)
    #: The time expression read from the question and applied to the ranking
    #: (:meth:`assistant.time_scope.TimeScope.to_dict`), or None.
    time_scope: dict | None = None
    #: Cited figures that a newer release of the same issuer, or another cited source, gives
    #: otherwise (:mod:`assistant.updates`); shown under the answer.
    updates: list[Update] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The JSON form shared by ``ask --json`` and the HTTP API (``assistant.schema.AnswerModel``)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "question": self.question,
            "standalone_question": self.standalone_question,
            "text": self.text,
            "language": self.language,
            "refused": self.refused,
            "refusal_reason": self.refusal_reason,
            "best_similarity": round(self.best_similarity, 4),
            "answer_type": self.answer_type,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "signals": {k: round(v, 4) for k, v in self.signals.items()},
            "generator": self.generator,
            "citations": [c.to_dict() for c in self.citations],
            "hits": [h.to_dict() for h in self.hits],
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "raw_text": self.raw_text,
            "time_scope": self.time_scope,
            "updates": [u.to_dict() for u in self.updates],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Answer":
        """An answer read back from its JSON form (hits' documents carry metadata, not text).

        Raises ``ValueError`` for a ``schema_version`` this code does not read.
        """
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"answer JSON has schema_version {data.get('schema_version')!r}; this code reads {SCHEMA_VERSION}")
        return cls(
            question=data["question"], standalone_question=data["standalone_question"], text=data["text"],
            language=data["language"], refused=data["refused"], refusal_reason=data["refusal_reason"],
            best_similarity=data["best_similarity"], answer_type=data["answer_type"], confidence=data["confidence"],
            signals=dict(data["signals"]), generator=data["generator"], raw_text=data["raw_text"],
            citations=[Citation.from_dict(c) for c in data["citations"]],
            hits=[Hit.from_dict(h) for h in data["hits"]], timings=dict(data["timings"]),
            time_scope=data.get("time_scope"), updates=[Update.from_dict(u) for u in data.get("updates", [])],
        )

    def other_versions(self, citation: Citation) -> tuple:
        """The cited release in other languages (:class:`index.types.OtherVersion`): from the
        retrieved passage that holds the quote, so each version's passage is the quoted one's
        counterpart. Empty when the release has no other version.

        Example:
            >>> [v.document.lang for v in answer.other_versions(answer.citations[0])]  # doctest: +SKIP
            ['fr']
        """
        holding = [hit for hit in self.hits if hit.doc_id == citation.doc_id]
        inside = [hit for hit in holding if hit.chunk.char_start <= citation.char_start < hit.chunk.char_end]
        return (inside or holding)[0].other_versions if (inside or holding) else ()

    def update_notes(self) -> list[str]:
        """Each update as one sentence in the answer's language (see :meth:`Update.describe`)."""
        dates = {c.n: c.date for c in self.citations}
        return [u.describe(self.language, dates.get(u.cited, "")) for u in self.updates]

    def with_sources(self) -> str:
        """Plain text ready to paste into an article: the answer, then the numbered references."""
        lines = [self.text.strip()]
        if self.updates:
            lines += [""] + [f"⚠ {note}" for note in self.update_notes()]
        if self.citations:
            lines.append("")
            lines.append("Sources :" if self.language == "fr" else "Sources:")
            newer = [u.citation for u in self.updates if u.kind == "newer"]
            lines.extend(c.reference() + (f" {c.url}" if c.url else "") for c in self.citations + newer)
        return "\n".join(lines)
