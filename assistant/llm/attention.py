"""Attention for one new token at a time, with the query heads grouped by the key/value head they share.

Qwen2.5-1.5B has 12 query heads and 2 key/value heads. For a single new token without a mask,
transformers asks PyTorch's SDPA for grouped-query attention (``enable_gqa=True``), and on the CPU
that runs the flash-attention kernel, built for many query rows: 0.77 ms per layer and token over
600 cached tokens on 2 cores (AMD EPYC, 2026-12-02), 22 % of a generated token's time. Laid out as
2 heads of 6 query rows each (the layout transformers itself uses when a mask is given), the same
product takes 0.07 ms. A few new tokens (a draft being checked, :mod:`.batching`) attend one by one
the same way, so that checking them gives exactly the numbers one-token steps would. Prompts (many
query rows) go through transformers' SDPA unchanged.

Registered under :data:`NAME` for :meth:`transformers.PreTrainedModel.set_attn_implementation`.

Example:
    >>> import torch
    >>> from types import SimpleNamespace
    >>> layer = SimpleNamespace(num_key_value_groups=6, is_causal=True)
    >>> q, k = torch.randn(1, 12, 1, 8), torch.randn(1, 2, 5, 8)
    >>> out, _ = grouped_query_attention(layer, q, k, k, None, scaling=8 ** -0.5)
    >>> out.shape  # (batch, new tokens, query heads, head size), as transformers expects
    torch.Size([1, 1, 12, 8])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .quantized import MAX_ROWS_FOR_INT8_KERNEL

NAME = "porteparole_sdpa"
#: Up to this many new tokens of one sequence (a draft being checked, its rows within what the int8
#: kernel takes) are attended one by one (see :func:`_rows_one_by_one`).
MAX_ROWS_ONE_BY_ONE = MAX_ROWS_FOR_INT8_KERNEL


def grouped_query_attention(module, query, key, value, attention_mask, dropout: float = 0.0,
                            scaling: float | None = None, **kwargs):
    """transformers' attention-function signature; one new token per sequence takes the grouped
    layout, anything else is passed to transformers' SDPA attention."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    groups = getattr(module, "num_key_value_groups", 1)
    batch, heads, new_tokens, head_size = query.shape
    # One sequence only (drafts are checked for a sequence decoding alone): in a left-padded batch
    # a padding row may see no key at all, which the one-token call is not made for.
    if (batch == 1 and 1 < new_tokens <= MAX_ROWS_ONE_BY_ONE and getattr(module, "is_causal", True)
            and (attention_mask is None or attention_mask.dtype == torch.bool)):
        return _rows_one_by_one(module, query, key, value, attention_mask, dropout, scaling, **kwargs)
    if new_tokens != 1 or groups == 1 or dropout or kwargs.get("position_bias") is not None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    grouped = query.reshape(batch, heads // groups, groups, head_size)
    # A mask holds one row per sequence ((batch, 1, 1, keys)): it broadcasts over the grouped rows.
    out = F.scaled_dot_product_attention(grouped, key, value, attn_mask=attention_mask, scale=scaling)
    return out.reshape(batch, heads, 1, head_size).transpose(1, 2).contiguous(), None


def _rows_one_by_one(module, query, key, value, attention_mask, dropout, scaling, **kwargs):
    """A few new tokens (drafted tokens being checked), each attending to the keys it sees as if it
    were the only new token: the same kernel on the same numbers as a one-token step, so checking
    a draft gives exactly the logits that writing its tokens one at a time would (the flash
    kernel's rounding differs, enough to flip a near tie between two words)."""
    new_tokens, keys = query.shape[2], key.shape[2]
    rows = []
    for row in range(new_tokens):
        visible = keys - (new_tokens - 1 - row)
        row_mask = None if attention_mask is None else attention_mask[..., row:row + 1, :visible]
        if row_mask is not None and bool(row_mask.all()):
            row_mask = None  # a one-token step gets no mask when nothing is masked
        rows.append(grouped_query_attention(module, query[:, :, row:row + 1], key[:, :, :visible],
                                            value[:, :, :visible], row_mask, dropout=dropout, scaling=scaling,
                                            **kwargs)[0])
    return torch.cat(rows, dim=1), None


def register() -> str:
    """Make :data:`NAME` known to transformers (attention and its masks); returns the name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, grouped_query_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    return NAME
