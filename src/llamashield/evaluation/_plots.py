"""PNG plots of an evaluation report, drawn with matplotlib's Agg canvas.

Figures are built with ``matplotlib.figure.Figure`` and never through pyplot, so plotting
neither needs a display nor switches the backend of a notebook the user is working in.
"""

from __future__ import annotations

from itertools import product
from pathlib import Path
from typing import Any

from llamashield.evaluation._report_model import PublishedFigure, ReportData

__all__ = ["write_plots"]


def _figure() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'llamashield[cli]'") from None
    return Figure(figsize=(6.4, 4.4), dpi=100, layout="constrained")


def _save(figure: Any, path: Path) -> Path:
    figure.savefig(path, format="png")
    return path


def _pr_curve(data: ReportData, path: Path) -> Path | None:
    points = data.pr_curve
    if not points:
        return None
    figure = _figure()
    axes = figure.add_subplot()
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
    return _save(figure, path)


def _categories(data: ReportData, path: Path) -> Path | None:
    rows = [m for m in data.per_category if m.support]
    if not rows:
        return None
    figure = _figure()
    axes = figure.add_subplot()
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
    return _save(figure, path)


def _latency(data: ReportData, path: Path) -> Path | None:
    latencies = [r.latency_ms for r in data.rows]
    if not latencies:
        return None
    figure = _figure()
    axes = figure.add_subplot()
    axes.hist(latencies, bins=min(30, max(5, len(latencies) // 3)), color="tab:gray")
    summary = data.latency_ms
    for name, color in (("p50", "tab:green"), ("p95", "tab:orange"), ("p99", "tab:red")):
        value = getattr(summary, name)
        if value is not None:
            axes.axvline(value, color=color, linestyle="--", label=f"{name} {value:.1f} ms")
    axes.set(xlabel="latency per row (ms)", ylabel="rows", title="Guard latency")
    axes.legend(fontsize=8)
    return _save(figure, path)


def _sweep(data: ReportData, path: Path) -> Path | None:
    points = data.threshold_sweep
    if not points:
        return None
    figure = _figure()
    axes = figure.add_subplot()
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
    return _save(figure, path)


def _shown_published(data: ReportData) -> list[PublishedFigure]:
    """The evaluated model's published figures, or all of them when the model has none."""
    same = [f for f in data.published if f.same_model]
    return same or list(data.published)


def _model_card(data: ReportData, path: Path) -> Path | None:
    """F1 against false-positive rate: this run (and its threshold sweep) beside the figures
    Meta's model cards publish for the same data set, on the same axes."""
    if not data.published or data.overall.f1 is None or data.overall.fpr is None:
        return None
    figure = _figure()
    axes = figure.add_subplot()
    sweep = [(p.fpr, p.f1) for p in data.threshold_sweep if p.f1 is not None and p.fpr is not None]
    if sweep:
        axes.plot([x for x, _ in sweep], [y for _, y in sweep], marker=".", color="tab:blue",
                  alpha=0.5, label="this run, threshold sweep")  # fmt: skip
    axes.scatter([data.overall.fpr], [data.overall.f1], s=90, color="tab:blue", zorder=3,
                 label=f"this run: {data.model}")  # fmt: skip
    others = iter(("D", "s", "P", "X", "v", "^"))  # cards can tie (LG2 and LG3 8B: F1 0.884)
    for published in data.published:
        same = published.same_model
        axes.scatter(
            [published.fpr], [published.f1], marker="*" if same else next(others, "o"),
            s=170 if same else 60, color="tab:red" if same else "tab:gray", zorder=3,
            alpha=1.0 if same else 0.8, label=f"{published.model} (published)",
        )  # fmt: skip
    top = max([0.2, data.overall.fpr, *(x for x, _ in sweep), *(f.fpr for f in data.published)])
    name = data.preset or data.source
    axes.set(xlabel="false-positive rate (lower is better)", ylabel="F1 (higher is better)",
             title=f"F1 / FPR on {name}, beside the model cards", xlim=(0, min(1.0, top * 1.3)),
             ylim=(0, 1.05))  # fmt: skip
    axes.legend(loc="lower right", fontsize=8)
    axes.grid(alpha=0.3)
    return _save(figure, path)


def write_plots(data: ReportData, directory: str | Path) -> list[Path]:
    """Write ``pr_curve.png`` (when scores exist), ``categories.png``, ``latency.png``,
    ``threshold_sweep.png`` (after a sweep) and ``model_card.png`` (for a preset the model
    cards report on) into ``directory``; return the paths written."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written = [
        _pr_curve(data, folder / "pr_curve.png"),
        _categories(data, folder / "categories.png"),
        _latency(data, folder / "latency.png"),
        _sweep(data, folder / "threshold_sweep.png"),
        _model_card(data, folder / "model_card.png"),
    ]
    return [path for path in written if path is not None]
