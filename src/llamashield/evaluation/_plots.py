"""PNG plots of an evaluation report, drawn with matplotlib's Agg canvas.

Figures are built with ``matplotlib.figure.Figure`` and never through pyplot, so plotting
neither needs a display nor switches the backend of a notebook the user is working in.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import product
from pathlib import Path
from typing import Any

from llamashield.evaluation._report_model import CategoryScores, PublishedFigure, ReportData

__all__ = ["write_plots"]


def _figure() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'llamashield[cli]'") from None
    return Figure(figsize=(6.4, 4.4), dpi=100, layout="constrained")


def _pr_curve(data: ReportData, axes: Any) -> None:
    points = data.pr_curve
    # Precision-recall steps start at recall 0 with the first point's precision.
    recalls = [0.0] + [p.recall for p in points]
    precisions = [points[0].precision] + [p.precision for p in points]
    axes.step(recalls, precisions, where="pre", color="tab:blue", linewidth=2)
    axes.scatter([p.recall for p in points], [p.precision for p in points], s=14, zorder=3)
    auprc = data.auprc
    title = "Precision-recall" + (f" (AUPRC {auprc:.3f})" if auprc is not None else "")
    axes.set(xlabel="recall (unsafe caught)", ylabel="precision", title=title,
             xlim=(0, 1.02), ylim=(0, 1.05))  # fmt: skip
    axes.grid(alpha=0.3)


def _categories(data: ReportData, axes: Any) -> None:
    rows = _labelled(data)
    positions = list(range(len(rows)))
    width = 0.4
    axes.bar([p - width / 2 for p in positions], [m.recall or 0.0 for m in rows], width,
             label="flagged unsafe")  # fmt: skip
    axes.bar([p + width / 2 for p in positions], [m.category_recall or 0.0 for m in rows], width,
             label="flagged with this category")  # fmt: skip
    axes.set_xticks(positions, [f"{m.code}\n(n={m.support})" for m in rows], fontsize=8)
    axes.set(ylabel="recall", ylim=(0, 1.05), title="Recall per labelled category")
    axes.legend(loc="lower right", fontsize=8)
    axes.grid(axis="y", alpha=0.3)


def _latency(data: ReportData, axes: Any) -> None:
    latencies = [r.latency_ms for r in data.rows]
    axes.hist(latencies, bins=min(30, max(5, len(latencies) // 3)), color="tab:gray")
    summary = data.latency_ms
    for name, color in (("p50", "tab:green"), ("p95", "tab:orange"), ("p99", "tab:red")):
        value = getattr(summary, name)
        if value is not None:
            axes.axvline(value, color=color, linestyle="--", label=f"{name} {value:.1f} ms")
    axes.set(xlabel="latency per row (ms)", ylabel="rows", title="Guard latency")
    axes.legend(fontsize=8)


def _sweep(data: ReportData, axes: Any) -> None:
    points = data.threshold_sweep
    thresholds = [p.threshold for p in points]
    for key, label in (("f1", "F1"), ("fpr", "false-positive rate"), ("recall", "recall")):
        values = [float("nan") if getattr(p, key) is None else getattr(p, key) for p in points]
        axes.plot(thresholds, values, marker="o", label=label)
    for published, (key, color) in product(
        _shown_published(data), (("f1", "tab:blue"), ("fpr", "tab:orange"))
    ):
        # the cards decide at P(unsafe) >= 0.5: their figures sit on the sweep's x = 0.5
        value = getattr(published, key)
        axes.scatter([0.5], [value], marker="*", s=140, color=color, edgecolor="black", zorder=3)
        axes.annotate(f"{published.model} {key.upper()} (published)", (0.5, value),
                      textcoords="offset points", xytext=(6, 4), fontsize=7)  # fmt: skip
    axes.set(xlabel="threshold on P(unsafe)", ylim=(0, 1.05), title="Threshold trade-off")
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)


def _shown_published(data: ReportData) -> list[PublishedFigure]:
    """The evaluated model's published figures, or all of them when the model has none."""
    same = [f for f in data.published if f.same_model]
    return same or list(data.published)


def _card_point(data: ReportData) -> tuple[float, float] | None:
    """This run's (FPR, F1), when the model cards publish figures to set it beside."""
    fpr, f1 = data.overall.fpr, data.overall.f1
    return (fpr, f1) if data.published and fpr is not None and f1 is not None else None


def _model_card(data: ReportData, axes: Any) -> None:
    """F1 against false-positive rate: this run (and its threshold sweep) beside the figures
    Meta's model cards publish for the same data set, on the same axes."""
    run_fpr, run_f1 = _card_point(data) or (0.0, 0.0)  # drawn only when there is one
    sweep = [(p.fpr, p.f1) for p in data.threshold_sweep if p.f1 is not None and p.fpr is not None]
    if sweep:
        axes.plot([x for x, _ in sweep], [y for _, y in sweep], marker=".", color="tab:blue",
                  alpha=0.5, label="this run, threshold sweep")  # fmt: skip
    axes.scatter([run_fpr], [run_f1], s=90, color="tab:blue", zorder=3,
                 label=f"this run: {data.model}")  # fmt: skip
    others = iter(("D", "s", "P", "X", "v", "^"))  # cards can tie (LG2 and LG3 8B: F1 0.884)
    for published in data.published:
        same = published.same_model
        axes.scatter(
            [published.fpr], [published.f1], marker="*" if same else next(others, "o"),
            s=170 if same else 60, color="tab:red" if same else "tab:gray", zorder=3,
            alpha=1.0 if same else 0.8, label=f"{published.model} (published)",
        )  # fmt: skip
    top = max([0.2, run_fpr, *(x for x, _ in sweep), *(f.fpr for f in data.published)])
    name = data.preset or data.source
    axes.set(xlabel="false-positive rate (lower is better)", ylabel="F1 (higher is better)",
             title=f"F1 / FPR on {name}, beside the model cards", xlim=(0, min(1.0, top * 1.3)),
             ylim=(0, 1.05))  # fmt: skip
    axes.legend(loc="lower right", fontsize=8)
    axes.grid(alpha=0.3)


def _labelled(data: ReportData) -> list[CategoryScores]:
    """The categories that have labelled rows (a recall to draw)."""
    return [m for m in data.per_category if m.support]


# Each plot: its file, whether the report has anything for it, and how it is drawn.
_PLOTS: tuple[tuple[str, Callable[[ReportData], object], Callable[[ReportData, Any], None]], ...]
_PLOTS = (
    ("pr_curve.png", lambda data: data.pr_curve, _pr_curve),
    ("categories.png", _labelled, _categories),
    ("latency.png", lambda data: data.rows, _latency),
    ("threshold_sweep.png", lambda data: data.threshold_sweep, _sweep),
    ("model_card.png", _card_point, _model_card),
)


def write_plots(data: ReportData, directory: str | Path) -> list[Path]:
    """Write ``pr_curve.png`` (when scores exist), ``categories.png``, ``latency.png``,
    ``threshold_sweep.png`` (after a sweep) and ``model_card.png`` (for a preset the model
    cards report on) into ``directory``; return the paths written."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, shown, draw in _PLOTS:
        if shown(data):
            figure = _figure()
            draw(data, figure.add_subplot())
            figure.savefig(folder / name, format="png")
            written.append(folder / name)
    return written
