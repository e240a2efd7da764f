"""One loader for evaluation data in the format of ../shared/evaldata (see its README).

A directory may hold any of: ``corpus/corpus.jsonl`` + ``retrieval.jsonl`` (retrieval),
``qa_contexts.jsonl`` + ``qa_fr.jsonl`` (extractive QA), and ``questions.jsonl`` (the project's own
answerable/unanswerable questions, with their own ``corpus/``). Missing parts are simply absent.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "evaldata"
SEED_QUESTIONS = REPO / "tests" / "data" / "seed_questions.jsonl"
SAMPLE_CORPUS = REPO / "samples" / "communiques"


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@dataclass
class EvalData:
    root: Path
    corpus_path: Path | None = None
    retrieval: list[dict] = field(default_factory=list)
    qa: list[dict] = field(default_factory=list)
    qa_contexts: list[dict] = field(default_factory=list)
    journalist_qa: list[dict] = field(default_factory=list)

    @property
    def qa_contexts_as_records(self) -> list[dict]:
        """PIAF paragraphs as JSONL bulk records for :mod:`ingest` (French, no date or issuer)."""
        return [{"doc_id": c["context_id"], "title": c["title"], "text": c["text"], "lang": "fr"} for c in self.qa_contexts]


def load_eval_data(root: str | Path | None = None) -> EvalData:
    root = Path(root) if root else DEFAULT_DATA
    if not root.is_dir():
        raise FileNotFoundError(f"No evaluation data at {root}; pass --data DIR")
    data = EvalData(root=root)
    corpus = root / "corpus" / "corpus.jsonl"
    if corpus.exists():
        data.corpus_path = corpus
    if (root / "retrieval.jsonl").exists():
        data.retrieval = read_jsonl(root / "retrieval.jsonl")
    if (root / "qa_fr.jsonl").exists():
        data.qa = read_jsonl(root / "qa_fr.jsonl")
    if (root / "qa_contexts.jsonl").exists():
        data.qa_contexts = read_jsonl(root / "qa_contexts.jsonl")
    if (root / "swiss_qa" / "qa.jsonl").exists():
        data.journalist_qa = [journalist_question(row) for row in read_jsonl(root / "swiss_qa" / "qa.jsonl")]
    return data


def half_of(qid: str) -> str:
    """``"tune"`` or ``"report"``: thresholds are chosen on one half and reported on the other.

    Journalist questions (``dq001`` …), time questions (``tq01`` …) and timeline subjects (``ts01``
    …): odd and even numbers
    alternate, so each half has the same mix of modes (cross-lingual, same-language, unanswerable;
    years, months, "the latest") and of languages. Newer-value facts (``nf01`` …) alternate in
    English and French, so they alternate by pairs (nf01-02 tune, nf03-04 report, …). Other ids
    (PIAF's) carry no such order: a hash of the id decides.
    """
    paired = re.fullmatch(r"nf(\d+)", qid)
    if paired:
        return "tune" if ((int(paired.group(1)) + 1) // 2) % 2 == 1 else "report"
    numbered = re.fullmatch(r"(?:dq|tq|ts)(\d+)", qid)
    if numbered:
        return "tune" if int(numbered.group(1)) % 2 == 1 else "report"
    return "tune" if hashlib.sha256(qid.encode()).digest()[0] % 2 else "report"


def journalist_question(row: dict) -> dict:
    """A ``swiss_qa`` row in the form the answer evaluation reads (see swiss_qa/README.md)."""
    return {
        "qid": row["qid"], "question": row["question"], "lang": row["lang"], "mode": row["mode"],
        "answerable": bool(row["answerable"]), "gold_doc_ids": list(row["gold_docs"]),
        "pattern_groups": row["pattern_groups"], "min_groups": row["min_groups"], "half": half_of(row["qid"]),
    }


def seeded_sample(rows: list, n: int | None, seed: int = 42) -> list:
    """The same ``n`` rows every run (seeded), so figures are comparable over time."""
    if n is None or n >= len(rows):
        return list(rows)
    return random.Random(seed).sample(list(rows), n)


def load_seed_questions(path: Path = SEED_QUESTIONS) -> list[dict]:
    """The project's bilingual questions about the sample communiqués (answerable and not)."""
    return read_jsonl(path)
