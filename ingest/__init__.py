"""Files to :class:`Document` objects: loaders for .txt/.md/.html/.pdf/.docx/.jsonl and metadata extraction.

Example:
    >>> from ingest import read_documents
    >>> report = read_documents(["samples/communiques"])      # doctest: +SKIP
    >>> report.documents[0].title, report.problems             # doctest: +SKIP
"""

from .document import METADATA_FIELDS, ORIGINS, Document
from .errors import LoadError, PorteParoleError
from .language import SUPPORTED_LANGUAGES, detect_language
from .loaders import SUPPORTED_SUFFIXES
from .metadata import derive_title, find_issuer, find_publication_date, find_speaker, find_title, parse_date
from .overrides import MetadataFileError, apply_metadata, carry_over_set_fields, read_metadata_csv
from .reading import Problem, ReadReport, read_documents

__all__ = [
    "Document", "METADATA_FIELDS", "MetadataFileError", "ORIGINS", "apply_metadata", "carry_over_set_fields",
    "derive_title", "find_speaker", "read_metadata_csv", "LoadError", "PorteParoleError", "SUPPORTED_LANGUAGES",
    "SUPPORTED_SUFFIXES", "detect_language", "find_issuer", "find_publication_date", "find_title",
    "parse_date", "Problem", "ReadReport", "read_documents",
]
