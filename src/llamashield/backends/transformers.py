"""``TransformersBackend``: Llama Guard in-process with Hugging Face transformers and torch.

Three things make it fast rather than a ``generate()`` call in a class:

* **One forward pass per verdict.** The score is read from the next-token distribution after
  the prompt: P(unsafe) over the safe/unsafe verdict tokens (bare and space-prefixed forms).
  Every prompt ends where the verdict starts (Llama Guard 3/4: after the assistant header's
  ``\\n\\n``, as Meta's chat formats end), so that next token is the verdict. Only an unsafe
  verdict decodes more: the category line, greedily, from the same KV cache.
* **The policy prefix is computed once.** Everything up to the conversation (task, categories)
  is the same for every check of a role and policy; its KV cache is kept and shared, so a short
  message costs its own tokens plus the closing instructions, not the ~300-token policy.
* **Batches.** Concurrent calls (``check_many``, ``acheck_many``, threads) are collected by a
  micro-batcher and run as one left-padded forward pass; the model runs on one worker thread,
  one batch at a time, never on the event loop.

Models are loaded once per process and shared by every backend that names the same folder,
device and dtype.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llamashield._redact import redact
from llamashield._taxonomy import Taxonomy, taxonomy_for_generation, taxonomy_for_model
from llamashield.backends._base import (
    BackendAnswer,
    BackendError,
    BackendFailure,
    BaseBackend,
    Capabilities,
    GuardRequest,
)
from llamashield.backends._microbatch import MicroBatcher

if TYPE_CHECKING:
    import torch

__all__ = ["TransformersBackend", "clear_model_cache"]

DEFAULT_MODEL = "meta-llama/Meta-Llama-Guard-2-8B"
_INSTALL_HINT = "TransformersBackend needs torch and transformers: pip install 'llamashield[local]'"
# The template is identical for every check up to here (for one role and policy).
_CONVERSATION_MARKER = "<BEGIN CONVERSATION>\n\n"
_EOS_TEXTS = ("<|eot_id|>", "<|eot|>", "<|end_of_text|>", "</s>")


def _import_torch() -> Any:
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as error:
        raise ImportError(f"{_INSTALL_HINT} ({error})") from error
    return torch


@dataclass(frozen=True)
class _Options:
    """Per-backend scoring options, carried with each request into a shared engine."""

    reuse_prefix: bool = True
    decode_threshold: float | None = None  # None: each request's (the guard's) threshold
    max_category_tokens: int = 32

    def cut(self, request: GuardRequest) -> float:
        """The score from which this request's answer is "unsafe"."""
        if self.decode_threshold is not None:
            return self.decode_threshold
        return 0.5 if request.threshold is None else request.threshold


@dataclass
class EngineStats:
    """Counters for tests and benchmarks: what the engine actually did."""

    forward_passes: int = 0
    sequences: int = 0
    batch_sizes: deque[int] = field(default_factory=lambda: deque(maxlen=1024))  # recent ones
    prefix_hits: int = 0
    prefix_builds: int = 0
    decode_steps: int = 0


@dataclass
class _Job:
    """One request, tokenised and matched against the prefix cache."""

    request: GuardRequest
    ids: list[int]
    prefix_key: str | None = None
    shared: int = 0  # leading ids served from the cached prefix KV


@dataclass
class _Prefix:
    ids: list[int]
    kv: list[tuple[Any, Any]] | None = None  # per layer (keys, values), batch 1


class _Engine:
    """A loaded model and tokenizer, its prefix KV caches, and the batched scoring pass.

    Shared by every backend on the same model; ``lock`` keeps model work to one batch at a time.
    """

    def __init__(self, model: Any, tokenizer: Any, name: str, prefix_cache_size: int = 16) -> None:
        torch = _import_torch()
        self.torch = torch
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.device = next(model.parameters()).device
        self.lock = threading.Lock()  # model work: one batch at a time
        self._prefix_lock = threading.Lock()  # the prefix table, touched by prepare() too
        # A fast tokenizer resets its padding/truncation state on each call and raises
        # "Already borrowed" if two threads (two backends on one model) call it at once.
        self._tokenizer_lock = threading.Lock()
        self.stats = EngineStats()
        self._prefixes: OrderedDict[str, _Prefix] = OrderedDict()
        self._prefix_cache_size = prefix_cache_size
        self.safe_ids, self.unsafe_ids = self._verdict_token_ids()
        self.eos_ids = self._eos_ids()
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else next(iter(self.eos_ids), 0))
        config: Any = getattr(model, "config", None)
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        self.max_length = int(getattr(text_config, "max_position_embeddings", 0) or 1 << 30)
        params = inspect.signature(model.forward).parameters
        # transformers 5 renamed past_key_values to cache; accept both.
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self._keep_kw = next(
            (k for k in ("logits_to_keep", "num_logits_to_keep") if k in params), None
        )

    # -- tokenisation ---------------------------------------------------------------------

    def _encode(self, text: str) -> list[int]:
        """Token ids of a BOS-less prompt (or prefix), with exactly one BOS in front.

        Prompts reach every backend as a server gets them on ``/v1/completions`` (no BOS text,
        see ``completion_prompt``), and the tokenizer adds BOS as a server does. A tokenizer
        configured not to add it gets it here, so the model always sees exactly one.
        """
        with self._tokenizer_lock:
            ids = [int(i) for i in self.tokenizer(text, add_special_tokens=True)["input_ids"]]
        bos = self.tokenizer.bos_token_id
        if bos is not None and (not ids or ids[0] != bos):
            ids.insert(0, int(bos))
        return ids

    def decode(self, ids: list[int], *, skip_special: bool = True) -> str:
        with self._tokenizer_lock:
            return str(self.tokenizer.decode(ids, skip_special_tokens=skip_special))

    def _verdict_token_ids(self) -> tuple[list[int], list[int]]:
        def first_tokens(forms: Iterable[str]) -> set[int]:
            found = set()
            for form in forms:
                ids = self.tokenizer.encode(form, add_special_tokens=False)
                if ids:
                    found.add(int(ids[0]))
            return found

        safe = first_tokens(("safe", " safe"))
        unsafe = first_tokens(("unsafe", " unsafe"))
        both = safe & unsafe
        safe, unsafe = safe - both, unsafe - both
        if not safe or not unsafe:
            raise ValueError(
                "this tokenizer cannot tell 'safe' from 'unsafe' by their first token; "
                "TransformersBackend needs a Llama Guard tokenizer"
            )
        return sorted(safe), sorted(unsafe)

    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        configured = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for value in (configured, self.tokenizer.eos_token_id):
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, list | tuple):
                ids.update(int(v) for v in value)
        vocab = self.tokenizer.get_vocab()
        ids.update(int(vocab[t]) for t in _EOS_TEXTS if t in vocab)
        return ids

    def prepare(self, request: GuardRequest, options: _Options) -> _Job:
        """Tokenise and find how much of the prompt a cached prefix already covers (no model)."""
        prompt = request.completion_prompt
        ids = self._encode(prompt)
        if len(ids) > self.max_length:
            raise BackendError(
                f"conversation is {len(ids)} tokens, over the model's {self.max_length}-token "
                "context: check a shorter window of the conversation",
                kind="too_long",
            )
        job = _Job(request, ids)
        cut = prompt.find(_CONVERSATION_MARKER) if options.reuse_prefix else -1
        if cut >= 0:
            key = prompt[: cut + len(_CONVERSATION_MARKER)]
            prefix = self._prefix_entry(key)
            # Tokenising the prefix alone can end differently from the full prompt (a merge
            # across the cut): reuse only the tokens both agree on, and always leave one to run.
            shared = _common_length(prefix.ids, ids)
            job.shared = min(shared, len(ids) - 1)
            if job.shared > 0:
                job.prefix_key = key
        return job

    # -- model work (call with self.lock held, inside inference_mode) -------------------------

    def _forward(self, **kwargs: Any) -> Any:
        cache = kwargs.pop("cache", None)
        if cache is not None:
            kwargs[self._cache_kw] = cache
        if self._keep_kw is not None:
            kwargs[self._keep_kw] = 1
        self.stats.forward_passes += 1
        return self.model(use_cache=True, **kwargs)

    def _output_cache(self, output: Any) -> Any:
        cache = getattr(output, "cache", None)
        return cache if cache is not None else output.past_key_values

    def _prefix_entry(self, key: str) -> _Prefix:
        with self._prefix_lock:
            prefix = self._prefixes.get(key)
            if prefix is None:
                prefix = self._prefixes[key] = _Prefix(self._encode(key))
                while len(self._prefixes) > self._prefix_cache_size:
                    self._prefixes.popitem(last=False)
            self._prefixes.move_to_end(key)
            return prefix

    def _prefix_kv(self, key: str) -> list[tuple[Any, Any]]:
        prefix = self._prefix_entry(key)  # rebuilt here if evicted since prepare()
        if prefix.kv is None:
            ids = self.torch.tensor([prefix.ids], device=self.device)
            output = self._forward(input_ids=ids)
            prefix.kv = _cache_tensors(self._output_cache(output))
            self.stats.prefix_builds += 1
        return prefix.kv

    def _make_cache(self, kv: list[tuple[Any, Any]], shared: int, batch: int) -> Any:
        from transformers import DynamicCache

        # expand() is a view; the cache's first update copies it, so the stored prefix is
        # never written to and every batch gets its own cache.
        rows = [
            (k[:, :, :shared].expand(batch, -1, -1, -1), v[:, :, :shared].expand(batch, -1, -1, -1))
            for k, v in kv
        ]
        try:
            return DynamicCache(rows, config=self.model.config)
        except TypeError:  # older transformers: no config argument
            return DynamicCache(rows)

    def run(self, jobs: Sequence[_Job], options: _Options) -> list[BackendAnswer | BackendError]:
        """Score jobs that share one prefix (``prefix_key`` and ``shared``) in one padded pass."""
        torch = self.torch
        batch, shared = len(jobs), jobs[0].shared
        suffixes = [job.ids[shared:] for job in jobs]
        width = max(len(s) for s in suffixes)
        # Left padding lines every sequence's last real token up in the last column.
        input_ids = torch.full((batch, width), self.pad_id, dtype=torch.long)
        suffix_mask = torch.zeros((batch, width), dtype=torch.long)
        for row, suffix in enumerate(suffixes):
            input_ids[row, width - len(suffix) :] = torch.tensor(suffix)
            suffix_mask[row, width - len(suffix) :] = 1
        # Positions count real tokens only, so a padded row sees the same positions as alone.
        positions = (suffix_mask.cumsum(-1) - 1).clamp(min=0) + shared
        mask = torch.cat([torch.ones((batch, shared), dtype=torch.long), suffix_mask], dim=1)
        cache = None
        if jobs[0].prefix_key is not None and shared:
            cache = self._make_cache(self._prefix_kv(jobs[0].prefix_key), shared, batch)
            self.stats.prefix_hits += batch
        output = self._forward(
            input_ids=input_ids.to(self.device),
            attention_mask=mask.to(self.device),
            position_ids=positions.to(self.device),
            cache=cache,
        )
        self.stats.sequences += batch
        self.stats.batch_sizes.append(batch)
        logprobs = torch.log_softmax(output.logits[:, -1, :].float(), dim=-1)
        safe_ids = torch.tensor(self.safe_ids, device=logprobs.device)
        unsafe_ids = torch.tensor(self.unsafe_ids, device=logprobs.device)
        log_unsafe = torch.logsumexp(logprobs[:, unsafe_ids], dim=-1)
        log_safe = torch.logsumexp(logprobs[:, safe_ids], dim=-1)
        scores = torch.sigmoid(log_unsafe - log_safe).tolist()
        best_safe = safe_ids[logprobs[:, safe_ids].argmax(-1)].tolist()
        best_unsafe = unsafe_ids[logprobs[:, unsafe_ids].argmax(-1)].tolist()

        answers: list[list[int]] = []
        unsafe_rows: list[int] = []
        for row, job in enumerate(jobs):
            if not math.isfinite(scores[row]):
                answers.append([])  # reported as an error below: NaN must never read as "safe"
            elif scores[row] >= options.cut(job.request):
                unsafe_rows.append(row)
                answers.append([best_unsafe[row]])
            else:
                answers.append([best_safe[row]])
        if unsafe_rows and options.max_category_tokens > 0:
            tails = self._decode_categories(
                self._output_cache(output), unsafe_rows, [best_unsafe[r] for r in unsafe_rows],
                mask, positions[:, -1], options.max_category_tokens,
            )  # fmt: skip
            for row, tail in zip(unsafe_rows, tails, strict=True):
                answers[row].extend(tail)
        return [
            BackendAnswer(_answer_text(self.decode(ids)), score, self.name)
            if math.isfinite(score)
            else BackendError(
                "local model produced non-finite scores (NaN/inf): try dtype='float32' or "
                "another device",
                kind="local_error",
            )
            for ids, score in zip(answers, scores, strict=True)
        ]

    def _decode_categories(
        self,
        cache: Any,
        rows: list[int],
        first: list[int],
        mask: torch.Tensor,
        last_positions: torch.Tensor,
        max_tokens: int,
    ) -> list[list[int]]:
        """Greedy decoding of the category line after "unsafe", for the unsafe rows only."""
        torch = self.torch
        index = torch.tensor(rows)
        if len(rows) < mask.shape[0]:
            cache.batch_select_indices(index.to(self.device))
        mask = mask[index].to(self.device)
        position = last_positions[index].to(self.device)
        current = torch.tensor(first, device=self.device)
        tails: list[list[int]] = [[] for _ in rows]
        done = [False] * len(rows)
        for _ in range(max_tokens):
            mask = torch.cat(
                [mask, torch.ones((len(rows), 1), dtype=mask.dtype, device=self.device)], 1
            )
            position = position + 1
            output = self._forward(
                input_ids=current[:, None],
                attention_mask=mask,
                position_ids=position[:, None],
                cache=cache,
            )
            self.stats.decode_steps += 1
            cache = self._output_cache(output)
            current = output.logits[:, -1, :].argmax(-1)
            for i, token in enumerate(current.tolist()):
                if done[i]:
                    continue
                if token in self.eos_ids:
                    done[i] = True
                    continue
                tails[i].append(token)
                done[i] = _category_line_complete(self.decode(tails[i], skip_special=False))
            if all(done):
                break
        return tails


def _common_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _cache_tensors(cache: Any) -> list[tuple[Any, Any]]:
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return [(layer.keys, layer.values) for layer in layers]
    return list(zip(cache.key_cache, cache.value_cache, strict=True))  # transformers < 4.54


def _category_line_complete(tail: str) -> bool:
    # tail follows "unsafe": "\nS1,S2\n" is complete once a line with content has ended.
    lines = tail.split("\n")
    return any(line.strip() for line in lines[:-1])


def _answer_text(text: str) -> str:
    """The verdict line and the category line; anything the model ran on with is dropped."""
    lines = text.split("\n")
    kept, content = [], 0
    for line in lines:
        kept.append(line)
        content += bool(line.strip())
        if content == 2:  # the verdict and the category line; anything after is run-on
            break
    return "\n".join(kept)


# -- loading and the process-wide model cache ---------------------------------------------

_ENGINES: dict[tuple[Any, ...], _Engine] = {}
_ENGINES_LOCK = threading.Lock()


def clear_model_cache() -> None:
    """Forget every loaded model (backends already built keep theirs until dropped)."""
    with _ENGINES_LOCK:
        _ENGINES.clear()


def _resolve_device(torch: Any, device: str | Any | None) -> Any:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _resolve_dtype(torch: Any, dtype: str | Any | None, device: Any) -> Any:
    if dtype is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, str):
        resolved = getattr(torch, dtype.removeprefix("torch."), None)
        if not isinstance(resolved, torch.dtype):
            raise ValueError(f"unknown dtype {dtype!r}: use 'bfloat16', 'float16' or 'float32'")
        return resolved
    return dtype


def _load_engine(name: str, device: str | Any | None, dtype: str | Any | None) -> _Engine:
    torch = _import_torch()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = _resolve_device(torch, device)
    wanted = _resolve_dtype(torch, dtype, target)
    location = str(Path(name).resolve()) if Path(name).exists() else name
    key = ("path", location, str(target), str(wanted))
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            tokenizer = AutoTokenizer.from_pretrained(location)
            # transformers >= 4.56 takes dtype=; older releases call it torch_dtype=.
            dtype_kw = "dtype" if _transformers_at_least(4, 56) else "torch_dtype"
            model = AutoModelForCausalLM.from_pretrained(location, **{dtype_kw: wanted})
            model.to(target).eval()
            engine = _ENGINES[key] = _Engine(model, tokenizer, name)
    return engine


def _wrap_engine(
    model: Any, tokenizer: Any, device: str | Any | None, dtype: str | Any | None
) -> _Engine:
    torch = _import_torch()
    if device is not None:
        model.to(_resolve_device(torch, device))
    if dtype is not None:
        model.to(_resolve_dtype(torch, dtype, next(model.parameters()).device))
    model.eval()
    if tokenizer is None:
        source = getattr(model, "name_or_path", "")
        if not (source and os.path.isdir(source)):
            raise ValueError(
                "pass tokenizer= with a loaded model (its tokenizer could not be found on disk)"
            )
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(source)
    key = ("object", id(model), id(tokenizer))
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:  # the cache holds a reference, so id() stays unique while cached
            name = str(getattr(model, "name_or_path", "") or type(model).__name__)
            engine = _ENGINES[key] = _Engine(model, tokenizer, name)
    return engine


def _transformers_at_least(major: int, minor: int) -> bool:
    import transformers

    parts = transformers.__version__.split(".")
    try:
        return (int(parts[0]), int(parts[1])) >= (major, minor)
    except (ValueError, IndexError):
        return True


# -- the backend ----------------------------------------------------------------------------


class TransformersBackend(BaseBackend):
    """Llama Guard in this process, on CUDA when present (bf16) or CPU (float32).

    Example::

        from llamashield import LlamaGuard
        from llamashield.backends import TransformersBackend

        guard = LlamaGuard(TransformersBackend("/models/Meta-Llama-Guard-2-8B"))
        guard.check("How do I make a bomb?").score        # P(unsafe), from one forward pass
        guard.check_many(messages)                         # padded batches, prefix computed once

    Args:
        model: a Hugging Face id or a local folder (loaded once per process and shared), or an
            already-loaded causal LM (then pass ``tokenizer=``).
        tokenizer: the tokenizer, when ``model`` is a loaded model.
        device: ``"cuda"``, ``"cpu"``, ...; default CUDA when available.
        dtype: default bfloat16 on CUDA, float32 elsewhere.
        taxonomy: the taxonomy (or generation 1-4); default from the model name, else Llama Guard 2.
        max_batch_size: most conversations in one forward pass.
        batch_wait: seconds the batcher waits to fill a batch once several calls are queued.
        reuse_prefix: keep the KV cache of the policy prefix (turn off only to measure it).
        decode_threshold: score from which the answer is "unsafe" and the category line is
            decoded; default: the guard's ``threshold`` (0.5 without one), per request.
        max_category_tokens: most tokens decoded for the category line.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | Any = DEFAULT_MODEL,
        *,
        tokenizer: Any = None,
        device: str | Any | None = None,
        dtype: str | Any | None = None,
        taxonomy: Taxonomy | int | None = None,
        max_batch_size: int = 16,
        batch_wait: float = 0.002,
        reuse_prefix: bool = True,
        decode_threshold: float | None = None,
        max_category_tokens: int = 32,
    ) -> None:
        if decode_threshold is not None and not 0.0 <= decode_threshold <= 1.0:
            raise ValueError(f"decode_threshold must be within [0, 1], got {decode_threshold!r}")
        if isinstance(model, str | os.PathLike):
            self._engine = _load_engine(os.fspath(model), device, dtype)
        else:
            self._engine = _wrap_engine(model, tokenizer, device, dtype)
        self.model = self._engine.name
        if isinstance(taxonomy, int):
            taxonomy = taxonomy_for_generation(taxonomy)
        self.taxonomy = taxonomy or taxonomy_for_model(self.model)
        self._options = _Options(reuse_prefix, decode_threshold, max_category_tokens)
        self._batcher: MicroBatcher[GuardRequest, BackendAnswer] = MicroBatcher(
            self._score_batch, max_batch_size=max_batch_size, max_wait=batch_wait
        )

    def __repr__(self) -> str:
        return f"TransformersBackend(model={self.model!r}, device={str(self.device)!r})"

    @property
    def capabilities(self) -> Capabilities:
        """One forward pass gives the score; the prompt is ours; the decoding options change an
        answer (a verdict cache keys on them)."""
        options = self._options
        return Capabilities(
            gives_scores=True,
            sends_prompt=True,
            provider="transformers",
            cache_settings=(
                "decode_threshold", options.decode_threshold,
                "tokens", options.max_category_tokens,
            ),
        )  # fmt: skip

    @property
    def device(self) -> Any:
        return self._engine.device

    @property
    def stats(self) -> EngineStats:
        """What the shared engine has done (forward passes, batch sizes, prefix reuse)."""
        return self._engine.stats

    @property
    def max_batch_size(self) -> int:
        return self._batcher.max_batch_size

    # -- the Backend protocol ---------------------------------------------------------------

    def _release(self) -> None:
        # The model stays loaded (it is shared per process: see clear_model_cache); the
        # batcher's worker thread stops.
        self._batcher.close()

    def complete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        self._ensure_open()
        future = self._batcher.submit(request)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            future.cancel()  # dropped before it runs if its batch has not started
            raise _timeout_error(timeout) from None

    async def acomplete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        self._ensure_open()
        future = self._batcher.submit(request)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            raise _timeout_error(timeout) from None

    # -- batches ----------------------------------------------------------------------------

    def complete_batch(
        self, requests: Sequence[GuardRequest], *, timeout: float | None = None
    ) -> list[BackendAnswer | BackendFailure]:
        """Score many requests now, in padded batches: one outcome per request, in order (a
        failed one as a ``BackendFailure`` value, not raised).

        ``check_many`` gets the same batching through ``complete`` without calling this.
        """
        futures = [self._batcher.submit(request) for request in requests]
        deadline = None if timeout is None else time.monotonic() + timeout
        outcomes: list[BackendAnswer | BackendFailure] = []
        for future in futures:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                outcomes.append(future.result(timeout=left))
            except FutureTimeout:
                future.cancel()
                outcomes.append(BackendFailure.of(_timeout_error(timeout or 0.0)))
            except BackendError as error:
                outcomes.append(BackendFailure.of(error))
        return outcomes

    def _score_batch(self, requests: list[GuardRequest]) -> list[BackendAnswer | BaseException]:
        """The batcher's worker: group by shared prefix, chunk, one forward pass per chunk."""
        engine, options = self._engine, self._options
        outcomes: list[BackendAnswer | BaseException] = [
            BackendError("not scored", kind="internal") for _ in requests
        ]
        groups: dict[tuple[str | None, int], list[tuple[int, _Job]]] = {}
        for index, request in enumerate(requests):
            try:
                job = engine.prepare(request, options)
            except BackendError as error:
                outcomes[index] = error
                continue
            groups.setdefault((job.prefix_key, job.shared), []).append((index, job))
        torch = engine.torch
        for members in groups.values():
            members.sort(key=lambda m: len(m[1].ids))  # similar lengths pad less
            for start in range(0, len(members), self.max_batch_size):
                chunk = members[start : start + self.max_batch_size]
                try:
                    with engine.lock, torch.inference_mode():
                        answers = engine.run([job for _, job in chunk], options)
                except Exception as error:  # a failed batch is an error verdict, never "safe"
                    text = redact(f"{type(error).__name__}: {error}")  # may quote a hub URL
                    failure = BackendError(f"local model failed: {text}", kind="local_error")
                    answers = [failure] * len(chunk)
                for (index, _), answer in zip(chunk, answers, strict=True):
                    outcomes[index] = answer
        return outcomes


def _timeout_error(timeout: float) -> BackendError:
    return BackendError(
        f"local model did not answer within {timeout:.3g}s: raise the guard's timeout, lower "
        "max_batch_size, or use a GPU",
        kind="timeout",
    )
