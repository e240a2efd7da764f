"""How well titles and issuers are found from the text alone: the Swiss releases with their known
title and issuer hidden (only ``text`` is read, as a plain-text communiqué would be).

Per half of the releases (``eval.data.half_of`` on the release id, so both language versions fall
in the same half):

* ``title_usable``: share of documents given a title that a journalist can read as one: at least
  three words, at most ``DERIVED_TITLE_CHARS`` (+ the ``…``), taken from the text's first sentence.
* ``title_word_overlap``: mean share of the real headline's content words present in that title
  (information only: a first sentence is not a headline).
* ``issuer_right`` / ``issuer_wrong`` / ``issuer_missing``: shares of documents whose issuer was
  found and matches the real one (accents, case, articles and acronyms in brackets ignored; one
  contained in the other), found but another organisation, or left empty.
* ``issuer_precision``: right / (right + wrong).
* ``issuer_invented``: issuers found that are not written in the text (must be 0: never invent).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import defaultdict

from ingest.loaders import Extracted
from ingest.metadata import DERIVED_TITLE_CHARS
from ingest.reading import build_document

from .data import half_of

_STOP = set("le la les l de du des d un une et en à au aux pour par sur the a an of and to in for on with by".split())


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.replace("’", "'").lower()).encode("ascii", "ignore").decode()
    text = re.sub(r"\([^)]*\)", " ", text)
    text = re.sub(r"[^a-z0-9 ]", " ", text)
    return " ".join(word for word in text.split() if word not in ("the", "le", "la", "les", "l"))


def same_organisation(found: str, known: str) -> bool:
    """``"Federal Council"`` is ``"The Federal Council"``; ``"Office fédéral de la communication (OFCOM)"``
    is ``"Office fédéral de la communication"``."""
    a, b = _norm(found), _norm(known)
    return bool(a and b) and (a in b or b in a)


def _content_words(text: str) -> set[str]:
    return {w for w in _norm(text).split() if w not in _STOP and len(w) > 2}


def metadata_section(data) -> dict:
    """``{"swiss": {"tune": {...}, "report": {...}, "all": {...}}}`` (empty without the Swiss corpus)."""
    if not data.corpus_path:
        return {}
    counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    examples: list[dict] = []
    with open(data.corpus_path, encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            doc = build_document(Extracted(text=row["text"]), doc_id=row["doc_id"], source="eval")
            title_ok = 3 <= len(doc.title.split()) and len(doc.title) <= DERIVED_TITLE_CHARS + 1
            known = _content_words(row["title"])
            overlap = len(known & _content_words(doc.title)) / len(known) if known else 0.0
            if not doc.issuer:
                verdict = "missing"
            elif same_organisation(doc.issuer, row["issuer"]):
                verdict = "right"
            else:
                verdict = "wrong"
            invented = bool(doc.issuer) and re.sub(r"\s*\([^)]*\)$", "", doc.issuer) not in row["text"]
            for half in (half_of(row["release_id"]), "all"):
                c = counts[half]
                c["n"] += 1
                c["title_usable"] += title_ok
                c["title_word_overlap"] += overlap
                c[f"issuer_{verdict}"] += 1
                c["issuer_invented"] += invented
            if verdict == "wrong" or invented:
                examples.append({"doc_id": row["doc_id"], "known": row["issuer"], "found": doc.issuer,
                                 "origin": doc.origin.get("issuer", "")})
    summary = {}
    for half, c in counts.items():
        n = c["n"]
        found = c["issuer_right"] + c["issuer_wrong"]
        summary[half] = {
            "n": int(n),
            "title_usable": c["title_usable"] / n,
            "title_word_overlap": c["title_word_overlap"] / n,
            "issuer_right": c["issuer_right"] / n,
            "issuer_wrong": c["issuer_wrong"] / n,
            "issuer_missing": c["issuer_missing"] / n,
            "issuer_precision": c["issuer_right"] / found if found else None,
            "issuer_invented": c["issuer_invented"] / n,
        }
    return {"swiss": {**summary, "wrong_issuers": examples}}
