"""Walk files and folders and turn every communiqué found into a :class:`Document`.

A bad file never stops the walk: it becomes a :class:`Problem` in the :class:`ReadReport`, and
the caller decides what to do (the CLI prints them and exits non-zero).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from .document import Document
from .errors import LoadError
from .language import detect_language
from .limits import within_limits
from .sandbox import SANDBOXED_SUFFIXES, parse_isolated
from .loaders import READERS, SUPPORTED_SUFFIXES, Extracted, JsonlProblem, iter_jsonl
from .metadata import derive_title, find_byline, find_from_line, find_issuer, find_publication_date, find_speaker, parse_date


@dataclass(frozen=True)
class Problem:
    """Why one file (or one JSONL line) was skipped."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass
class ReadReport:
    """What :func:`read_documents` found: documents, skipped inputs, and empty metadata fields."""

    documents: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    #: Documents ingested but cut to the caps of :mod:`ingest.limits` (source: what was cut).
    cuts: list[Problem] = field(default_factory=list)

    def add(self, doc: Document) -> None:
        """Keep ``doc``, cut to the caps (reported in :attr:`cuts`)."""
        doc, cuts = within_limits(doc)
        if cuts:
            self.cuts.append(Problem(doc.doc_id, "; ".join(cuts)))
        self.documents.append(doc)
    files_seen: int = 0

    def missing_metadata(self) -> dict[str, list[str]]:
        """``doc_id -> [field, ...]`` for every document with empty title/date/issuer/lang."""
        return {doc.doc_id: doc.missing_fields() for doc in self.documents if doc.missing_fields()}

    def inferred_metadata(self) -> dict[str, dict[str, str]]:
        """``doc_id -> {field: origin}`` for fields inferred rather than stated (see ``INFERRED_ORIGINS``)."""
        return {doc.doc_id: inferred for doc in self.documents if (inferred := doc.inferred_fields())}


def iter_files(paths: Iterable[str | os.PathLike]) -> Iterator[tuple[Path, Path | None]]:
    """Yield ``(file, root)`` for every file under ``paths``; ``root`` is the folder given, if any.

    Hidden files and folders are skipped; order is sorted so runs are reproducible.
    """
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    if not name.startswith("."):
                        yield Path(dirpath) / name, path
        else:
            yield path, None


def _issuer_from_folder(file: Path, root: Path | None) -> str:
    # A sub-folder of the folder given names a collection (often the issuer, e.g.
    # communiques/Ville de Toulouse/...); the folder given itself is just where files are kept.
    if root is None:
        return ""
    try:
        relative = file.parent.relative_to(root)
    except ValueError:
        return ""
    return relative.parts[0] if relative.parts else ""


def _normalise_date(value: str) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    if len(value) in (4, 7, 10) and value[:4].isdigit():
        return value
    return parse_date(value)


def _first_found(candidates: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """The first non-empty ``(value, origin)``, or ``("", "")``."""
    for value, origin in candidates:
        if value:
            return value, origin
    return "", ""


def build_document(
    extracted: Extracted,
    *,
    doc_id: str,
    source: str,
    issuer_fallback: str = "",
    fallback_origin: str = "flag",
) -> Document:
    """Fill whatever the format did not give from the text itself, and record how each field was found.

    Title: the file's (a heading, HTML/PDF/DOCX title, JSONL field), else the first sentence
    (``derived``). Issuer: the file's, else a ``From:`` line, an opening byline "(OFS) –" or a
    press-service signature (``text``), else the organisation speaking in the first sentence (``speaker``), else
    ``issuer_fallback`` (the ``--issuer`` option or the sub-folder: ``fallback_origin``).
    Nothing else is guessed: a field not found stays empty.
    """
    text = extracted.text
    lang, lang_origin = _first_found([
        (extracted.lang if extracted.lang in ("fr", "en") else "", "file"),
        (detect_language(text)[0], "detected"),
    ])
    title, title_origin = _first_found([(extracted.title, "file"), (derive_title(text), "derived")])
    date, date_origin = _first_found([
        (_normalise_date(extracted.date), "file"),
        (find_publication_date(text, extracted.title), "text"),
    ])
    issuer, issuer_origin = _first_found([
        (extracted.issuer, "file"),
        (find_from_line(text) or find_byline(text) or find_issuer(text), "text"),
        (find_speaker(text), "speaker"),
        (issuer_fallback, fallback_origin),
    ])
    origin = {name: how for name, how in (("title", title_origin), ("date", date_origin),
                                          ("issuer", issuer_origin), ("lang", lang_origin)) if how}
    return Document(doc_id=doc_id, text=text, title=title, date=date, issuer=issuer, lang=lang,
                    url=extracted.url, source=source, origin=origin, release_id=extracted.release_id)


def read_documents(paths: Iterable[str | os.PathLike], *, issuer: str = "", progress=None) -> ReadReport:
    """Read every supported file under ``paths`` (folders are walked recursively).

    ``issuer`` is used for documents whose text names no issuer (before the sub-folder name).
    ``progress`` is called once per file with its path (e.g. a progress bar's update).

    Example:
        >>> report = read_documents(["samples/communiques"])  # doctest: +SKIP
        >>> [doc.lang for doc in report.documents]             # doctest: +SKIP
        ['fr', 'fr', 'en', 'en']
    """
    report = ReadReport()
    for file, root in iter_files(paths):
        report.files_seen += 1
        if progress is not None:
            progress(file)
        suffix = file.suffix.lower()
        if not file.exists():
            report.problems.append(Problem(str(file), "no such file or folder"))
            continue
        if suffix not in SUPPORTED_SUFFIXES:
            if root is None:
                report.problems.append(Problem(str(file), f"unsupported file type '{suffix or file.name}' (supported: {', '.join(SUPPORTED_SUFFIXES)})"))
            else:
                report.ignored.append(str(file))
            continue
        fallback, fallback_origin = (issuer, "flag") if issuer else (_issuer_from_folder(file, root), "folder")
        source = str(file.resolve())
        try:
            if suffix == ".jsonl":
                for item in iter_jsonl(file):
                    if isinstance(item, JsonlProblem):
                        report.problems.append(Problem(f"{file}:{item.line_number}", item.reason))
                        continue
                    doc_id = item.doc_id or f"{file.stem}-{item.line_number}"
                    report.add(build_document(item, doc_id=doc_id, source=source, issuer_fallback=fallback,
                                                               fallback_origin=fallback_origin))
            else:
                extracted = parse_isolated(file) if suffix in SANDBOXED_SUFFIXES else READERS[suffix](file)
                report.add(build_document(extracted, doc_id=file.stem, source=source, issuer_fallback=fallback,
                                                   fallback_origin=fallback_origin))
        except LoadError as exc:
            report.problems.append(Problem(str(file), exc.reason))
        except Exception as exc:  # a parser library failing on a malformed file must not stop the batch
            report.problems.append(Problem(str(file), f"could not be parsed ({type(exc).__name__}: {exc})"))
    return report
