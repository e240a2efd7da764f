"""Errors raised by the index, each saying what the user can do about it."""

from __future__ import annotations

from ingest.errors import PorteParoleError


class IndexError_(PorteParoleError):
    """Base class for index errors (named with a trailing underscore to leave the builtin alone)."""


class IndexNotFoundError(IndexError_, FileNotFoundError):
    """No index at the given directory."""


class IndexCorruptError(IndexError_):
    """The index files are unreadable or inconsistent."""


class EmbedderMismatchError(IndexError_):
    """The index was built with a different embedding model than the one in use."""


class IndexLockedError(IndexError_):
    """Another process is writing to the index."""


class InvalidQueryError(IndexError_, ValueError):
    """A search argument is invalid (empty query, bad k, malformed date filter...)."""
