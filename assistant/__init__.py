"""Questions to answers: retrieval, a context budget of sentences, generation, verified citations, refusal.

Example:
    >>> from assistant import Assistant
    >>> a = Assistant.open("sample-index")                                     # doctest: +SKIP
    >>> answer = a.ask("Who signed the agreement between Toulouse and Montréal?")  # doctest: +SKIP
    >>> print(answer.with_sources())                                           # doctest: +SKIP
"""

from .assistant import Assistant, StreamEvent
from .errors import AssistantError, GeneratorUnavailableError, InvalidQuestionError, ModelFileError
from .generators import ExtractiveGenerator, GenerationRequest, Generator, LlmGenerator, Passage, make_generator
from .types import Answer, Citation

__all__ = [
    "Answer", "Assistant", "AssistantError", "Citation", "ExtractiveGenerator", "GenerationRequest", "Generator",
    "GeneratorUnavailableError", "InvalidQuestionError", "LlmGenerator", "ModelFileError", "Passage",
    "StreamEvent", "make_generator",
]
