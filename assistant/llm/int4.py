"""4-bit weights in groups of 32, as the GGUF's Q4_K tensors hold them: generation reads half the bytes.

Generating one token at a time is limited by memory bandwidth: every weight is read once per token.
The GGUF stores most tensors as Q4_K (blocks of 256 weights, each sub-block of 32 with its own scale
and minimum), so those are kept in 4 bits here, **without re-quantising**: each sub-block's 4-bit
values, scale and minimum become one group of PyTorch's CPU int4 kernel
(``torch.ops.aten._weight_int4pack_mm_for_cpu``), whose weight is ``(q - 8) * scale + zero``. Only
the scale and zero are rounded to bf16. The tensors the GGUF holds in 6 bits (Q6_K: half of the
``down_proj`` and ``v_proj`` layers) stay in int8 (:mod:`.quantized`): 4 bits would lose precision.

Layout of ``weight_int4`` (the kernel's, torch 2.13; checked by :func:`check_kernel_layout`): rows in
blocks of 64; in a block, for each input column, 32 bytes, byte ``j`` holding row ``j`` in its low
nibble and row ``32 + j`` in its high one. ``scales_and_zeros`` is ``(columns / 32, rows, 2)``.

Reading a prompt (many rows at once) is limited by arithmetic, so there the layer's weight is
widened to the prompt's matrix dtype (bf16 or float32) and multiplied at once, as the int8 layers do.

Not what the generator ships: measured in one process on 2 cores of an AMD EPYC (2026-12-03,
benchmarks/bench_generator.py), tokens come 1.4x faster than with int8, but widening 4-bit groups
(5-8 ms per 8960x1536 weight, against 1.6 ms for int8 rows) slows every prompt, and the assistant's
answers are short after long prompts: whole answers took 1.06x longer. Kept for that benchmark,
to measure again on other CPUs.

Example:
    >>> import torch
    >>> layer = Int4Linear.from_linear(torch.nn.Linear(64, 64).to(torch.bfloat16))
    >>> layer(torch.randn(3, 64, dtype=torch.bfloat16)).shape
    torch.Size([3, 64])
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

#: Weights per group (one scale and one zero each): a Q4_K sub-block.
GROUP = 32
#: The kernel packs rows in blocks of this many.
BLOCK_ROWS = 64
# Up to this many rows the int4 kernel is faster than widening the weight (measured on 2 cores of
# an AMD EPYC: at 16 rows 1.4 ms against 11 ms for an 8960x1536 weight; at 64 rows about equal).
MAX_ROWS_FOR_INT4_KERNEL = 32
# Input columns widened at a time: a slice of the widened weight stays in the core's cache
# between the passes (256 columns: 6 ms for 8960x1536 against 14 ms for all at once).
COLUMNS_PER_SLICE = 256
Q4_K_BLOCK_BYTES = 144  # d (fp16), dmin (fp16), 12 bytes of 6-bit scales and mins, 128 bytes of 4-bit values
Q4_K_BLOCK_WEIGHTS = 256


def accepts(rows: int, columns: int) -> bool:
    """Whether a ``rows x columns`` weight fits the kernel's blocking."""
    return rows % BLOCK_ROWS == 0 and columns % GROUP == 0


def q4_k_groups(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split rows of Q4_K blocks into ``(q, scale, minimum)`` with ``weight = q * scale - minimum``.

    ``raw`` is ``(rows, blocks * 144)`` uint8; ``q`` is ``(rows, columns)`` uint8 in 0..15, ``scale``
    and ``minimum`` are ``(rows, columns / 32)`` float32. The same arithmetic as gguf's own
    ``Q4_K.dequantize_blocks``, stopped before the product.
    """
    from gguf.quants import Q4_K

    rows = raw.shape[0]
    blocks = raw.reshape(-1, Q4_K_BLOCK_BYTES)
    d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)
    dmin = blocks[:, 2:4].copy().view(np.float16).astype(np.float32)
    sub_scales, sub_minimums = Q4_K.get_scale_min(blocks[:, 4:16])
    qs = blocks[:, 16:].reshape(-1, 4, 1, 32) >> np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1)
    q = (qs & np.uint8(0x0F)).reshape(rows, -1)
    scale = (d * sub_scales.astype(np.float32)).reshape(rows, -1)
    minimum = (dmin * sub_minimums.astype(np.float32)).reshape(rows, -1)
    return q, scale, minimum


def groups_of(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(q, scale, minimum)`` of a float weight: asymmetric 4 bits per group of 32 (for weights that
    do not come from Q4_K, e.g. in tests)."""
    rows, columns = weight.shape
    grouped = weight.detach().float().reshape(rows, columns // GROUP, GROUP)
    low, high = grouped.amin(dim=-1), grouped.amax(dim=-1)
    scale = ((high - low) / 15).clamp(min=1e-12)
    q = ((grouped - low[..., None]) / scale[..., None]).round_().clamp_(0, 15).to(torch.uint8)
    return q.reshape(rows, columns), scale, -low


def pack(q: torch.Tensor, scale: torch.Tensor, minimum: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The kernel's ``(weight_int4, scales_and_zeros)`` for ``weight = q * scale - minimum``.

    Rows are packed a block at a time by the kernel's own function (blocks of 64 rows are
    independent), so a large table never exists in int32 at once.
    """
    rows, columns = q.shape
    packed = torch.empty(rows, columns // 2, dtype=torch.uint8)
    for start in range(0, rows, 1024):
        chunk = q[start : start + 1024].to(torch.int32)
        packed[start : start + chunk.shape[0]] = torch.ops.aten._convert_weight_to_int4pack_for_cpu(chunk, 1)
    scale = torch.as_tensor(scale, dtype=torch.float32)
    zero = 8 * scale - torch.as_tensor(minimum, dtype=torch.float32)  # (q - 8) * scale + zero
    return packed, torch.stack([scale, zero], dim=-1).transpose(0, 1).contiguous().to(torch.bfloat16)


def _scale_and_minimum(scales_and_zeros: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, minimum)``, ``(groups, rows)`` each, from the kernel's ``(q - 8) * scale + zero``."""
    scale = scales_and_zeros[..., 0].float()
    return scale.to(dtype), (8 * scale - scales_and_zeros[..., 1].float()).to(dtype)


def widened_transposed(weight_int4: torch.Tensor, scales_and_zeros: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The weight in ``dtype``, transposed: ``(columns, rows)``, ready for ``x @ w``."""
    rows, columns = weight_int4.shape[0], weight_int4.shape[1] * 2
    packed = weight_int4.view(rows // BLOCK_ROWS, columns, BLOCK_ROWS // 2)
    scale, minimum = _scale_and_minimum(scales_and_zeros, dtype)
    out = torch.empty(columns, rows // BLOCK_ROWS, 2, BLOCK_ROWS // 2, dtype=dtype)
    for start in range(0, columns, COLUMNS_PER_SLICE):
        piece, target = packed[:, start : start + COLUMNS_PER_SLICE], out[start : start + COLUMNS_PER_SLICE]
        target[:, :, 0].copy_((piece & 15).transpose(0, 1))
        target[:, :, 1].copy_((piece >> 4).transpose(0, 1))
        groups = slice(start // GROUP, (start + target.shape[0]) // GROUP)
        target.view(-1, GROUP, rows).mul_(scale[groups, None]).sub_(minimum[groups, None])
    return out.view(columns, rows)


@functools.lru_cache(maxsize=1)
def check_kernel_layout() -> None:
    """Raise ``ValueError`` unless this torch packs int4 weights as :func:`widened_transposed` reads
    them (the kernel's layout is internal to PyTorch; torch is pinned, this guards the pin)."""
    generator = torch.Generator().manual_seed(0)
    q = torch.randint(0, 16, (2 * BLOCK_ROWS, 2 * GROUP), generator=generator, dtype=torch.uint8)
    scale = torch.rand(2 * BLOCK_ROWS, 2, generator=generator) + 0.5
    minimum = torch.rand(2 * BLOCK_ROWS, 2, generator=generator)
    packed, scales_and_zeros = pack(q, scale, minimum)
    expected = q.float() * scale.repeat_interleave(GROUP, 1) - minimum.repeat_interleave(GROUP, 1)
    widened = widened_transposed(packed, scales_and_zeros, torch.float32).T
    by_kernel = torch.ops.aten._weight_int4pack_mm_for_cpu(
        torch.eye(2 * GROUP, dtype=torch.bfloat16), packed, GROUP, scales_and_zeros).float().T
    # The bf16 scales and zeros move values by well under 1 % of the largest; a wrong layout by tens of %.
    largest = expected.abs().max()
    if max((widened - expected).abs().max(), (by_kernel - expected).abs().max()) > 0.02 * largest:
        raise ValueError(f"torch {torch.__version__} packs int4 weights in another layout than this code reads")


class Int4Linear(nn.Module):
    """``y = x @ w.T + bias`` with ``w`` in 4 bits per weight; see the module docstring."""

    def __init__(self, weight_int4: torch.Tensor, scales_and_zeros: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.register_buffer("weight_int4", weight_int4)
        self.register_buffer("scales_and_zeros", scales_and_zeros)
        self.register_buffer("bias", bias)
        self.out_features, self.in_features = weight_int4.shape[0], weight_int4.shape[1] * 2

    @classmethod
    def from_groups(cls, q, scale, minimum, bias: torch.Tensor | None = None) -> "Int4Linear":
        return cls(*pack(torch.as_tensor(q), scale, minimum), bias)

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> "Int4Linear":
        bias = None if linear.bias is None else linear.bias.detach().to(torch.bfloat16).clone()
        return cls.from_groups(*groups_of(linear.weight), bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from .quantized import prompt_matmul_dtype

        leading = x.shape[:-1]
        rows = x.reshape(-1, self.in_features)
        if rows.shape[0] <= MAX_ROWS_FOR_INT4_KERNEL:
            out = torch.ops.aten._weight_int4pack_mm_for_cpu(rows.contiguous(), self.weight_int4, GROUP,
                                                              self.scales_and_zeros)
        else:
            wide = prompt_matmul_dtype()
            out = (rows.to(wide) @ widened_transposed(self.weight_int4, self.scales_and_zeros, wide)).to(rows.dtype)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*leading, self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, 4 bits"


class Int4Embedding(nn.Module):
    """Token embeddings read from the same 4-bit table as a tied output layer."""

    def __init__(self, weight_int4: torch.Tensor, scales_and_zeros: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("weight_int4", weight_int4)
        self.register_buffer("scales_and_zeros", scales_and_zeros)
        self.num_embeddings, self.embedding_dim = weight_int4.shape[0], weight_int4.shape[1] * 2

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        ids = token_ids.reshape(-1)
        packed = self.weight_int4.view(self.num_embeddings // BLOCK_ROWS, self.embedding_dim, BLOCK_ROWS // 2)
        in_block = ids % BLOCK_ROWS
        data = packed[ids // BLOCK_ROWS, :, in_block % (BLOCK_ROWS // 2)]  # (tokens, columns)
        shift = (in_block >= BLOCK_ROWS // 2).to(torch.uint8) * 4
        q = (data >> shift[:, None]) & 15
        scale, minimum = _scale_and_minimum(self.scales_and_zeros[:, ids], torch.float32)
        values = q.float().view(len(ids), -1, GROUP) * scale.T[..., None] - minimum.T[..., None]
        return values.reshape(*token_ids.shape, self.embedding_dim).to(torch.bfloat16)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, 4 bits"
