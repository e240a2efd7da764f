"""Find a communiqué's title, publication date and issuer in its text.

Only what is written is extracted: a field that cannot be found stays empty and is reported by
the caller; nothing is guessed. Dates become ISO 8601 (``2021-02-02``, or ``2021-02`` when only the
month is given).
"""

from __future__ import annotations

import re
import unicodedata

FRENCH_MONTHS = {
    "janvier": 1, "février": 2, "fevrier": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6,
    "juillet": 7, "août": 8, "aout": 8, "septembre": 9, "octobre": 10, "novembre": 11,
    "décembre": 12, "decembre": 12,
}
ENGLISH_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
}
_FR_MONTH = "|".join(sorted(FRENCH_MONTHS, key=len, reverse=True))
_EN_MONTH = "|".join(sorted(ENGLISH_MONTHS, key=len, reverse=True))

# Ordered: the first pattern that matches at the earliest position wins.
_DATE_PATTERNS = [
    ("fr", re.compile(rf"\b(1er|\d{{1,2}})\s+({_FR_MONTH})\s+(\d{{4}})\b", re.IGNORECASE)),
    ("en_mdy", re.compile(rf"\b({_EN_MONTH})\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.IGNORECASE)),
    ("en_dmy", re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_EN_MONTH})\s+(\d{{4}})\b", re.IGNORECASE)),
    ("iso", re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")),
    ("iso_month", re.compile(r"\bdate[:\s]+(\d{4})-(\d{2})\b", re.IGNORECASE)),
]

# How far into a communiqué its publication date is looked for: dates further down are usually
# events the release talks about, not the day it was issued.
DATE_HEADER_CHARS = 600

_ISSUER_HEADERS = re.compile(
    r"^\W*(service de presse|contacts? (?:presse|médias?)|relations? (?:presse|médias)|"
    r"press (?:office|service|contacts?)|media (?:contacts?|relations|office)|"
    r"communiqué publié par|issued by|source\s*:)\b(.*)$",
    re.IGNORECASE | re.MULTILINE,
)
# Lines of a signature block that are contact details, not the issuer's name or address.
_CONTACT_LINE = re.compile(r"(@|https?://|www\.|\.fr\b|\.com\b|\.ch\b|\btél|\btel\b|\bphone\b|\+?\d[\d .]{7,})", re.IGNORECASE)

_GENERIC_HEADINGS = {"communiqué de presse", "communique de presse", "press release", "communiqué", "news release", "media release"}


def _valid_date(year: int, month: int, day: int | None = None) -> str:
    if not (1900 <= year <= 2100 and 1 <= month <= 12):
        return ""
    if day is None:
        return f"{year:04d}-{month:02d}"
    if not 1 <= day <= 31:
        return ""
    return f"{year:04d}-{month:02d}-{day:02d}"


def parse_date(text: str) -> str:
    """Return the earliest date written in ``text`` as ISO 8601, or ``""``.

    Example:
        >>> parse_date("Mardi 2 février 2021")
        '2021-02-02'
        >>> parse_date("February 2, 2021"), parse_date(" date 2021-02 La Ville"), parse_date("1er mars 2018")
        ('2021-02-02', '2021-02', '2018-03-01')
    """
    best: tuple[int, str] | None = None
    for kind, pattern in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            groups = match.groups()
            if kind == "fr":
                day = 1 if groups[0].lower() == "1er" else int(groups[0])
                iso = _valid_date(int(groups[2]), FRENCH_MONTHS[groups[1].lower()], day)
            elif kind == "en_mdy":
                iso = _valid_date(int(groups[2]), ENGLISH_MONTHS[groups[0].lower()], int(groups[1]))
            elif kind == "en_dmy":
                iso = _valid_date(int(groups[2]), ENGLISH_MONTHS[groups[1].lower()], int(groups[0]))
            elif kind == "iso":
                iso = _valid_date(int(groups[0]), int(groups[1]), int(groups[2]))
            else:
                iso = _valid_date(int(groups[0]), int(groups[1]))
            if iso and (best is None or match.start() < best[0]):
                best = (match.start(), iso)
            if iso:
                break
    return best[1] if best else ""


def find_publication_date(text: str, title: str = "") -> str:
    """The date in the communiqué's header (its first lines, title excluded), or ``""``.

    The title is left out because a headline often announces an event's date, not the release's.
    """
    header = text[:DATE_HEADER_CHARS + len(title)]
    if title:
        header = header.replace(title, " ", 1)
    return parse_date(header[:DATE_HEADER_CHARS])


def _clean_inline(text: str) -> str:
    text = re.sub(r"[*_]{2,}", "", text)
    return re.sub(r"\s+", " ", text).strip(" \t*_#")


def find_title(raw_text: str) -> str:
    """The first Markdown heading or bold line that is not a generic header or a date.

    Example:
        >>> find_title("COMMUNIQUÉ DE PRESSE\\n\\n**Signature d'une entente\\nentre A et B**\\n\\n**Mardi 2 février 2021**")
        "Signature d'une entente entre A et B"
    """
    candidates = []
    for match in re.finditer(r"^\s{0,3}#{1,3}\s+(.+)$", raw_text, re.MULTILINE):
        candidates.append((match.start(), match.group(1)))
    for match in re.finditer(r"\*\*(.+?)\*\*", raw_text, re.DOTALL):
        if len(match.group(1)) <= 300:
            candidates.append((match.start(), match.group(1)))
    for _, candidate in sorted(candidates):
        title = _clean_inline(candidate)
        if len(title) < 8 or title.lower() in _GENERIC_HEADINGS:
            continue
        if parse_date(title) and len(title) < 40:
            continue
        return title
    return ""


def find_issuer(text: str) -> str:
    """The issuer named in a press-service signature, e.g. ``Service de presse, Hôtel de Ville, ...``.

    Returns the signature's header plus the address lines that follow it (up to the first contact
    detail such as a phone number or web address), or ``""`` when the text has no such block.
    """
    for match in _ISSUER_HEADERS.finditer(text):
        header = _clean_inline(match.group(1) + match.group(2))
        if header.lower().startswith("source") and len(header) > 8:
            return header.split(":", 1)[1].strip() or ""
        parts = [header.rstrip(":")]
        following = text[match.end():].split("\n")
        for line in following[1:6]:
            line = _clean_inline(line)
            if not line:
                if len(parts) > 1:
                    break
                continue
            if _CONTACT_LINE.search(line) and not re.match(r"^\d{5}\s+\w", line):
                break
            parts.append(line)
            if len(parts) >= 4:
                break
        if len(parts) > 1 or len(parts[0]) > 20:
            return ", ".join(parts)
    return ""


def strip_markup(raw_text: str) -> str:
    """Plain text from lightly marked-up text (.txt/.md): emphasis, heading marks and link syntax go.

    Quotes are later checked verbatim against this text, so it must read as prose.
    """
    text = unicodedata.normalize("NFC", raw_text.replace("\r\n", "\n").replace("\r", "\n"))
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"^\s{0,3}#{1,6}\s+", "", text, flags=re.MULTILINE)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text, flags=re.DOTALL)
    text = re.sub(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])", r"\1", text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()
