"""Metadata that staff set by hand: a CSV of ``doc_id`` and the fields to set (``ingest --metadata``).

Example CSV (UTF-8, a header row; empty cells leave a field as it is)::

    doc_id,title,date,issuer
    001_82cb9e71a3077cb4,Montréal et Toulouse signent une entente,2021-02-02,Ville de Montréal
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import replace
from pathlib import Path

from .document import Document
from .errors import PorteParoleError

#: Columns a metadata file may have besides ``doc_id``.
SETTABLE_FIELDS = ("title", "date", "issuer", "lang", "url")
#: Longest value accepted in a cell (a title or issuer of megabytes is a mistake, not metadata).
MAX_VALUE_CHARS = 500


class MetadataFileError(PorteParoleError):
    """A metadata CSV that cannot be used as a whole (nothing from it is applied)."""


def read_metadata_csv(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """``doc_id -> {field: value}`` from a CSV; every row is checked before anything is applied.

    Raises :class:`MetadataFileError` naming the line of the first bad row (unknown column,
    missing doc_id, a date that is not ISO, a language other than fr/en, a value too long).
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise MetadataFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise MetadataFileError(f"{path}: not UTF-8 text; save the CSV as UTF-8") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = [name.strip() for name in (reader.fieldnames or [])]
    if "doc_id" not in columns:
        raise MetadataFileError(f"{path}: the first row must name the columns, starting with doc_id "
                                f"(then any of {', '.join(SETTABLE_FIELDS)})")
    unknown = [name for name in columns if name not in ("doc_id",) + SETTABLE_FIELDS]
    if unknown:
        raise MetadataFileError(f"{path}: unknown column(s) {', '.join(unknown)}; allowed: doc_id, {', '.join(SETTABLE_FIELDS)}")
    values: dict[str, dict[str, str]] = {}
    for line, row in enumerate(reader, start=2):
        row = {(key or "").strip(): (value or "").strip() for key, value in row.items() if key is not None}
        doc_id = row.pop("doc_id", "")
        if not doc_id:
            raise MetadataFileError(f"{path}:{line}: empty doc_id")
        fields = {name: value for name, value in row.items() if value}
        for name, value in fields.items():
            if len(value) > MAX_VALUE_CHARS:
                raise MetadataFileError(f"{path}:{line}: {name} is longer than {MAX_VALUE_CHARS} characters")
        if "date" in fields and not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", fields["date"]):
            raise MetadataFileError(f"{path}:{line}: date must be like 2021-02-02 (or 2021-02, 2021); got {fields['date']!r}")
        if "lang" in fields and fields["lang"] not in ("fr", "en"):
            raise MetadataFileError(f"{path}:{line}: lang must be fr or en; got {fields['lang']!r}")
        values.setdefault(doc_id, {}).update(fields)
    return values


def apply_metadata(doc: Document, fields: dict[str, str]) -> Document:
    """``doc`` with ``fields`` set and marked ``set`` in its origin (the hash follows).

    Example:
        >>> doc = apply_metadata(Document(doc_id="a", text="Bonjour."), {"issuer": "Ville de Montréal"})
        >>> doc.issuer, doc.origin["issuer"]
        ('Ville de Montréal', 'set')
    """
    if not fields:
        return doc
    origin = {**doc.origin, **{name: "set" for name in fields}}
    return replace(doc, **fields, origin=origin, content_hash="")


def carry_over_set_fields(stored: Document, incoming: Document) -> Document:
    """Keep what staff set on ``stored`` when the same text is read again without those values.

    A field set with ``--metadata`` survives re-ingesting its file as long as the text is
    unchanged and the file itself does not state that field.
    """
    if stored.text != incoming.text:
        return incoming
    keep = {name: getattr(stored, name) for name, how in stored.origin.items()
            if how == "set" and incoming.origin.get(name) not in ("file", "set")}
    return apply_metadata(incoming, keep)
