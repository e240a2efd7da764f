"""The :class:`Assistant`: a short composition of named stages, each in its own module.

conversation (:mod:`.conversation`, :mod:`.time_scope`) → retrieval (:meth:`index.Index.search`) → evidence
(:mod:`.evidence`) → generation (:mod:`.generators`, :mod:`.llm`) → attribution
(:mod:`.attribution`) → policy (:mod:`.policy`, every refusal rule) → newer values (:mod:`.updates`:
a cited figure that a newer release of the same issuer gives otherwise).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from datetime import date
from typing import Iterator

import numpy as np

from index import Hit, Index, InvalidQueryError, SearchFilters

from . import conversation, policy, prompts
from .attribution import RESTATES_QUESTION, AttributedSentence, attribute, make_citations, matching_text, model_markers
from .errors import GeneratorUnavailableError, InvalidQuestionError, ModelFileError
from .evidence import Evidence, EvidenceScorer
from .facts import unsupported_facts
from .generators import ExtractiveGenerator, GenerationRequest, Generator
from .time_scope import TimeScope, prefer_in_scope, time_scope
from .timeline import Timeline, build_timeline
from .types import Answer
from .updates import find_updates

# Context budget: the model reads only the sentences that matter (prompt reading dominates the
# wait on 2 cores: ~3 GFLOP per prompt token). Chosen by measurement, see README "Measured".
RETRIEVED_PASSAGES = 6
PROMPT_SENTENCES = 6
# A question with a time expression looks further down the ranking for releases of its period.
TIME_CANDIDATES = 30


def make_generator(name: str) -> Generator:
    """``"llm"`` or ``"extractive"``."""
    if name == "llm":
        from .llm import LlmGenerator  # torch and transformers load only when the LLM is chosen

        return LlmGenerator()
    if name == "extractive":
        return ExtractiveGenerator()
    raise GeneratorUnavailableError(f"Unknown generator {name!r}; choose llm or extractive.")


@dataclass
class StreamEvent:
    """What :meth:`Assistant.ask_stream` yields: first the sources, then text, then the final answer."""

    kind: str  # "sources" | "text" | "answer"
    hits: list[Hit] | None = None
    text: str = ""
    answer: Answer | None = None


@dataclass
class Retrieved:
    """What :meth:`Assistant.retrieve` found: the question understood and its sources, from one
    index snapshot (``scorer`` is bound to it), with the clock started when the question came."""

    turn: conversation.Turn
    hits: list[Hit]
    scorer: EvidenceScorer
    started: float
    timings: dict[str, float]
    #: The time expression read from the question and applied to the ranking (None: none, or turned off).
    time_scope: TimeScope | None = None
    #: Check the cited figures against newer releases and each other (:mod:`assistant.updates`).
    newer_values: bool = True


@dataclass
class _Offer:
    """The answer on offer before the policy decides: the draft's supported sentences, or a quote."""

    text: str
    citations: list
    sources: list
    problem: str = ""
    #: A quote in the other language than the question's, to translate if the policy accepts it.
    needs_translation: bool = False
    #: The quote is the source sentence the failed draft was attributed to (see :meth:`_offer`).
    drawn_from_draft: bool = False
    #: The quote is the passage a draft that only restated the question pointed at with its [n].
    pointed_at: bool = False


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
        #: The calibrated refusal model (None: the one shipped in assistant/data/refusal.json).
        self.refusal_model: dict | None = None

    @classmethod
    def open(cls, location, generator: Generator | str | None = None, embedder=None) -> "Assistant":
        """Open the index at ``location`` (a folder or a ``postgresql://`` URL); ``generator`` is
        ``"llm"`` (default), ``"extractive"`` or a :class:`Generator`."""
        return cls(Index.open(location, embedder), generator)

    @property
    def index(self) -> Index:
        return self._snapshot[0]

    @index.setter
    def index(self, index: Index) -> None:
        # One assignment swaps the index and its evidence scorer together: a question being
        # answered keeps the pair it started with (an upload may swap them meanwhile).
        self._snapshot = (index, EvidenceScorer(index))

    @property
    def evidence_scorer(self) -> EvidenceScorer:
        return self._snapshot[1]

    # ------------------------------------------------------------------ search
    def search(self, question: str, k: int = 10, filters: SearchFilters | dict | None = None, **kwargs) -> list[Hit]:
        """Retrieved passages, best first (see :meth:`index.Index.search`)."""
        return self.index.search(question, k=k, filters=self._filters(filters), **kwargs)

    @staticmethod
    def _filters(filters) -> SearchFilters | None:
        if filters is None or isinstance(filters, SearchFilters):
            return filters
        return SearchFilters(**{key: value for key, value in dict(filters).items() if value})

    def timeline(self, subject: str, filters: SearchFilters | dict | None = None) -> "Timeline":
        """The releases about ``subject`` in date order, each with its most relevant sentence
        (:mod:`assistant.timeline`; no model is asked).

        Example:
            >>> print(Assistant.open("sample-index").timeline("night buses").to_markdown())  # doctest: +SKIP
        """
        index, scorer = self._snapshot
        return build_timeline(index, scorer, conversation.check_question(subject), self._filters(filters))

    # ------------------------------------------------------------------ asking
    def ask(self, question: str, history=None, filters=None, *, today: date | None = None,
            question_dates: bool = True, newer_values: bool = True) -> Answer:
        """Answer ``question`` (French or English) in its language, with verified citations.

        ``history`` is the conversation so far, ``[(question, answer), ...]`` or chat messages.
        A time expression in the question ("in 2019", "l'an dernier", "the latest ...") ranks the
        releases of that period first (:mod:`assistant.time_scope`); relative ones are read against
        ``today`` (default: the machine's date); ``question_dates=False`` turns this off.
        A cited figure that a newer release of the same issuer (or another cited source) gives
        otherwise is listed in ``answer.updates`` (:mod:`assistant.updates`; about 0.5 s per cited
        quote whose issuer has published since, on 2 cores); ``newer_values=False`` skips the check.
        """
        answer = None
        for event in self.ask_stream(question, history=history, filters=filters, today=today,
                                     question_dates=question_dates, newer_values=newer_values):
            if event.kind == "answer":
                answer = event.answer
        assert answer is not None
        return answer

    def ask_stream(self, question: str, history=None, filters=None, *, today: date | None = None,
                   question_dates: bool = True, newer_values: bool = True) -> Iterator[StreamEvent]:
        """Yield ``sources`` (at once), then ``text`` pieces as generated, then the final ``answer``.

        The streamed text is the model's raw output; the final :class:`Answer` keeps only the
        sentences the sources support, with verified citations, or a quote of the best source
        sentence when the draft fails its checks, or a refusal.
        """
        retrieved = self.retrieve(question, history=history, filters=filters, today=today, question_dates=question_dates,
                                  newer_values=newer_values)
        yield StreamEvent("sources", hits=retrieved.hits)
        yield from self.answer_stream(retrieved)

    def retrieve(self, question: str, history=None, filters=None, *, today: date | None = None,
                 question_dates: bool = True, newer_values: bool = True) -> Retrieved:
        """Stages 1 and 2: the question understood (a follow-up rewritten) and its sources found.

        Cheap unless the question is a follow-up (the rewrite asks the model): a server shows the
        sources of every user at once and queues only :meth:`answer_stream`.
        """
        started = time.perf_counter()
        timings: dict[str, float] = {}
        turn = conversation.understand(question, history, self.generator)
        timings["rewrite"] = time.perf_counter() - started
        index, scorer = self._snapshot  # one index generation for the whole answer
        scope = time_scope(turn.standalone, today) if question_dates else None
        try:
            # One version per release (the question's language when it exists): the passages are
            # quoted in the reader's language and the six slots hold more releases.
            hits = index.search(turn.standalone, k=max(TIME_CANDIDATES, RETRIEVED_PASSAGES) if scope else RETRIEVED_PASSAGES,
                                filters=self._filters(filters), per_release=True, query_lang=turn.language)
        except InvalidQueryError as exc:
            raise InvalidQuestionError(str(exc)) from exc
        hits = prefer_in_scope(hits, scope, RETRIEVED_PASSAGES)
        timings["retrieval"] = time.perf_counter() - started
        return Retrieved(turn, hits, scorer, started, timings, scope, newer_values)

    def answer_stream(self, retrieved: Retrieved) -> Iterator[StreamEvent]:
        """Stages 3 to 7 on what :meth:`retrieve` found: ``text`` pieces, then the ``answer``."""
        turn, hits, started, timings = retrieved.turn, retrieved.hits, retrieved.started, dict(retrieved.timings)
        evidence, request, passage_numbers = self.generation_request(retrieved)
        timings["selection"] = time.perf_counter() - started

        generator = self.generator
        raw_text, offer, decision = "", None, None
        early_refusal = policy.refuse_before_generation(evidence)
        if not early_refusal:
            raw_parts: list[str] = []
            try:
                for piece in generator.stream(request):
                    if not raw_parts:
                        timings["first_token"] = time.perf_counter() - started
                    raw_parts.append(piece)
                    yield StreamEvent("text", text=piece)
            except (GeneratorUnavailableError, ModelFileError) as exc:
                # The LLM cannot run here: answer extractively rather than not at all, and say so.
                generator = ExtractiveGenerator()
                self.last_generator_error = str(exc)
                raw_parts = list(generator.stream(request))
                for piece in raw_parts:
                    yield StreamEvent("text", text=piece)
            timings["generation"] = time.perf_counter() - started
            raw_text = "".join(raw_parts).strip()
            offer = self._offer(raw_text, turn, evidence, passage_numbers, request, generator)
            timings["attribution"] = time.perf_counter() - started
            values = policy.signals(
                evidence, not_found=prompts.NOT_FOUND in raw_text, draft_problem_found=bool(offer.problem),
                answer_text=offer.text, sources=offer.sources, question=turn.standalone,
            )
            decision = policy.decide(values, generator.name, self.refusal_model, offer.problem,
                                     drawn_from_draft=offer.drawn_from_draft, pointed_at=offer.pointed_at)
            if generator.can_judge and offer.sources and policy.wants_judgement(decision, offer.problem, offer.drawn_from_draft,
                                                                               offer.pointed_at):
                # Only an answer the rules would show, or a passage the draft pointed at, is judged
                # (each judgement costs prompt reading). Not as a feature of the quote model: there
                # it did not earn its place (eval/history.md).
                judged = self._judged(turn.standalone, offer.sources, generator)
                if judged is not None:
                    values["model_yes"] = judged
                    decision = policy.decide(values, generator.name, self.refusal_model, offer.problem,
                                             drawn_from_draft=offer.drawn_from_draft, pointed_at=offer.pointed_at)
                timings["judge"] = time.perf_counter() - started
            if not offer.citations:
                decision.refused, decision.reason = True, offer.problem or "nothing in the sources to quote"
            elif not decision.refused and offer.needs_translation:
                offer = self._translated(offer, turn, generator)
                timings["translation"] = time.perf_counter() - started
                if offer is None:
                    decision.refused, decision.reason = True, "the translation of the quote changed a figure, a date or a name"

        refused = bool(early_refusal) or decision is None or decision.refused
        text, citations = (offer.text, offer.citations) if offer and not refused else (prompts.REFUSAL[turn.language], [])
        if retrieved.time_scope and retrieved.time_scope.latest and citations and citations[0].date:
            # "The latest ...": the reader is told how recent the answer's source is (the date
            # replaces the plain "According to the communiqués:" lead of a quote).
            lead = prompts.EXTRACTIVE_LEAD[turn.language]
            text = prompts.as_of(citations[0].date, turn.language) + (text[len(lead):] if text.startswith(lead) else text)
        updates = []
        if citations and retrieved.newer_values:
            updates = find_updates(retrieved.scorer.index, retrieved.scorer, citations, turn.standalone, turn.language)
            timings["updates"] = time.perf_counter() - started
        timings["total"] = time.perf_counter() - started
        answer = Answer(
            question=turn.question, text=text, language=turn.language, refused=refused, citations=citations,
            hits=hits, timings=timings, standalone_question=turn.standalone, generator=generator.name,
            raw_text=raw_text, refusal_reason=early_refusal or (decision.reason if decision and refused else ""),
            best_similarity=evidence.best_relevance, answer_type=evidence.answer_type,
            confidence=decision.confidence if decision else None, signals=decision.signals if decision else {},
            offered_text=offer.text if offer else "", offered_doc_ids=[c.doc_id for c in offer.citations] if offer else [],
            time_scope=retrieved.time_scope.to_dict() if retrieved.time_scope else None, updates=updates,
        )
        yield StreamEvent("answer", answer=answer)

    def generation_request(self, retrieved: Retrieved) -> tuple[Evidence, GenerationRequest, dict[int, int]]:
        """Stage 3: the retrieved sentences scored, and what the generator is given (the best
        :attr:`prompt_sentences` of them, numbered; ``{passage number: evidence row}``)."""
        turn = retrieved.turn
        evidence = retrieved.scorer.score(turn.standalone, retrieved.hits)
        passages, passage_numbers = evidence.passages(self.prompt_sentences)
        request = GenerationRequest(
            question=turn.standalone, language=turn.language, passages=passages, system=prompts.SYSTEM_PROMPT,
            user=prompts.build_user_prompt(turn.standalone, turn.language, passages), answer_type=evidence.answer_type,
            min_not_found_probability=policy.MIN_NOT_FOUND_PROBABILITY,
        )
        return evidence, request, passage_numbers

    # ------------------------------------------------------------------ stages 5 and 6
    def _offer(self, raw_text: str, turn, evidence: Evidence, passage_numbers: dict[int, int],
               request: GenerationRequest, generator: Generator) -> _Offer:
        """Attribute the draft; if it fails a check, offer a quote of the best source sentence instead."""
        _, answer_sentences = model_markers(raw_text)
        embedder = self.index.embedder
        answer_vectors = (embedder.encode_document([matching_text(s, turn.standalone) for s, _ in answer_sentences])
                          if answer_sentences else np.zeros((0, 1)))
        attributed = attribute(answer_sentences, evidence.sentences, evidence.vectors, answer_vectors, passage_numbers,
                               turn.standalone, embedder.same_meaning_cosine)
        text, citations = make_citations(attributed)
        problem = policy.draft_problem(raw_text, attributed, text, evidence.answer_type, generator.quotes_sources,
                                       turn.standalone, evidence)
        if not problem:
            sources = [s for a in attributed if a.supported for s in a.sources]
            lead = prompts.EXTRACTIVE_LEAD[turn.language] if generator.quotes_sources else ""
            return _Offer(lead + text, citations, sources)
        # Never refuse what can be quoted: the source sentence the draft was drawn from when only
        # a figure, date or name of the draft is not in the sources (the quote shows what the
        # source does say), else the best sentence holding the fact asked for.
        claims = [a for a in attributed if a.sources and a.unsupported] if problem.startswith(policy.UNSUPPORTED) else []
        drawn_from = evidence.rows_of(max(claims, key=lambda a: a.support).sources[:1]) if claims else []
        quoted = self._quote_source(drawn_from[0], turn, evidence, request, generator) if drawn_from else None
        if quoted is not None:
            quoted.drawn_from_draft = True
        else:
            # A draft that only restates the question, but says where the answer is ("..., selon
            # le passage [3]."): that passage, if the generator can judge whether it answers.
            pointed = _pointed_at(raw_text, attributed, passage_numbers) if generator.can_judge else None
            quoted = self._quote_source(pointed, turn, evidence, request, generator) if pointed is not None else None
            if quoted is not None:
                quoted.pointed_at = True
            else:
                quoted = self._quote(turn, evidence, passage_numbers, request, generator)
        if quoted is None:
            return _Offer("", [], [], problem=problem)
        quoted.problem = problem
        return quoted

    def _quote(self, turn, evidence: Evidence, passage_numbers: dict[int, int], request: GenerationRequest,
               generator: Generator) -> _Offer | None:
        """The best-ranked sentence holding the fact asked for, as the extractive generator picks it."""
        quote = "".join(ExtractiveGenerator(max_sentences=1).stream(request))
        match = re.search(r"\[(\d+)\]\s*$", quote)
        if not match or int(match.group(1)) not in passage_numbers:
            return None
        return self._quote_source(passage_numbers[int(match.group(1))], turn, evidence, request, generator)

    def _quote_source(self, row: int, turn, evidence: Evidence, request: GenerationRequest,
                      generator: Generator) -> _Offer | None:
        """Sentence ``row`` of the evidence as the answer, translated (and marked so) when it is in
        the other language; None when it does not hold the type of fact asked for."""
        if request.answer_type != "other" and not evidence.holds_type[row]:
            return None  # nothing in the sources states the fact asked for
        source = evidence.sentences[row]
        return self._quoting(source, source.text, prompts.EXTRACTIVE_LEAD[turn.language],
                             needs_translation=generator.can_translate and (source.hit.document.lang or turn.language) != turn.language)

    @staticmethod
    def _judged(question: str, sources: list, generator: Generator) -> float | None:
        """The generator's probability that the answer's first source sentence (the one its first
        claim was attributed to) states the answer; None when the judge could not run (the rules
        then decide alone, as for a generator that cannot judge). Judging the first three sources
        and keeping the highest changed one decision in 135 questions for about twice the prompt
        reading (eval/history.md)."""
        first = sources[0]
        try:
            probabilities = generator.answer_probabilities(question, [first.text], [first.hit.document.title or ""])
        except (GeneratorUnavailableError, ModelFileError, RuntimeError):
            probabilities = None
        return probabilities[0] if probabilities else None

    @staticmethod
    def _quoting(source, text: str, lead: str, needs_translation: bool = False) -> _Offer | None:
        body, citations = make_citations([AttributedSentence(text.rstrip(), [source], 1.0, [])])
        return _Offer(lead + body, citations, [source], needs_translation=needs_translation) if citations else None

    def _translated(self, offer: _Offer, turn, generator: Generator) -> _Offer | None:
        """The accepted quote in the question's language, marked as a machine translation; None
        if the translation changed a figure, a date or a name (the quote stays verified either way)."""
        (source,) = offer.sources
        try:
            translated = generator.translate(source.text, turn.language)
        except (GeneratorUnavailableError, ModelFileError):
            translated = None  # the quote stays verified in its own language
        if not translated:
            return offer
        if unsupported_facts(translated, source.hit.supporting_text, turn.standalone):
            return None
        return self._quoting(source, translated, prompts.TRANSLATED_LEAD[turn.language])


def _pointed_at(raw_text: str, attributed: list[AttributedSentence], passage_numbers: dict[int, int]) -> int | None:
    """The evidence row of the first passage a draft cites, when every sentence of the draft only
    restates the question (else None: the draft's claims say more than a pointer)."""
    if not attributed or any(a.unsupported != [RESTATES_QUESTION] for a in attributed):
        return None
    cited = [int(n) for n in re.findall(r"\[(\d{1,3})\]", raw_text) if int(n) in passage_numbers]
    return passage_numbers[cited[0]] if cited else None
