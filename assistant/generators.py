"""Answer generators: one abstract method, :meth:`Generator.stream`, yielding text as it is produced.

* :class:`ExtractiveGenerator`: no LLM; quotes the sentences the evidence stage ranked first.
  The fallback when the LLM cannot be loaded, and selectable with ``--generator extractive``.
* :class:`assistant.llm.LlmGenerator`: Qwen2.5-Coder-1.5B-Instruct from the pinned GGUF packages,
  in its own sub-package (weights, conversion, int8 layers, loading).

A generator says what it can do (:attr:`Generator.quotes_sources`, :attr:`Generator.can_translate`)
so that the pipeline never needs to ask which class it holds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Iterator

from .answer_types import holds_type


@dataclass(frozen=True)
class Passage:
    """A numbered excerpt shown to the generator: ``[n]`` in the answer refers to it."""

    n: int
    text: str
    title: str
    date: str
    issuer: str
    lang: str
    score: float


@dataclass(frozen=True)
class GenerationRequest:
    question: str
    language: str
    passages: list[Passage]
    system: str
    user: str
    max_new_tokens: int = 120
    #: What the question asks for (:func:`assistant.answer_types.question_type`).
    answer_type: str = "other"
    #: A generator that can say NOT_FOUND says it only when it gives it at least this probability
    #: as its first token; below, it writes its best answer instead, which the checks then judge
    #: (:data:`assistant.policy.MIN_NOT_FOUND_PROBABILITY`). 0 takes the model's choice as it is.
    min_not_found_probability: float = 0.0


class Generator(ABC):
    """Turns a :class:`GenerationRequest` into answer text, streamed piece by piece.

    Capabilities, read by the pipeline instead of testing the class:

    * ``quotes_sources``: the text is source sentences quoted as they are (so it is in the
      sources' language and needs no check of numbers written in words);
    * ``can_translate``: :meth:`translate` turns a source sentence into the question's language;
    * ``can_judge``: :meth:`answer_probabilities` says how likely a source sentence answers a question;
    * ``answers_at_once``: how many answers are worth writing at the same time (a server lets that
      many through; more would only share the same cores).
    """

    name: str = "generator"
    quotes_sources: bool = False
    can_translate: bool = False
    can_judge: bool = False
    answers_at_once: int = 2

    @abstractmethod
    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Yield the answer's text in order; the pieces joined are the whole answer."""

    def warm_up(self) -> None:
        """Load what is expensive now rather than at the first question (optional)."""

    def complete(self, system: str, user: str, max_new_tokens: int = 60) -> str | None:
        """A short free-form completion (used to rewrite follow-up questions); None if unsupported."""
        return None

    def translate(self, sentence: str, language: str) -> str | None:
        """``sentence`` in ``language`` ("fr" or "en"); None when this generator cannot translate."""
        return None

    def answer_probabilities(self, question: str, sentences: list[str],
                             titles: list[str] | None = None) -> list[float] | None:
        """For each source sentence (from the release titled ``titles[i]``), the probability that
        it states the answer to ``question``; None when this generator cannot judge."""
        return None


class ExtractiveGenerator(Generator):
    """Answers by quoting the best sentences of the passages, in their own words.

    The passages it receives are already the sentences most similar to the question (chosen by
    the assistant), best first; it quotes the first ones that fit a short answer and cites them.
    It cannot translate: a quote stays in its source's language, introduced in the question's.
    """

    name = "extractive"
    quotes_sources = True

    def __init__(self, max_sentences: int = 2) -> None:
        self.max_sentences = max_sentences

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        ranked = sorted(request.passages, key=lambda p: -p.score)
        if not ranked:
            return
        # The first sentence, among the three best, that holds the type of fact asked for (a
        # number for "how many", a name for "who"); the best one when none does.
        holding = [p for p in ranked[:3] if holds_type(p.text, request.answer_type, number_words=False)]
        first = holding[0] if holding else ranked[0]
        # A second sentence only when it is nearly as relevant as the first.
        chosen = [first] + [p for p in ranked[: self.max_sentences] if p is not first and p.score >= first.score - 0.05]
        chosen = chosen[: self.max_sentences]
        for i, passage in enumerate(chosen):
            text = passage.text.strip()
            yield ("" if i == 0 else " ") + f"{text} [{passage.n}]"
