"""The grouped attention for one new token gives what transformers' SDPA gives, masked or not; a few
new tokens get bit for bit what one-token steps get; a model switched to it generates the same
tokens."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from transformers import AutoModelForCausalLM, Qwen2Config
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from assistant.llm import attention

LAYER = SimpleNamespace(num_key_value_groups=6, is_causal=True, training=False)


@pytest.mark.parametrize("masked", [False, True])
def test_one_new_token_matches_transformers_sdpa(masked):
    torch.manual_seed(0)
    query = torch.randn(3, 12, 1, 16)
    key, value = torch.randn(3, 2, 40, 16), torch.randn(3, 2, 40, 16)
    mask = None
    if masked:  # left padding: the first keys of two sequences are not there
        mask = torch.ones(3, 1, 1, 40, dtype=torch.bool)
        mask[0, ..., :7] = False
        mask[2, ..., :19] = False
    got, _ = attention.grouped_query_attention(LAYER, query, key, value, mask, scaling=0.25)
    want, _ = sdpa_attention_forward(LAYER, query, key, value, mask, scaling=0.25)
    assert got.shape == want.shape == (3, 1, 12, 16)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_a_few_new_tokens_attend_exactly_as_one_token_steps_would():
    torch.manual_seed(0)
    query, key, value = torch.randn(1, 12, 4, 16), torch.randn(1, 2, 30, 16), torch.randn(1, 2, 30, 16)
    causal = torch.ones(1, 1, 4, 30, dtype=torch.bool).tril(diagonal=26)  # row i sees the first 27 + i keys
    got, _ = attention.grouped_query_attention(LAYER, query, key, value, causal, scaling=0.25)
    want, _ = sdpa_attention_forward(LAYER, query, key, value, causal, scaling=0.25)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    for row in range(4):  # bit for bit what the row alone, with the keys it sees, gets
        alone, _ = attention.grouped_query_attention(LAYER, query[:, :, row:row + 1], key[:, :, :27 + row],
                                                     value[:, :, :27 + row], None, scaling=0.25)
        assert torch.equal(got[:, row:row + 1], alone)


def test_many_new_tokens_go_to_transformers_sdpa():
    torch.manual_seed(0)
    query, key = torch.randn(1, 12, 20, 16), torch.randn(1, 2, 20, 16)
    got, _ = attention.grouped_query_attention(LAYER, query, key, key, None, scaling=0.25)
    want, _ = sdpa_attention_forward(LAYER, query, key, key, None, scaling=0.25)
    torch.testing.assert_close(got, want)


def test_a_model_switched_to_it_generates_the_same_tokens():
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=300, hidden_size=96, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=128)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="sdpa").eval()
    prompts = torch.randint(0, 300, (2, 12))
    mask = torch.ones_like(prompts)
    mask[1, :4] = 0  # a shorter, left-padded prompt in the same batch
    settings = dict(attention_mask=mask, max_new_tokens=10, do_sample=False, pad_token_id=0)
    with torch.inference_mode():
        want = model.generate(prompts, **settings)
        model.set_attn_implementation(attention.register())
        got = model.generate(prompts, **settings)
    assert model.config._attn_implementation == attention.NAME
    assert torch.equal(got, want)
