"""``build_report`` (per-row results in, typed ``ReportData`` out) and ``EvalReport`` around it.

``report.json`` holds everything the tables and plots show, per-row results included, so a plot
can be redrawn from the file alone. Tables (``_tables``) and plots (``_plots``) read the typed
``ReportData``; they import nothing from here.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llamashield._taxonomy import Taxonomy
from llamashield.evaluation._metrics import (
    average_precision,
    binary_metrics,
    category_confusion,
    category_metrics,
    latency_summary,
    precision_recall_curve,
    threshold_sweep,
)
from llamashield.evaluation._plots import write_plots
from llamashield.evaluation._published import published_figures
from llamashield.evaluation._report_model import (
    CategoryScores,
    Confusion,
    ErrorSummary,
    Headline,
    LatencySummary,
    PRPointData,
    ReportData,
    RowOutcome,
    SweepPoint,
)
from llamashield.evaluation._runner import RowResult
from llamashield.evaluation._tables import fmt, print_report

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["EvalReport", "build_report"]


def _scored(results: Sequence[RowResult]) -> tuple[list[bool], list[float]] | None:
    """Labels and scores when every judged row has a score, else None (no curve from half)."""
    if not results or any(r.score is None for r in results):
        return None
    return [r.row.unsafe for r in results], [float(r.score) for r in results if r.score is not None]


def _binary(results: Sequence[RowResult]) -> Confusion:
    metrics = binary_metrics([r.row.unsafe for r in results], [r.predicted_unsafe for r in results])
    return Confusion(**metrics.as_dict())


def _outcome(result: RowResult) -> RowOutcome:
    return RowOutcome(
        id=result.row.id,
        role=result.row.role,
        label=result.row.label,
        categories=list(result.row.categories),
        predicted=None if result.error else ("unsafe" if result.predicted_unsafe else "safe"),
        predicted_categories=list(result.predicted_codes),
        score=result.score,
        latency_ms=result.latency_ms,
        error=result.error,
        group=result.row.group,
    )


def _slices(judged: Sequence[RowResult], key: str) -> dict[str, Confusion]:
    """Metrics per value of ``row.role`` or ``row.group`` (rows without one are left out)."""
    values = list(dict.fromkeys(getattr(r.row, key) for r in judged))
    return {
        str(value): _binary([r for r in judged if getattr(r.row, key) == value])
        for value in values
        if value is not None
    }


def build_report(
    results: Sequence[RowResult],
    *,
    taxonomy: Taxonomy,
    thresholds: Iterable[float] = (),
    meta: dict[str, Any] | None = None,
    measure: str = "f1",
    notes: Iterable[str] = (),
) -> EvalReport:
    """Compute every metric from the per-row results (pure; nothing is re-run).

    ``meta`` fills the run's description (model, backend, source, preset, dataset...);
    ``measure`` ("f1" or "fpr") names the headline figure the data set is read for. With a
    preset, the model cards' figures for that set come along as ``published``.
    """
    judged = [r for r in results if r.error is None]
    errors = [r for r in results if r.error is not None]
    labels = [r.row.unsafe for r in judged]
    flagged = [r.predicted_unsafe for r in judged]
    expected = [r.row.categories for r in judged]
    predicted = [r.predicted_codes for r in judged]
    names = {c.code: c.name for c in taxonomy}
    scored = _scored(judged)
    sweep_thresholds = sorted(set(thresholds))
    overall = _binary(judged)
    auprc = average_precision(*scored) if scored else None
    notes = list(notes)
    meta = dict(meta or {})
    if "published" not in meta:
        meta["published"] = published_figures(meta.get("preset"), str(meta.get("model", "")))
    if sweep_thresholds and not scored:
        notes.append("the backend gave no scores: the threshold sweep is empty")
    data = ReportData(
        **meta,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        taxonomy=f"Llama Guard {taxonomy.generation}{' (custom)' if taxonomy.custom else ''}",
        rows_total=len(results),
        rows_judged=len(judged),
        errors=ErrorSummary(
            count=len(errors),
            messages=dict(Counter((r.error or "")[:200] for r in errors).most_common(10)),
        ),
        headline=Headline(f1=overall.f1, auprc=auprc, fpr=overall.fpr, measure=measure),
        overall=overall,
        by_role=_slices(judged, "role"),
        by_group=_slices(judged, "group"),
        auprc=auprc,
        per_category=[
            CategoryScores(name=names.get(m.code, m.code), **m.as_dict())
            for m in category_metrics(expected, flagged, predicted, labels, taxonomy.codes)
        ],
        confusion=category_confusion(expected, labels, flagged, predicted),
        latency_ms=LatencySummary(**latency_summary([r.latency_ms for r in results])),
        pr_curve=[
            PRPointData(threshold=p.threshold, precision=p.precision, recall=p.recall)
            for p in (precision_recall_curve(*scored) if scored else [])
        ],
        threshold_sweep=[
            SweepPoint(threshold=t, **m.as_dict())
            for t, m in (threshold_sweep(*scored, sweep_thresholds) if scored else [])
        ],
        rows=[_outcome(r) for r in results],
        notes=notes,
    )
    return EvalReport(data)


class EvalReport:
    """Metrics of one evaluation run: ``report.model`` is the typed ``ReportData``.

    Example::

        report = evaluate(guard, load_sample(), thresholds=[0.3, 0.5, 0.7])
        report.overall["f1"], report.auprc, report.model.headline
        report.print()                       # rich tables
        report.write_json("report.json")
        report.plot("plots/")                # PNG paths
    """

    def __init__(self, data: ReportData | dict[str, Any]) -> None:
        self.model = data if isinstance(data, ReportData) else ReportData.model_validate(data)

    def __repr__(self) -> str:
        o = self.model.overall
        return (
            f"EvalReport(rows={self.model.rows_total}, f1={fmt(o.f1)}, "
            f"precision={fmt(o.precision)}, recall={fmt(o.recall)}, "
            f"fpr={fmt(o.fpr)}, errors={self.model.errors.count})"
        )

    @property
    def data(self) -> dict[str, Any]:
        """The report as JSON-ready data (what ``report.json`` holds)."""
        return self.model.model_dump(mode="json")

    @property
    def overall(self) -> dict[str, Any]:
        return self.model.overall.model_dump()

    @property
    def auprc(self) -> float | None:
        return self.model.auprc

    @property
    def per_category(self) -> list[dict[str, Any]]:
        return [m.model_dump() for m in self.model.per_category]

    @property
    def latency_ms(self) -> dict[str, Any]:
        return self.model.latency_ms.model_dump()

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [r.model_dump() for r in self.model.rows]

    def to_json(self) -> str:
        return json.dumps(self.data, indent=2, ensure_ascii=False)

    def write_json(self, path: str | Path) -> Path:
        """Write ``report.json`` (a folder gets ``report.json`` inside it)."""
        target = Path(path)
        if target.is_dir() or str(path).endswith(("/", "\\")):
            target = target / "report.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.to_json() + "\n", encoding="utf-8")
        return target

    @classmethod
    def from_json(cls, path: str | Path) -> EvalReport:
        return cls(ReportData.model_validate_json(Path(path).read_text(encoding="utf-8")))

    def plot(self, directory: str | Path) -> list[Path]:
        """Write the PNG plots into ``directory`` (needs matplotlib); returns their paths."""
        return write_plots(self.model, directory)

    def print(self, console: Console | None = None) -> None:
        """Print the tables with rich (needs ``llamashield[cli]``)."""
        print_report(self.model, console)
