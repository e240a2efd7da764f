"""Language identification restricted to the two languages Porte-parole serves (fr, en)."""

from __future__ import annotations

import threading
from functools import lru_cache

SUPPORTED_LANGUAGES = ("fr", "en")
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _identifier():
    # py3langid ships its model inside the package (no download); restricting it to fr/en makes
    # short texts ("Et pour Montréal ?") reliable.
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(SUPPORTED_LANGUAGES))
    return identifier


def detect_language(text: str) -> tuple[str, float]:
    """Return ``(lang, probability)`` with ``lang`` in ``("fr", "en")``, or ``("", 0.0)`` for no text.

    Example:
        >>> detect_language("Quand l'entente a-t-elle été signée ?")[0]
        'fr'
        >>> detect_language("When was the agreement signed?")[0]
        'en'
    """
    sample = text[:5000].strip()
    if not any(ch.isalpha() for ch in sample):
        return "", 0.0
    with _lock:
        lang, probability = _identifier().classify(sample)
    return lang, float(probability)
