"""``LlamaGuard``: the engine every adapter calls.

A check is three steps: prepare (normalise the conversation, pick the taxonomy: pure), call the
backend within one deadline (the only step written twice, sync and async), decide (parse and
apply the policy: pure).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from llamashield._cache import VerdictCache
from llamashield._conversation import normalize_conversation
from llamashield._policy import OnError, Policy, build_policy
from llamashield._retry import RetryBudget
from llamashield._taxonomy import Category, Taxonomy, taxonomy_for_generation
from llamashield._verdict import Verdict
from llamashield.backends._base import Backend, BackendAnswer, BackendError, GuardRequest

__all__ = ["LlamaGuard"]

logger = logging.getLogger("llamashield")

DEFAULT_MODEL = "meta-llama/LlamaGuard-2-8b"


class LlamaGuard:
    """Judge the last turn of a conversation with Llama Guard.

    Example::

        from llamashield import LlamaGuard
        from llamashield.backends import SimulatedBackend

        guard = LlamaGuard(SimulatedBackend())            # offline; LlamaGuard() uses Together
        guard.check("How do I make a bomb?").safe         # False
        guard.check([{"role": "user", "content": "hi"},
                     {"role": "assistant", "content": "Hello!"}]).role   # 'agent'

    Args:
        backend: where the model runs; default ``TogetherBackend(model)``.
        model: the model id for the default Together backend.
        taxonomy: override the taxonomy the model id implies (a ``Taxonomy`` or 1-4).
        categories: codes or names that block (others are reported only), or a full custom
            policy of ``Category`` objects (needs a backend that sends raw prompts).
        threshold: block when ``score >= threshold`` where the backend gives a score.
        on_error: ``"block"`` (default, fail closed), ``"allow"`` or ``"raise"``.
        timeout: seconds for one check, retries included.
        max_retries: retries of 429/5xx/connection failures inside the timeout.
        max_concurrency: checks in flight at once in ``acheck*`` and ``check_many``.
        cache: ``True`` (1024 entries), a size, or ``False``.
    """

    def __init__(
        self,
        backend: Backend | None = None,
        *,
        model: str | None = None,
        taxonomy: Taxonomy | int | None = None,
        categories: Iterable[str | Category] | None = None,
        threshold: float | None = None,
        on_error: OnError = "block",
        timeout: float = 30.0,
        max_retries: int = 2,
        max_concurrency: int = 16,
        cache: bool | int = False,
    ) -> None:
        if backend is None:
            from llamashield.backends.together import TogetherBackend

            backend = TogetherBackend(model=model or DEFAULT_MODEL)
        elif model is not None:
            raise ValueError("pass model= to the backend, not to LlamaGuard, when giving a backend")
        if not isinstance(backend, Backend):
            raise TypeError(f"backend must implement complete/acomplete, got {backend!r}")
        if not (isinstance(timeout, int | float) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if not (isinstance(max_concurrency, int) and max_concurrency >= 1):
            raise ValueError(f"max_concurrency must be an int >= 1, got {max_concurrency!r}")
        if not (isinstance(max_retries, int) and max_retries >= 0):
            raise ValueError(f"max_retries must be an int >= 0, got {max_retries!r}")
        if isinstance(taxonomy, int):
            taxonomy = taxonomy_for_generation(taxonomy)
        self.backend = backend
        self.policy: Policy = build_policy(
            taxonomy or backend.taxonomy, categories, threshold, on_error
        )
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.max_concurrency = max_concurrency
        size = 1024 if cache is True else int(cache)
        self._cache = VerdictCache(size) if size else None
        from llamashield._loop_local import LoopLocal

        self._semaphores = LoopLocal(lambda: asyncio.Semaphore(max_concurrency))

    @property
    def taxonomy(self) -> Taxonomy:
        return self.policy.taxonomy

    @property
    def model(self) -> str:
        return self.backend.model

    def __repr__(self) -> str:
        return (
            f"LlamaGuard(backend={self.backend!r}, taxonomy=Llama Guard "
            f"{self.taxonomy.generation}{' custom' if self.taxonomy.custom else ''}, "
            f"on_error={self.policy.on_error!r}, timeout={self.timeout})"
        )

    # -- pure steps -----------------------------------------------------------------------

    def prepare(self, conversation: Any) -> GuardRequest:
        """Normalise a conversation into the request a backend judges (raises on bad input)."""
        return GuardRequest(normalize_conversation(conversation), self.policy.taxonomy)

    def _finish(self, request: GuardRequest, verdict: Verdict) -> Verdict:
        if self._cache is not None:
            self._cache.put(request.conversation, verdict)
        logger.debug(
            "llamashield verdict model=%s role=%s safe=%s codes=%s error=%s latency_ms=%.1f",
            verdict.model, verdict.role, verdict.safe, ",".join(verdict.codes), verdict.error,
            verdict.latency_ms,
        )  # fmt: skip
        return verdict

    def _cached(self, request: GuardRequest) -> Verdict | None:
        return self._cache.get(request.conversation) if self._cache is not None else None

    def _ms_since(self, started: float) -> float:
        return (time.perf_counter() - started) * 1000.0

    # -- sync -----------------------------------------------------------------------------

    def check(self, conversation: Any) -> Verdict:
        """Judge the last turn of ``conversation`` (a str is one user message)."""
        return self._check(self.prepare(conversation))

    def _check(self, request: GuardRequest) -> Verdict:
        if (hit := self._cached(request)) is not None:
            return hit
        started = time.perf_counter()
        budget = RetryBudget(self.timeout, self.max_retries)
        while True:
            try:
                answer = self.backend.complete(request, timeout=max(budget.remaining(), 0.001))
                break
            except BackendError as error:
                delay = budget.next_delay(error)
                if delay is None:
                    verdict = self.policy.fail(request, error, self.model, self._ms_since(started))
                    return self._finish(request, verdict)
                time.sleep(delay)
        return self._finish(request, self._decide(request, answer, started))

    def check_many(self, conversations: Sequence[Any]) -> list[Verdict]:
        """Judge many conversations concurrently (threads, up to ``max_concurrency``)."""
        requests = [self.prepare(c) for c in _as_list(conversations)]  # bad input: before I/O
        if len(requests) <= 1:
            return [self._check(r) for r in requests]
        workers = min(self.max_concurrency, len(requests))
        with ThreadPoolExecutor(workers, thread_name_prefix="llamashield") as pool:
            return list(pool.map(self._check, requests))

    # -- async ----------------------------------------------------------------------------

    async def acheck(self, conversation: Any) -> Verdict:
        """Async ``check``; concurrent calls share the ``max_concurrency`` limit."""
        return await self._acheck(self.prepare(conversation))

    async def _acheck(self, request: GuardRequest) -> Verdict:
        if (hit := self._cached(request)) is not None:
            return hit
        async with self._semaphores.get():
            started = time.perf_counter()
            budget = RetryBudget(self.timeout, self.max_retries)
            try:
                async with asyncio.timeout(self.timeout):
                    answer = await self._acall(request, budget)
            except BackendError as error:
                verdict = self.policy.fail(request, error, self.model, self._ms_since(started))
                return self._finish(request, verdict)
            except TimeoutError:
                error = BackendError(f"guard timed out after {self.timeout:g}s", kind="timeout")
                verdict = self.policy.fail(request, error, self.model, self._ms_since(started))
                return self._finish(request, verdict)
        return self._finish(request, self._decide(request, answer, started))

    async def _acall(self, request: GuardRequest, budget: RetryBudget) -> BackendAnswer:
        while True:
            try:
                return await self.backend.acomplete(request, timeout=max(budget.remaining(), 0.001))
            except BackendError as error:
                delay = budget.next_delay(error)
                if delay is None:
                    raise
                await asyncio.sleep(delay)

    async def acheck_many(self, conversations: Sequence[Any]) -> list[Verdict]:
        """Judge many conversations concurrently on the running loop."""
        requests = [self.prepare(c) for c in _as_list(conversations)]
        return list(await asyncio.gather(*(self._acheck(r) for r in requests)))

    def _decide(self, request: GuardRequest, answer: BackendAnswer, started: float) -> Verdict:
        if not answer.model:
            answer = BackendAnswer(answer.text, answer.score, self.model)
        return self.policy.decide(request, answer, self._ms_since(started))


def _as_list(conversations: Sequence[Any]) -> list[Any]:
    if isinstance(conversations, str | bytes) or not isinstance(conversations, Iterable):
        raise TypeError(
            "check_many() takes a list of conversations (each a str or a message list), "
            f"got {type(conversations).__name__}"
        )
    return list(conversations)
