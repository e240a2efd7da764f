"""``porteparole check``: verify an index on disk, file by file, without changing it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import store
from .errors import IndexError_


@dataclass
class CheckReport:
    """What :func:`check_index` found: ``problems`` is empty for a sound index."""

    index_dir: str
    problems: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_index(index_dir: str | os.PathLike) -> CheckReport:
    """Check the manifest, the current generation (counts, document hashes, every chunk's offsets,
    vectors, FAISS size) and whether the previous generation is there to fall back to.

    Example:
        >>> report = check_index("sample-index")   # doctest: +SKIP
        >>> report.ok, report.facts["documents"]    # doctest: +SKIP
        (True, 4)
    """
    if store.is_database_url(index_dir):
        return _check_database(index_dir)
    index_dir = Path(index_dir)
    report = CheckReport(str(index_dir))
    try:
        manifest = store.read_manifest(index_dir)
    except IndexError_ as exc:
        report.problems.append(str(exc))
        return report
    generation = manifest["generation"]
    report.facts["generation"] = generation
    try:
        stored = store.load_generation(index_dir, manifest, generation)
    except IndexError_ as exc:
        report.problems.append(str(exc))
    else:
        _check_contents(stored, manifest, report)
    previous = manifest.get("previous_generation")
    if previous:
        try:
            store.load_generation(index_dir, manifest, previous)
            report.facts["fallback"] = f"{previous} (readable)"
        except IndexError_ as exc:
            report.facts["fallback"] = f"{previous} (not usable: {exc})"
    else:
        report.facts["fallback"] = "none"
    return report


def _check_database(url: str) -> CheckReport:
    """The same checks of the rows of a PostgreSQL index, read in one snapshot."""
    where = store.open_store(url)
    report = CheckReport(where.display)
    try:
        manifest = where.read_manifest()
        report.facts["generation"] = manifest["generation"]
        stored = where.load()
    except IndexError_ as exc:
        report.problems.append(str(exc))
        return report
    _check_contents(stored, manifest, report)
    report.facts["fallback"] = "none needed (each write is one transaction)"
    return report


def _check_contents(stored: store.StoredIndex, manifest: dict, report: CheckReport) -> None:
    documents, chunks = stored.documents, stored.chunks
    # A store that searches in SQL keeps no FAISS index: its vectors are the embeddings' rows.
    vectors = stored.faiss_index.ntotal if stored.faiss_index is not None else len(stored.embeddings)
    report.facts.update(documents=len(documents), chunks=len(chunks), vectors=int(vectors))
    counts = manifest.get("counts", {})
    if counts and (counts.get("documents"), counts.get("chunks")) != (len(documents), len(chunks)):
        report.problems.append(f"manifest counts {counts} differ from the files ({len(documents)} documents, {len(chunks)} chunks)")
    bad_hashes = [doc_id for doc_id, doc in documents.items() if doc.content_hash != doc.compute_hash()]
    if bad_hashes:
        report.problems.append(f"{len(bad_hashes)} documents whose text or metadata do not match their hash, "
                               f"e.g. {bad_hashes[:3]}")
    bad_offsets = [c.chunk_id for c in chunks
                   if c.doc_id in documents and documents[c.doc_id].text[c.char_start:c.char_end] != c.text]
    if bad_offsets:
        report.problems.append(f"{len(bad_offsets)} chunks whose text is not at their offsets, e.g. {bad_offsets[:3]}")
    dim = manifest.get("embedder", {}).get("dim")
    embeddings = stored.embeddings
    faiss_dim = stored.faiss_index.d if stored.faiss_index is not None else embeddings.shape[-1]
    if embeddings.ndim != 2 or (dim and embeddings.shape[1] != dim) or faiss_dim != embeddings.shape[1]:
        report.problems.append(f"vector sizes disagree: embeddings {embeddings.shape}, FAISS d={faiss_dim}, "
                               f"manifest dim={dim}")
    elif len(embeddings):
        norms = np.linalg.norm(embeddings, axis=1)
        broken = int(np.sum(~np.isfinite(norms) | (np.abs(norms - 1) > 1e-3)))
        if broken:
            report.problems.append(f"{broken} vectors are not unit-length finite vectors")
