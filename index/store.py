"""The index on disk: plain files, written atomically, never pickled.

Layout of an index directory::

    manifest.json            format, generation in use, embedder fingerprint, versions, counts
    gen-000003/
        documents.jsonl      one Document per line (full text, so quotes can be verified)
        chunks.jsonl         one Chunk per line, row i = vector i
        embeddings.npy       raw L2-normalised document vectors (float32, allow_pickle=False)
        vectors.faiss        the searchable FAISS index (centred vectors, see retrieval.py)
        centring.json        the per-language mean vectors used for centring
        releases.json        language versions of one release, linked (see versions.py)

A write builds a complete new ``gen-*`` folder beside the current one, syncs it to disk, then
replaces ``manifest.json`` with ``os.replace`` (atomic on POSIX). A crash or a full disk at any
point before that leaves the manifest pointing at the previous, intact generation. The generation
replaced is kept (``previous_generation``): if the current one is ever found damaged, readers
fall back to it with a warning until ``porteparole ingest --rebuild`` writes a new one.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingest import Document

from .errors import IndexCorruptError, IndexLockedError, IndexNotFoundError
from .types import Chunk
from .versions import Release

FORMAT = "porteparole-index/1"
MANIFEST = "manifest.json"


@dataclass
class StoredIndex:
    """Everything one generation holds, loaded in memory."""

    manifest: dict
    documents: dict[str, Document]
    chunks: list[Chunk]
    embeddings: np.ndarray
    centring: dict[str, list[float]]
    #: None when the store searches the vectors itself (see ``dense_in_sql``).
    faiss_index: object | None
    #: Language versions linked when the generation was written; None for a generation written
    #: before links existed (they are then found when it is opened).
    releases: list[Release] | None = None


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries (after a rename), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_jsonl(path: Path, rows) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _write_json(path: Path, value) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle, ensure_ascii=False)
        handle.flush()
        os.fsync(handle.fileno())


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise IndexCorruptError(f"{path} line {number} is not valid JSON ({exc.msg})") from exc
    return rows


def read_manifest(index_dir: Path) -> dict:
    path = Path(index_dir) / MANIFEST
    if not path.exists():
        raise IndexNotFoundError(
            f"No index at {index_dir} (no {MANIFEST}). Create one with: porteparole ingest PATH --index {index_dir}"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexCorruptError(f"{path} is unreadable ({exc}); rebuild the index with porteparole ingest") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexCorruptError(f"{path} is not a Porte-parole index manifest (expected format {FORMAT})")
    generation = manifest.get("generation")
    if not isinstance(generation, str) or not generation.startswith("gen-") or "/" in generation:
        raise IndexCorruptError(f"{path} names no valid generation folder (got {generation!r}); "
                                f"rebuild with: porteparole ingest --rebuild --index {index_dir}")
    return manifest


def load_generation(index_dir: Path, manifest: dict, generation: str) -> StoredIndex:
    """One generation folder, checked for consistency; any problem is an :class:`IndexCorruptError`."""
    import faiss

    gen_dir = index_dir / generation
    reading = "documents.jsonl"  # named in the error: which file is damaged
    try:
        documents = {row["doc_id"]: Document.from_dict(row) for row in _read_jsonl(gen_dir / reading)}
        reading = "chunks.jsonl"
        chunks = [Chunk.from_dict(row) for row in _read_jsonl(gen_dir / reading)]
        reading = "embeddings.npy"
        embeddings = np.load(gen_dir / reading, allow_pickle=False)
        reading = "centring.json"
        centring = json.loads((gen_dir / reading).read_text(encoding="utf-8"))
        reading = "vectors.faiss"
        faiss_index = faiss.read_index(str(gen_dir / reading))
        reading = "releases.json"
        releases = None
        if (gen_dir / reading).exists():
            rows = json.loads((gen_dir / reading).read_text(encoding="utf-8"))["releases"]
            releases = [Release.from_dict(row) for row in rows]  # a malformed link raises here
    except IndexCorruptError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexCorruptError(
            f"Index generation {gen_dir} is damaged: {reading} ({type(exc).__name__}: {str(exc).strip()[:300]}); "
            f"rebuild it with: porteparole ingest --rebuild --index {index_dir}"
        ) from exc
    if not (len(chunks) == embeddings.shape[0] == faiss_index.ntotal):
        raise IndexCorruptError(
            f"Index {gen_dir} is inconsistent: {len(chunks)} chunks, {embeddings.shape[0]} embeddings, "
            f"{faiss_index.ntotal} vectors; rebuild it with: porteparole ingest --rebuild --index {index_dir}"
        )
    orphans = {chunk.doc_id for chunk in chunks} - documents.keys()
    if orphans:
        raise IndexCorruptError(f"Index {gen_dir} has chunks of unknown documents: {sorted(orphans)[:3]}")
    unknown = {doc_id for release in releases or () for doc_id in release.doc_ids} - documents.keys()
    if unknown:
        raise IndexCorruptError(f"Index {gen_dir} has a damaged releases.json (links unknown documents: "
                                f"{sorted(unknown)[:3]}); rebuild it with: porteparole ingest --rebuild --index {index_dir}")
    return StoredIndex({**manifest, "generation": generation}, documents, chunks, embeddings, centring, faiss_index,
                       releases)


def load(index_dir: Path) -> StoredIndex:
    """Load the current generation; when it is damaged, the previous one, with a warning.

    A writer may switch generations while this reads: when the current generation cannot be
    read, the manifest is read again and a newer generation is tried before anything is called
    damaged. Raises :class:`IndexCorruptError` when neither generation can be used.
    """
    index_dir = Path(index_dir)
    for _ in range(3):
        manifest = read_manifest(index_dir)
        try:
            return load_generation(index_dir, manifest, manifest["generation"])
        except IndexCorruptError as exc:
            damaged = exc
        if read_manifest(index_dir)["generation"] != manifest["generation"]:
            continue  # a writer switched meanwhile: read the new one
        previous = manifest.get("previous_generation")
        if previous and (index_dir / previous).is_dir():
            try:
                stored = load_generation(index_dir, manifest, previous)
            except IndexCorruptError:
                raise damaged from None
            print(f"porteparole: warning: {damaged} Using the previous generation ({previous}, "
                  f"{len(stored.documents)} documents) until then.", file=sys.stderr)
            stored.manifest["damaged_generation"] = manifest["generation"]
            return stored
        raise damaged
    raise IndexCorruptError(f"Index {index_dir} kept changing while being read; try again")


#: How long a writer waits for another one (a chat upload behind a night's CLI ingest) before
#: giving up with :class:`IndexLockedError`.
LOCK_WAIT_SECONDS = 900.0


def wait_for_turn(try_lock, where: str, wait_seconds: float | None = None) -> None:
    """Call ``try_lock()`` (True once the lock is held) until it succeeds; say once that another
    writer is being waited for, and give up with :class:`IndexLockedError` after ``wait_seconds``.
    Shared by the folder's file lock and PostgreSQL's advisory lock."""
    wait_seconds = LOCK_WAIT_SECONDS if wait_seconds is None else wait_seconds
    deadline, told = time.monotonic() + wait_seconds, False
    while not try_lock():
        if time.monotonic() >= deadline:
            raise IndexLockedError(f"Another process has been writing to {where} for over "
                                   f"{wait_seconds:.0f} s; try again when it has finished")
        if not told:
            print(f"porteparole: waiting for another writer to finish with {where}…", file=sys.stderr)
            told = True
        time.sleep(0.2)


@contextmanager
def write_lock(index_dir: Path, wait_seconds: float | None = None):
    """Exclusive writer lock: two writers to the same index take turns (the second waits).

    Each writer re-reads the current generation once it holds the lock (``Index._catch_up``),
    so nothing the first one wrote is lost.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    handle = open(index_dir / ".lock", "w")

    def try_lock() -> bool:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    try:
        wait_for_turn(try_lock, str(index_dir), wait_seconds)
        yield
    finally:
        handle.close()


def _next_generation(index_dir: Path) -> str:
    numbers = [int(p.name[4:]) for p in index_dir.glob("gen-*") if p.name[4:].isdigit()]
    return f"gen-{max(numbers, default=0) + 1:06d}"


def save(
    index_dir: Path,
    *,
    documents: list[Document],
    chunks: list[Chunk],
    embeddings: np.ndarray,
    centring: dict[str, list[float]],
    faiss_index,
    releases: list[Release],
    manifest_fields: dict,
    keep_generation: str | None = None,
) -> dict:
    """Write a new generation and switch the manifest to it atomically; return the new manifest.

    Call inside :func:`write_lock`. ``keep_generation`` (the generation the data was read from,
    known to be readable) is kept as the fallback; older ones are removed after the switch.
    """
    import faiss

    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    generation = _next_generation(index_dir)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=index_dir))
    os.chmod(staging, 0o755)  # mkdtemp makes it private; the index is meant to be shared read-only
    try:
        _write_jsonl(staging / "documents.jsonl", (doc.to_dict() for doc in documents))
        _write_jsonl(staging / "chunks.jsonl", (chunk.to_dict() for chunk in chunks))
        with open(staging / "embeddings.npy", "wb") as handle:
            np.save(handle, np.ascontiguousarray(embeddings, dtype=np.float32), allow_pickle=False)
            handle.flush()
            os.fsync(handle.fileno())
        _write_json(staging / "centring.json", centring)
        _write_json(staging / "releases.json", {"releases": [release.to_dict() for release in releases]})
        faiss.write_index(faiss_index, str(staging / "vectors.faiss"))
        _fsync(staging / "vectors.faiss")
        _fsync(staging)
        os.rename(staging, index_dir / generation)
        _fsync(index_dir)

        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        previous = {}
        try:
            previous = read_manifest(index_dir)
        except (IndexNotFoundError, IndexCorruptError):
            pass
        # The generation the new one was made from stays on disk, as the fallback if this one is damaged.
        kept = keep_generation if keep_generation and (index_dir / keep_generation).is_dir() else None
        manifest = {
            "format": FORMAT,
            "generation": generation,
            "previous_generation": kept,
            "created_at": previous.get("created_at", now),
            "updated_at": now,
            **manifest_fields,
        }
        tmp_manifest = index_dir / (MANIFEST + ".tmp")
        with open(tmp_manifest, "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_manifest, index_dir / MANIFEST)
        _fsync(index_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if not (index_dir / MANIFEST).exists() or read_manifest(index_dir).get("generation") != generation:
            shutil.rmtree(index_dir / generation, ignore_errors=True)
        (index_dir / (MANIFEST + ".tmp")).unlink(missing_ok=True)
        raise
    for old in index_dir.glob("gen-*"):
        if old.name not in (generation, manifest["previous_generation"]):
            shutil.rmtree(old, ignore_errors=True)
    return manifest


def is_database_url(location) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) location, false for a folder path."""
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


class LocalStore:
    """The embedded store: a folder of plain files (this module's layout). Nothing to install.

    Every store offers the same few operations to :class:`index.Index`: ``read_manifest``,
    ``load``, ``write_lock``, ``save`` and ``current_generation``; see also
    :class:`index.postgres.PostgresStore`.
    """

    kind = "local"

    def __init__(self, index_dir: str | os.PathLike) -> None:
        self.index_dir = Path(index_dir)

    @property
    def display(self) -> str:
        """How to name this index in messages."""
        return str(self.index_dir)

    @property
    def uploads_dir(self) -> Path:
        """Where the chat keeps uploaded files (their paths are the documents' sources)."""
        return self.index_dir / "uploads"

    def read_manifest(self) -> dict:
        return read_manifest(self.index_dir)

    def dense_in_sql(self, n_chunks: int) -> bool:
        """A folder is always searched in memory (its FAISS index is stored with it)."""
        return False

    def load(self) -> StoredIndex:
        return load(self.index_dir)

    def current_generation(self) -> str | None:
        """The generation the manifest names now (None when there is no index): a cheap check
        that tells a long-running server another process wrote to the index."""
        try:
            return read_manifest(self.index_dir)["generation"]
        except (IndexNotFoundError, IndexCorruptError):
            return None

    def write_lock(self, wait_seconds: float | None = None):
        return write_lock(self.index_dir, wait_seconds)

    def save(self, *, changed: set[str] = frozenset(), **parts) -> dict:
        """Write a whole new generation (``changed``, the doc_ids re-chunked, matters to stores
        that write documents one by one)."""
        return save(self.index_dir, **parts)


def open_store(location):
    """The store for ``location``: a ``postgresql://`` URL opens :class:`index.postgres.PostgresStore`,
    anything else is a folder (:class:`LocalStore`). A store passes through unchanged.

    Example:
        >>> open_store("sample-index").kind
        'local'
    """
    if isinstance(location, LocalStore) or hasattr(location, "current_generation"):
        return location
    if is_database_url(location):
        from .postgres import PostgresStore

        return PostgresStore(location)
    return LocalStore(location)
