"""Split a :class:`~ingest.Document` into :class:`Chunk` passages with exact character offsets.

Sizes: multilingual-e5-small reads at most 512 tokens; 800 characters of French or English is
about 200 tokens, which leaves room for the title that is prefixed to what is embedded and keeps
a passage focused enough to quote. Passages shorter than ``min_chars`` (typically a headline or a
dateline alone) are merged into their neighbour: a headline alone as a chunk makes headline
queries look easy and real questions harder (see MODELS.md).
"""

from __future__ import annotations

from functools import lru_cache

from ingest import Document

from .types import Chunk

CHUNK_SIZE = 800
CHUNK_OVERLAP = 120
MIN_CHUNK_CHARS = 200


@lru_cache(maxsize=8)
def _splitter(chunk_size: int, chunk_overlap: int):
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        separators=["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""],
        keep_separator="end",
        add_start_index=True,
        strip_whitespace=True,
    )


def _locate(text: str, piece: str, hint: int) -> int:
    """Offset of ``piece`` in ``text`` at or near ``hint`` (the splitter's own index can drift on repeats)."""
    if text.startswith(piece, hint):
        return hint
    found = text.find(piece, max(0, hint - CHUNK_OVERLAP * 2))
    if found < 0:
        found = text.find(piece)
    if found < 0:
        raise ValueError("splitter returned text that is not in the document")
    return found


def embed_text_for(doc: Document, passage: str) -> str:
    """What is embedded for a passage: the title gives each passage its document's context.

    A title derived from the first sentence is not prefixed: it only repeats the text.
    """
    title = doc.stated("title")
    if title and not passage.startswith(title[:60]):
        return f"{title}\n{passage}"
    return passage


def chunk_document(
    doc: Document,
    chunk_size: int = CHUNK_SIZE,
    chunk_overlap: int = CHUNK_OVERLAP,
    min_chars: int = MIN_CHUNK_CHARS,
) -> list[Chunk]:
    """Split ``doc`` into passages; every chunk's text is ``doc.text[char_start:char_end]``.

    Example:
        >>> doc = Document(doc_id="d", text="Premier paragraphe.\\n\\n" + "Une phrase assez longue. " * 60)
        >>> chunks = chunk_document(doc)
        >>> all(doc.text[c.char_start:c.char_end] == c.text for c in chunks)
        True
    """
    pieces = _splitter(chunk_size, chunk_overlap).create_documents([doc.text])
    spans: list[tuple[int, int]] = []
    for piece in pieces:
        start = _locate(doc.text, piece.page_content, int(piece.metadata.get("start_index", 0)))
        spans.append((start, start + len(piece.page_content)))

    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and (merged[-1][1] - merged[-1][0] < min_chars):
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    if len(merged) > 1 and merged[-1][1] - merged[-1][0] < min_chars:
        last = merged.pop()
        merged[-1] = (merged[-1][0], max(merged[-1][1], last[1]))

    chunks = []
    for ordinal, (start, end) in enumerate(merged):
        text = doc.text[start:end]
        chunks.append(
            Chunk(
                chunk_id=f"{doc.doc_id}#{ordinal}",
                doc_id=doc.doc_id,
                ordinal=ordinal,
                char_start=start,
                char_end=end,
                text=text,
                embed_text=embed_text_for(doc, text),
            )
        )
    return chunks
