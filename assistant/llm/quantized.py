"""Weight-only int8 layers: the generator in half the memory, generating 1.5x faster.

Every weight row (one output channel) is stored as int8 with one bf16 scale, 1 byte per weight
instead of 2. The two phases of an answer are limited by different things on a CPU, so the layer
picks its kernel by the number of rows it is given:

* generating, one token at a time, is limited by memory bandwidth: the int8 weights are used as
  they are (``torch.ops.aten._weight_int8pack_mm``);
* reading the prompt, hundreds of tokens at once, is limited by arithmetic: the layer's weight is
  widened to bf16 for one AMX matrix product and dropped straight away (exact: int8 values are
  bf16 values), then the per-row scales are applied to the product.

Measured on 2 cores (Xeon with AMX; the whole-model ratios are in the README's Measured section):
on one 8960x1536 weight, a single token takes 1.2 ms in int8 against 1.8 ms in bf16, and the
widened product of 600 tokens 13 ms against 9 ms; the two kernels cross between 8 and 16 rows.
On the whole model, prompts are read at 0.77 of the bf16 speed and tokens generated at 1.56.

The source model is already 4-bit (GGUF Q4_K_M), so one int8 step per row adds little on top.
An embedding table tied to the output layer is stored once and shared by both.

The GGUF's Q4_K tensors can also be kept in 4 bits as they are (``quantise_gguf(path,
four_bit=True)``, :mod:`.int4`): tokens come 1.4x faster, but prompts are read slower and whole
answers took 1.06x longer (benchmarks/bench_generator.py), so the generator ships int8.

Example:
    >>> import torch
    >>> layer = Int8Linear.from_linear(torch.nn.Linear(64, 32).to(torch.bfloat16))
    >>> layer(torch.randn(3, 64, dtype=torch.bfloat16)).shape
    torch.Size([3, 32])
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .int4 import GROUP, Int4Embedding, Int4Linear, accepts, check_kernel_layout, q4_k_groups

FORMAT = "int8-weight-only-per-row/1"
WEIGHTS_FILE = "model-int8.safetensors"
# Up to this many rows the int8 kernel wins; above it the widened bf16 product does (see above).
MAX_ROWS_FOR_INT8_KERNEL = 8
# GGUF model types whose tensors are stored in transformers' layout (no permutation on load).
GGUF_ARCHITECTURES_AS_STORED = ("qwen2",)
# Rows quantised at a time: bounds the float32 temporaries (1,024 rows of 8,960 = 37 MB).
ROWS_PER_BLOCK = 1024


@functools.lru_cache(maxsize=1)
def prompt_matmul_dtype() -> torch.dtype:
    """bf16 or float32, whichever multiplies prompt-sized matrices faster on this CPU (measured once).

    With AMX, bf16 is ~9x faster than float32 (2,550 against 270 GFLOP/s on 2 cores); a Xeon
    with only AVX-512 bf16 runs bf16 products at about half the float32 speed (166 against 295
    GFLOP/s measured), so the choice cannot be made from the dtype alone. Costs ~0.2 s once.
    """
    import time

    timings = {}
    for dtype in (torch.bfloat16, torch.float32):
        a, b = torch.randn(256, 1536, dtype=dtype), torch.randn(1536, 1536, dtype=dtype)
        a @ b  # first call sets up the kernel
        started = time.perf_counter()
        for _ in range(3):
            a @ b
        timings[dtype] = time.perf_counter() - started
    return min(timings, key=timings.get)


def _quantise_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per row: ``weight ≈ int8 * scale[:, None]``."""
    if weight.is_meta:
        return (torch.empty(weight.shape, dtype=torch.int8, device="meta"),
                torch.empty(weight.shape[0], dtype=torch.bfloat16, device="meta"))
    int8 = torch.empty(weight.shape, dtype=torch.int8)
    scales = torch.empty(weight.shape[0], dtype=torch.bfloat16)
    for start in range(0, weight.shape[0], ROWS_PER_BLOCK):
        _quantise_block(weight[start : start + ROWS_PER_BLOCK], int8[start:], scales[start:])
    return int8, scales


def _quantise_block(block: torch.Tensor, int8_out: torch.Tensor, scales_out: torch.Tensor) -> None:
    as_float = block.detach().float()
    scales = (as_float.abs().amax(dim=1) / 127.0).clamp(min=1e-12)
    rows = as_float.shape[0]
    int8_out[:rows] = (as_float / scales[:, None]).round_().clamp_(-127, 127)
    scales_out[:rows] = scales


class Int8Linear(nn.Module):
    """``y = x @ (int8 * scale).T + bias`` with bf16 activations; see the module docstring."""

    def __init__(self, weight_int8: torch.Tensor, scales: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.register_buffer("weight_int8", weight_int8)
        self.register_buffer("scales", scales)
        self.register_buffer("bias", bias)
        self.in_features = weight_int8.shape[1]
        self.out_features = weight_int8.shape[0]

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> "Int8Linear":
        int8, scales = _quantise_rows(linear.weight)
        bias = None if linear.bias is None else linear.bias.detach().to(torch.bfloat16).clone()
        return cls(int8, scales, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        leading = x.shape[:-1]
        rows = x.reshape(-1, self.in_features)
        if rows.shape[0] <= MAX_ROWS_FOR_INT8_KERNEL:
            out = torch.ops.aten._weight_int8pack_mm(rows.contiguous(), self.weight_int8, self.scales)
        else:
            wide = prompt_matmul_dtype()
            out = F.linear(rows.to(wide), self.weight_int8.to(wide)).mul_(self.scales.to(wide)).to(rows.dtype)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*leading, self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Int8Embedding(nn.Module):
    """Token embeddings stored as int8 rows; a looked-up row is widened to bf16."""

    def __init__(self, weight_int8: torch.Tensor, scales: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("weight_int8", weight_int8)
        self.register_buffer("scales", scales)
        self.num_embeddings, self.embedding_dim = weight_int8.shape

    @classmethod
    def from_embedding(cls, embedding: nn.Embedding) -> "Int8Embedding":
        return cls(*_quantise_rows(embedding.weight))

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        return self.weight_int8[token_ids].to(self.scales.dtype) * self.scales[token_ids].unsqueeze(-1)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


def _replace_child(model: nn.Module, dotted_name: str, new: nn.Module) -> None:
    parent_name, _, child_name = dotted_name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child_name, new)


def _output_layer_name(model: nn.Module) -> str | None:
    output = model.get_output_embeddings()
    return next((name for name, module in model.named_modules() if module is output), None)


def _is_tied(model: nn.Module) -> bool:
    return bool(getattr(model.config.get_text_config(), "tie_word_embeddings", False))


def _tie_output_layer(model: nn.Module) -> None:
    """The output layer reads the embedding's table: one copy in memory and on disk."""
    embedding, name = model.get_input_embeddings(), _output_layer_name(model)
    if name is None:
        return
    if isinstance(embedding, Int8Embedding):
        _replace_child(model, name, Int8Linear(embedding.weight_int8, embedding.scales, None))
    elif isinstance(embedding, Int4Embedding):
        _replace_child(model, name, Int4Linear(embedding.weight_int4, embedding.scales_and_zeros, None))


def quantise_model(model: nn.Module) -> nn.Module:
    """Replace every ``nn.Linear`` and the input embedding of a transformers causal LM, in place.

    Works on a model whose weights are on the ``meta`` device too (to build an empty skeleton
    for :func:`load_quantised`).
    """
    embedding = Int8Embedding.from_embedding(model.get_input_embeddings())
    output_name = _output_layer_name(model) if _is_tied(model) else None
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.Linear) and name != output_name:
            _replace_child(model, name, Int8Linear.from_linear(module))
    model.set_input_embeddings(embedding)
    if _is_tied(model):
        _tie_output_layer(model)
    return model


def quantise_gguf(path: Path, four_bit: bool = False) -> nn.Module:
    """Read a GGUF checkpoint tensor by tensor, block of rows by block, straight into int8 layers
    (with ``four_bit``, its Q4_K tensors into 4-bit layers instead: see :mod:`.int4`).

    transformers' own GGUF loading dequantises the whole model to float32 first (7.8 GiB peak
    measured for this 1.5B model); here at most one block of rows exists in float32 at a time.
    The tensor names are mapped by transformers' GGUF name map. Only architectures whose GGUF
    tensors need no reordering are accepted (llama-style GGUFs permute the attention weights).
    """
    from accelerate import init_empty_weights
    from gguf import GGUFReader
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.modeling_gguf_pytorch_utils import TensorProcessor, get_gguf_hf_weights_map

    if four_bit:
        check_kernel_layout()
    config = AutoConfig.from_pretrained(path.parent, gguf_file=path.name)
    if config.model_type not in GGUF_ARCHITECTURES_AS_STORED:
        raise ValueError(f"{path.name}: GGUF conversion of {config.model_type!r} models is not supported")
    with init_empty_weights(include_buffers=False):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    hf_names = get_gguf_hf_weights_map(model, TensorProcessor())

    with open(path, "rb") as handle:
        for tensor in GGUFReader(path).tensors:
            if tensor.name not in hf_names:
                raise ValueError(f"{path.name}: tensor {tensor.name} has no place in a {config.model_type} model")
            _place_gguf_tensor(model, hf_names[tensor.name], tensor, handle, four_bit)
    if _is_tied(model):
        _tie_output_layer(model)
    _check_complete(model, path)
    return model.eval()


def _dequantised(data: np.ndarray, tensor_type) -> torch.Tensor:
    from gguf import dequantize

    values = np.asarray(dequantize(data, tensor_type), dtype=np.float32)
    return torch.from_numpy(values if values.flags.writeable else values.copy())


def _raw_row_blocks(tensor, handle: BinaryIO) -> Iterator[tuple[int, np.ndarray]]:
    """A GGUF tensor's rows as stored, a block of rows at a time, read from the file rather than
    through the reader's memory map, whose pages would stay resident until the end."""
    rows, row_items = tensor.data.shape
    row_bytes = row_items * tensor.data.dtype.itemsize
    for start in range(0, rows, ROWS_PER_BLOCK):
        count = min(ROWS_PER_BLOCK, rows - start)
        handle.seek(tensor.data_offset + start * row_bytes)
        yield start, np.frombuffer(handle.read(count * row_bytes), dtype=tensor.data.dtype).reshape(count, row_items)


def _dequantised_row_blocks(tensor, handle: BinaryIO) -> Iterator[tuple[int, torch.Tensor]]:
    """A GGUF tensor's rows in float32, a block of rows at a time."""
    for start, raw in _raw_row_blocks(tensor, handle):
        yield start, _dequantised(raw, tensor.tensor_type)


def _four_bit_layer(module: nn.Module, tensor, handle: BinaryIO) -> Int4Linear:
    """A Q4_K tensor as a 4-bit layer, its values, scales and minimums kept (see :mod:`.int4`)."""
    rows, columns = module.weight.shape
    q = torch.empty(rows, columns, dtype=torch.uint8)
    scale, minimum = torch.empty(rows, columns // GROUP), torch.empty(rows, columns // GROUP)
    for start, raw in _raw_row_blocks(tensor, handle):
        block_q, block_scale, block_minimum = q4_k_groups(raw)
        end = start + raw.shape[0]
        q[start:end], scale[start:end], minimum[start:end] = (torch.from_numpy(block_q), torch.from_numpy(block_scale),
                                                               torch.from_numpy(block_minimum))
    bias = getattr(module, "bias", None)
    return Int4Linear.from_groups(q, scale, minimum, None if bias is None else bias.detach())


def _place_gguf_tensor(model: nn.Module, hf_name: str, tensor, handle: BinaryIO, four_bit: bool) -> None:
    """Put one GGUF tensor where it belongs: 4 bits for Q4_K linear and embedding weights, int8 for
    the other such weights, bf16 otherwise."""
    from gguf import GGMLQuantizationType

    module_name, _, kind = hf_name.rpartition(".")
    module = model.get_submodule(module_name)
    is_weight = kind == "weight" and isinstance(module, (nn.Linear, nn.Embedding))
    if (is_weight and four_bit and tensor.tensor_type == GGMLQuantizationType.Q4_K
            and accepts(*module.weight.shape)):
        layer = _four_bit_layer(module, tensor, handle)
        if isinstance(module, nn.Embedding):
            model.set_input_embeddings(Int4Embedding(layer.weight_int4, layer.scales_and_zeros))
        else:
            _replace_child(model, module_name, layer)
    elif is_weight:
        int8 = torch.empty(module.weight.shape, dtype=torch.int8)
        scales = torch.empty(module.weight.shape[0], dtype=torch.bfloat16)
        for start, block in _dequantised_row_blocks(tensor, handle):
            _quantise_block(block, int8[start:], scales[start:])
        if isinstance(module, nn.Embedding):
            model.set_input_embeddings(Int8Embedding(int8, scales))
        else:
            bias = None if module.bias is None else module.bias.detach()  # real if read already
            _replace_child(model, module_name, Int8Linear(int8, scales, bias))
    else:  # norms and biases: small, kept in bf16
        values = _dequantised(tensor.data, tensor.tensor_type).reshape(getattr(module, kind).shape)
        if isinstance(module, (Int8Linear, Int4Linear)):
            module.bias = values.to(torch.bfloat16)
        else:
            setattr(module, kind, nn.Parameter(values.to(torch.bfloat16), requires_grad=False))


def _check_complete(model: nn.Module, source: Path) -> None:
    missing = [name for name, tensor in [*model.named_parameters(), *model.named_buffers()] if tensor.is_meta]
    if missing:
        raise ValueError(f"{source} lacks weights for {len(missing)} tensors, e.g. {missing[:3]}")


def _weights_to_store(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with each shared tensor once (safetensors refuses aliases)."""
    seen: set[int] = set()
    tensors = {}
    for name, tensor in model.state_dict().items():
        if tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        tensors[name] = tensor.contiguous()
    return tensors


def save_quantised(model: nn.Module, directory: Path, provenance: dict) -> None:
    """Write ``model-int8.safetensors`` and ``config.json`` (plain, inspectable; never pickle)."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(directory)
    save_file(_weights_to_store(model), str(directory / WEIGHTS_FILE),
              metadata={"format": FORMAT, "provenance": json.dumps(provenance)})


def load_quantised(directory: Path) -> nn.Module:
    """Build an empty skeleton from ``config.json`` and fill it from the int8 file.

    Nothing is allocated in bf16 first, so the peak is the int8 size, not twice the bf16 size.
    Raises ``ValueError`` when the file is not in this module's format or misses weights.
    """
    from accelerate import init_empty_weights
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM

    path = directory / WEIGHTS_FILE
    try:
        with safe_open(str(path), framework="pt") as handle:
            stored_format = (handle.metadata() or {}).get("format")
    except SafetensorError as exc:  # truncated or overwritten file
        raise ValueError(f"{path} is not a readable safetensors file: {exc}") from exc
    if stored_format != FORMAT:
        raise ValueError(f"{path} is in format {stored_format!r}, expected {FORMAT!r}")
    config = AutoConfig.from_pretrained(directory)
    # Parameters on the meta device, buffers (the rotary frequencies) real.
    with init_empty_weights(include_buffers=False):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    quantise_model(model)
    try:
        state = load_file(str(path))
    except SafetensorError as exc:
        raise ValueError(f"{path} could not be read: {exc}") from exc
    result = model.load_state_dict(state, strict=False, assign=True)
    if result.unexpected_keys:
        raise ValueError(f"{path} has weights this model does not use: {result.unexpected_keys[:3]}")
    if _is_tied(model):
        _tie_output_layer(model)
    _check_complete(model, path)
    return model.eval()
