"""Metric definitions (each one is also described in the report).

Retrieval (document level, a document's rank = rank of its best passage):
  Recall@k  share of a query's gold documents found in the top k, averaged over queries
  MRR@10    mean of 1/rank of the first gold document in the top 10 (0 if none)
  nDCG@10   binary-relevance discounted cumulative gain of the top 10, normalised by the ideal

Answers (SQuAD normalisation extended to French: lower case, accents removed, punctuation and the
articles le/la/les/l'/un/une/des/du/de/d'/the/a/an removed):
  EM        normalised answer == normalised gold
  F1        token-overlap F1 between answer and gold
  contains  the normalised gold occurs inside the normalised answer (fair to sentence-long answers)
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter

_ARTICLES = re.compile(r"\b(le|la|les|l|un|une|des|du|de|d|the|a|an)\b")


def recall_at(ranked: list[str], gold: set[str], k: int) -> float:
    return len(set(ranked[:k]) & gold) / len(gold) if gold else 0.0


def mrr_at(ranked: list[str], gold: set[str], k: int = 10) -> float:
    for position, doc_id in enumerate(ranked[:k], start=1):
        if doc_id in gold:
            return 1.0 / position
    return 0.0


def ndcg_at(ranked: list[str], gold: set[str], k: int = 10) -> float:
    dcg = sum(1.0 / math.log2(i + 2) for i, doc_id in enumerate(ranked[:k]) if doc_id in gold)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(gold), k)))
    return dcg / ideal if ideal else 0.0


def normalise_answer(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower().replace("’", "'"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = "".join(" " if ch in string.punctuation or ch in "«»“”" else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalise_answer(prediction) == normalise_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = normalise_answer(prediction).split(), normalise_answer(gold).split()
    common = Counter(pred) & Counter(ref)
    overlap = sum(common.values())
    if not pred or not ref or not overlap:
        return float(pred == ref)
    precision, recall = overlap / len(pred), overlap / len(ref)
    return 2 * precision * recall / (precision + recall)


def contains_answer(prediction: str, gold: str) -> float:
    gold_norm = normalise_answer(gold)
    return float(bool(gold_norm) and f" {gold_norm} " in f" {normalise_answer(prediction)} ")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
