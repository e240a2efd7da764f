"""The :class:`Assistant`: question → retrieved passages → selected sentences → answer → verified citations."""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from index import Hit, Index, InvalidQueryError, SearchFilters
from index.lexical import tokenize
from index.retrieval import centre
from ingest import detect_language

from . import prompts
from .attribution import attribute, make_citations, model_markers
from .errors import GeneratorUnavailableError, InvalidQuestionError, ModelFileError
from .generators import ExtractiveGenerator, GenerationRequest, Generator, Passage, make_generator
from .sentences import SourceSentence, sentences_of_hits
from .types import Answer

MAX_QUESTION_CHARS = 1000
# Context budget: the model reads only the sentences that matter (prompt reading dominates the
# wait on 2 cores: ~3 GFLOP per prompt token). Chosen by measurement, see README "Measured".
RETRIEVED_PASSAGES = 6
PROMPT_SENTENCES = 6
# Evidence gate, for every generator: when no retrieved sentence is as close to the question as the
# embedder's ``evidence_min_similarity`` (see index.embedders), the sources are taken not to answer
# it and the model is not asked.
LEXICAL_WEIGHT = 0.15
_QUESTION_WORDS = {
    "number": re.compile(r"\b(combien|how (many|much)|montant|nombre|pourcentage|taux|budget|prix|coût|population|habitants|"
                         r"amount|number|share|percentage|price|cost|inhabitants)\b", re.I),
    "date": re.compile(r"\b(quand|quelle date|en quelle année|when|what date|which year|in what year)\b", re.I),
}
# "un/une/one" are left out: as articles they are in almost every sentence.
_NUMBER_WORDS = (r"\b(deux|trois|quatre|cinq|six|sept|huit|neuf|dix|douze|quinze|vingt|trente|cent|mille|"
                 r"two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|twenty|thirty|hundred|thousand|"
                 r"million|milliard|billion|dozen|douzaine)s?\b")


def holds_kind_asked(question: str, text: str, number_words: bool = False) -> bool:
    """Whether ``text`` holds the kind of fact the question asks for: a number ("combien", "how
    many"), a date ("quand", "when"). Other questions are not constrained.

    ``number_words`` also accepts numbers in words ("cinq lignes"): right for a model's answer,
    too loose for picking a source sentence to quote ("deux centres" is in many sentences).
    """
    number = r"\d|" + _NUMBER_WORDS if number_words else r"\d"
    if _QUESTION_WORDS["number"].search(question) and not re.search(number, text, re.I):
        return False
    if _QUESTION_WORDS["date"].search(question) and not re.search(r"\d{4}|\b\d{1,2}(er)?\s+\w+", text):
        return False
    return True


_FOLLOW_UP = re.compile(
    r"^\s*(et|and|mais|but|also|aussi|puis|then)\b|\b(qu'en est-il|what about|how about|and for|et pour|"
    r"il|elle|ils|elles|celui|celle|cela|ça|it|they|them|this|that|these|those|he|she|his|her|their)\b",
    re.IGNORECASE)


@dataclass
class StreamEvent:
    """What :meth:`Assistant.ask_stream` yields: first the sources, then text, then the final answer."""

    kind: str  # "sources" | "text" | "answer"
    hits: list[Hit] | None = None
    text: str = ""
    answer: Answer | None = None


def _normalise_history(history) -> list[tuple[str, str]]:
    """Accept ``[(question, answer), ...]`` or chat messages ``[{"role", "content"}, ...]``."""
    pairs: list[tuple[str, str]] = []
    for item in history or []:
        if isinstance(item, dict):
            content = item.get("content")
            if isinstance(content, list):
                content = " ".join(str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content)
            content = str(content or "")
            if item.get("role") == "user":
                pairs.append((content, ""))
            elif item.get("role") == "assistant" and pairs:
                pairs[-1] = (pairs[-1][0], content)
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            pairs.append((str(item[0] or ""), str(item[1] or "")))
    return [(q, a) for q, a in pairs if q.strip()]


class Assistant:
    """Answers French and English questions from an index, citing the exact source passages.

    Example:
        >>> from assistant import Assistant
        >>> a = Assistant.open("sample-index", generator="extractive")   # doctest: +SKIP
        >>> hits = a.search("Who signed the agreement?", k=3)              # doctest: +SKIP
        >>> answer = a.ask("Combien de personnes emploie l'aérospatiale au Québec ?")  # doctest: +SKIP
        >>> answer.refused, answer.citations[0].quote                       # doctest: +SKIP
        (False, 'L’industrie aérospatiale, qui emploie 43 000 personnes dans la province ...')
    """

    def __init__(self, index: Index, generator: Generator | str | None = None) -> None:
        self.index = index
        if generator is None:
            generator = os.environ.get("PORTEPAROLE_GENERATOR", "llm")
        self.generator = make_generator(generator) if isinstance(generator, str) else generator
        self.prompt_sentences = PROMPT_SENTENCES
        self.last_generator_error = ""
        self._sentence_vectors: dict[tuple[str, int, int], np.ndarray] = {}
        self._cache_lock = threading.Lock()

    @classmethod
    def open(cls, index_dir, generator: Generator | str | None = None, embedder=None) -> "Assistant":
        """Open the index at ``index_dir``; ``generator`` is ``"llm"`` (default), ``"extractive"`` or a :class:`Generator`."""
        return cls(Index.open(index_dir, embedder), generator)

    # ------------------------------------------------------------------ search
    def search(self, question: str, k: int = 10, filters: SearchFilters | dict | None = None, **kwargs) -> list[Hit]:
        """Retrieved passages, best first (see :meth:`index.Index.search`)."""
        return self.index.search(question, k=k, filters=self._filters(filters), **kwargs)

    @staticmethod
    def _filters(filters) -> SearchFilters | None:
        if filters is None or isinstance(filters, SearchFilters):
            return filters
        return SearchFilters(**{key: value for key, value in dict(filters).items() if value})

    # ------------------------------------------------------------------ asking
    def ask(self, question: str, history=None, filters=None) -> Answer:
        """Answer ``question`` (French or English) in its language, with verified citations.

        ``history`` is the conversation so far, ``[(question, answer), ...]`` or chat messages.
        """
        answer = None
        for event in self.ask_stream(question, history=history, filters=filters):
            if event.kind == "answer":
                answer = event.answer
        assert answer is not None
        return answer

    def _check_question(self, question) -> str:
        if not isinstance(question, str) or not question.strip():
            raise InvalidQuestionError("The question is empty. / La question est vide.")
        question = question.strip()
        if len(question) > MAX_QUESTION_CHARS:
            raise InvalidQuestionError(
                f"The question is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}. "
                f"/ La question dépasse {MAX_QUESTION_CHARS} caractères."
            )
        return question

    def question_language(self, question: str, history: list[tuple[str, str]]) -> str:
        lang, probability = detect_language(question)
        if (not lang or probability < 0.8) and history:
            previous, _ = detect_language(history[-1][0])
            lang = previous or lang
        return lang or "en"

    @staticmethod
    def looks_like_follow_up(question: str) -> bool:
        """Short, or leaning on the conversation ("Et pour Montréal ?", "What about it?")."""
        words = re.findall(r"\w+", question.lower())
        return len(words) <= 6 or bool(_FOLLOW_UP.search(question))

    def standalone_question(self, question: str, history: list[tuple[str, str]]) -> str:
        """Rewrite a follow-up ("Et pour Montréal ?") into a question that stands alone.

        Only questions that look like follow-ups are rewritten: on 2 cores a rewrite costs the
        model a few seconds, which a self-contained question should not pay.
        """
        if not history or not self.looks_like_follow_up(question):
            return question
        rewritten = None
        try:
            rewritten = self.generator.complete(prompts.REWRITE_SYSTEM, prompts.build_rewrite_prompt(question, history), 48)
        except (GeneratorUnavailableError, ModelFileError):
            rewritten = None
        if rewritten:
            rewritten = rewritten.strip().strip('"«» ').splitlines()[0].strip()
            if 3 <= len(rewritten) <= MAX_QUESTION_CHARS:
                return rewritten
        # Without a model: the previous question gives the follow-up its subject.
        return f"{history[-1][0]} {question}"

    def _vectors_for(self, sentences: Sequence[SourceSentence]) -> np.ndarray:
        embedder = self.index.embedder
        keys = [(s.doc_id, s.char_start, s.char_end) for s in sentences]
        with self._cache_lock:
            missing = [i for i, key in enumerate(keys) if key not in self._sentence_vectors]
        if missing:
            fresh = embedder.encode_document([sentences[i].text for i in missing])
            with self._cache_lock:
                for i, vector in zip(missing, fresh):
                    self._sentence_vectors[keys[i]] = vector
        with self._cache_lock:
            return np.vstack([self._sentence_vectors[key] for key in keys]) if keys else np.zeros((0, embedder.dim), np.float32)

    def _select_sentences(self, question: str, hits: list[Hit]) -> tuple[list[SourceSentence], np.ndarray, np.ndarray]:
        """All sentences of the retrieved passages, their vectors, and their similarity to the question."""
        sentences = sentences_of_hits(hits)
        if not sentences:
            return [], np.zeros((0, self.index.embedder.dim), np.float32), np.zeros(0)
        vectors = self._vectors_for(sentences)
        centring = self.index.retriever.centring
        centred = centre(vectors, [s.hit.document.lang for s in sentences], centring)
        query = centre(self.index.embedder.encode_query([question]), ["query"], centring)[0]
        # Words of the question found in a sentence (stemmed, in the sentence's language) break
        # ties between sentences of one topic that the embedding alone ranks poorly ("who signed").
        terms = {lang: set(tokenize(question, lang)) for lang in ("fr", "en")}
        overlap = np.array([
            len(terms[s.hit.document.lang or "en"] & set(tokenize(s.text, s.hit.document.lang or "en")))
            / max(1, len(terms[s.hit.document.lang or "en"]))
            for s in sentences
        ])
        return sentences, vectors, centred @ query + LEXICAL_WEIGHT * overlap

    def ask_stream(self, question: str, history=None, filters=None) -> Iterator[StreamEvent]:
        """Yield ``sources`` (at once), then ``text`` pieces as generated, then the final ``answer``.

        The streamed text is the model's raw output; the final :class:`Answer` keeps only the
        sentences the sources support, with verified citations.
        """
        started = time.perf_counter()
        timings: dict[str, float] = {}
        question = self._check_question(question)
        pairs = _normalise_history(history)
        language = self.question_language(question, pairs)
        standalone = self.standalone_question(question, pairs)
        timings["rewrite"] = time.perf_counter() - started

        try:
            hits = self.search(standalone, k=RETRIEVED_PASSAGES, filters=filters)
        except InvalidQueryError as exc:
            raise InvalidQuestionError(str(exc)) from exc
        timings["retrieval"] = time.perf_counter() - started
        yield StreamEvent("sources", hits=hits)

        sentences, vectors, similarity = self._select_sentences(standalone, hits)
        order = list(np.argsort(-similarity, kind="stable")[: self.prompt_sentences]) if len(sentences) else []
        passages = [
            Passage(n=i + 1, text=sentences[j].text, title=sentences[j].hit.document.title,
                    date=sentences[j].hit.document.date, issuer=sentences[j].hit.document.issuer,
                    lang=sentences[j].hit.document.lang, score=float(similarity[j]))
            for i, j in enumerate(order)
        ]
        passage_numbers = {i + 1: int(j) for i, j in enumerate(order)}
        timings["selection"] = time.perf_counter() - started

        generator = self.generator
        best_similarity = float(similarity.max()) if len(similarity) else 0.0
        request = GenerationRequest(
            question=standalone, language=language, passages=passages, system=prompts.SYSTEM_PROMPT,
            user=prompts.build_user_prompt(standalone, language, passages),
        )
        raw_parts: list[str] = []
        refusal_reason = ""
        if not passages:
            refusal_reason = "no passage retrieved"
        elif best_similarity < self.index.embedder.evidence_min_similarity:
            refusal_reason = f"no sentence close enough to the question (best similarity {best_similarity:.2f})"
        elif isinstance(generator, ExtractiveGenerator) and (reason := self._nothing_to_quote(standalone, passages)):
            refusal_reason = reason
        else:
            try:
                pieces = generator.stream(request)
                for piece in pieces:
                    if not raw_parts:
                        timings["first_token"] = time.perf_counter() - started
                    raw_parts.append(piece)
                    yield StreamEvent("text", text=piece)
            except (GeneratorUnavailableError, ModelFileError) as exc:
                # The LLM cannot run here: answer extractively rather than not at all, and say so.
                generator = ExtractiveGenerator()
                self.last_generator_error = str(exc)
                refusal_reason = self._nothing_to_quote(standalone, passages)
                raw_parts = [] if refusal_reason else list(generator.stream(request))
                for piece in raw_parts:
                    yield StreamEvent("text", text=piece)
        timings["generation"] = time.perf_counter() - started
        raw_text = "".join(raw_parts).strip()

        text, citations = "", []
        if not refusal_reason:
            if prompts.NOT_FOUND in raw_text or not raw_text:
                refusal_reason = "the model found no answer in the passages"
            else:
                _, answer_sentences = model_markers(raw_text)
                answer_vectors = self.index.embedder.encode_document([s for s, _ in answer_sentences]) if answer_sentences else np.zeros((0, 1))
                attributed = attribute(answer_sentences, sentences, vectors, answer_vectors, passage_numbers, standalone,
                                      self.index.embedder.same_meaning_cosine)
                text, citations = make_citations(attributed)
                answer_only = re.sub(r"\[\d+\]", "", text)
                if citations and not holds_kind_asked(standalone, answer_only, number_words=not isinstance(generator, ExtractiveGenerator)):
                    # "How many ...?" answered without any number: whatever it says, it is not the answer.
                    refusal_reason = "the answer does not state the kind of fact asked for (a number or a date)"
                elif not citations:
                    problems = sorted({m for a in attributed for m in a.unsupported})
                    refusal_reason = "no answer sentence is supported by the sources" + (f" ({', '.join(problems[:5])})" if problems else "")
        if isinstance(generator, ExtractiveGenerator) and text:
            text = prompts.EXTRACTIVE_LEAD[language] + text
        refused = bool(refusal_reason)
        if refused:
            text = prompts.REFUSAL[language]
            citations = []
        timings["total"] = time.perf_counter() - started
        answer = Answer(
            question=question, text=text, language=language, refused=refused, citations=citations, hits=hits,
            timings=timings, standalone_question=standalone, generator=generator.name, raw_text=raw_text,
            refusal_reason=refusal_reason, best_similarity=best_similarity,
        )
        yield StreamEvent("answer", answer=answer)

    @staticmethod
    def _nothing_to_quote(question: str, passages: list[Passage]) -> str:
        """Why the extractive generator has nothing to quote ("" when the best sentence holds the
        kind of fact asked for: a number, a date)."""
        if holds_kind_asked(question, max(passages, key=lambda p: p.score).text):
            return ""
        return "the closest sentence does not hold the kind of fact asked for (a number or a date)"
