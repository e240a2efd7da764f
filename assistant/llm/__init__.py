"""The LLM backend: the packaged GGUF (verified), its one-time int8 conversion, loading and streaming.

Example:
    >>> from assistant.llm import LlmGenerator
    >>> generator = LlmGenerator()          # nothing is loaded until the first answer  # doctest: +SKIP
    >>> generator.warm_up()                                                           # doctest: +SKIP
"""

from .generator import LlmGenerator

__all__ = ["LlmGenerator"]
