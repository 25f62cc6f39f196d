"""``evaluate``: rows in, ``EvalReport`` out (the one call notebooks and the CLI share)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from llamashield.evaluation._dataset import EvalRow
from llamashield.evaluation._presets import get_preset
from llamashield.evaluation._report import EvalReport, build_report
from llamashield.evaluation._report_model import DatasetSummary
from llamashield.evaluation._runner import RowResult, arun_rows, run_sync

if TYPE_CHECKING:
    from llamashield._guard import LlamaGuard

__all__ = ["aevaluate", "evaluate"]


def preset_of(rows: Sequence[EvalRow], preset: str | None) -> str | None:
    """The preset named, else the one ``load_rows(..., preset=)`` read the rows with."""
    summary = getattr(rows, "summary", None)
    if preset is None and isinstance(summary, DatasetSummary):
        return summary.preset
    return get_preset(preset).name if preset else None


def _meta(
    guard: LlamaGuard, source: str | None, concurrency: int, preset: str | None,
    rows: Sequence[EvalRow],
) -> dict[str, Any]:  # fmt: skip
    from llamashield import __version__

    # load_rows' LoadedRows carry what was read and skipped; a list built by hand has none
    summary = getattr(rows, "summary", None)
    return {
        "dataset": summary if isinstance(summary, DatasetSummary) else None,
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

    ``preset`` names the benchmark the rows came from (rows from ``load_rows(..., preset=)``
    carry it already): the report records it, headlines the figure that benchmark is read for
    (XSTest: false positives) and lists the model cards' figures for it.
    """
    preset = preset_of(rows, preset)
    measure = get_preset(preset).measure if preset else "f1"
    results = await arun_rows(guard, rows, concurrency=concurrency, on_result=on_result)
    return build_report(
        results,
        taxonomy=guard.taxonomy,
        thresholds=thresholds,
        meta=_meta(guard, source, concurrency, preset, rows),
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
