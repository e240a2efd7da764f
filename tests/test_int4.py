"""4-bit layers (assistant/llm/int4.py): the GGUF's Q4_K groups kept as they are, the kernel's layout
read back correctly, both kernels agreeing, and a Q4_K checkpoint converted into them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, Qwen2Config

from assistant.llm import int4
from assistant.llm.int4 import MAX_ROWS_FOR_INT4_KERNEL, Int4Embedding, Int4Linear

from test_quantized import relative_error, write_tiny_gguf


def dequantised(layer: Int4Linear) -> torch.Tensor:
    """The layer's weight, ``(rows, columns)`` in float32, read back from the packed table."""
    return int4.widened_transposed(layer.weight_int4, layer.scales_and_zeros, torch.float32).T


def test_this_torch_packs_int4_weights_as_the_code_reads_them():
    int4.check_kernel_layout()  # raises ValueError on another layout


@pytest.mark.parametrize("rows", [1, MAX_ROWS_FOR_INT4_KERNEL, MAX_ROWS_FOR_INT4_KERNEL + 1, 200])
def test_int4_linear_computes_with_its_4_bit_weight_on_both_kernels(rows):
    torch.manual_seed(1)
    linear = torch.nn.Linear(96, 128).to(torch.bfloat16)
    layer = Int4Linear.from_linear(linear)
    x = torch.randn(2, rows, 96, dtype=torch.bfloat16)
    with torch.inference_mode():
        got = layer(x)
        want = x.float() @ dequantised(layer).T + linear.bias.float()
    assert got.shape == (2, rows, 128)
    assert relative_error(got, want) < 0.01
    # And the 4-bit weight is the float one to within 4-bit rounding (half a step of 1/15 of each group's range).
    assert relative_error(dequantised(layer), linear.weight) < 0.1
    assert layer.weight_int4.dtype == torch.uint8 and layer.weight_int4.numel() == 128 * 96 // 2


def test_int4_embedding_reads_the_rows_of_the_packed_table():
    torch.manual_seed(3)
    layer = Int4Linear.from_linear(torch.nn.Linear(32, 192, bias=False).to(torch.bfloat16))
    embedding = Int4Embedding(layer.weight_int4, layer.scales_and_zeros)
    ids = torch.tensor([[0, 31, 32, 63, 64, 191, 31]])  # both nibbles of a byte, several row blocks
    assert torch.allclose(embedding(ids).float(), dequantised(layer)[ids].to(torch.bfloat16).float())


def encode_q4_k(weight: np.ndarray) -> np.ndarray:
    """Rows of float32 as Q4_K blocks (gguf-py only decodes them): per 32 weights a 6-bit scale and
    minimum, per 256 an fp16 ``d`` and ``dmin``; ``weight = d * scale * q - dmin * minimum``."""
    rows, columns = weight.shape
    groups = weight.reshape(-1, 8, 32)
    low = np.minimum(groups.min(-1), 0)
    scale, minimum = (groups.max(-1) - low) / 15, -low
    d = (scale.max(-1) / 63).astype(np.float16)
    dmin = (minimum.max(-1) / 63).astype(np.float16)
    sc = np.clip(np.round(scale / np.maximum(d.astype(np.float32), 1e-8)[:, None]), 1, 63).astype(np.uint8)
    m = np.clip(np.round(minimum / np.maximum(dmin.astype(np.float32), 1e-8)[:, None]), 0, 63).astype(np.uint8)
    step = d.astype(np.float32)[:, None] * sc
    q = np.clip(np.round((groups + (dmin.astype(np.float32)[:, None] * m)[..., None]) / step[..., None]), 0, 15)
    q = q.astype(np.uint8)
    scales = np.empty((len(sc), 12), dtype=np.uint8)  # llama.cpp's get_scale_min_k4, inverted
    scales[:, 0:4] = sc[:, :4] | ((sc[:, 4:] >> 4) << 6)
    scales[:, 4:8] = m[:, :4] | ((m[:, 4:] >> 4) << 6)
    scales[:, 8:12] = (sc[:, 4:] & 15) | ((m[:, 4:] & 15) << 4)
    values = q[:, 0::2] | (q[:, 1::2] << 4)  # 32 bytes per pair of sub-blocks: low nibble, then high
    blocks = np.concatenate([d.view(np.uint8).reshape(-1, 2), dmin.view(np.uint8).reshape(-1, 2), scales,
                             values.reshape(-1, 128)], axis=1)
    return blocks.reshape(rows, columns // 256 * 144)


def test_q4_k_groups_are_what_gguf_dequantises():
    import gguf

    weight = np.random.default_rng(4).normal(size=(8, 512)).astype(np.float32)
    raw = encode_q4_k(weight)
    reference = gguf.quants.dequantize(raw, gguf.GGMLQuantizationType.Q4_K)
    assert np.abs(reference - weight).max() < 0.5  # the encoder is a fair 4-bit quantiser
    q, scale, minimum = int4.q4_k_groups(raw)
    rebuilt = q.astype(np.float32) * np.repeat(scale, 32, axis=1) - np.repeat(minimum, 32, axis=1)
    np.testing.assert_allclose(rebuilt, reference, rtol=1e-6, atol=1e-6)


def test_a_q4_k_checkpoint_becomes_4_bit_layers(tmp_path):
    import gguf

    from assistant.llm import quantized

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=320, hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         tie_word_embeddings=False)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    write_tiny_gguf(model, tmp_path / "tiny.gguf",
                    encode=lambda values: (encode_q4_k(values), gguf.GGMLQuantizationType.Q4_K))
    converted = quantized.quantise_gguf(tmp_path / "tiny.gguf", four_bit=True)
    as_int8 = quantized.quantise_gguf(tmp_path / "tiny.gguf")
    layer = converted.model.layers[0]
    assert isinstance(layer.mlp.down_proj, Int4Linear) and isinstance(layer.self_attn.k_proj, Int4Linear)
    assert isinstance(converted.model.embed_tokens, Int4Embedding) and isinstance(converted.lm_head, Int4Linear)
    assert layer.self_attn.q_proj.bias is not None
    assert isinstance(as_int8.model.layers[0].mlp.down_proj, quantized.Int8Linear)
    # The reference: transformers' own reading of the GGUF, every tensor dequantised to float32.
    reference = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="tiny.gguf", dtype=torch.float32).eval()
    ids = torch.randint(0, 320, (1, 40))  # 40 rows: the widened product; one row: the int4 kernel
    with torch.inference_mode():
        want = reference(ids).logits
        assert relative_error(converted(ids).logits, want) < 0.03
        assert relative_error(converted(ids[:, :1]).logits, want[:, :1]) < 0.03
        assert relative_error(as_int8(ids).logits, want) < 0.03


def test_a_tied_output_layer_reads_the_4_bit_embedding_table():
    from assistant.llm.quantized import _tie_output_layer

    config = Qwen2Config(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).eval()
    table = Int4Linear.from_linear(torch.nn.Linear(64, 128, bias=False).to(torch.bfloat16))
    model.set_input_embeddings(Int4Embedding(table.weight_int4, table.scales_and_zeros))
    _tie_output_layer(model)
    assert isinstance(model.lm_head, Int4Linear)
    assert model.lm_head.weight_int4.data_ptr() == model.model.embed_tokens.weight_int4.data_ptr()
