"""When a question is about: the time expression it contains, read as a date range or as "the latest".

Press releases are dated, and a journalist's question often says when: "in 2019", "en mars 2020",
"since January 2021", "avant 2018", "between 2015 and 2018", "last year", "l'an dernier", "the
latest communiqué on ...", "la dernière estimation de ...". :func:`time_scope` reads these in French
and English (relative ones against ``today``, which the user may set), and :func:`prefer_in_scope`
applies the result to the retrieved passages.

The scope is a **preference, not a filter**: releases dated in the period are ranked first, the
others stay in the list. Measured on the Swiss dev questions, a question's dates often name the
time of the facts rather than of the release: "killed in 2021" is answered by the police
statistics published in March 2022, "dès 2009" by a release of 2008. A hard filter would have
hidden the answer; a user who wants one sets the date filters. For a year, releases of the first
months of the following year (annual statistics) are preferred too, less strongly.

"The latest" prefers, among the passages about as relevant as the best one, the most recent
release; the answer then says the date of its source ("As of 3 May 2022, ...").

Example:
    >>> scope = time_scope("What did the Federal Council decide about e-voting in 2019?")
    >>> scope.since, scope.until, scope.label("en")
    ('2019-01-01', '2019-12-31', '2019 · from the question')
    >>> time_scope("Quelle est la dernière estimation du PIB ?").latest
    True
    >>> time_scope("Who heads the clinic?") is None
    True
"""

from __future__ import annotations

import calendar
import re
from dataclasses import asdict, dataclass, replace
from datetime import date

from index import Hit, date_overlaps
from ingest.metadata import ENGLISH_MONTHS, FRENCH_MONTHS

_MONTHS = {**FRENCH_MONTHS, **ENGLISH_MONTHS}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_YEAR = r"(?:19|20)\d\d"
# "March 2020", "mars 2020", "2 février 2021", "1er mars 2018", "February 2, 2021"; the month is optional.


def _when(month_group: str, year_group: str) -> str:
    """A pattern for a year, optionally after a month and a day, with named groups for both."""
    return (rf"(?:(?:le\s+|the\s+)?(?:\d{{1,2}}(?:er|st|nd|rd|th)?\s+)?(?P<{month_group}>{_MONTH})\s+"
            rf"(?:\d{{1,2}}(?:st|nd|rd|th)?,?\s+)?)?(?P<{year_group}>{_YEAR})\b")


_I = re.IGNORECASE

_BETWEEN = re.compile(r"\b(?:between|entre|from|de|du)\s+" + _when("m1", "y1")
                      + r"\s+(?:and|et|to|until|à|au|jusqu'(?:en|à|au))\s+" + _when("m2", "y2"), _I)
_SINCE = re.compile(r"\b(?P<word>since|from|starting|as of|depuis|à partir d[e']|dès)\s*" + _when("m", "y"), _I)

# "avant l'accord de 2018", "before the 2018 agreement": before an event of that year.
_EVENT = r"(?:(?:the|l'|l’|le|la|les)\s*(?:[\w’'-]+\s+){0,3}?(?:of|de|du|des|in|en)\s+|the\s+)"
_BEFORE = re.compile(r"\b(?P<word>before|prior to|until|till|avant|jusqu'(?:en|à|au))\s*(?:" + _EVENT + ")?" + _when("m", "y"), _I)
_AFTER = re.compile(r"\b(?:after|après)\s+(?:" + _EVENT + ")?" + _when("m", "y"), _I)
_DURING = re.compile(r"\b(?:in|during|of|for|en|pendant|au cours de|courant|fin|début|de|d'|du mois de|au mois de)\s*"
                     + _when("m", "y"), _I)
# A month and a year with no preposition: "the December 2022 agreement", "on February 2, 2021".
_MONTH_YEAR = re.compile(rf"\b(?:\d{{1,2}}(?:er|st|nd|rd|th)?\s+)?(?P<m>{_MONTH})\s+(?:\d{{1,2}}(?:st|nd|rd|th)?,?\s+)?(?P<y>{_YEAR})\b", _I)

_LAST_YEAR = re.compile(r"\b(last year|the previous year|l'an (dernier|passé)|l'année (dernière|passée|précédente))\b", _I)
_THIS_YEAR = re.compile(r"\b(this year|cette année|l'année en cours)\b", _I)
_LAST_MONTH = re.compile(r"\b(last month|le mois (dernier|passé|précédent))\b", _I)
_PAST_YEARS = re.compile(r"\b(?:in|over|during) the (?:last|past) (?P<n>\d{1,2}) years\b|"
                         r"\b(?:au cours des|ces|pendant les|durant les) (?P<n2>\d{1,2}) dernières années\b", _I)
# "latest", "most recent", "le plus récent", "la dernière estimation": recency. In French "dernier"
# is also an ordinal ("la dernière phase des travaux", "le dernier trimestre"): those nouns are not
# a request for the newest release. In English "last" alone is left out for the same reason.
_LATEST_EN = re.compile(r"\b(latest|most recent|newest|last (?:communiqu[ée]s?|press releases?|releases?|reports?|"
                        r"figures|estimates?|updates?|statistics|data|announcements?))\b", _I)
_LATEST_FR = re.compile(r"\b(?:le|la|les|l')\s*(?:plus récente?s?|(?P<word>derni(?:er|ère|ers|ères))\s+(?P<noun>[\w'’-]+))", _I)
_ORDINAL_NOUNS = frozenset("""
phase phases étape étapes tour tours jour jours trimestre trimestres semestre minute minutes moment moments
fois ligne lignes mot mots recours délai délais volet volets place rang lieu partie parties an ans année années
mois semaine semaines siècle décennie décennies étage chapitre épisode match matchs séance session sessions
""".split())
PHRASE_LABEL = {"en": "from the question", "fr": "d'après la question"}


@dataclass(frozen=True)
class TimeScope:
    """The time a question is about: a date range (inclusive ISO days) and/or a wish for the latest.

    ``phrase`` is the question's own words it was read from; ``tolerance_until`` is how far after
    the range a release still counts, less strongly (annual statistics appear the next spring).
    """

    since: str | None = None
    until: str | None = None
    latest: bool = False
    phrase: str = ""
    tolerance_until: str | None = None

    @property
    def period(self) -> str:
        """The range as a reader writes it: ``2019``, ``2020-03``, ``2018-01-01 – 2019-12-31``."""
        if self.since and self.until:
            first, last = date.fromisoformat(self.since), date.fromisoformat(self.until)
            if first.month == 1 and first.day == 1 and (last.month, last.day) == (12, 31):
                return str(first.year) if first.year == last.year else f"{first.year}–{last.year}"
            if (first, last) == _month_span(first.year, first.month):
                return self.since[:7]
            return f"{self.since} – {self.until}"
        if self.since:
            return f"≥ {self.since}"
        if self.until:
            return f"≤ {self.until}"
        return ""

    def label(self, language: str = "en") -> str:
        """What the chat and the CLI show: ``2019 · from the question``, ``latest · d'après la question``."""
        parts = [self.period] if self.period else []
        if self.latest:
            parts.append("latest" if language != "fr" else "le plus récent")
        return f"{', '.join(parts)} · {PHRASE_LABEL.get(language, PHRASE_LABEL['en'])}"

    def contains(self, iso_date: str, tolerance: bool = False) -> bool:
        """Whether a release dated ``iso_date`` (any precision) falls in the range (or its tolerance)."""
        if not (self.since or self.until):
            return False
        return date_overlaps(iso_date, self.since, (self.tolerance_until or self.until) if tolerance else self.until)

    def to_dict(self) -> dict:
        return {**asdict(self), "label_en": self.label("en"), "label_fr": self.label("fr")}


def _month_span(year: int, month: int) -> tuple[date, date]:
    """First and last day of a month."""
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _period(month: str | None, year: str) -> tuple[date, date]:
    """First and last day of "2019" or of "March 2019"."""
    if month:
        return _month_span(int(year), _MONTHS[month.lower()])
    return date(int(year), 1, 1), date(int(year), 12, 31)


def _shift_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _latest(question: str) -> str:
    """The words asking for the newest release, or ""."""
    match = _LATEST_EN.search(question)
    if match:
        return match.group(0)
    for match in _LATEST_FR.finditer(question):
        if not match.group("word") or match.group("noun").lower() not in _ORDINAL_NOUNS:
            return match.group(0)
    return ""


def time_scope(question: str, today: date | None = None) -> TimeScope | None:
    """The time expression of ``question`` (French or English), or ``None`` when it has none.

    Relative expressions ("last year", "l'an dernier", "in the past 3 years") are read against
    ``today`` (default: the machine's date).

    Example:
        >>> time_scope("Combien d'emprunts depuis janvier 2021 ?").since
        '2021-01-01'
        >>> s = time_scope("What did the FSO report last year?", today=date(2022, 6, 1))
        >>> s.since, s.until, s.phrase
        ('2021-01-01', '2021-12-31', 'last year')
        >>> time_scope("Avant 2018, que disait l'OFS ?").until
        '2017-12-31'
    """
    today = today or date.today()
    since = until = tolerance = None
    phrase = ""
    if match := _BETWEEN.search(question):
        since, _ = _period(match.group("m1"), match.group("y1"))
        _, until = _period(match.group("m2"), match.group("y2"))
        if since > until:
            since = until = None
        else:
            phrase = match.group(0)
    if not phrase and (match := _SINCE.search(question)):
        since, _ = _period(match.group("m"), match.group("y"))
        phrase = match.group(0)
    if not phrase and (match := _AFTER.search(question)):
        _, end = _period(match.group("m"), match.group("y"))
        since, phrase = date.fromordinal(end.toordinal() + 1), match.group(0)
    if not phrase and (match := _BEFORE.search(question)):
        start, end = _period(match.group("m"), match.group("y"))
        inclusive = match.group("word").lower() in ("until", "till") or match.group("word").lower().startswith("jusqu")
        until, phrase = (end if inclusive else date.fromordinal(start.toordinal() - 1)), match.group(0)
    if not phrase and (match := _DURING.search(question) or _MONTH_YEAR.search(question)):
        since, until = _period(match.group("m"), match.group("y"))
        # A year's figures are published the next year; a month's within the next weeks.
        tolerance = _shift_months(until, 2 if match.group("m") else 6)
        phrase = match.group(0)
    if not phrase and (match := _LAST_YEAR.search(question)):
        since, until, phrase = date(today.year - 1, 1, 1), date(today.year - 1, 12, 31), match.group(0)
        tolerance = _shift_months(until, 6)
    if not phrase and (match := _THIS_YEAR.search(question)):
        since, until, phrase = date(today.year, 1, 1), today, match.group(0)
    if not phrase and (match := _LAST_MONTH.search(question)):
        first = _shift_months(today.replace(day=1), -1)
        (since, until), phrase = _month_span(first.year, first.month), match.group(0)
        tolerance = _shift_months(until, 2)
    if not phrase and (match := _PAST_YEARS.search(question)):
        years = int(match.group("n") or match.group("n2"))
        since, until, phrase = _shift_months(today, -12 * years), today, match.group(0)
    latest = _latest(question)
    if not phrase and not latest:
        return None
    iso = lambda day: day.isoformat() if day else None  # noqa: E731
    return TimeScope(since=iso(since), until=iso(until), latest=bool(latest),
                     phrase=" … ".join(p.strip() for p in (phrase, latest) if p), tolerance_until=iso(tolerance))


#: Added to a passage's score when its release is dated in the question's period (half of it in
#: the tolerance after a year or a month). Scores are centred cosines. Chosen with LATEST_MARGIN on
#: the tune half (odd numbers) of tests/data/time_questions.jsonl over 0.05-0.30 × 0.05-0.16:
#: top-1 release 1.00 on tune, 0.95 on the report half, against 0.50 without the question's
#: dates; the Swiss journalist questions' retrieval unchanged (eval/history.md).
IN_PERIOD_BONUS = 0.15
#: "The latest": releases whose best passage is within this much of the best passage's score
#: count as being about the subject; the newest of them comes first.
LATEST_MARGIN = 0.12


def prefer_in_scope(hits: list[Hit], scope: TimeScope | None, k: int) -> list[Hit]:
    """The ``k`` best hits once the question's time scope is applied (see the module docstring).

    ``hits`` come ranked best first, more of them than ``k`` so that a release of the period can
    come up from further down. Scores are kept as they are (they stay the passages' similarity);
    ranks are renumbered.
    """
    if not scope or not hits:
        return hits[:k]
    adjusted = []
    for position, hit in enumerate(hits):
        bonus = 0.0
        if scope.contains(hit.document.date):
            bonus = IN_PERIOD_BONUS
        elif scope.tolerance_until and scope.contains(hit.document.date, tolerance=True):
            bonus = IN_PERIOD_BONUS / 2
        adjusted.append((hit.score + bonus, position, hit))
    adjusted.sort(key=lambda item: (-item[0], item[1]))
    if scope.latest:
        best = adjusted[0][0]
        on_subject = [item for item in adjusted if item[0] >= best - LATEST_MARGIN]
        rest = [item for item in adjusted if item[0] < best - LATEST_MARGIN]
        # Newest release first; within a release, its passages best first.
        on_subject.sort(key=lambda item: (-_date_key(item[2].document.date), -item[0], item[1]))
        adjusted = on_subject + rest
    ranked = [item[2] for item in adjusted[:k]]
    return [_with_rank(hit, rank) for rank, hit in enumerate(ranked, start=1)]


def _date_key(iso: str) -> int:
    """A sortable number for an ISO date of any precision (undated releases last)."""
    digits = (iso or "").replace("-", "")
    return int((digits + "0000")[:8]) if digits[:4].isdigit() else 0


def _with_rank(hit: Hit, rank: int) -> Hit:
    return replace(hit, rank=rank)
