"""Attribute each answer sentence to the source sentence that supports it, and verify the quotes.

The model's own ``[n]`` are hints, not proof (measured: it cites the right source about 30 % of
the time). Here every answer sentence is compared with the candidate source sentences by meaning
(multilingual embeddings, so an English sentence matches its French source) and by facts
(numbers, dates, names must occur in the source). A sentence that no source supports, or that
states a fact found in no retrieved passage, is dropped; if nothing is left, the answer is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from index import stemmed_terms

from .facts import fact_count, new_fact_count, unsupported_facts
from .sentences import SourceSentence, split_with_offsets
from .types import Citation

_MARKER = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
# Other bracketed bits the model writes in place of a number ("[n]", "[source]").
_STRAY_MARKER = re.compile(r"\s*\[[^\]\d]{0,12}\]")
# Filler the model adds after a claim ("..., as stated in passage [1]"); not at a sentence's start,
# where "Selon le passage 2, ..." introduces a claim.
_FILLER = re.compile(r"[,;]?\s+(as stated in|according to|this information is|is (found|provided|described|mentioned) in|"
                     r"selon (le|les) passages?|comme indiqué dans|d'après (le|les) passages?)\b[^.]*\.?$", re.I)
# Whole sentences that only point at the passages ("This can be found in passage [5], which states
# ..."), and lead-ins that announce the answer ("La réponse est :"): they claim nothing.
_POINTER = re.compile(r"^(this|that|the (above )?information|these facts|cette information|ceci|cela)\b.{0,40}"
                      r"\b(found|seen|stated|mentioned|provided|given|trouve|indiqu|mentionn|précis|donn)", re.I)
_LEAD_IN = re.compile(r"^(the answer is|la réponse est|réponse|answer)\s*:?\s*", re.I)
# The model sometimes copies a passage's header after its answer: " — Title (Issuer, date)".
_HEADER_ECHO = re.compile(r"(^|\s+)—\s+[^—]*$")
# A release's dateline quoted with its first sentence ("Valmont, le 14 janvier 2025 — L'aéroport a
# accueilli ..."): the claim is after the dash, and the dash is not a header echo.
_DATELINE = re.compile(r"^[A-ZÀ-Þ][\w'’ .-]*,\s+(?:le\s+)?(?:\d{1,2}(?:er)?\s+\w+\s+\d{4}|\w+\s+\d{1,2},?\s+\d{4})\s+—\s+")
# "43, 000": a thousands separator the model sometimes writes with a space.
_SPLIT_NUMBER = re.compile(r"(?<![\d,.])(\d{1,3}), (\d{3})(?![\d,])")
MIN_CLAIM_WORDS = 3
FACT_BONUS = 0.1
FACT_RERANK_DEPTH = 10
# How far down the candidates another source is looked for when the best one lacks some of the
# answer's facts: one holding them all instead, or one holding what it lacks (see attribute).
OTHER_SOURCE_DEPTH = 6
MODEL_CITATION_BONUS = 0.02
#: Why an answer sentence made only of the question's own words and facts is not a claim.
RESTATES_QUESTION = "restates the question"


@dataclass
class AttributedSentence:
    text: str
    sources: list[SourceSentence]
    support: float
    unsupported: list[str]

    @property
    def supported(self) -> bool:
        return bool(self.sources) and not self.unsupported


def _content_words(text: str) -> list[str]:
    lang = "fr" if re.search(r"[éèàùçêâîôû]|\b(le|la|les|des|est|une)\b", text.lower()) else "en"
    return stemmed_terms(text, lang)


def model_markers(text: str) -> tuple[str, list[tuple[str, set[int]]]]:
    """Split the raw answer into sentences with the [n] the model wrote after each.

    Returns the answer without markers, and ``[(sentence, {n, ...}), ...]``.
    """
    sentences = []
    # A line break ends a sentence too: "La réponse est : 4.50 $ [2]\nCette entrée coûte ..." is
    # two claims, and "Cette" would otherwise read as a name in the middle of one.
    lines = [sentence for line in text.splitlines() for sentence, _, _ in split_with_offsets(line)]
    for sentence in lines:
        numbers = {int(n) for group in _MARKER.findall(sentence) for n in re.split(r"\s*[,;]\s*", group)}
        clean = _STRAY_MARKER.sub("", _MARKER.sub("", sentence)).strip()
        if _POINTER.search(clean):
            continue
        after_lead_in = _LEAD_IN.sub("", clean)
        announced = after_lead_in != clean
        clean = _HEADER_ECHO.sub("", _DATELINE.sub("", after_lead_in)).strip()
        clean = _SPLIT_NUMBER.sub(r"\1,\2", _FILLER.sub("", clean).strip(" ,;:"))
        # "La réponse est : 4.50$." is the answer itself, however short.
        if _word_count(clean) >= MIN_CLAIM_WORDS or (announced and _word_count(clean)):
            if clean[-1:] not in ".!?…":
                clean += "."
            sentences.append((clean, numbers))
    return " ".join(s for s, _ in sentences), sentences


def matching_text(sentence: str, question: str) -> str:
    """What an answer sentence is compared with the sources by: itself, or, when it is a bare value
    ("4.50 $.", fewer than three words), the question followed by it (a value alone means little
    to an embedding).

    Example:
        >>> matching_text("4.50 $.", "Combien coûte une entrée ?")
        'Combien coûte une entrée ? 4.50 $.'
    """
    return sentence if _word_count(sentence) >= MIN_CLAIM_WORDS else f"{question} {sentence}"


def _word_count(text: str) -> int:
    return len(re.findall(r"\w+", text))


def attribute(
    answer_sentences: list[tuple[str, set[int]]],
    candidates: list[SourceSentence],
    candidate_vectors: np.ndarray,
    answer_vectors: np.ndarray,
    passage_numbers: dict[int, int],
    question: str,
    support_min: float,
) -> list[AttributedSentence]:
    """For each answer sentence, the best supporting candidate (by similarity, facts and the model's [n]).

    ``passage_numbers`` maps the [n] shown to the model to an index in ``candidates``; numbers
    that point at no passage are ignored. ``support_min`` is the embedder's same-meaning cosine.
    """
    attributed = []
    question_words = set(_content_words(question))
    for (sentence, cited), vector in zip(answer_sentences, answer_vectors):
        if set(_content_words(sentence)) <= question_words and not new_fact_count(sentence, question):
            # Only the question's own words, figures, dates and names: it answers nothing.
            attributed.append(AttributedSentence(sentence, [], 0.0, [RESTATES_QUESTION]))
            continue
        similarities = candidate_vectors @ vector if len(candidates) else np.zeros(0)
        valid_cited = {passage_numbers[n] for n in cited if n in passage_numbers}
        scored = []
        for i, source in enumerate(candidates):
            bonus = MODEL_CITATION_BONUS if i in valid_cited else 0.0
            scored.append((float(similarities[i]) + bonus, i))
        scored.sort(reverse=True)
        # Among the closest candidates, prefer the sentence that itself states the answer's facts:
        # a restated headline is close in meaning, but the quote must show the names and figures.
        n_facts = fact_count(sentence, question)
        if n_facts:
            top = scored[:FACT_RERANK_DEPTH]
            reranked = []
            for score, i in top:
                # The citation shows the communiqué's date too, so it counts as stated there.
                shown = candidates[i].text + " " + candidates[i].hit.document.date
                found = n_facts - len(unsupported_facts(sentence, shown, question))
                reranked.append((score + FACT_BONUS * found / n_facts, i))
            scored = sorted(reranked, reverse=True) + scored[FACT_RERANK_DEPTH:]
        best_sources: list[SourceSentence] = []
        best_score = scored[0][0] if scored else 0.0
        missing: list[str] = []
        if scored and best_score >= support_min:
            best = candidates[scored[0][1]]
            # Facts are checked against the whole retrieved passage the sentence belongs to.
            context = best.hit.supporting_text
            missing = unsupported_facts(sentence, context, question)
            if missing:
                # Another candidate (e.g. the one the model cited) may hold the facts.
                for score, i in scored[1:OTHER_SOURCE_DEPTH]:
                    other = candidates[i]
                    if score < support_min:
                        break
                    other_context = other.hit.supporting_text
                    if not unsupported_facts(sentence, other_context, question):
                        best, best_score, missing = other, score, []
                        break
            best_sources = [best]
            if missing:
                # A sentence that joins two passages ("SECO contributed CHF 4,437,000 to the
                # project, under which the Basel companies donated trams"): supported when one
                # of the closest candidates holds what the best one lacks; both are cited.
                for _, i in scored[1:OTHER_SOURCE_DEPTH]:
                    other = candidates[i]
                    if other.hit is not best.hit and not unsupported_facts(
                            sentence, context + " " + other.hit.supporting_text, question):
                        best_sources, missing = [best, other], []
                        break
        else:
            all_context = " ".join({c.hit.chunk.chunk_id: c.hit.chunk.text for c in candidates}.values())
            missing = unsupported_facts(sentence, all_context, question) or ["no supporting passage"]
        attributed.append(AttributedSentence(sentence, best_sources, best_score, missing))
    return attributed


def quote_citation(source: SourceSentence, n: int) -> Citation | None:
    """Citation ``n`` quoting ``source``; None when the quote is not, verbatim, in the stored
    document text (a quote is only ever shown if it is)."""
    doc = source.hit.document
    if doc.text[source.char_start:source.char_end] != source.text:
        return None
    return Citation(n=n, doc_id=doc.doc_id, title=doc.title, date=doc.date, issuer=doc.issuer, lang=doc.lang,
                    source=doc.source, url=doc.url, quote=source.text, char_start=source.char_start,
                    char_end=source.char_end)


def make_citations(attributed: list[AttributedSentence]) -> tuple[str, list[Citation]]:
    """Final answer text with [n] after each supported sentence, and the verified citations."""
    citations: list[Citation] = []
    by_span: dict[tuple[str, int, int], int] = {}
    parts = []
    for sentence in attributed:
        if not sentence.supported:
            continue
        numbers = []
        for source in sentence.sources:
            key = (source.doc_id, source.char_start, source.char_end)
            if key not in by_span:
                citation = quote_citation(source, len(citations) + 1)
                if citation is None:
                    continue
                by_span[key] = citation.n
                citations.append(citation)
            numbers.append(by_span[key])
        if numbers:
            marks = "".join(f"[{n}]" for n in sorted(set(numbers)))
            text = sentence.text
            if text[-1:] in ".!?…":
                parts.append(f"{text[:-1]} {marks}{text[-1]}")
            else:
                parts.append(f"{text} {marks}")
    return " ".join(parts), citations
