"""The circuit breaker's probe slot is released in every outcome, failures are counted per
check, and ``max_concurrency`` bounds backend calls in flight through every entry point."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from llamashield import GuardUnavailableError, LlamaGuard
from llamashield._circuit import CircuitBreaker
from llamashield.backends import SimulatedBackend
from llamashield.backends._base import BackendAnswer, BackendError, GuardRequest

# A cool-down this short has always passed by the next check: every check after the circuit
# opens may probe, unless a probe slot was never released (the bug these tests catch).
INSTANT = 1e-9


class Scripted(SimulatedBackend):
    """Answers by a script of steps: "ok", "fail" (an outage), "malformed", or a callable."""

    def __init__(self, *steps: Any) -> None:
        super().__init__()
        self.steps = list(steps)

    def _step(self) -> Any:
        return self.steps.pop(0) if self.steps else "ok"

    def complete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        return self._do(self._step(), request)

    async def acomplete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        step = self._step()
        if callable(step):
            self.calls += 1
            await step()  # hangs until cancelled
        return self._do(step, request)

    def _do(self, step: Any, request: GuardRequest) -> BackendAnswer:
        self.calls += 1
        if callable(step):
            step()
        if step == "fail":
            raise BackendError("down", kind="connection")
        if step == "malformed":
            return BackendAnswer("safe", 7.0)  # a score outside [0, 1]
        return BackendAnswer("safe", 0.01, "scripted")


def guard_on(backend: Any, failures: int = 1, **options: Any) -> LlamaGuard:
    breaker = CircuitBreaker(failures=failures, cooldown=INSTANT)
    return LlamaGuard(backend, circuit_breaker=breaker, max_retries=0, **options)


def test_a_probe_with_a_malformed_answer_releases_the_slot() -> None:
    backend = Scripted("fail", "malformed", "malformed", "ok")
    guard = guard_on(backend)
    assert guard.check("a").error == "down"  # opens the circuit
    assert guard.circuit_breaker is not None and guard.circuit_breaker.is_open
    for _ in range(2):
        assert "backend gave score" in (guard.check("b").error or "")  # probes, unreadable
    assert guard.check("c").error is None and backend.calls == 4  # a later probe still runs
    assert not guard.circuit_breaker.is_open


def test_a_sync_probe_interrupted_by_an_exception_releases_the_slot() -> None:
    class Interrupted(BaseException):
        pass

    def interrupt() -> None:
        raise Interrupted

    backend = Scripted("fail", interrupt, "ok")
    guard = guard_on(backend)
    guard.check("a")
    with pytest.raises(Interrupted):
        guard.check("b")
    assert guard.check("c").error is None and backend.calls == 3


async def test_a_cancelled_async_probe_releases_the_slot() -> None:
    entered = asyncio.Event()

    async def hang() -> None:
        entered.set()
        await asyncio.Event().wait()

    backend = Scripted("fail", hang, "ok")
    guard = guard_on(backend)
    await guard.acheck("a")
    probe = asyncio.create_task(guard.acheck("b"))
    await entered.wait()
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert (await guard.acheck("c")).error is None and backend.calls == 3


@pytest.mark.parametrize("run", ["sync", "async"])
async def test_failures_are_counted_per_check_not_per_chunk(run: str) -> None:
    backend = Scripted(*["fail"] * 100)
    breaker = CircuitBreaker(failures=3, cooldown=60)
    guard = LlamaGuard(
        backend, circuit_breaker=breaker, max_retries=0, chunk_chars=100, chunk_overlap=10
    )
    long_text = "word " * 200  # about ten chunks
    for expected_open in (False, False, True):
        verdict = guard.check(long_text) if run == "sync" else await guard.acheck(long_text)
        assert verdict.error and breaker.is_open is expected_open
    assert "circuit open" in (guard.check("x").error or "")


def test_failures_under_on_error_raise_still_open_the_circuit() -> None:
    guard = guard_on(Scripted("fail", "fail"), failures=2, on_error="raise")
    guard.circuit_breaker.cooldown = 60  # type: ignore[union-attr]
    for _ in range(2):
        with pytest.raises(GuardUnavailableError, match="down"):
            guard.check("x")
    with pytest.raises(GuardUnavailableError, match="circuit open"):
        guard.check("x")


class Counting(SimulatedBackend):
    """Counts backend calls in flight at once; each call takes a little while."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.now = self.most = 0

    def _enter(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def _leave(self) -> None:
        with self.lock:
            self.now -= 1

    def complete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        self._enter()
        try:
            time.sleep(0.01)
            return super().complete(request, timeout=timeout)
        finally:
            self._leave()

    async def acomplete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        self._enter()
        try:
            await asyncio.sleep(0.01)
            return await super().acomplete(request, timeout=timeout)
        finally:
            self._leave()


LIMIT = 4
CHUNKED = ["word " * 100] * 8  # each about five chunks of 100 characters


def _guard(backend: Counting) -> LlamaGuard:
    return LlamaGuard(backend, max_concurrency=LIMIT, chunk_chars=100, chunk_overlap=10)


def _threads(guard: LlamaGuard) -> None:
    workers = [threading.Thread(target=guard.check, args=(text,)) for text in CHUNKED]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


ENTRY_POINTS: dict[str, Callable[[LlamaGuard], Any]] = {
    "check_many": lambda guard: guard.check_many(CHUNKED),
    "check_from_many_threads": _threads,
    "acheck_many": lambda guard: asyncio.run(guard.acheck_many(CHUNKED)),
    "acheck_gathered": lambda guard: asyncio.run(_gathered(guard)),
}


async def _gathered(guard: LlamaGuard) -> None:
    await asyncio.gather(*(guard.acheck(text) for text in CHUNKED))


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_max_concurrency_bounds_backend_calls_in_flight(entry: str) -> None:
    backend = Counting()
    ENTRY_POINTS[entry](_guard(backend))
    assert backend.calls >= 5 * len(CHUNKED)  # every chunk was judged
    assert 1 <= backend.most <= LIMIT, backend.most
