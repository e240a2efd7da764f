"""What a question asks for (a person, a number, an amount, a date, a place, ...), in French and English,
and whether a text holds a fact of that type.

Used three times along the pipeline: the evidence stage prefers sentences that hold the type asked
for, the extractive answer quotes one, and the policy refuses a model answer that does not state it
("How much ...?" answered without an amount). The rules are plain regular expressions, so a
reader can see why a question got its type; the first rule that matches wins, most specific first.

Example:
    >>> question_type("À quelle heure partira le premier bus ?")
    'time'
    >>> question_type("How much did SECO contribute to the project?")
    'amount'
    >>> holds_type("It will cost CHF 2.5 million.", "amount"), holds_type("It will be expensive.", "amount")
    (True, False)
"""

from __future__ import annotations

import re

from .facts import NUMBER_WORDS, month_names_pattern, number_mentions

#: Every type :func:`question_type` can return; ``"other"`` asks for nothing checkable.
TYPES = ("contact", "time", "duration", "percentage", "amount", "date", "number", "person", "place",
         "reason", "list", "other")

_I = re.IGNORECASE
# Question wording per type, most specific first (a "how many years" is a duration, not a number).
_QUESTION_RULES: list[tuple[str, re.Pattern]] = [
    ("contact", re.compile(r"\b(phone|telephone|téléphone|e-?mail|courriel|website|site (web|internet)|web ?site|"
                           r"adresse|address|url|contact|joindre|reach)\b", _I)),
    ("time", re.compile(r"\b(what time|at what time|à quelle heure|quelle heure|what hour|heure de)\b", _I)),
    ("duration", re.compile(r"\b(how long|for how (many|much) (years?|months?|weeks?|days?|hours?|time)|"
                            r"combien de temps|pendant combien|pour combien (d'|de )?(années|ans|mois|semaines|jours)|"
                            r"combien d['’](années|ans)|quelle (est la )?durée|durée|duration|over how many)\b", _I)),
    ("percentage", re.compile(r"\b(what (share|proportion|percentage|percent|fraction|rate)|quelle (part|proportion|fraction)|"
                              r"quel (pourcentage|taux)|percentage|pourcentage|per ?cent|pour cent|"
                              r"what is the (share|rate|proportion))\b", _I)),
    # Not a bare "prix": in French it is also a prize ("le Prix du cinéma suisse").
    ("amount", re.compile(r"\b(how much (prize )?(money|funding|did|does|will|is|was|would|has|have|are|were)|"
                          r"combien (co[uû]t\w*|a co[uû]té|a versé|verse|a payé|paie|paye|a reçu|reçoit|a investi|investit|"
                          r"de francs|d'argent|a contribué|contribue)|"
                          r"quel (montant|budget|prix|coût|loyer|salaire)|quelle (somme|contribution|enveloppe)|"
                          r"amount|budget|price|cost|costs|salary|rent|fee|funding|montant|coût|loyer|salaire|"
                          r"to what amount|à combien)\b", _I)),
    # "In October 2014, when the Federal Council ..., how much ...?": a "when" after a comma opens a
    # clause about the context; the question's own wording comes later.
    ("date", re.compile(r"\b((?<!, )when|what date|on what date|which date|what day|what year|which year|in what year|since when|"
                        r"(?<!, )quand|quelle date|à quelle date|quel jour|quelle année|en quelle année|depuis quand|"
                        r"à partir de quand|date)\b", _I)),
    ("number", re.compile(r"\b(how many|combien|nombre|number of|quel nombre|population|habitants|inhabitants|"
                          r"how much|by how much|what (concentration|quantity|level)|quelle (concentration|quantité))\b", _I)),
    ("person", re.compile(r"\b(who|whom|whose|qui|quel(le)? (personne|ministre|médecin|docteur|président(e)?|directeur|"
                          r"directrice|ambassadeur|ambassadrice|chef(fe)?|responsable|conseiller|conseillère|porte-parole|"
                          r"maire|secrétaire|envoyé(e)?)|which (person|minister|doctor|president|director|ambassador|head|"
                          r"official|mayor|spokesperson|secretary|envoy|councillor)|name of the (person|minister|head|director))\b", _I)),
    ("place", re.compile(r"\b(where|où|in which (city|town|country|canton|region|place|village|state)|"
                         r"which (city|town|country|canton|region|place|village)|dans quel(le)? (ville|pays|canton|région|lieu|localité)|"
                         r"quel(le)? (ville|pays|canton|région|lieu|localité)|en quel lieu)\b", _I)),
    ("reason", re.compile(r"\b(why|pourquoi|for what reason|what reason|pour quelle raison|quelle raison|"
                          r"what (was|is) the (reason|purpose|aim|goal)|quel (est|était) (le but|l'objectif|le motif))\b", _I)),
    ("list", re.compile(r"\b(which (fields|areas|countries|sectors|domains|topics|measures|projects|priorities)|"
                        r"what (fields|areas|sectors|domains|topics|measures|priorities)|"
                        r"quels (domaines|pays|secteurs|thèmes|projets|axes)|quelles (mesures|priorités|régions|thématiques)|"
                        r"sur quels|on which)\b", _I)),
]

_NUMBER_WORD = re.compile(NUMBER_WORDS, _I)
_CURRENCY = re.compile(r"(\bCHF\b|\bfr\.|\bfrancs?\b|\bdollars?\b|\$|€|\beuros?\b|\bEUR\b|\bUSD\b|\bSEK\b|£|\bpounds?\b|"
                       r"\bcouronnes\b|\bkronor\b|\byens?\b|\bMio\b|\bmillions?\b|\bmilliards?\b|\bbillions?\b)", _I)
_PERCENT = re.compile(r"\d\s?%|\b(per ?cent|pour cent|percent|pourcent|pour-cent|moitié|half|tiers|third|quart|quarter)\b", _I)
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_TIME = re.compile(r"\b\d{1,2}\s?h\s?\d{0,2}\b|\b\d{1,2}[:.]\d{2}\s?(h|a\.?m\.?|p\.?m\.?)?\b|"
                   r"\b\d{1,2}\s?(a\.?m\.?|p\.?m\.?)|\b(midi|minuit|midnight|noon|o'clock)\b", _I)
_DURATION_UNIT = (r"(ans?|années?|mois|semaines?|jours?|heures?|minutes?|décennies?|siècles?|"
                  r"years?|months?|weeks?|days?|hours?|minutes?|decades?|centur(y|ies))")
_DURATION_DIGITS = re.compile(rf"\d+[\s-]+{_DURATION_UNIT}\b|\b(jusqu'(en|à|au)|until|through|d'ici|by)\s+\S*\d", _I)
_DURATION_WORDS = re.compile(rf"{NUMBER_WORDS}[\s-]+{_DURATION_UNIT}\b", _I)
_CONTACT = re.compile(r"\+?\d[\d\s().-]{7,}\d|[\w.+-]+@[\w-]+\.[\w.]+|\bwww\.|https?://|\b[\w-]+\.(ch|com|org|net|fr|ca|gov)\b", _I)
# Two capitalised words in a row (a person's first and last name, "Ruedi Lüthy"), or a title before one.
_PERSON = re.compile(r"\b[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ’'-]+\s+(?:(?:de|van|von|der|di|da|le|la)\s+)?[A-ZÀ-ÖØ-Þ][\w’'-]+|"
                     r"\b(M\.|Mme|Mr\.?|Mrs\.?|Ms\.?|Dr\.?|Prof\.?)\s+[A-ZÀ-ÖØ-Þ]")


def _name_candidates(text: str):
    """Every match of :data:`_PERSON`, overlapping ones included: in "le conseiller d'Etat Pierre
    Maudet" the first pair, "Etat Pierre", is not a name but the next one, "Pierre Maudet", is.

    Example:
        >>> [m.group(0) for m in _name_candidates("le conseiller d'Etat Pierre Maudet a signé")]
        ['Etat Pierre', 'Pierre Maudet']
    """
    position = 0
    while (match := _PERSON.search(text, position)) is not None:
        yield match
        second_word = re.search(r"\s\S", match.group(0))
        position = match.start() + (second_word.start() + 1 if second_word else len(match.group(0)))


# Capitalised words that start names of bodies, not of people ("Swiss Federal Office", "Conseil fédéral").
_NOT_GIVEN_NAMES = frozenset("""
swiss suisse federal fédéral fédérale conseil council office department département commission committee
comité university université national nationale international internationale european européen européenne
state etat état secretary secrétariat united unies world mondial mondiale city ville canton cantons about
the le la les this ce cette in en on at au for pour with avec and et of de du des new nouveau nouvelle
""".split())
# A capitalised word that does not start the sentence: a town, a country, an institution.
_PLACE = re.compile(r"(?<=[\s(«“'’])[A-ZÀ-ÖØ-Þ][\w’'-]{2,}")
_REASON = re.compile(r"\b(parce que|car|afin de|afin que|en raison|grâce à|pour (permettre|garantir|renforcer|assurer|"
                     r"améliorer|soutenir|favoriser|lutter|réduire|éviter)|vise à|visant à|objectif|but|because|due to|"
                     r"owing to|in order to|so that|so as to|aims? to|aimed at|purpose|goal|to (help|support|ensure|"
                     r"improve|strengthen|promote|reduce|prevent|enable|allow)|thanks to|as a result)\b", _I)
_LIST = re.compile(r",.+(,|\bet\b|\band\b)|:\s*\S|;")


def question_type(question: str) -> str:
    """The type of fact ``question`` asks for (one of :data:`TYPES`).

    The wording that comes first decides ("Which doctor heads the team ... when it announced ...?"
    asks for a person, not a date); at the same place, the more specific rule wins.

    Example:
        >>> question_type("Which doctor heads the clinic that the FDFA mentioned when it announced aid?")
        'person'
        >>> question_type("In October 2014, when the Federal Council topped up aid, how much did it ask for?")
        'amount'
    """
    found = []
    for order, (name, pattern) in enumerate(_QUESTION_RULES):
        match = pattern.search(question)
        if match:
            found.append((match.start(), order, name))
    return min(found)[2] if found else "other"


def holds_type(text: str, kind: str, number_words: bool = True) -> bool:
    """Whether ``text`` states a fact of type ``kind`` (``"other"``: always true).

    ``number_words=False`` counts digits only: right for choosing a source sentence to quote
    ("deux centres" is in many sentences), too strict for a model's answer ("cinq lignes").
    """
    # A year, an ISO date or a postcode is not a count or an amount ("since 1998", "date 2021-02",
    # "31000 Toulouse" do not say how many).
    quantities = [written for written, _ in number_mentions(text) if not _YEAR.fullmatch(written)]
    digits = bool(quantities) or (number_words and bool(_NUMBER_WORD.search(_YEAR.sub(" ", text))))
    if kind == "number":
        return digits
    if kind == "amount":
        return digits and bool(_CURRENCY.search(text))
    if kind == "percentage":
        return bool(_PERCENT.search(text))
    if kind == "date":
        return bool(_YEAR.search(text) or re.search(month_names_pattern(), text, _I))
    if kind == "time":
        return bool(_TIME.search(text))
    if kind == "duration":
        return bool(_DURATION_DIGITS.search(text) or (number_words and _DURATION_WORDS.search(text)))
    if kind == "contact":
        return bool(_CONTACT.search(text))
    if kind == "person":
        return any(m.group(1) or m.group(0).split()[0].lower() not in _NOT_GIVEN_NAMES for m in _name_candidates(text))
    if kind == "place":
        return bool(_PLACE.search(" " + text))
    if kind == "reason":
        return bool(_REASON.search(text))
    if kind == "list":
        return bool(_LIST.search(text))
    return True


def states_type(answer: str, kind: str, question: str = "", number_words: bool = True) -> bool:
    """:func:`holds_type` for an answer, not counting the numbers the question already gives:
    "How many patients will Gantry 3 treat?" is not answered by "Gantry 3 will treat all patients".

    Example:
        >>> q = "Combien de patients la Gantry 3 traitera-t-elle ?"
        >>> states_type("La Gantry 3 traitera tous les patients.", "number", q)
        False
        >>> states_type("La Gantry 3 traitera 450 patients par an.", "number", q)
        True
    """
    if question and kind in ("number", "amount", "percentage"):
        asked = [values for _, values in number_mentions(question)]
        for written, values in number_mentions(answer):
            if any(values & given for given in asked):
                answer = re.sub(rf"(?<![\d.,]){re.escape(written)}(?![.,]?\d)", " ", answer, count=1)
    return holds_type(answer, kind, number_words)


#: Types whose absence from an answer means it cannot be the answer: the policy refuses a model
#: answer to "how much" that states no amount. The looser types (place, reason, list) only guide
#: the choice of evidence.
STRICT_TYPES = frozenset({"contact", "time", "duration", "percentage", "amount", "date", "number", "person"})
