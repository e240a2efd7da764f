"""The :class:`Document`: one communiqué, its full text and where it came from."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

#: Metadata fields that extraction tries to fill; an empty one is reported, never guessed.
METADATA_FIELDS = ("title", "date", "issuer", "lang")

#: How a metadata field was obtained (``Document.origin[field]``). Only the first two are written
#: as that field by the communiqué itself; the others are inferred and shown as such.
ORIGINS = {
    "file": "given by the file (a heading, an HTML/PDF/DOCX title, a JSONL field)",
    "text": "written in the text (a dated header, a signature block, a From: line)",
    "speaker": "the organisation that speaks in the text (\"La Ville de Montréal a annoncé…\")",
    "derived": "made from the text (a title from the first sentence)",
    "detected": "detected (the language)",
    "flag": "the --issuer option of the ingest",
    "folder": "the name of the sub-folder the file was in",
    "set": "set by staff with ingest --metadata FILE.csv",
}
#: Origins that mean "inferred, not stated as this field": listed by ``porteparole info``.
INFERRED_ORIGINS = ("speaker", "derived", "flag", "folder")
#: Inferred from the text by a rule that can be wrong (not chosen by staff, unlike flag/folder).
GUESSED_ORIGINS = ("speaker", "derived")


@dataclass(frozen=True)
class Document:
    """A communiqué as ingested: the full extracted text plus provenance.

    ``date`` is ISO 8601: ``YYYY-MM-DD``, or ``YYYY-MM`` / ``YYYY`` when the source only gives a
    month or a year. ``content_hash`` is derived from the text and metadata, so re-ingesting the
    same communiqué is recognised as unchanged.

    Example:
        >>> doc = Document(doc_id="cp-1", text="Bonjour.", title="Salut", lang="fr")
        >>> doc.content_hash == Document(doc_id="cp-1", text="Bonjour.", title="Salut", lang="fr").content_hash
        True
    """

    doc_id: str
    text: str
    title: str = ""
    date: str = ""
    issuer: str = ""
    lang: str = ""
    url: str = ""
    source: str = ""
    #: An id shared by the language versions of one release (a JSONL field); empty when not given.
    release_id: str = ""
    #: ``field -> how it was obtained`` (see :data:`ORIGINS`), for title, date, issuer and lang.
    origin: dict = field(default_factory=dict, compare=False)
    #: Who added it through the chat or the API, and when (ISO 8601, UTC); empty for the CLI.
    added_by: str = field(default="", compare=False)
    added_at: str = field(default="", compare=False)
    content_hash: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.content_hash:
            object.__setattr__(self, "content_hash", self.compute_hash())

    def compute_hash(self) -> str:
        fields = [self.text, self.title, self.date, self.issuer, self.lang, self.url]
        if self.origin:  # documents stored before origins were recorded keep their hash
            fields.append(sorted(self.origin.items()))
        if self.release_id:  # likewise for release ids
            fields.append(["release_id", self.release_id])
        payload = json.dumps(fields, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def missing_fields(self) -> list[str]:
        """Names of metadata fields that are empty (reported at ingest time)."""
        return [name for name in METADATA_FIELDS if not getattr(self, name)]

    def is_inferred(self, name: str) -> bool:
        """True when field ``name`` was inferred (a derived title, the speaking organisation, ...)."""
        return self.origin.get(name) in INFERRED_ORIGINS

    def inferred_fields(self) -> dict[str, str]:
        """``{field: origin}`` of title/date/issuer fields that were inferred, not stated."""
        return {name: self.origin[name] for name in ("title", "date", "issuer") if self.is_inferred(name)}

    def stated(self, name: str) -> str:
        """Field ``name`` when it was stated (by the file, the text or staff), ``""`` when it was guessed.

        A title derived from the first sentence repeats the text, and the organisation speaking in
        the lead is not always the issuer: neither is prefixed to embedded passages or given to
        the model as fact; both are still shown, marked as such.

        Example:
            >>> Document(doc_id="a", text="x", title="T", origin={"title": "derived"}).stated("title")
            ''
        """
        return "" if self.origin.get(name) in GUESSED_ORIGINS else getattr(self, name)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Document":
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)
