"""The :class:`Document`: one communiqué, its full text and where it came from."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

#: Metadata fields that extraction tries to fill; an empty one is reported, never guessed.
METADATA_FIELDS = ("title", "date", "issuer", "lang")


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
    content_hash: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.content_hash:
            object.__setattr__(self, "content_hash", self.compute_hash())

    def compute_hash(self) -> str:
        payload = json.dumps(
            [self.text, self.title, self.date, self.issuer, self.lang, self.url],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def missing_fields(self) -> list[str]:
        """Names of metadata fields that are empty (reported at ingest time)."""
        return [name for name in METADATA_FIELDS if not getattr(self, name)]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Document":
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)
