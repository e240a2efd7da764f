"""Stage 3, the evidence: every sentence of the retrieved passages, scored against the question.

A sentence's score adds three measured signals: its centred cosine with the question (the index's
own vector space, so French and English sentences are scored alike), the share of the question's
stemmed words it contains, and whether it holds the type of fact asked for (a number for "how
many", a name for "who"). The model then reads only the best few sentences, each with its title,
issuer and date: prompt reading dominates the wait on 2 cores.

Example:
    >>> scorer = EvidenceScorer(index)                             # doctest: +SKIP
    >>> evidence = scorer.score("Who signed the agreement?", hits)  # doctest: +SKIP
    >>> evidence.sentences[evidence.ranked()[0]].text               # doctest: +SKIP
    'Le 2 février 2021, Jean-Luc Moudenc et Valérie Plante ont signé ...'
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from index import Hit, Index, stemmed_terms

from .answer_types import holds_type, question_type
from .generators import Passage
from .sentences import SourceSentence, sentences_of_hits

# Words of the question found in a sentence break ties between sentences of one topic that the
# embedding alone ranks poorly ("who signed"). Weight measured with the evidence gate (README).
LEXICAL_WEIGHT = 0.15
# A sentence that holds the type of fact asked for moves up by this much (chosen on the public
# dev halves, see eval/history.md): enough to pass a topic sentence without the fact, not enough to
# pass a sentence about something else that happens to hold a number.
TYPE_WEIGHT = 0.04


@dataclass
class Evidence:
    """The scored sentences of the retrieved passages, for one question."""

    question: str
    answer_type: str
    sentences: list[SourceSentence]
    vectors: np.ndarray
    similarity: np.ndarray   # centred cosine with the question
    overlap: np.ndarray      # share of the question's stemmed words in the sentence
    holds_type: np.ndarray   # the sentence holds the type of fact asked for (digits, not words)

    @property
    def scores(self) -> np.ndarray:
        return self.relevance + TYPE_WEIGHT * self.holds_type

    @property
    def relevance(self) -> np.ndarray:
        """Similarity plus word overlap: how close a sentence is to the question, type aside."""
        return self.similarity + LEXICAL_WEIGHT * self.overlap

    @property
    def best_relevance(self) -> float:
        return float(self.relevance.max()) if len(self.sentences) else 0.0

    def ranked(self, n: int | None = None) -> list[int]:
        """Indices of the sentences, best first."""
        order = [int(i) for i in np.argsort(-self.scores, kind="stable")] if len(self.sentences) else []
        return order[:n] if n is not None else order

    def rows_of(self, sentences: Sequence[SourceSentence]) -> list[int]:
        """The indices of ``sentences`` (the same objects) among :attr:`sentences`."""
        return [i for i, sentence in enumerate(self.sentences) if any(sentence is s for s in sentences)]

    def best_holding_type(self, depth: int = 3) -> int | None:
        """The best sentence, among the first ``depth``, that holds the type of fact asked for."""
        for i in self.ranked(depth):
            if self.holds_type[i]:
                return i
        return None

    def prompt_rows(self, n: int) -> list[int]:
        """The sentences the model reads: the ``n`` best, except that when none of the ``n - 1``
        best holds the type of fact asked for, the last place goes to the best other sentence
        that does. The answer sentence of a short question can rank low on closeness ("The funding
        budget over four years is 21.3 million Swiss francs." 8th for "What is the total funding
        budget ..."). Giving the last place to such a sentence even when a better one held the type
        put a figure of another item before the model (dq031: 17 billion euros of all ESA members
        for Switzerland's share, eval/history.md)."""
        order = self.ranked()
        best = order[:n - 1] if n > 1 else []
        holding = [i for i in order[len(best):] if self.holds_type[i]]
        if not best or any(self.holds_type[i] for i in best) or not holding:
            return order[:n]
        return best + holding[:1]

    def passages(self, n: int) -> tuple[list[Passage], dict[int, int]]:
        """The sentences :meth:`prompt_rows` picks as numbered :class:`Passage` s, and ``{n: sentence index}``."""
        order = self.prompt_rows(n)
        passages = []
        for number, i in enumerate(order, start=1):
            sentence = self.sentences[i]
            doc = sentence.hit.document
            passages.append(Passage(n=number, text=sentence.text, title=doc.stated("title"), date=doc.date, issuer=doc.stated("issuer"),
                                    lang=doc.lang, score=float(self.scores[i])))
        return passages, {number: i for number, i in enumerate(order, start=1)}


def word_overlap(question: str, texts: Sequence[str], langs: Sequence[str]) -> np.ndarray:
    """The share of ``question``'s stemmed words found in each text (stemmed in its own language;
    stemming and stop words exist for French and English, other languages are read as English)."""
    langs = [lang if lang in ("fr", "en") else "en" for lang in langs]
    terms = {lang: set(stemmed_terms(question, lang)) for lang in ("fr", "en")}
    return np.array([len(terms[lang] & set(stemmed_terms(text, lang))) / max(1, len(terms[lang]))
                     for text, lang in zip(texts, langs)])


class EvidenceScorer:
    """Scores the sentences of retrieved passages; sentence vectors are cached for the process."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self._vectors: dict[bytes, np.ndarray] = {}
        self._lock = threading.Lock()

    def vectors_for(self, sentences: Sequence[SourceSentence]) -> np.ndarray:
        return self.text_vectors([s.text for s in sentences])

    def text_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Passage-side vectors of ``texts`` (sentences, titles), embedded once per process."""
        embedder = self.index.embedder
        # Keyed by the text, not its position: a document replaced by an upload may have other
        # text at the same offsets.
        keys = [hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest() for text in texts]
        with self._lock:
            missing = [i for i, key in enumerate(keys) if key not in self._vectors]
        if missing:
            fresh = embedder.encode_document([texts[i] for i in missing])
            with self._lock:
                for i, vector in zip(missing, fresh):
                    self._vectors[keys[i]] = vector
        with self._lock:
            return np.vstack([self._vectors[key] for key in keys]) if keys else np.zeros((0, embedder.dim), np.float32)

    def score(self, question: str, hits: list[Hit]) -> Evidence:
        kind = question_type(question)
        sentences = sentences_of_hits(hits)
        if not sentences:
            empty = np.zeros(0)
            return Evidence(question, kind, [], np.zeros((0, self.index.embedder.dim), np.float32), empty, empty, empty)
        vectors = self.vectors_for(sentences)
        similarity = self.index.centred_similarity(question, vectors, [s.hit.document.lang for s in sentences])
        overlap = word_overlap(question, [s.text for s in sentences], [s.hit.document.lang for s in sentences])
        holds = np.array([holds_type(s.text, kind, number_words=False) for s in sentences], dtype=float)
        return Evidence(question, kind, sentences, vectors, np.asarray(similarity, dtype=float), overlap, holds)
