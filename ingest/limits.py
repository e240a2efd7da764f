"""Caps on what one communiqué may bring into the index, so that one odd or hostile file cannot
fill every prompt and every card (a title of megabytes is prefixed to each of its passages).

A document over a cap is cut, never refused, and the cut is reported for that file.
"""

from __future__ import annotations

from dataclasses import replace

from .document import Document

MAX_TITLE_CHARS = 300
MAX_ISSUER_CHARS = 200
MAX_URL_CHARS = 2000
#: About 60 pages: a communiqué is one to five. Also bounds the passages of one document (≈ 300).
MAX_TEXT_CHARS = 200_000


def _cut_at_word(value: str, limit: int, mark: str = "…") -> str:
    cut = value[:limit].rsplit(None, 1)[0] if " " in value[:limit] else value[:limit]
    return cut.rstrip() + mark


def _cut_text(text: str, limit: int) -> str:
    # At the last paragraph or line break before the cap when there is one not too far back.
    head = text[:limit]
    for separator in ("\n\n", "\n", " "):
        at = head.rfind(separator)
        if at > limit * 0.9:
            return head[:at].rstrip()
    return head


def within_limits(doc: Document) -> tuple[Document, list[str]]:
    """``doc`` cut to the caps, and what was cut (``[]`` when nothing was).

    Example:
        >>> doc, cuts = within_limits(Document(doc_id="a", text="x", title="T" * 5000))
        >>> len(doc.title), cuts
        (301, ['title cut to 300 characters (was 5,000)'])
    """
    changes, cuts = {}, []
    for name, limit in (("title", MAX_TITLE_CHARS), ("issuer", MAX_ISSUER_CHARS)):
        value = getattr(doc, name)
        if len(value) > limit:
            changes[name] = _cut_at_word(value, limit)
            cuts.append(f"{name} cut to {limit} characters (was {len(value):,})")
    if len(doc.url) > MAX_URL_CHARS:
        changes["url"] = ""
        cuts.append(f"url dropped (longer than {MAX_URL_CHARS} characters)")
    if len(doc.text) > MAX_TEXT_CHARS:
        changes["text"] = _cut_text(doc.text, MAX_TEXT_CHARS)
        cuts.append(f"text cut to its first {len(changes['text']):,} characters (was {len(doc.text):,}); "
                    "split the file to index the rest")
    if not changes:
        return doc, []
    return replace(doc, **changes, content_hash=""), cuts
