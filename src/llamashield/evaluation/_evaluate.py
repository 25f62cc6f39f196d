"""``evaluate``: rows in, ``EvalReport`` out (the one call notebooks and the CLI share)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from llamashield.evaluation._dataset import EvalRow
from llamashield.evaluation._presets import get_preset
from llamashield.evaluation._report import EvalReport, build_report
from llamashield.evaluation._runner import RowResult, arun_rows, run_sync

if TYPE_CHECKING:
    from llamashield._guard import LlamaGuard

__all__ = ["aevaluate", "evaluate"]


def _meta(
    guard: LlamaGuard, source: str | None, concurrency: int, preset: str | None
) -> dict[str, Any]:
    from llamashield import __version__

    return {
        "llamashield_version": __version__,
        "model": guard.model,
        "backend": type(guard.backend).__name__,
        "source": source or "rows",
        "preset": preset,
        "concurrency": concurrency,
    }


async def aevaluate(
    guard: LlamaGuard,
    rows: Sequence[EvalRow],
    *,
    concurrency: int = 8,
    thresholds: Iterable[float] = (),
    source: str | None = None,
    preset: str | None = None,
    on_result: Callable[[RowResult], None] | None = None,
) -> EvalReport:
    """Judge ``rows`` with ``guard`` and compute the report (async).

    ``preset`` names the benchmark the rows came from (``load_rows(..., preset=)``): the report
    records it and headlines the figure that benchmark is read for (XSTest: false positives).
    """
    measure = get_preset(preset).measure if preset else "f1"
    results = await arun_rows(guard, rows, concurrency=concurrency, on_result=on_result)
    return build_report(
        results,
        taxonomy=guard.taxonomy,
        thresholds=thresholds,
        meta=_meta(guard, source, concurrency, preset),
        measure=measure,
    )


def evaluate(
    guard: LlamaGuard,
    rows: Sequence[EvalRow],
    *,
    concurrency: int = 8,
    thresholds: Iterable[float] = (),
    source: str | None = None,
    preset: str | None = None,
    on_result: Callable[[RowResult], None] | None = None,
) -> EvalReport:
    """Judge ``rows`` with ``guard`` and compute the report; works inside Jupyter too.

    Example::

        from llamashield import LlamaGuard
        from llamashield.backends import SimulatedBackend
        from llamashield.evaluation import evaluate, load_sample

        guard = LlamaGuard(SimulatedBackend())
        report = evaluate(guard, load_sample(), thresholds=[0.5])
        report.overall["f1"]
    """
    return run_sync(
        aevaluate(
            guard,
            rows,
            concurrency=concurrency,
            thresholds=thresholds,
            source=source,
            preset=preset,
            on_result=on_result,
        )
    )
