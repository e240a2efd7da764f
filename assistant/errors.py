"""Errors a caller of the assistant can cause or meet, each with a message that says what to do."""

from __future__ import annotations

from ingest.errors import PorteParoleError


class AssistantError(PorteParoleError):
    """Base class for errors raised by :mod:`assistant`."""


class InvalidQuestionError(AssistantError, ValueError):
    """The question is empty, too long, or not text."""


class ModelFileError(AssistantError):
    """The generator's model file is missing, incomplete or fails its checksum."""


class GeneratorUnavailableError(AssistantError):
    """The requested generator cannot run on this machine (e.g. its model cannot be loaded)."""
