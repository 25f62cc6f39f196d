"""``EvalReport``: the metrics of one evaluation run as JSON, a rich table and plots.

The report is plain JSON data (``report.data``): ``report.json`` holds everything the tables
and plots show, per-row results included, so a plot can be redrawn from the file alone.
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
from llamashield.evaluation._runner import RowResult

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["EvalReport", "build_report"]


def _scored(results: Sequence[RowResult]) -> tuple[list[bool], list[float]] | None:
    """Labels and scores when every judged row has a score, else None (no curve from half)."""
    if not results or any(r.score is None for r in results):
        return None
    return [r.row.unsafe for r in results], [float(r.score) for r in results if r.score is not None]


def _binary(results: Sequence[RowResult]) -> dict[str, Any]:
    metrics = binary_metrics([r.row.unsafe for r in results], [r.predicted_unsafe for r in results])
    return metrics.as_dict()


def _row_dict(result: RowResult) -> dict[str, Any]:
    return {
        "id": result.row.id,
        "role": result.row.role,
        "label": result.row.label,
        "categories": list(result.row.categories),
        "predicted": None if result.error else ("unsafe" if result.predicted_unsafe else "safe"),
        "predicted_categories": list(result.predicted_codes),
        "score": result.score,
        "latency_ms": result.latency_ms,
        "error": result.error,
    }


def build_report(
    results: Sequence[RowResult],
    *,
    taxonomy: Taxonomy,
    thresholds: Iterable[float] = (),
    meta: dict[str, Any] | None = None,
) -> EvalReport:
    """Compute every metric from the per-row results (pure; nothing is re-run)."""
    judged = [r for r in results if r.error is None]
    errors = [r for r in results if r.error is not None]
    labels = [r.row.unsafe for r in judged]
    flagged = [r.predicted_unsafe for r in judged]
    expected = [r.row.categories for r in judged]
    predicted = [r.predicted_codes for r in judged]
    names = {c.code: c.name for c in taxonomy}
    scored = _scored(judged)
    sweep_thresholds = sorted(set(thresholds))
    data: dict[str, Any] = {
        **(meta or {}),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "taxonomy": f"Llama Guard {taxonomy.generation}{' (custom)' if taxonomy.custom else ''}",
        "rows_total": len(results),
        "rows_judged": len(judged),
        "errors": {
            "count": len(errors),
            "messages": dict(Counter((r.error or "")[:200] for r in errors).most_common(10)),
        },
        "overall": _binary(judged),
        "by_role": {
            role: _binary([r for r in judged if r.row.role == role])
            for role in ("user", "agent")
            if any(r.row.role == role for r in judged)
        },
        "auprc": average_precision(*scored) if scored else None,
        "per_category": [
            {"name": names.get(m.code, m.code), **m.as_dict()}
            for m in category_metrics(expected, flagged, predicted, labels, taxonomy.codes)
        ],
        "confusion": category_confusion(expected, labels, flagged, predicted),
        "latency_ms": latency_summary([r.latency_ms for r in results]),
        "pr_curve": [
            {"threshold": p.threshold, "precision": p.precision, "recall": p.recall}
            for p in (precision_recall_curve(*scored) if scored else [])
        ],
        "threshold_sweep": [
            {"threshold": t, **m.as_dict()}
            for t, m in (threshold_sweep(*scored, sweep_thresholds) if scored else [])
        ],
        "rows": [_row_dict(r) for r in results],
    }
    if sweep_thresholds and not scored:
        data["notes"] = ["the backend gave no scores: the threshold sweep is empty"]
    return EvalReport(data)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


class EvalReport:
    """Metrics of one evaluation run.

    Example::

        report = evaluate(guard, load_sample(), thresholds=[0.3, 0.5, 0.7])
        report.overall["f1"], report.auprc
        report.print()                       # rich tables
        report.write_json("report.json")
        report.plot("plots/")                # PNG paths
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __repr__(self) -> str:
        o = self.overall
        return (
            f"EvalReport(rows={self.data['rows_total']}, f1={_fmt(o['f1'])}, "
            f"precision={_fmt(o['precision'])}, recall={_fmt(o['recall'])}, "
            f"fpr={_fmt(o['fpr'])}, errors={self.data['errors']['count']})"
        )

    @property
    def overall(self) -> dict[str, Any]:
        return dict(self.data["overall"])

    @property
    def auprc(self) -> float | None:
        value = self.data["auprc"]
        return None if value is None else float(value)

    @property
    def per_category(self) -> list[dict[str, Any]]:
        return list(self.data["per_category"])

    @property
    def latency_ms(self) -> dict[str, Any]:
        return dict(self.data["latency_ms"])

    @property
    def rows(self) -> list[dict[str, Any]]:
        return list(self.data["rows"])

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
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    def plot(self, directory: str | Path) -> list[Path]:
        """Write the PNG plots into ``directory`` (needs matplotlib); returns their paths."""
        from llamashield.evaluation._plots import write_plots

        return write_plots(self, directory)

    def print(self, console: Console | None = None) -> None:
        """Print the tables with rich (needs ``llamashield[cli]``)."""
        from llamashield.evaluation._tables import print_report

        print_report(self, console)
