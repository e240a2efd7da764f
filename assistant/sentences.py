"""Sentences with exact character offsets into their document's text."""

from __future__ import annotations

import re
from dataclasses import dataclass

from index import Hit

# A sentence ends at . ! ? … (optionally followed by a closing quote) before whitespace, or at a
# blank line. A single line break does not end one: headlines are often wrapped over two lines.
_BOUNDARY = re.compile(r"(?<=[.!?…])[»”\"')]*\s+|\n\s*\n")
# A full stop after these does not end a sentence ("le Prof. Ruedi Lüthy", "Dr. Smith", "M. Dupont").
_ABBREVIATION = re.compile(r"(?:^|[\s(])(Prof|Dr|Drs|M|Mme|Mmes|Mlle|Me|Mr|Mrs|Ms|St|Ste|No|Nr|art|al|cf|vol|env|resp|ca|approx|"
                           r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|janv|févr|avr|juil|sept|oct|nov|déc)\.$")
MIN_SENTENCE_CHARS = 25
MAX_SENTENCE_CHARS = 600


@dataclass(frozen=True)
class SourceSentence:
    """A sentence of a retrieved passage: ``document.text[char_start:char_end] == text``."""

    hit: Hit
    text: str
    char_start: int
    char_end: int

    @property
    def doc_id(self) -> str:
        return self.hit.doc_id


def split_with_offsets(text: str, base: int = 0) -> list[tuple[str, int, int]]:
    """Split ``text`` into sentences ``(sentence, start, end)``; offsets are ``base + index in text``.

    Example:
        >>> split_with_offsets("Première phrase. Seconde phrase !\\n\\nUn titre\\nsur deux lignes")
        [('Première phrase.', 0, 16), ('Seconde phrase !', 17, 33), ('Un titre\\nsur deux lignes', 35, 59)]
    """
    pieces = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.start() + len(match.group(0).rstrip())  # keep a closing quote with its sentence
        if "\n" not in match.group(0) and _ABBREVIATION.search(text[max(start, end - 12):end]):
            continue  # "Prof." is not the end of a sentence: the next piece joins this one
        if end > start:
            pieces.append((start, end))
        start = match.end()
    if start < len(text):
        pieces.append((start, len(text)))
    out = []
    for s, e in pieces:
        segment = text[s:e]
        lead = len(segment) - len(segment.lstrip())
        trail = len(segment.rstrip())
        if trail > lead:
            out.append((text[s + lead:s + trail], base + s + lead, base + s + trail))
    return out


def sentences_of_hits(hits: list[Hit]) -> list[SourceSentence]:
    """Sentences of the retrieved passages, each once even when passages overlap."""
    seen: set[tuple[str, int]] = set()
    sentences = []
    for hit in hits:
        for text, start, end in split_with_offsets(hit.chunk.text, hit.chunk.char_start):
            if len(text) < MIN_SENTENCE_CHARS or (hit.doc_id, start) in seen:
                continue
            seen.add((hit.doc_id, start))
            if len(text) > MAX_SENTENCE_CHARS:
                text, end = text[:MAX_SENTENCE_CHARS], start + MAX_SENTENCE_CHARS
            sentences.append(SourceSentence(hit, text, start, end))
    return sentences
