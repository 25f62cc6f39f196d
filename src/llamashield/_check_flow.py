"""One check, sans-I/O: what ``LlamaGuard`` does around its backend, written once.

``judging`` is a check after its conversation was prepared (``CheckJob``): look the verdict up
(``Lookup``), else let the breaker admit it and ask the backend for every chunk (``Ask``), decide,
and file the verdict (``File``). ``attempts`` is one backend call with its retries: ``Attempt``
(the call, within the time left) and ``Backoff`` (the wait before the next try). They yield
these operations and receive their results; ``LlamaGuard`` performs them with blocking calls
under ``check`` and with awaits under ``acheck`` (``drive`` / ``adrive``), the way
``_plan.py`` drives an adapter's plans.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from llamashield._checks import Result, checked
from llamashield._retry import RetryBudget
from llamashield.backends._base import BackendFailure, GuardRequest

if TYPE_CHECKING:
    from llamashield._cache import VerdictCache
    from llamashield._check_job import CheckJob
    from llamashield._guard import LlamaGuard
    from llamashield._verdict import Verdict

__all__ = [
    "NO_RECALL",
    "Ask",
    "Attempt",
    "Backoff",
    "File",
    "Lookup",
    "Recall",
    "Stepper",
    "adrive",
    "attempts",
    "drive",
    "judging",
]

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Recall:
    """Where one check looks for a verdict judged before (``read``) and files its own
    (``write``): the verdict cache, or the guard's record of judged conversation turns."""

    key: str | None
    read: VerdictCache | None
    write: VerdictCache | None
    last: bool

    def missed(self) -> Recall:
        """After a miss in ``read`` (history turns are looked up before any I/O): the last
        turn still reads the cache itself, an earlier one need not look again."""
        return self if self.last else Recall(self.key, None, self.write, last=False)


NO_RECALL = Recall(None, None, None, last=True)


@dataclass(frozen=True, slots=True)
class Lookup:
    cache: VerdictCache
    key: str


@dataclass(frozen=True, slots=True)
class Ask:
    """The backend, for each request (concurrently where the driver may)."""

    requests: list[GuardRequest]
    parallel: bool


@dataclass(frozen=True, slots=True)
class File:
    cache: VerdictCache
    key: str
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class Attempt:
    """One backend call; the operation's result is the answer, or the ``BackendFailure``."""

    request: GuardRequest
    timeout: float


@dataclass(frozen=True, slots=True)
class Backoff:
    delay: float


Operation: TypeAlias = Lookup | Ask | File | Attempt | Backoff


def judging(
    guard: LlamaGuard, job: CheckJob, recall: Recall, *, parallel: bool = True
) -> Generator[Lookup | Ask | File, Any, Verdict]:
    """One check: the cached verdict, an early one (rejected, circuit open), or the backend's."""
    hit = (
        (yield Lookup(recall.read, recall.key)) if recall.read is not None and recall.key else None
    )
    early, probe = guard._admit(job, hit)
    if early is not None:
        return guard._finish(job, early)
    results = None
    try:
        results = yield Ask(job.requests, parallel)
    finally:
        guard._settle(results, probe)  # in every outcome: a probe slot is always released
    verdict = guard._decide(results)
    if recall.write is not None and recall.key and verdict.error is None:
        yield File(recall.write, recall.key, verdict)
    return guard._finish(job, verdict)


def attempts(
    request: GuardRequest, timeout: float, max_retries: int
) -> Generator[Attempt | Backoff, Any, Result]:
    """One backend call with its retries, within ``timeout`` in all."""
    started = time.perf_counter()
    budget = RetryBudget(timeout, max_retries)
    while True:
        outcome = yield Attempt(request, max(budget.remaining(), 0.001))
        if not isinstance(outcome, BackendFailure):
            return Result(request, checked(outcome), ms_since(started))
        delay = budget.next_delay(outcome)
        if delay is None:
            return Result(request, outcome, ms_since(started))
        yield Backoff(delay)


def ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


class Stepper:
    """Advances a generator-driven flow (a check here, an adapter's plan in ``_plan.py``):
    sends it the last operation's result, or throws the operation's error into it; ``next``
    is None once it returned (its value is in ``value``)."""

    __slots__ = ("error", "flow", "result", "value")

    def __init__(self, flow: Generator[Any, Any, Any]) -> None:
        self.flow = flow
        self.result: Any = None
        self.error: BaseException | None = None
        self.value: Any = None

    def next(self) -> Any:
        try:
            if self.error is None:
                operation = self.flow.send(self.result)
            else:
                operation = self.flow.throw(self.error)
        except StopIteration as stop:
            self.value = stop.value
            return None
        self.result, self.error = None, None
        return operation


def drive(flow: Generator[Any, Any, R], perform: Callable[[Any], Any]) -> R:
    """Run ``flow`` with blocking operations."""
    stepper = Stepper(flow)
    while (operation := stepper.next()) is not None:
        try:
            stepper.result = perform(operation)
        except BaseException as exc:  # thrown into the flow: its finally blocks run
            stepper.error = exc
    return stepper.value  # type: ignore[no-any-return]


async def adrive(flow: Generator[Any, Any, R], perform: Callable[[Any], Awaitable[Any]]) -> R:
    """Run ``flow`` with awaited operations."""
    stepper = Stepper(flow)
    while (operation := stepper.next()) is not None:
        try:
            stepper.result = await perform(operation)
        except BaseException as exc:
            stepper.error = exc
    return stepper.value  # type: ignore[no-any-return]
