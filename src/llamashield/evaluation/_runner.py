"""Run labelled rows through a guard with bounded concurrency, reporting each result as it lands."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from llamashield._redact import redact
from llamashield.evaluation._dataset import EvalRow

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from llamashield._guard import LlamaGuard
    from llamashield._verdict import Verdict

__all__ = ["RowResult", "arun_rows", "run_rows"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RowResult:
    """What the guard said about one row. ``error`` rows are left out of the quality metrics
    (a flaky backend must not look like a strict guard) and counted on their own."""

    row: EvalRow
    predicted_unsafe: bool
    predicted_codes: tuple[str, ...] = ()
    score: float | None = None
    latency_ms: float = 0.0
    error: str | None = None
    raw: str = ""

    @property
    def correct(self) -> bool | None:
        return None if self.error else self.predicted_unsafe == self.row.unsafe

    @classmethod
    def from_verdict(cls, row: EvalRow, verdict: Verdict) -> RowResult:
        # An unsafe answer in a category the policy does not enforce leaves verdict.safe true:
        # the evaluation scores the guard's decision, and keeps the categories it reported.
        return cls(
            row=row,
            predicted_unsafe=not verdict.safe,
            predicted_codes=verdict.codes,
            score=verdict.score,
            latency_ms=verdict.latency_ms,
            error=verdict.error,
            raw=verdict.raw,
        )


async def arun_rows(
    guard: LlamaGuard,
    rows: Sequence[EvalRow],
    *,
    concurrency: int = 8,
    on_result: Callable[[RowResult], None] | None = None,
) -> list[RowResult]:
    """Judge every row, at most ``concurrency`` at once; results come back in row order.

    ``on_result`` is called as each row finishes (a progress bar). A row the guard cannot
    judge at all (an exception, not an error verdict) becomes an error row: one bad row never
    ends a long run, and it is never counted as safe.
    """
    if not (isinstance(concurrency, int) and concurrency >= 1):
        raise ValueError(f"concurrency must be an int >= 1, got {concurrency!r}")
    semaphore = asyncio.Semaphore(concurrency)

    async def judge(row: EvalRow) -> RowResult:
        async with semaphore:
            started = time.perf_counter()
            try:
                verdict = await guard.acheck(row.conversation())
            except Exception as exc:  # recorded on the row; the run goes on
                elapsed = (time.perf_counter() - started) * 1000.0
                error = redact(f"{type(exc).__name__}: {exc}")  # reports are saved and shared
                result = RowResult(row, True, latency_ms=elapsed, error=error)
            else:
                result = RowResult.from_verdict(row, verdict)
        if on_result is not None:
            on_result(result)
        return result

    return list(await asyncio.gather(*(judge(row) for row in rows)))


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` that also works where a loop is already running (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(1, thread_name_prefix="llamashield-eval") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def run_rows(
    guard: LlamaGuard,
    rows: Sequence[EvalRow],
    *,
    concurrency: int = 8,
    on_result: Callable[[RowResult], None] | None = None,
) -> list[RowResult]:
    """Blocking ``arun_rows``."""
    return run_sync(arun_rows(guard, rows, concurrency=concurrency, on_result=on_result))
