"""BM25 over chunks (bm25s), with each chunk tokenised in its own language.

French and English get their own stop words and Snowball stemmer ("signée" and "signature" meet
at "sign"); a query is tokenised in the query's language. BM25 can only match words written in the
question's language, which is why :mod:`index.retrieval` uses it only to reorder passages in that
language.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from typing import Sequence

import numpy as np

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_STEMMER_NAMES = {"fr": "french", "en": "english"}
_lock = threading.Lock()  # PyStemmer stemmers are not thread-safe


@lru_cache(maxsize=None)
def _stopwords(lang: str) -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_FRENCH

    words = STOPWORDS_FRENCH if lang == "fr" else STOPWORDS_EN
    return frozenset(unicodedata.normalize("NFC", w.lower()) for w in words)


@lru_cache(maxsize=None)
def _stemmer(lang: str):
    import Stemmer

    return Stemmer.Stemmer(_STEMMER_NAMES.get(lang, "english"))


def tokenize(text: str, lang: str) -> list[str]:
    """Lower-cased, stop-word-free, stemmed tokens of ``text`` read as language ``lang``.

    Example:
        >>> tokenize("L'entente a été signée à Toulouse", "fr")
        ['entent', 'sign', 'toulous']
    """
    lang = lang if lang in _STEMMER_NAMES else "en"
    # Elided articles ("l'entente", "d’emplois") would otherwise glue to the word.
    text = re.sub(r"\b[cdjlmnst]['’]", " ", unicodedata.normalize("NFC", text.lower()))
    stop = _stopwords(lang)
    words = [w for w in _TOKEN.findall(text) if w not in stop]
    with _lock:
        return _stemmer(lang).stemWords(words)


class LexicalIndex:
    """BM25 scores for a query against every chunk (built in memory when the index is opened)."""

    def __init__(self, texts: Sequence[str], langs: Sequence[str]) -> None:
        import bm25s

        self.size = len(texts)
        self._bm25 = None
        if self.size:
            corpus = [tokenize(text, lang) for text, lang in zip(texts, langs)]
            self._bm25 = bm25s.BM25(k1=1.5, b=0.75)
            self._bm25.index(corpus, show_progress=False)

    def scores(self, query: str, lang: str) -> np.ndarray:
        """BM25 score of every chunk (zeros when no query word is in the vocabulary)."""
        if self._bm25 is None:
            return np.zeros(0, dtype=np.float32)
        tokens = [t for t in tokenize(query, lang) if t in self._bm25.vocab_dict]
        if not tokens:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)
