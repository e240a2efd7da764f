"""Files on disk → an up-to-date index: read with :mod:`ingest`, then :meth:`Index.update`."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from ingest import Problem, ReadReport, apply_metadata, read_documents

from .embedders import Embedder
from .index import Index, UpdateReport


@dataclass
class IngestResult:
    read: ReadReport
    update: UpdateReport
    index: Index

    @property
    def ok(self) -> bool:
        """False when any file or record was skipped (the CLI then exits non-zero)."""
        return not self.read.problems


def ingest_paths(
    paths: Iterable[str | os.PathLike],
    index_dir: str | os.PathLike,
    *,
    issuer: str = "",
    prune: bool = False,
    embedder: Embedder | None = None,
    progress: bool = True,
    metadata: dict[str, dict[str, str]] | None = None,
    added_by: str = "",
) -> IngestResult:
    """Read communiqués under ``paths`` and bring the index at ``index_dir`` up to date.

    Bad files are reported in ``result.read.problems`` and never stop the batch; what was already
    indexed is kept. Unchanged files cost no embedding. ``metadata`` (``doc_id -> {field: value}``,
    see :func:`ingest.read_metadata_csv`) sets fields of the documents read or already indexed;
    ``paths`` may then be empty. ``added_by`` (an upload's user) is recorded with the time in
    each document read.

    Example:
        >>> from index import ingest_paths
        >>> result = ingest_paths(["samples/communiques"], "sample-index")   # doctest: +SKIP
        >>> len(result.update.added), result.read.problems                    # doctest: +SKIP
        (4, [])
    """
    paths = [Path(p) for p in paths]
    index = Index.open_or_create(index_dir, embedder)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(desc="Reading files", unit="file", file=sys.stderr)
    try:
        report = read_documents(paths, issuer=issuer, progress=(lambda _path: bar.update(1)) if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    if added_by:
        added_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        report.documents = [replace(doc, added_by=added_by, added_at=added_at) for doc in report.documents]
    metadata = dict(metadata or {})
    report.documents = [apply_metadata(doc, metadata.pop(doc.doc_id, {})) for doc in report.documents]
    read_sources = {doc.source for doc in report.documents}
    update = index.update(report.documents, prune=prune, read_sources=read_sources, progress=progress)
    if metadata:  # the rest of the file is for documents indexed earlier
        stored = index.set_metadata(metadata, progress=progress)
        update.updated += stored.updated
        report.problems += [Problem(f"metadata for {doc_id}", "no document with this doc_id in the index")
                            for doc_id in stored.unknown]
    return IngestResult(report, update, index)
