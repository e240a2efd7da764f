"""Language-independent facts of a sentence (numbers, dates, names) to check an answer against its sources.

An answer that states a figure, a date or a name must find it in the source it cites: the
small generator invents such details (see MODELS.md), and they are what a journalist would
publish. Numbers are compared by value, so "1,5 milliard" (fr) and "1.5 billion" (en) match,
"43 000" and "43,000" match, and a month matches across languages ("février" = "February").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from ingest.metadata import ENGLISH_MONTHS, FRENCH_MONTHS

_MULTIPLIERS = {
    "mille": 1e3, "thousand": 1e3, "k": 1e3,
    "million": 1e6, "millions": 1e6, "mio": 1e6, "m": 1e6,
    "milliard": 1e9, "milliards": 1e9, "billion": 1e9, "billions": 1e9, "mrd": 1e9, "bn": 1e9,
}
_NUMBER = re.compile(
    # Thousands separators: space, no-break spaces, dot, comma and the Swiss apostrophe (' or ’).
    r"(?<![\w.,])(\d{1,3}(?:(?:, |[ \u00a0\u202f.,'\u2019])\d{3}(?!\d))+(?:[.,]\d+)?|\d+(?:[.,]\d+)?)"
    r"(?:\s*(mille|thousand|millions?|milliards?|billions?|mio|mrd|bn|k|m)\b)?",
    re.IGNORECASE,
)
_MONTHS = {**{k: v for k, v in FRENCH_MONTHS.items()}, **ENGLISH_MONTHS}
_MONTH_RE = re.compile(r"\b(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\b", re.IGNORECASE)
_NAME = re.compile(r"\b[A-ZÀ-ÖØ-Þ][\w\-’']+(?:\s+(?:de|du|des|la|le|of|the|d’|d')?\s*[A-ZÀ-ÖØ-Þ][\w\-’']+)*")
_WORD = re.compile(r"\w+")
# A name spelled out then abbreviated: "Consortium of Research and Innovation in Aeronautics (CRIAQ)".
_EXPANDED_ACRONYM = re.compile(
    r"((?:(?:[A-ZÀ-ÖØ-Þ][\w\-’']*|of|the|and|for|in|on|de|du|des|la|le|les|et|en|au|aux|pour|d’|d'|l’|l')\s+)+)"
    r"\(([A-Z][A-Za-z0-9&\-]{1,11})\)")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})(?:-(\d{2}))?\b")
# Five digits, ungrouped, before a place name: a postcode ("31000 Toulouse", "75001 Paris").
_POSTCODE = re.compile(r"(?<![\w.,])\d{5}\b(?=\s+[A-ZÀ-ÖØ-Þ][a-zà-ÿ])")
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
# A span of years written short, "2019–21" or "2020-22": the source states 2019, 2020 and 2021,
# which an answer may write out ("2019–2021").
_SHORT_YEAR_RANGE = re.compile(r"(?<![\w.,])((?:19|20)\d\d)\s?[–—-]\s?(\d\d)(?![\w.,]?\d)")
# Numbers in words; "un/une/one" are left out: as articles they are in almost every sentence.
NUMBER_WORDS = (r"\b(deux|trois|quatre|cinq|six|sept|huit|neuf|dix|douze|quinze|vingt|trente|cent|mille|"
                r"two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|twenty|thirty|hundred|thousand|"
                r"million|milliard|billion|dozen|douzaine)s?\b")
# "2 février 2018", "February 2, 2021", "1er mars 2018": day + month + year written out.
_WRITTEN_DATE = re.compile(
    rf"\b(?:1er|\d{{1,2}})(?:st|nd|rd|th)?\s+(?:{_MONTH_NAMES})\s+\d{{4}}\b|\b(?:{_MONTH_NAMES})\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b",
    re.IGNORECASE)


def month_names_pattern() -> str:
    """A regular expression matching a month's name in French or English."""
    return rf"\b({_MONTH_NAMES})\b"


def fold(text: str) -> str:
    """Lower-case, accents removed: ``Montréal`` → ``montreal``."""
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in text if not unicodedata.combining(ch)).replace("’", "'")


def number_values(token: str, multiplier: str | None = None) -> set[float]:
    """Every value a written number can mean (``1,500`` is 1500 in English and 1.5 in French).

    Example:
        >>> sorted(number_values("1,5", "milliard"))
        [1500000000.0]
        >>> sorted(number_values("43 000"))
        [43000.0]
        >>> sorted(number_values("1,500"))
        [1.5, 1500.0]
    """
    # ", " inside a number: the generator sometimes writes "43, 000" for "43,000".
    raw = token.replace(", ", ",").replace("\u00a0", " ").replace("\u202f", " ").replace("'", " ").replace("\u2019", " ")
    readings = set()
    if re.fullmatch(r"\d{1,3}(?:[ .,]\d{3})+(?:[.,]\d+)?", raw):
        groups = re.split(r"[ .,]", raw)
        separators = re.findall(r"[ .,]", raw)
        thousands = separators[0]
        if all(sep == thousands for sep in separators):
            readings.add(float("".join(groups)))
        else:  # "1.234,5" or "1,234.5": last separator is the decimal mark
            integer = "".join(groups[:-1])
            readings.add(float(f"{integer}.{groups[-1]}"))
    candidate = raw.replace(" ", "")
    if re.fullmatch(r"\d+[.,]\d+", candidate):
        readings.add(float(candidate.replace(",", ".")))
    if re.fullmatch(r"\d+", candidate):
        readings.add(float(candidate))
    factor = _MULTIPLIERS.get((multiplier or "").lower(), 1.0)
    return {round(value * factor, 6) for value in readings}


@dataclass
class Facts:
    """Numbers (each a set of possible values), months, and names found in a text."""

    numbers: list[set[float]] = field(default_factory=list)
    months: set[int] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    dates: set[str] = field(default_factory=set)  # "2021-02-02" or "2021-02": a date is one fact, not three numbers

    @property
    def empty(self) -> bool:
        return not (self.numbers or self.months or self.names)


def extract_facts(text: str, ignore: str = "") -> Facts:
    """Facts written in ``text``; names also written in ``ignore`` (e.g. the question) are skipped.

    Example:
        >>> f = extract_facts("Le 2 février 2021, Valérie Plante a signé l'entente de 1,5 milliard.")
        >>> sorted(min(v) for v in f.numbers), f.months, sorted(f.names)
        ([2.0, 2021.0, 1500000000.0], {2}, ['valerie plante'])
    """
    facts = Facts()
    facts.numbers = [values for _, values in number_mentions(text)]
    for span in _SHORT_YEAR_RANGE.finditer(text):
        first = int(span.group(1))
        last = first - first % 100 + int(span.group(2))
        if first < last <= first + 10:
            facts.numbers.extend({float(year)} for year in range(first, last + 1))
    facts.months = {_MONTHS[m.group(1).lower()] for m in _MONTH_RE.finditer(text)}
    for iso in _ISO_DATE.finditer(text):  # "2021-02-02" states a year, a month and a day
        facts.numbers.append({float(int(iso.group(1)))})
        facts.months.add(int(iso.group(2)))
        if iso.group(3):
            facts.numbers.append({float(int(iso.group(3)))})
        facts.dates.add(iso.group(0))
        facts.dates.add(iso.group(0)[:7])
    from ingest.metadata import parse_date

    for match in _WRITTEN_DATE.finditer(text):
        iso = parse_date(match.group(0))
        if iso:
            facts.dates.add(iso)
            facts.dates.add(iso[:7])
    ignored = set(_WORD.findall(fold(ignore)))
    for match in _NAME.finditer(text):
        name = match.group(0)
        start = match.start()
        preceding = text[:start].rstrip()
        sentence_initial = not preceding or preceding[-1] in ".!?:«\"“[(\n"
        words = name.split()
        if sentence_initial and len(words) == 1:
            continue  # a capital that only marks the start of a sentence
        folded = fold(name)
        if _MONTH_RE.fullmatch(name) or all(w in ignored for w in _WORD.findall(folded)):
            continue
        if len(folded) >= 3:
            facts.names.add(folded)
    return facts


def number_mentions(text: str) -> list[tuple[str, set[float]]]:
    """Numbers written in ``text`` with their possible values; ISO dates are left to the date facts
    (the "02" of "2021-02" is a month, not the number 2), and postcodes are not quantities: the
    "31000" of "place du Capitole 31000 Toulouse" must not support "31 000 habitants".

    Example:
        >>> [written for written, _ in number_mentions("Capitole 31000 Toulouse : 43 000 emplois")]
        ['43 000']
    """
    masked = _ISO_DATE.sub(lambda m: " " * len(m.group(0)), text)
    masked = _POSTCODE.sub(lambda m: " " * len(m.group(0)), masked)
    mentions = []
    for match in _NUMBER.finditer(masked):
        values = number_values(match.group(1), match.group(2))
        if values:
            mentions.append((match.group(0).strip(), values))
    return mentions


# Units of measure, by what they measure, in French and English. A number that the source gives
# in tonnes cannot be a number of patients: "La Gantry 3 permettra de traiter 270 patients par
# an" was supported by "270 tonnes" (Swiss dev set, an unanswerable question answered).
_UNIT_KINDS = {
    "mass": "t tonne tonnes ton tons kg kilo kilos kilogramme kilogrammes kilogram kilograms g gramme grammes gram grams",
    "length": "km kilomètre kilomètres kilometre kilometres kilometer kilometers m mètre mètres metre metres meter meters cm mm",
    "area": "km2 km² m2 m² hectare hectares ha",
    "volume": "l litre litres liter liters hl m3 m³",
    "energy": "kwh mwh gwh twh kw mw gw watts",
    "duration": "an ans année années year years mois month months semaine semaines week weeks jour jours day days "
                "heure heures hour hours minute minutes",
    "percent": "% percent pourcent pour-cent",
}
_UNIT_OF = {word: kind for kind, words in _UNIT_KINDS.items() for word in words.split()}
# Words after a number that say nothing of what it counts ("53,2 millions de tonnes", "3 pour cent").
_NOT_A_COUNTED_NOUN = frozenset("de d des du of pour per en in et and à au to".split())
_FOLLOWER = re.compile(r"[\s\u00a0-]?(%|[^\W\d_]+[²³23]?)", re.UNICODE)


def _units_after_numbers(text: str) -> list[tuple[str, set[float], str]]:
    """Each number of ``text`` as written, its values, and the word right after it, lower-cased
    ("270 tonnes" → ``("270", {270.0}, "tonnes")``)."""
    masked = _ISO_DATE.sub(lambda m: " " * len(m.group(0)), text)
    found = []
    for match in _NUMBER.finditer(masked):
        values = number_values(match.group(1), match.group(2))
        follower = _FOLLOWER.match(masked, match.end())
        if values:
            found.append((match.group(0).strip(), values, follower.group(1).lower() if follower else ""))
    return found


def unit_mismatches(answer_sentence: str, source_text: str) -> list[str]:
    """Numbers of the answer that the source only gives as another kind of quantity.

    Only units of measure are compared (tonnes, km, kWh, years, %): "43,000 people" and "43 000
    emplois" are the same count in two languages, "270 patients" and "270 tonnes" are not, nor
    are "2 184 000 passagers" and "2 184 000 tonnes".

    Example:
        >>> unit_mismatches("It treats 270 patients a year.", "Le portique pèse 270 tonnes.")
        ['270 (tonnes in the source)']
        >>> unit_mismatches("It weighs 270 tonnes.", "Le portique pèse 270 tonnes.")
        []
        >>> unit_mismatches("It employs 43,000 people.", "L'industrie compte 43 000 emplois.")
        []
        >>> unit_mismatches("Il a traité 2 184 000 tonnes de fret.", "L'aéroport a accueilli 2 184 000 passagers.")
        ['2 184 000 (passagers in the source)']
        >>> unit_mismatches("Emissions reached 53.2 million tonnes.", "Les émissions ont atteint 53,2 millions de tonnes.")
        []
    """
    source = _units_after_numbers(source_text)
    problems = []
    for written, values, word in _units_after_numbers(answer_sentence):
        followers = [other for _, other_values, other in source if values & other_values]
        kinds = {_UNIT_OF.get(other) for other in followers}
        if not word or not followers:
            continue  # a bare number, or one the source does not give (another check)
        if kinds == {None}:
            # The source counts something ("2 184 000 passagers"): the answer may name it in its own
            # words, but not as a measure ("2 184 000 tonnes de fret", a neighbouring fact's unit).
            if _UNIT_OF.get(word) and all(other.isalpha() and other not in _NOT_A_COUNTED_NOUN for other in followers):
                problems.append(f"{written} ({followers[0]} in the source)")
            continue
        if None in kinds:
            continue  # given with a unit and also otherwise: either reading may be meant
        if _UNIT_OF.get(word) not in kinds:
            problems.append(f"{written} ({followers[0]} in the source)")
    return problems


# What a figure of a statistic is, by the word after it (or the currency before it): compared
# kind with kind, so a newer "0.1%" answers an older "3.1%" and not its "104.6 points".
_PERCENT_WORDS = frozenset({"%", "percent", "pourcent", "pour-cent"})
_CURRENCY_WORDS = frozenset({"franc", "francs", "chf", "dollar", "dollars", "euro", "euros", "eur", "usd"})
_CURRENCY_BEFORE = re.compile(r"(CHF|EUR|USD|Fr\.|fr\.|\$|€|£)\s?$")
_ORDINAL_ENDINGS = frozenset({"e", "er", "re", "ème", "eme", "st", "nd", "rd", "th"})
_DOTTED_DATE = re.compile(r"\b\d{1,2}\.\d{1,2}\.\d{4}\b")
_INDEX_BASE = re.compile(r"=\s?$")
# "fell by 0.5%" and "rose by 0.5%" are two facts: a figure right after a word of decline is negative.
_DECLINE_BEFORE = re.compile(r"\b(fell|fall|falls|falling|declined?|declining|decrease[ds]?|drop|dropped|down|"
                             r"baiss\w*|recul\w*|diminu\w*|repli\w*|chut\w*)\b[^\d%]{0,25}$", re.IGNORECASE)


def figures(text: str, ignore: str = "") -> dict[str, list[tuple[str, set[float]]]]:
    """The figures of ``text`` by kind (``percent``, ``amount``, ``points``, a unit of measure's kind
    such as ``mass``, else ``count``), each as written (with its sign, currency or unit) and its values.

    Not figures: years, dates and their days, ordinals ("2nd quarter", "4e trimestre"), an index's
    base ("December 2015 = 100"), and numbers that ``ignore`` (the question) also states. A sign
    written before the number counts ("-9 points" is not "9 points"), and so does a word of decline
    ("fell by 0.5%" is -0.5).

    Example:
        >>> figures("Turnover rose by 3.1% in December 2009 (in nominal terms +2.4%), reaching 104.6 points (December 2005=100).")
        {'percent': [('3.1%', {3.1}), ('+2.4%', {2.4})], 'points': [('104.6 points', {104.6})]}
        >>> figures("Le PIB a progressé de 0,6 % au 2e trimestre 2016, les prix ont baissé de 0,5 %.")
        {'percent': [('0,6 %', {0.6}), ('0,5 %', {-0.5})]}
    """
    masked = _ISO_DATE.sub(lambda m: " " * len(m.group(0)), text)
    for pattern in (_WRITTEN_DATE, _DOTTED_DATE, _POSTCODE):
        masked = pattern.sub(lambda m: " " * len(m.group(0)), masked)
    asked = [values for _, values in number_mentions(ignore)] if ignore else []
    found: dict[str, list[tuple[str, set[float]]]] = {}
    for match in _NUMBER.finditer(masked):
        values = number_values(match.group(1), match.group(2))
        follower = _FOLLOWER.match(masked, match.end())
        word = follower.group(1).lower() if follower else ""
        before = masked[max(0, match.start() - 60):match.start()]  # all that is read before a number: linear
        if not values or word in _ORDINAL_ENDINGS or _INDEX_BASE.search(before[-3:]):
            continue
        if not match.group(2) and re.fullmatch(r"(1[89]|20)\d\d", match.group(1)) and word not in _PERCENT_WORDS:
            continue  # a year
        currency = _CURRENCY_BEFORE.search(before[-5:])
        if word in _PERCENT_WORDS:
            kind = "percent"
        elif currency or word in _CURRENCY_WORDS:
            kind = "amount"
        elif word in ("point", "points"):
            kind = "points"
        else:
            kind = _UNIT_OF.get(word, "count")
        start = match.start() - (len(currency.group(0)) if currency else 0)
        if before[-1:] in "-–−+" and before[-1:]:
            start -= 1
            if before[-1] != "+":
                values = {-v for v in values}
        elif _DECLINE_BEFORE.search(before[-60:]):
            values = {-v for v in values}
        if any(values & other for other in asked):
            continue
        end = follower.end() if follower and kind not in ("count", "amount") or word in _CURRENCY_WORDS else match.end()
        found.setdefault(kind, []).append((text[start:end].strip(), values))
    return found


def number_in(values: set[float], candidates: list[set[float]]) -> bool:
    return any(values & other for other in candidates)


def fact_count(text: str, question: str = "") -> int:
    """How many checkable facts (numbers, months, full dates, names) ``text`` states."""
    facts = extract_facts(text, ignore=question)
    return len(facts.numbers) + len(facts.months) + len({d for d in facts.dates if len(d) == 10}) + len(facts.names)


def new_fact_count(text: str, question: str) -> int:
    """How many facts ``text`` states that ``question`` does not already state.

    "Le DFAE va créer un poste ..., selon sa décision de janvier 2020." only gives back the
    question's own month and year: it answers nothing.

    Example:
        >>> q = "Where will the FDFA create a post, under its decision of January 2020?"
        >>> new_fact_count("The FDFA will create a post under its decision of January 2020.", q)
        0
        >>> new_fact_count("The FDFA will create a post in Asmara in January 2020.", q)
        1
    """
    asked = extract_facts(question)
    facts = extract_facts(text, ignore=question)
    numbers = [values for values in facts.numbers if not number_in(values, asked.numbers)]
    dates = {d for d in facts.dates if len(d) == 10} - asked.dates
    return len(numbers) + len(facts.months - asked.months) + len(dates) + len(facts.names)


def unsupported_facts(answer_sentence: str, source_text: str, question: str = "") -> list[str]:
    """Facts of ``answer_sentence`` that ``source_text`` does not contain (empty list = all found).

    A name passes when its last word (the surname, the place: "Mayor Valérie Plante", "City of
    Montreal") occurs in the source, accents and case ignored, so translated titles around a name
    do not count as invented.

    Example:
        >>> unsupported_facts("The aerospace industry employs 43,000 people.", "L’industrie emploie 43 000 personnes.")
        []
        >>> unsupported_facts("It employs 52,000 people.", "L’industrie emploie 43 000 personnes.")
        ['52,000']
    """
    source = extract_facts(source_text)
    source_words = set(_WORD.findall(fold(source_text)))
    # "The Consortium of Research ... (CRIAQ)": the acronym, found in the source, names the body;
    # the words before it are the model's translation of its name, not a name of their own.
    translated = _EXPANDED_ACRONYM.sub(
        lambda m: m.group(0) if fold(m.group(2)) not in source_words else " " * len(m.group(1)) + m.group(2),
        answer_sentence)
    answer = extract_facts(translated, ignore=question)
    missing = []
    for written, values in number_mentions(answer_sentence):
        if not number_in(values, source.numbers):
            missing.append(written)
    missing += unit_mismatches(answer_sentence, source_text)
    for month in answer.months - source.months:
        missing.append(f"month {month}")
    # A full date must be in the source as a date (its day, month and year together), or at
    # least its month and year when the source only gives those.
    for date in sorted(d for d in answer.dates if len(d) == 10):
        if date not in source.dates and date[:7] not in {d for d in source.dates if len(d) == 7 and not any(x.startswith(d + "-") for x in source.dates)}:
            missing.append(date)
    for name in answer.names:
        words = [w for w in _WORD.findall(name) if len(w) > 2 and w not in {"the", "des", "les", "and"}]
        if words and words[-1] not in source_words:
            missing.append(name)
    return missing
