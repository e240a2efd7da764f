"""Errors for reading communiqués. :class:`PorteParoleError` is the root of every error the project raises."""

from __future__ import annotations


class PorteParoleError(Exception):
    """Root of all errors raised by Porte-parole; catch it to handle any of them."""


class LoadError(PorteParoleError):
    """A file could not be read as a communiqué (unreadable, binary, empty, wrong encoding...)."""

    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason

    def __reduce__(self):
        # Raised in the parsing worker process and re-raised here: it must survive pickling.
        return type(self), (self.source, self.reason)
