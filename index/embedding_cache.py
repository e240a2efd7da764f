"""A persistent cache of passage vectors keyed by the embedder's fingerprint and the text's hash.

Embedding is the expensive part of ingesting (≈ 10 passages/s on 2 cores). Vectors are saved
here as each batch is done, so an ingest that crashes or is interrupted resumes where it stopped,
and a passage that reappears (a re-issued communiqué, a moved file) is never embedded twice.
It is only a cache: if it is damaged it is set aside and rebuilt, never trusted blindly.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    """Where expensive artefacts (embeddings, assembled and converted models) are kept between runs.

    ``PORTEPAROLE_CACHE`` wins; else ``$XDG_CACHE_HOME/porteparole``; else ``~/.cache/porteparole``.
    """
    explicit = os.environ.get("PORTEPAROLE_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "porteparole"


def default_cache_path() -> Path:
    """One cache for every index on this machine: a passage embedded once is never embedded again."""
    return cache_dir() / "embeddings.sqlite"


class EmbeddingCache:
    def __init__(self, path: Path, fingerprint: str, dim: int) -> None:
        self.fingerprint = fingerprint
        self.dim = dim
        self._memory: dict[str, np.ndarray] = {}
        self._db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._connect(path)
        except (sqlite3.DatabaseError, OSError):
            try:
                path.rename(path.with_suffix(".damaged"))
                self._db = self._connect(path)
            except (sqlite3.DatabaseError, OSError):
                self._db = None  # work without a disk cache rather than fail the ingest

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE IF NOT EXISTS vectors (fingerprint TEXT, text_hash TEXT, vector BLOB, PRIMARY KEY (fingerprint, text_hash))")
        db.execute("SELECT count(*) FROM vectors").fetchone()
        return db

    def remember(self, text_hash: str, vector: np.ndarray) -> None:
        """Make a vector known for this run only (vectors already stored in the index)."""
        self._memory[text_hash] = vector

    def get(self, text_hash: str) -> np.ndarray | None:
        if text_hash in self._memory:
            return self._memory[text_hash]
        if self._db is None:
            return None
        row = self._db.execute(
            "SELECT vector FROM vectors WHERE fingerprint = ? AND text_hash = ?", (self.fingerprint, text_hash)
        ).fetchone()
        if row is None or len(row[0]) != self.dim * 4:
            return None
        return np.frombuffer(row[0], dtype=np.float32).copy()

    def put(self, text_hash: str, vector: np.ndarray) -> None:
        if self._db is None:
            return
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                (self.fingerprint, text_hash, np.asarray(vector, dtype=np.float32).tobytes()),
            )
        except sqlite3.Error:
            pass  # a full disk must not stop the ingest; the index write itself will report it

    def commit(self) -> None:
        if self._db is not None:
            try:
                self._db.commit()
            except sqlite3.Error:
                pass

    def close(self) -> None:
        if self._db is not None:
            self.commit()
            self._db.close()
            self._db = None
