"""Questions to answers, in named stages: conversation → retrieval → evidence → generation →
attribution → policy (every refusal rule in :mod:`assistant.policy`) → newer values (a cited figure
that a newer release gives otherwise, :mod:`assistant.updates`).

Example:
    >>> from assistant import Assistant
    >>> a = Assistant.open("sample-index")                                     # doctest: +SKIP
    >>> answer = a.ask("Who signed the agreement between Toulouse and Montréal?")  # doctest: +SKIP
    >>> print(answer.with_sources())                                           # doctest: +SKIP
"""

from .answer_types import holds_type, question_type
from .assistant import Assistant, StreamEvent, make_generator
from .errors import AssistantError, GeneratorUnavailableError, InvalidQuestionError, ModelFileError
from .generators import ExtractiveGenerator, GenerationRequest, Generator, Passage
from .types import Answer, Citation, Update


def __getattr__(name: str):
    # The LLM backend imports torch: only when it is asked for.
    if name == "LlmGenerator":
        from .llm import LlmGenerator

        return LlmGenerator
    raise AttributeError(name)


__all__ = [
    "Answer", "Assistant", "AssistantError", "Citation", "ExtractiveGenerator", "GenerationRequest", "Generator",
    "GeneratorUnavailableError", "InvalidQuestionError", "LlmGenerator", "ModelFileError", "Passage",
    "StreamEvent", "Update", "holds_type", "make_generator", "question_type",
]
