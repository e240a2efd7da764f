"""Several generations decoded together: one worker thread owns the model's decoding steps.

Writing one token reads every weight of the model once (1.55 GB in int8), whatever the number of
sequences it is written for, so a step for 8 sequences costs about twice a step for one (168 ms
against 83 ms on 2 cores of an AMD EPYC, 2026-12-03). Reading a prompt is bound by arithmetic
instead, and gains nothing from batching: each new request's prompt is read alone (its first
token comes from that), then the sequence joins the batch, left-padded to the batch's length with
its padding masked out, and leaves it when it ends. Users whose questions arrive together thus
share the decoding steps instead of queueing one whole answer after another.

With one sequence in the batch, the model is called exactly as ``generate()`` calls it (greedy,
the same repetition penalty), so one user alone gets the same tokens as before.

A sequence decoding alone also drafts (``draft_tokens``, prompt lookup): answers quote their
passages, so the tokens that followed the answer's last 2-3 tokens where they occurred before
are likely to follow again. Its last token and up to ``draft_tokens`` drafted ones are read in
one model call (4 rows cost about 1.1-1.5 times one row: the weights are read once), and the
greedy choices are kept up to the first that differs from the draft. The tokens are exactly those
of one-token steps (the int8 kernel treats rows alone, and :mod:`.attention` attends a draft's
rows one by one); on 2 cores of an AMD EPYC, 2026-12-03, 50-63 % of drafted tokens were accepted
and whole answers took 0.77-0.88 of the time (benchmarks/bench_drafts.py).

Example:
    >>> decoder = BatchedDecoder(model, threading.Lock(), eos_ids={151645}, max_batch=8)  # doctest: +SKIP
    >>> list(decoder.generate(prompt_ids, max_new_tokens=40))                              # doctest: +SKIP
    [785, 5591, ...]
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

_END = object()


@dataclass
class _Sequence:
    """One request in the worker: its tokens so far (prompt and generated), and where they go."""

    ids: list[int]
    max_new_tokens: int
    stop: Callable[[list[int]], bool] | None
    prefix_cache: Callable | None
    #: ``(token, probability)``: the first token is not ``token`` unless the model gives it at least
    #: ``probability`` (then the best other one is written).
    unsure_first: tuple[int, float] | None = None
    out: queue.Queue = field(default_factory=queue.Queue)
    cancelled: bool = False

    def __post_init__(self) -> None:
        self.prompt_length = len(self.ids)

    @property
    def generated(self) -> list[int]:
        return self.ids[self.prompt_length:]


class BatchedDecoder:
    """Greedy decoding of every waiting request together, up to ``max_batch`` at once.

    ``lock`` is held for each model call (one prompt read, or one step of the batch), and
    released between them, so other users of the same model (the answer judge) interleave.
    ``max_batch=1`` decodes one request at a time, in arrival order, as a lock around
    ``generate()`` would.
    """

    def __init__(self, model, lock: threading.Lock, eos_ids: set[int], max_batch: int = 8,
                 repetition_penalty: float = 1.05, draft_tokens: int = 0) -> None:
        self.model = model
        #: Tokens copied from the context and checked in one step when a sequence decodes alone
        #: (see :func:`draft_from_context`); 0 writes one token per step.
        self.draft_tokens = draft_tokens
        self.lock = lock
        self.eos_ids = set(eos_ids)
        self.max_batch = max(1, max_batch)
        self.repetition_penalty = repetition_penalty
        self._wake = threading.Condition()
        self._waiting: list[_Sequence] = []
        self._worker: threading.Thread | None = None
        # The batch: its sequences, their shared keys and values (batch × heads × length × size per
        # layer), and how many masked padding positions each row starts with.
        self._active: list[_Sequence] = []
        self._cache = None
        self._pads: list[int] = []
        self._batch_length = 0
        #: The most sequences decoded in one step so far (for benchmarks and tests).
        self.widest_step = 0
        #: Tokens proposed from the context and tokens of them accepted (for benchmarks).
        self.drafted = self.accepted = 0

    def generate(self, input_ids: list[int], max_new_tokens: int, stop: Callable[[list[int]], bool] | None = None,
                 prefix_cache: Callable | None = None, unsure_first: tuple[int, float] | None = None) -> Iterator[int]:
        """The generated token ids, each as soon as it is chosen (the end-of-sequence token included).

        ``stop(generated_ids)`` ends the sequence after the token that makes it true.
        ``prefix_cache(input_ids)``, called with the lock held, may return a fresh cache of the
        prompt's first tokens (then only the rest is read) or None. ``unsure_first=(token, p)``:
        the first token is ``token`` only when its probability (after the repetition penalty) is at
        least ``p``, else the best other one. Leaving the iterator early drops the sequence from
        the batch at the next step.
        """
        sequence = _Sequence(list(input_ids), max_new_tokens, stop, prefix_cache, unsure_first)
        with self._wake:
            self._waiting.append(sequence)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="porteparole-decoder", daemon=True)
                self._worker.start()
            self._wake.notify()
        try:
            while True:
                item = sequence.out.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            sequence.cancelled = True

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._active:
                    self._wake.wait()
                room = self.max_batch - len(self._active)
                joining, self._waiting[:room] = self._waiting[:room], []
            for sequence in joining:
                if sequence.cancelled:
                    continue
                try:
                    self._read_prompt(sequence)
                except Exception as exc:  # noqa: BLE001 - handed to that request's caller
                    sequence.out.put(exc)
            if self._active:
                try:
                    self._step()
                except Exception as exc:  # noqa: BLE001 - every sequence of the failed step gets it
                    for sequence in self._active:
                        sequence.out.put(exc)
                    self._drop_batch()

    def _read_prompt(self, sequence: _Sequence) -> None:
        """Read one prompt alone, choose its first token, and add it to the batch unless it ended."""
        from transformers import DynamicCache

        length = sequence.prompt_length
        with self.lock, torch.inference_mode():
            ids = torch.tensor([sequence.ids])
            cache = sequence.prefix_cache(ids) if sequence.prefix_cache else None
            cache = cache if cache is not None else DynamicCache()
            start = cache.get_seq_length()
            logits = self.model(input_ids=ids[:, start:], attention_mask=torch.ones((1, length), dtype=torch.long),
                                position_ids=torch.arange(start, length).unsqueeze(0), past_key_values=cache,
                                use_cache=True, logits_to_keep=1).logits[:, -1, :].float()
            token = self._choose(logits, [sequence])[0]
            if sequence.unsure_first is not None and token == sequence.unsure_first[0]:
                if float(torch.softmax(logits[0], -1)[token]) < sequence.unsure_first[1]:
                    logits[0, token] = float("-inf")
                    token = int(logits[0].argmax())
        if self._emit(sequence, token):
            return
        if not self._active:
            self._cache, self._pads, self._batch_length = cache, [0], length
        else:
            # The shorter side is padded on the left, so that every row's last token is in the
            # batch's last column.
            width = max(self._batch_length, length)
            for batch_layer, new_layer in zip(self._cache.layers, cache.layers):
                batch_layer.keys = torch.cat([_pad_left(batch_layer.keys, width), _pad_left(new_layer.keys, width)])
                batch_layer.values = torch.cat([_pad_left(batch_layer.values, width), _pad_left(new_layer.values, width)])
            self._pads = [pad + width - self._batch_length for pad in self._pads] + [width - length]
            self._batch_length = width
        self._active.append(sequence)

    def _step(self) -> None:
        """One token for every sequence of the batch; the ended and the abandoned leave it."""
        if len(self._active) == 1 and self._pads == [0] and self.draft_tokens:
            draft = draft_from_context(self._active[0].ids, self.draft_tokens)
            if draft:
                self._step_with_draft(draft)
                return
        length = self._batch_length
        pads = torch.tensor(self._pads)
        with self.lock, torch.inference_mode():
            ids = torch.tensor([[sequence.ids[-1]] for sequence in self._active])
            mask = (torch.arange(length + 1).unsqueeze(0) >= pads.unsqueeze(1)).long()
            positions = (length - pads).unsqueeze(1)  # each row counts its own tokens only
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                past_key_values=self._cache, use_cache=True).logits[:, -1, :].float()
            tokens = self._choose(logits, self._active)
        self.widest_step = max(self.widest_step, len(self._active))
        self._batch_length = length + 1
        keep = [row for row, (sequence, token) in enumerate(zip(self._active, tokens))
                if not sequence.cancelled and not self._emit(sequence, token)]
        if len(keep) == len(self._active):
            return
        if not keep:
            self._drop_batch()
            return
        self._cache.batch_select_indices(torch.tensor(keep))
        self._active = [self._active[row] for row in keep]
        self._pads = [self._pads[row] for row in keep]
        # Columns that are padding for every remaining row are dropped.
        unused = min(self._pads)
        if unused:
            for layer in self._cache.layers:
                layer.keys, layer.values = layer.keys[..., unused:, :], layer.values[..., unused:, :]
            self._pads = [pad - unused for pad in self._pads]
            self._batch_length -= unused

    def _step_with_draft(self, draft: list[int]) -> None:
        """One sequence alone: its last token and ``draft`` read in one model call, which costs
        little more than one token's (the weights are read once either way); every draft token
        the greedy choice agrees with is kept, plus the choice after the last of them."""
        sequence = self._active[0]
        length = self._batch_length
        with self.lock, torch.inference_mode():
            ids = torch.tensor([[sequence.ids[-1], *draft]])
            logits = self.model(input_ids=ids, attention_mask=torch.ones((1, length + ids.shape[1]), dtype=torch.long),
                                position_ids=torch.arange(length, length + ids.shape[1]).unsqueeze(0),
                                past_key_values=self._cache, use_cache=True).logits[0].float()
        self.widest_step = max(self.widest_step, 1)
        self.drafted += len(draft)
        written = 0
        ended = sequence.cancelled
        for position in range(len(draft) + 1):
            if ended:
                break
            # The penalty sees the tokens kept so far, as it would one step at a time.
            with torch.inference_mode():
                token = self._choose(logits[position:position + 1], [sequence])[0]
            written += 1
            ended = self._emit(sequence, token)
            if position == len(draft) or token != draft[position]:
                break
        self.accepted += max(0, written - 1)
        if ended:
            self._drop_batch()
            return
        # The cache holds every token but the last one written, as after a one-token step.
        self._batch_length = length + written
        for layer in self._cache.layers:
            layer.keys, layer.values = layer.keys[..., :self._batch_length, :], layer.values[..., :self._batch_length, :]

    def _drop_batch(self) -> None:
        """No sequence decoding: the batch and its keys and values are let go."""
        self._active, self._cache, self._pads, self._batch_length = [], None, [], 0

    def _choose(self, logits: torch.Tensor, sequences: list[_Sequence]) -> list[int]:
        """Greedy choice after transformers' repetition penalty over each sequence's own tokens."""
        for row, sequence in enumerate(sequences):
            seen = torch.tensor(sequence.ids)
            scores = logits[row].gather(0, seen)
            scores = torch.where(scores < 0, scores * self.repetition_penalty, scores / self.repetition_penalty)
            logits[row].scatter_(0, seen, scores)
        return logits.argmax(-1).tolist()

    def _emit(self, sequence: _Sequence, token: int) -> bool:
        """Hand ``token`` to the caller; True when the sequence has ended."""
        sequence.ids.append(token)
        sequence.out.put(token)
        ended = (token in self.eos_ids or len(sequence.ids) - sequence.prompt_length >= sequence.max_new_tokens
                 or (sequence.stop is not None and sequence.stop(sequence.generated)))
        if ended:
            sequence.out.put(_END)
        return ended


def draft_from_context(ids: list[int], limit: int, longest_match: int = 3, shortest_match: int = 2) -> list[int]:
    """Up to ``limit`` tokens that followed the latest earlier occurrence of the sequence's last
    2-3 tokens (prompt lookup): answers quote their passages, so what followed there often follows
    again. Empty when the last tokens occur nowhere before.

    >>> draft_from_context([5, 6, 7, 8, 9, 1, 6, 7], limit=2)
    [8, 9]
    """
    for size in range(longest_match, shortest_match - 1, -1):
        if len(ids) <= size:
            continue
        tail = ids[-size:]
        for start in range(len(ids) - size - 1, -1, -1):
            if ids[start:start + size] == tail:
                return ids[start + size:start + size + limit]
    return []


def _pad_left(states: torch.Tensor, width: int) -> torch.Tensor:
    """``states`` (batch × heads × length × size) with zeros before its positions, to ``width``."""
    return F.pad(states, (0, 0, width - states.shape[-2], 0))
