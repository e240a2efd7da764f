"""Language versions of one release: the French and the English text of the same communiqué, linked.

Organisations publish one release in both languages; without links both versions fill the top
results as if they were two sources. Two documents are versions of one release when

* they share an explicit ``release_id`` (a JSONL field), or else
* they are in different languages, carry the same full date (``YYYY-MM-DD``), and their document
  vectors are each other's best match among that day's documents with a cosine of at least
  :data:`LINK_MIN_COSINE`. A document vector is the normalised mean of its passages' vectors
  with each language's mean removed (the centring of :mod:`index.retrieval`), so a French text
  and its English translation land close together. Issuer names are not compared: they are
  translated too ("Conseil fédéral" / "The Federal Council").

Links are found when the index is written and stored in the generation's ``releases.json``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ingest import Document

#: Chosen on the tune half of the Swiss releases (odd release numbers; eval/versions_eval.py): there
#: the true pairs' cosines go down to 0.49 (median 0.77), the best other same-day document of the
#: other language reaches 0.13. Across all dates, other documents reach 0.73: the date is required.
LINK_MIN_COSINE = 0.35
_FULL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Release:
    """Documents that are language versions of one release; ``how`` is ``id`` or ``content``."""

    key: str
    doc_ids: tuple[str, ...]
    how: str
    cosine: float | None = None

    def to_dict(self) -> dict:
        return {"key": self.key, "doc_ids": list(self.doc_ids), "how": self.how,
                "cosine": None if self.cosine is None else round(self.cosine, 4)}

    @classmethod
    def from_dict(cls, data: dict) -> "Release":
        return cls(str(data["key"]), tuple(data["doc_ids"]), str(data["how"]), data.get("cosine"))


class Releases:
    """Which documents are versions of which release (documents in no release stand alone).

    Example:
        >>> releases = Releases([Release("id:7", ("cp-7-fr", "cp-7-en"), "id")])
        >>> releases.other_versions("cp-7-fr"), releases.key_of("cp-8")
        (('cp-7-en',), 'cp-8')
    """

    def __init__(self, releases: Iterable[Release] = ()) -> None:
        self.releases = list(releases)
        self._by_doc = {doc_id: release for release in self.releases for doc_id in release.doc_ids}

    def __len__(self) -> int:
        return len(self.releases)

    def key_of(self, doc_id: str) -> str:
        """The release a document belongs to; a document in no release is its own."""
        release = self._by_doc.get(doc_id)
        return release.key if release else doc_id

    def other_versions(self, doc_id: str) -> tuple[str, ...]:
        release = self._by_doc.get(doc_id)
        return tuple(other for other in release.doc_ids if other != doc_id) if release else ()

    def to_list(self) -> list[dict]:
        return [release.to_dict() for release in self.releases]


def document_vectors(doc_ids: list[str], chunk_doc_ids: list[str], centred: np.ndarray) -> np.ndarray:
    """One vector per document in ``doc_ids``: the normalised mean of its centred passage vectors."""
    row_of = {doc_id: i for i, doc_id in enumerate(doc_ids)}
    dim = centred.shape[1] if centred.ndim == 2 else 0
    sums = np.zeros((len(doc_ids), dim), dtype=np.float32)
    for vector, doc_id in zip(centred, chunk_doc_ids):
        if doc_id in row_of:
            sums[row_of[doc_id]] += vector
    return sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)


def link_versions(
    documents: dict[str, Document],
    chunk_doc_ids: list[str],
    centred: np.ndarray,
    *,
    use_ids: bool = True,
    min_cosine: float = LINK_MIN_COSINE,
) -> Releases:
    """Find the language versions among ``documents`` (see the module's docstring for the rules).

    ``chunk_doc_ids[i]`` is the document of row ``i`` of ``centred`` (the centred passage vectors).
    ``use_ids=False`` ignores explicit ``release_id`` fields (to measure the content rule alone).
    """
    releases: list[Release] = []
    by_id: dict[str, list[str]] = {}
    if use_ids:
        for doc_id, doc in sorted(documents.items()):
            if doc.release_id:
                by_id.setdefault(doc.release_id, []).append(doc_id)
    linked = set()
    for release_id, members in sorted(by_id.items()):
        if len(members) > 1:
            releases.append(Release(f"id:{release_id}", tuple(members), "id"))
            linked.update(members)

    by_day: dict[str, dict[str, list[str]]] = {}
    for doc_id, doc in sorted(documents.items()):
        if doc_id not in linked and doc.lang in ("fr", "en") and _FULL_DATE.fullmatch(doc.date or ""):
            by_day.setdefault(doc.date, {}).setdefault(doc.lang, []).append(doc_id)
    candidates = [doc_id for day in by_day.values() if len(day) == 2 for ids in day.values() for doc_id in ids]
    if candidates:
        vectors = dict(zip(candidates, document_vectors(candidates, chunk_doc_ids, centred)))
        for day in by_day.values():
            if len(day) == 2:
                releases.extend(_mutual_best(day["fr"], day["en"], vectors, min_cosine))
    return Releases(releases)


def _mutual_best(french: list[str], english: list[str], vectors: dict, min_cosine: float) -> list[Release]:
    similarity = np.stack([vectors[d] for d in french]) @ np.stack([vectors[d] for d in english]).T
    pairs = []
    for i, fr_id in enumerate(french):
        j = int(np.argmax(similarity[i]))
        if int(np.argmax(similarity[:, j])) == i and similarity[i, j] >= min_cosine:
            pairs.append(Release(f"{fr_id}+{english[j]}", (fr_id, english[j]), "content", float(similarity[i, j])))
    return pairs
