"""The packaged LLM as a :class:`~assistant.generators.Generator`: loaded lazily and once, streamed.

Qwen2.5-Coder-1.5B-Instruct from the pinned GGUF packages (:mod:`.model_files`, SHA-256 verified),
converted once to weight-only int8 (:mod:`.quantized`) and cached as safetensors, run with
transformers on the CPU.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

from .. import prompts
from ..errors import GeneratorUnavailableError, ModelFileError
from ..generators import GenerationRequest, Generator
from .model_files import GGUF_SHA256, cache_dir, sha256_of, verified_gguf_path


# Converted weights, by format: int8 halves the memory of bf16 and generates 1.5x faster, reading
# prompts at 0.77 of the speed (see assistant/llm/quantized.py and the README's Measured section).
LLM_DIR_NAME = "qwen2.5-coder-1.5b-instruct-int8"
#: Written last in the converted folder: where it came from and the hash of its weights.
CACHE_RECORD = "porteparole-source.json"
# Written by earlier versions (bf16, 3 GB); removed once the int8 conversion exists.
STALE_DIR_NAMES = ("qwen2.5-coder-1.5b-instruct-bf16",)
#: Answers decoded together at most (see .batching); ``PORTEPAROLE_DECODE_BATCH=1`` writes one
#: at a time, as before 2026-12-03.
DEFAULT_DECODE_BATCH = 8


#: Tokens copied from the context and checked in one step by an answer decoding alone (see
#: .batching): 3 measured best (benchmarks/bench_drafts.py); ``PORTEPAROLE_DRAFT_TOKENS=0`` turns it off.
DEFAULT_DRAFT_TOKENS = 3


def _whole_number_setting(name: str, default: int, smallest: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return max(smallest, int(value)) if value else default
    except ValueError:
        raise GeneratorUnavailableError(f"{name} must be a whole number, not {value!r}") from None


def decode_batch_size() -> int:
    """How many generations share the model's decoding steps (``PORTEPAROLE_DECODE_BATCH``)."""
    return _whole_number_setting("PORTEPAROLE_DECODE_BATCH", DEFAULT_DECODE_BATCH, smallest=1)


def draft_tokens() -> int:
    """Tokens drafted from the context per step when one answer decodes alone (``PORTEPAROLE_DRAFT_TOKENS``,
    at most 7: with the last token written, a draft's rows must stay within what the int8 kernel takes)."""
    from .quantized import MAX_ROWS_FOR_INT8_KERNEL

    return min(MAX_ROWS_FOR_INT8_KERNEL - 1,
               _whole_number_setting("PORTEPAROLE_DRAFT_TOKENS", DEFAULT_DRAFT_TOKENS, smallest=0))


class LlmGenerator(Generator):
    """Qwen2.5-Coder-1.5B-Instruct (packaged GGUF) through transformers, loaded lazily and once.

    One process-wide model is shared by every instance. Concurrent generations (several users)
    are decoded together by one worker (:mod:`.batching`); each model call holds a lock, so the
    judge's forward passes take their turn between decoding steps.

    Example:
        >>> gen = LlmGenerator()                                                   # doctest: +SKIP
        >>> "".join(gen.stream(request))                                           # doctest: +SKIP
    """

    name = "llm"
    can_translate = True
    can_judge = True
    _model = None
    _tokenizer = None
    _load_lock = threading.Lock()
    _generate_lock = threading.Lock()
    load_seconds: float | None = None
    #: The attention keys and values of each system prompt's tokens, read once (see :meth:`_prefix_cache`).
    _system_caches: dict[tuple[int, str], tuple] = {}
    _batched_decoder = None

    @property
    def answers_at_once(self) -> int:
        """Answers decoded together (:func:`decode_batch_size`)."""
        return decode_batch_size()

    def __init__(self, threads: int | None = None, reuse_system_prompt: bool = True) -> None:
        self.threads = threads or max(1, os.cpu_count() or 1)
        self.reuse_system_prompt = reuse_system_prompt

    @classmethod
    def weights_dir(cls) -> Path:
        return cache_dir() / "models" / LLM_DIR_NAME

    @classmethod
    def _provenance(cls) -> dict:
        from .quantized import FORMAT  # torch is imported only when the LLM is used

        return {"gguf_sha256": GGUF_SHA256, "format": FORMAT}

    @classmethod
    def _convert_from_gguf(cls, target: Path) -> None:
        """Convert the verified GGUF once to int8 rows and save them (no pickle).

        Runs once per machine (≈ 50 s, peak ≈ 2.9 GiB); later starts read the int8 file in seconds.
        Written to a staging folder renamed into place, so a crash or a full disk leaves no
        half-written cache behind.
        """
        import shutil

        from transformers import AutoTokenizer

        from .quantized import WEIGHTS_FILE, quantise_gguf, save_quantised

        gguf = verified_gguf_path()
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = quantise_gguf(gguf)
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            save_quantised(model, staging, cls._provenance())
            tokenizer.save_pretrained(staging)
            # The hash of the int8 weights, checked at every load (≈ 1.7 s for 1.8 GB here).
            record = {**cls._provenance(), "weights_sha256": sha256_of(staging / WEIGHTS_FILE)}
            (staging / CACHE_RECORD).write_text(json.dumps(record) + "\n")
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # e.g. disk full: give the space back
            raise
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
        for stale in STALE_DIR_NAMES:
            shutil.rmtree(target.parent / stale, ignore_errors=True)

    def _load(self):
        cls = type(self)
        if cls._model is not None:
            return cls._model, cls._tokenizer
        with cls._load_lock:
            if cls._model is None:
                started = time.perf_counter()
                try:
                    import torch
                    from transformers import AutoTokenizer

                    from . import attention
                    from .quantized import load_quantised

                    torch.set_num_threads(self.threads)
                    target = self.weights_dir()
                    if not self._cache_is_intact(target):
                        self._convert_from_gguf(target)
                    try:
                        model = load_quantised(target)
                    except ValueError:
                        # The cache is ours and rebuildable: a damaged file costs one conversion.
                        self._convert_from_gguf(target)
                        model = load_quantised(target)
                    # One new token attends faster with the query heads grouped (see .attention).
                    model.set_attn_implementation(attention.register())
                    tokenizer = AutoTokenizer.from_pretrained(target)
                except ModelFileError:
                    raise
                except (ImportError, OSError, ValueError, RuntimeError) as exc:
                    raise GeneratorUnavailableError(
                        f"The language model could not be loaded ({type(exc).__name__}: {exc}). "
                        "Use --generator extractive, or rerun the README's set-up command."
                    ) from exc
                cls._tokenizer, cls._model = tokenizer, model
                cls.load_seconds = time.perf_counter() - started
        return cls._model, cls._tokenizer

    @classmethod
    def _cache_is_intact(cls, target: Path) -> bool:
        """True when the int8 cache was made from the verified GGUF by this code and its weights
        still have the hash recorded at conversion (else it is converted again: it is ours)."""
        from .quantized import WEIGHTS_FILE

        try:
            record = json.loads((target / CACHE_RECORD).read_text())
        except (OSError, ValueError):
            return False
        provenance = cls._provenance()
        if not isinstance(record, dict) or {key: record.get(key) for key in provenance} != provenance:
            return False
        weights = target / WEIGHTS_FILE
        if not weights.exists() or record.get("weights_sha256") != sha256_of(weights):
            print(f"porteparole: the converted model in {target} does not match the hash recorded when it was "
                  "made; converting it again", file=sys.stderr)
            return False
        return True

    def warm_up(self) -> None:
        """Load the model and run one tiny generation: the first call pays for kernel set-up
        (measured ≈ 8 s of extra wait on the first question in the browser otherwise)."""
        _, tokenizer = self._load()
        for _ in self._decoder().generate(tokenizer("Bonjour")["input_ids"], max_new_tokens=2):
            pass

    def _stream_messages(self, messages: list[dict], max_new_tokens: int, one_paragraph: bool = False,
                         min_not_found_probability: float = 0.0) -> Iterator[str]:
        model, tokenizer = self._load()
        input_ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
        prefix = None
        if self.reuse_system_prompt and messages[0]["role"] == "system":
            def prefix(ids, system=messages[0]["content"]):
                return self._prefix_cache(model, tokenizer, system, ids)
        stop = _ends_first_paragraph(tokenizer) if one_paragraph else None
        unsure = None
        if min_not_found_probability > 0:
            unsure = (tokenizer(prompts.NOT_FOUND, add_special_tokens=False)["input_ids"][0], min_not_found_probability)
        text = _TokenText(tokenizer)
        try:
            for token in self._decoder().generate(input_ids, max_new_tokens, stop=stop, prefix_cache=prefix,
                                                  unsure_first=unsure):
                piece = text.add(token)
                if piece:
                    yield piece
        except Exception as exc:  # the model's own failure, whatever its type, reaches callers as one error
            raise GeneratorUnavailableError(f"Generation failed: {exc}") from exc
        rest = text.rest()
        if rest:
            yield rest

    @classmethod
    def _decoder(cls):
        """The process-wide :class:`~.batching.BatchedDecoder` of the loaded model."""
        from .batching import BatchedDecoder

        with cls._load_lock:
            if cls._batched_decoder is None or cls._batched_decoder.model is not cls._model:
                eos = cls._model.generation_config.eos_token_id
                cls._batched_decoder = BatchedDecoder(cls._model, cls._generate_lock,
                                                      set(eos if isinstance(eos, list) else [eos]),
                                                      max_batch=decode_batch_size(), draft_tokens=draft_tokens())
        return cls._batched_decoder

    @classmethod
    def _system_cache(cls, model, tokenizer, system: str):
        """``(token ids, keys and values)`` of the system prompt ``system`` alone, read once and kept
        (never handed out: callers copy it). Called with the generation lock held; None when reading
        it failed (the caller then reads the whole prompt and reports any error)."""
        import torch
        from transformers import DynamicCache

        key = (id(model), system)
        if key not in cls._system_caches:
            prefix = tokenizer.apply_chat_template([{"role": "system", "content": system}], return_tensors="pt",
                                                   return_dict=True)["input_ids"]
            try:
                with torch.inference_mode():
                    cache = model(input_ids=prefix, past_key_values=DynamicCache(), use_cache=True).past_key_values
            except RuntimeError:
                return None
            if len(cls._system_caches) >= 8:  # a few fixed prompts (answer, judge, rewrite, translate); bounded anyway
                cls._system_caches.pop(next(iter(cls._system_caches)))
            cls._system_caches[key] = (prefix, cache)
        return cls._system_caches[key]

    @classmethod
    def _prefix_cache(cls, model, tokenizer, system: str, input_ids):
        """A fresh copy of the keys and values of ``system``'s tokens when the prompt starts with them.

        Every question's prompt begins with the same system prompt (135 tokens of 500-1,000):
        read once, its cache is copied into each generation, which then reads only what follows
        (benchmarks/bench_prefix.py: first token 1.2× sooner on a CPU without AMX). Called with
        the generation lock held. None when the prompt does not start with those tokens, or when
        reading them failed (the generation then reads the whole prompt and reports any error).
        """
        import torch

        stored = cls._system_cache(model, tokenizer, system)
        if stored is None:
            return None
        prefix, cache = stored
        length = prefix.shape[1]
        if input_ids.shape[0] != 1 or input_ids.shape[1] <= length or not torch.equal(input_ids[0, :length], prefix[0]):
            return None
        return copy.deepcopy(cache)

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        messages = [{"role": "system", "content": request.system}, {"role": "user", "content": request.user}]
        yield from self._stream_messages(messages, request.max_new_tokens, one_paragraph=True,
                                         min_not_found_probability=request.min_not_found_probability)

    def complete(self, system: str, user: str, max_new_tokens: int = 60) -> str | None:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return "".join(self._stream_messages(messages, max_new_tokens)).strip()

    def translate(self, sentence: str, language: str) -> str | None:
        """One source sentence in the question's language, for a quoted answer across languages.

        The translation is shown marked as a machine translation; the verified quote stays the
        original sentence.
        """
        target = "French" if language == "fr" else "English"
        system = (f"Translate the user's text into {target}. Keep every number, date and name exactly. "
                  "Output only the translation.")
        translated = self.complete(system, sentence, max_new_tokens=160)
        return translated.strip().splitlines()[0].strip() if translated and translated.strip() else None

    def answer_probabilities(self, question: str, sentences: list[str], titles: list[str] | None = None) -> list[float]:
        """For each sentence, the model's probability that it states the answer to ``question``.

        One batched forward pass (left-padded, only the last position's logits kept): P("yes")
        against P("no") as the first word of the reply to :data:`~assistant.prompts.JUDGE_SYSTEM`.
        That system prompt is read once and its keys and values reused (1.35x faster for one
        sentence, ``benchmarks/bench_judge.py``).

        Example:
            >>> LlmGenerator().answer_probabilities("Who signed?", ["Ms Roy signed it.", "It rained."])  # doctest: +SKIP
            [0.97, 0.02]
        """
        import torch

        if not sentences:
            return []
        model, tokenizer = self._load()
        titles = titles or [""] * len(sentences)
        texts = [tokenizer.apply_chat_template(
            [{"role": "system", "content": prompts.JUDGE_SYSTEM},
             {"role": "user", "content": prompts.judge_prompt(question, sentence, title)}],
            add_generation_prompt=True, tokenize=False) for sentence, title in zip(sentences, titles)]
        rows = [tokenizer(text)["input_ids"] for text in texts]
        with self._generate_lock, torch.inference_mode():
            stored = self._system_cache(model, tokenizer, prompts.JUDGE_SYSTEM) if self.reuse_system_prompt else None
            if stored is not None and all(row[:stored[0].shape[1]] == stored[0][0].tolist() for row in rows):
                # The judge's system prompt is read once (about half of each judgement's tokens):
                # only the title, sentence and question are read, after its cached keys and values.
                prefix, cache = stored
                cache = copy.deepcopy(cache)
                cache.batch_repeat_interleave(len(rows))
                rows = [row[prefix.shape[1]:] for row in rows]
            else:
                prefix, cache = torch.zeros((1, 0), dtype=torch.long), None
            # Each row is left-padded after the system prompt, so that its last token is the
            # batch's last position (only that position's logits are computed); positions count
            # real tokens only (generate() does this; a plain forward does not).
            width = max(len(row) for row in rows)
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
            input_ids = torch.tensor([[pad] * (width - len(row)) + row for row in rows])
            suffix_mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in rows])
            mask = torch.cat([torch.ones((len(rows), prefix.shape[1]), dtype=torch.long), suffix_mask], dim=1)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, prefix.shape[1]:]
            logits = model(input_ids=input_ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                           use_cache=cache is not None, logits_to_keep=1).logits[:, -1, :].float()
        yes, no = _word_ids(tokenizer, ("yes", "Yes")), _word_ids(tokenizer, ("no", "No"))
        margin = torch.logsumexp(logits[:, yes], -1) - torch.logsumexp(logits[:, no], -1)
        return [float(p) for p in torch.sigmoid(margin)]

    def prompt_tokens(self, request: GenerationRequest) -> int:
        _, tokenizer = self._load()
        messages = [{"role": "system", "content": request.system}, {"role": "user", "content": request.user}]
        encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)
        return len(encoded["input_ids"])


class _TokenText:
    """The text of generated tokens, handed out piece by piece as soon as each token is chosen.

    With this byte-level tokenizer the text decoded so far is always a prefix of what follows,
    except for a character whose bytes are split between tokens (decoded as U+FFFD), which is held
    back until its last byte comes. (transformers' streamer held text back until a space followed
    it: the first piece came 4-5 tokens, ≈ 0.4 s, after the first token.)
    """

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.tokens: list[int] = []
        self.shown = 0

    def add(self, token: int) -> str:
        """The new text that ``token`` completes ("" while a character is incomplete)."""
        self.tokens.append(token)
        text = self.tokenizer.decode(self.tokens, skip_special_tokens=True).rstrip("\ufffd")
        piece, self.shown = text[self.shown:], max(self.shown, len(text))
        return piece

    def rest(self) -> str:
        """Whatever was held back once generation has ended (an incomplete character)."""
        return self.tokenizer.decode(self.tokens, skip_special_tokens=True)[self.shown:] if self.tokens else ""


def _word_ids(tokenizer, words: tuple[str, ...]) -> list[int]:
    """The token ids of ``words`` written alone (each must be one token)."""
    ids = [tokenizer.encode(word, add_special_tokens=False) for word in words]
    return [token[0] for token in ids if len(token) == 1]


# A finished sentence (or citation) followed by a blank line: the answer's paragraph is over.
_PARAGRAPH_END = re.compile(r"[.!?…»)\]]\s*\n\s*\n")


def _ends_first_paragraph(tokenizer):
    """A test on the generated token ids: has the answer's first paragraph been completed?

    The prompt asks for one to three sentences; what the model wrote after a blank line, in the
    eval's longest answers (18-19 s), was other passages copied out one after another. A blank
    line after a colon (a list follows) does not stop it.
    """

    def ended(generated: list[int]) -> bool:
        return bool(_PARAGRAPH_END.search(tokenizer.decode(generated, skip_special_tokens=True)))

    return ended
