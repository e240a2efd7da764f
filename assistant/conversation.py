"""Stage 1, the conversation: a checked question, its language, and a standalone version of a follow-up.

Example:
    >>> turn = understand("Et pour Montréal ?", [("Qui a signé pour Toulouse ?", "Moudenc [1].")], generator=None)
    >>> turn.language, turn.standalone
    ('fr', 'Qui a signé pour Toulouse ? Et pour Montréal ?')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest import detect_language

from . import prompts
from .errors import GeneratorUnavailableError, InvalidQuestionError, ModelFileError

MAX_QUESTION_CHARS = 1000
#: What is kept of the conversation a client sends (it comes from the browser or a script, and
#: goes into the rewrite prompt): the last turns, each cut to a length.
MAX_HISTORY_TURNS = 10
MAX_HISTORY_TURN_CHARS = 4000

_FOLLOW_UP = re.compile(
    r"^\s*(et|and|mais|but|also|aussi|puis|then)\b|\b(qu'en est-il|what about|how about|and for|et pour|"
    r"il|elle|ils|elles|celui|celle|cela|ça|it|they|them|this|that|these|those|he|she|his|her|their)\b",
    re.IGNORECASE)


@dataclass
class Turn:
    """One question in its conversation: what was asked, in which language, and what to search for."""

    question: str
    language: str
    standalone: str
    history: list[tuple[str, str]] = field(default_factory=list)


def check_question(question) -> str:
    """The question stripped, or :class:`InvalidQuestionError` saying what is wrong with it."""
    if not isinstance(question, str) or not question.strip():
        raise InvalidQuestionError("The question is empty. / La question est vide.")
    question = question.strip()
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidQuestionError(
            f"The question is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}. "
            f"/ La question dépasse {MAX_QUESTION_CHARS} caractères."
        )
    return question


def normalise_history(history) -> list[tuple[str, str]]:
    """Accept ``[(question, answer), ...]`` or chat messages ``[{"role", "content"}, ...]``.

    Only the last :data:`MAX_HISTORY_TURNS` turns are kept, each text cut to
    :data:`MAX_HISTORY_TURN_CHARS` characters.
    """
    pairs: list[tuple[str, str]] = []
    # A turn is at most two chat messages; older items are never looked at.
    for item in list(history or [])[-2 * MAX_HISTORY_TURNS - 1:]:
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
    cut = MAX_HISTORY_TURN_CHARS
    return [(q[:cut], a[:cut]) for q, a in pairs if q.strip()][-MAX_HISTORY_TURNS:]


def question_language(question: str, history: list[tuple[str, str]]) -> str:
    """``fr`` or ``en``; a short, ambiguous question takes the language of the previous one."""
    lang, probability = detect_language(question)
    if (not lang or probability < 0.8) and history:
        previous, _ = detect_language(history[-1][0])
        lang = previous or lang
    return lang or "en"


def looks_like_follow_up(question: str) -> bool:
    """Short, or leaning on the conversation ("Et pour Montréal ?", "What about it?")."""
    words = re.findall(r"\w+", question.lower())
    return len(words) <= 6 or bool(_FOLLOW_UP.search(question))


def standalone_question(question: str, history: list[tuple[str, str]], generator) -> str:
    """Rewrite a follow-up ("Et pour Montréal ?") into a question that stands alone.

    Only questions that look like follow-ups are rewritten: on 2 cores a rewrite costs the
    model a few seconds, which a self-contained question should not pay.
    """
    if not history or not looks_like_follow_up(question):
        return question
    rewritten = None
    if generator is not None:
        try:
            rewritten = generator.complete(prompts.REWRITE_SYSTEM, prompts.build_rewrite_prompt(question, history), 48)
        except (GeneratorUnavailableError, ModelFileError):
            rewritten = None
    if rewritten:
        rewritten = rewritten.strip().strip('"«» ').splitlines()[0].strip()
        if 3 <= len(rewritten) <= MAX_QUESTION_CHARS:
            return rewritten
    # Without a model: the previous question gives the follow-up its subject.
    return f"{history[-1][0]} {question}"


def understand(question, history, generator) -> Turn:
    """The conversation stage: check, detect the language, make the question stand alone."""
    question = check_question(question)
    pairs = normalise_history(history)
    language = question_language(question, pairs)
    return Turn(question, language, standalone_question(question, pairs, generator), pairs)
