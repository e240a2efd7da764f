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
    r"^\W*(service de presse|contacts? (?:presse|médias?)|relations? (?:presse|médias|avec les médias)|"
    r"press (?:office|service|contacts?)|media (?:contacts?|relations|office)|"
    r"communiqué publié par|issued by|source\s*:)\b(.*)$",
    re.IGNORECASE | re.MULTILINE,
)
# A text repeating "Service de presse" lines is not a communiqué with that many signatures:
# looking at a few keeps the search linear.
MAX_ISSUER_HEADERS = 20
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
    for examined, match in enumerate(_ISSUER_HEADERS.finditer(text)):
        if examined >= MAX_ISSUER_HEADERS:
            break
        header = _clean_inline(match.group(1) + match.group(2))
        if header.lower().startswith("source") and len(header) > 8:
            return header.split(":", 1)[1].strip() or ""
        parts = [header.rstrip(":")]
        following = text[match.end():match.end() + 2000].split("\n")
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
    # Every pattern here is linear in the text: a link's text stops at the next bracket and its
    # target at the next parenthesis or space ("[a" * 20,000 took seconds with unbounded ones).
    text = re.sub(r"\[([^\[\]\n]{0,500})\]\([^()\s]{0,2000}\)", r"\1", text)
    text = re.sub(r"^\s{0,3}#{1,6}\s+", "", text, flags=re.MULTILINE)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text, flags=re.DOTALL)
    text = re.sub(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])", r"\1", text)
    text = strip_line_ends(text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def strip_line_ends(text: str) -> str:
    r"""Spaces, tabs and no-break spaces at the ends of lines removed, in linear time.

    (``re.sub(r"[ \t]+\n", ...)`` retries at every space of a long run without a newline: a
    million spaces took minutes.)

    Example:
        >>> strip_line_ends("a  \nb\t\n c")
        'a\nb\n c'
    """
    return "\n".join(line.rstrip(" \t\u00a0") for line in text.split("\n"))


# --------------------------------------------------------------------------- inferred metadata
#: How far into a communiqué the speaking organisation and a ``From:`` line are looked for.
SPEAKER_SCAN_CHARS = 1500
#: A derived title is cut at a word boundary before this many characters.
DERIVED_TITLE_CHARS = 100

_FROM_LINE = re.compile(r"^[ \t]*(?:from|de|exp[ée]diteur)[ \t]*:[ \t]*(.{3,150}?)[ \t]*$", re.IGNORECASE | re.MULTILINE)
_EMAIL = re.compile(r"<?[\w.+-]+@[\w-]+(?:\.[\w-]+)+>?")

# Nouns that head an organisation's name, in French and English.
_ORG_HEADS = (
    "Ville|Mairie|Commune|Municipalité|Métropole|Région|Département|Préfecture|Conseil|Office|Secrétariat|"
    "Ministère|Gouvernement|Commission|Agence|Autorité|Institut|Université|Laboratoire|Banque|Fédération|"
    "Association|Chambre|Direction|Administration|Service|Société|Groupe|Fondation|Parlement|Assemblée|"
    "City|Town|Municipality|Council|Office|Secretariat|Ministry|Department|Government|Commission|Agency|"
    "Authority|Institute|University|Laboratory|Bank|Federation|Association|Chamber|Administration|"
    "Foundation|Parliament|Assembly|Board|Police|Court|Tribunal"
)
# Verbs of announcing and deciding, as a communiqué's issuer uses them of itself.
_SPEAKS = (
    r"(?:a|ont|has|have)\s+(?:annoncé|décidé|adopté|approuvé|présenté|publié|lancé|nommé|désigné|"
    r"informé|confirmé|signé|pris acte|mis en consultation|"
    r"announced|decided|adopted|approved|presented|published|launched|appointed|confirmed|signed|"
    r"taken note|opened|welcomed|salué)\b"
    r"|(?:annonce|décide|adopte|approuve|présente|publie|lance|informe|communique|"
    r"announced|decided|adopted|approved|presented|published|launched|appointed|announces|decides|"
    r"adopts|approves|presents|publishes|launches|informs|welcomes|salue)\b"
)
# "<Org head> <name words, at most 8> [(ACRONYM)] [,] <announcing verb>"; every repetition is
# bounded, so the search stays linear in the scanned text.
_NOT_IN_A_NAME = (
    r"a|ont|has|have|had|is|was|are|were|est|sont|sera|will|would|va|said|says|dit|that|which|who|qui|que|"
    r"dont|with|avec|to|in|on|en|sur|dans|at|au|aux|par|by|after|après|since|depuis|when|lorsque|today|"
    r"aujourd'hui|yesterday|hier"
)
# "[Adjectives] <Org head> <name words, at most 8> [(ACRONYM)] [,] <announcing verb>"; every
# repetition is bounded, so the search stays linear in the scanned text.
# The start of an organisation's name: up to three capitalised words, then its head noun.
_ORG_START = rf"(?:[A-ZÀ-Ý][\w’-]*[ \t]+){{0,3}}(?<![\w])(?:{_ORG_HEADS})\b"
_SPEAKER = re.compile(
    rf"({_ORG_START}"
    rf"(?:[ \t]+(?:[A-ZÀ-Ý][\w'’-]*|(?:d['’]|l['’])?(?!(?:{_NOT_IN_A_NAME})\b)[a-zà-ÿ][\w'’-]*)){{0,8}}?)"
    rf"(?:[ \t]+\(([A-Z][A-Za-z]{{1,9}})\))?,?[ \t]+(?:{_SPEAKS})",
)
_LEADING_ARTICLE = re.compile(r"^(?:(?:la|le|les|l['’]|the|on|en|au|à|in)\s*)+", re.IGNORECASE)


def _organisation_name(matched: str) -> str:
    """A matched name without its leading article or sentence debris ("La Ville de…" → "Ville de…")."""
    return re.sub(r"^[^A-ZÀ-Ý]*", "", _LEADING_ARTICLE.sub("", matched.strip()))


# A byline that opens the text with the issuer's acronym: "(OFS) – Les indicateurs…",
# "Berne, 12.03.2019 (FSO) - The …".
_BYLINE = re.compile(r"^\W{0,3}(?:[A-ZÀ-Ý][\w .'’-]{0,40},[ \t]*[\d.]{6,10}[ \t]*)?\(([A-Z]{2,8})\)[ \t]*[-–—]")


def find_byline(text: str) -> str:
    """The issuer of a byline that opens the text with an acronym, spelled out where the text
    does ("l'Office fédéral de la statistique (OFS)"), else the acronym; ``""`` without a byline.

    Example:
        >>> find_byline("(OFS) – L'indice établi par l'Office fédéral de la statistique (OFS) a reculé.")
        'Office fédéral de la statistique (OFS)'
        >>> find_byline("(FSO) – Prices fell.")
        'FSO'
    """
    match = _BYLINE.match(text[:200])
    if not match:
        return ""
    acronym = match.group(1)
    spelled = re.search(rf"({_ORG_START}(?:[ \t]+[\w'’-]+){{0,8}}?)"
                        rf"[ \t]+\({acronym}\)", text[match.end():match.end() + SPEAKER_SCAN_CHARS])
    if not spelled:
        return acronym
    return f"{_organisation_name(spelled.group(1))} ({acronym})"


def find_from_line(text: str) -> str:
    """The sender of a ``From:`` / ``De :`` line in the communiqué's first lines, e-mail removed.

    Example:
        >>> find_from_line("From: Riverton Public Library <press@riverton.example>\\nSubject: Works")
        'Riverton Public Library'
    """
    match = _FROM_LINE.search(text[:SPEAKER_SCAN_CHARS])
    if not match:
        return ""
    name = _clean_inline(_EMAIL.sub("", match.group(1))).strip(" ,;<>\"'")
    return name if len(name) >= 3 and not _CONTACT_LINE.search(name) else ""


def find_speaker(text: str) -> str:
    """The organisation that speaks in the communiqué's first sentence, e.g. ``Ville de Montréal``
    in "La Ville de Montréal a annoncé…", with its acronym when given; ``""`` when none does.

    Only the first sentence: further down, the organisations that decide or announce are more
    often others (a parliament, the World Bank) than the issuer. On the dev Swiss releases (texts
    without signature blocks), 28 of 34 organisations found this way were the issuer; the whole
    lead gave 41 of 69.

    Example:
        >>> find_speaker("La Ville de Montréal a annoncé mardi la signature d'une entente.")
        'Ville de Montréal'
        >>> find_speaker("On 3 May, the Federal Council decided to open the consultation.")
        'Federal Council'
        >>> find_speaker("L'Office fédéral de la communication (OFCOM) a présenté une étude.")
        'Office fédéral de la communication (OFCOM)'
    """
    for match in _SPEAKER.finditer(first_sentence(text)):
        name = _organisation_name(match.group(1))
        # A trailing connector ("Council of the") or a head noun alone in lower-case use is no name.
        name = re.sub(r"(?:[ \t]+(?:de|du|des|d['’]|la|le|l['’]|et|of|the|and|for))+$", "", name)
        if len(name.split()) == 1 and name in ("Service", "Office", "Groupe", "Direction", "Board", "Court", "Police"):
            continue
        acronym = match.group(2)
        return f"{name} ({acronym})" if acronym else name
    return ""


def first_sentence(text: str) -> str:
    r"""The communiqué's first sentence, after any leading date or generic heading ("COMMUNIQUÉ DE PRESSE").

    Example:
        >>> first_sentence("COMMUNIQUÉ DE PRESSE\n\nMardi 2 février 2021\n\nLa Ville signe. Puis.")
        'La Ville signe.'
    """
    head = text[:SPEAKER_SCAN_CHARS]
    lines = [line.strip() for line in head.split("\n") if line.strip()]
    while lines and (lines[0].lower().strip(" :.") in _GENERIC_HEADINGS or (parse_date(lines[0]) and len(lines[0]) < 40)):
        lines.pop(0)
    prose = " ".join(lines)
    # A leading "date 2021-02" / "2 février 2021 –" is the release's date, not its subject.
    prose = re.sub(r"^\W*(?:date\W+)?(?:\d{4}-\d{2}(?:-\d{2})?|(?:1er|\d{1,2})\s+\w+\s+\d{4})\W+", "", prose, flags=re.IGNORECASE)
    return re.split(r"(?<=[.!?])\s+(?=[«\"A-ZÀ-Ý0-9])", prose, maxsplit=1)[0].strip()


def derive_title(text: str, max_chars: int = DERIVED_TITLE_CHARS) -> str:
    """A title made from the first sentence, cut at a word boundary (``…`` marks the cut).

    ``""`` for a text without a sentence of at least three words.

    Example:
        >>> derive_title(" date 2021-02 La Ville de Montréal a annoncé mardi la signature d'une entente. Suite.")
        "La Ville de Montréal a annoncé mardi la signature d'une entente."
    """
    sentence = first_sentence(text)
    if len(sentence.split()) < 3:
        return ""
    if len(sentence) <= max_chars:
        return sentence
    cut = sentence[:max_chars].rsplit(" ", 1)[0].rstrip(" ,;:–-")
    return cut + "…"
