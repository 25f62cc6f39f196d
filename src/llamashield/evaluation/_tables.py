"""The evaluation report as rich tables (summary, per role, per category, confusion, sweep)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from llamashield.evaluation._report import EvalReport

__all__ = ["print_report"]

_RATIOS = ("accuracy", "precision", "recall", "f1", "fpr")


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _import_rich() -> Any:
    try:
        import rich.console
        import rich.table
    except ImportError:
        raise ImportError(
            "printing the report needs rich: pip install 'llamashield[cli]'"
        ) from None
    return rich


def print_report(report: EvalReport, console: Console | None = None) -> None:
    """Print every section of ``report`` that has data."""
    rich = _import_rich()
    Table = rich.table.Table
    console = console or rich.console.Console()
    data = report.data

    title = f"{data.get('model', 'guard')} on {data.get('source', 'data')}"
    summary = Table(title=title, show_header=True, header_style="bold")
    summary.add_column("slice")
    summary.add_column("rows", justify="right")
    for name in ("TP", "FP", "TN", "FN", "acc.", "prec.", "recall", "F1", "FPR"):
        summary.add_column(name, justify="right")
    slices = [("all", data["overall"]), *data["by_role"].items()]
    for label, metrics in slices:
        total = metrics["tp"] + metrics["fp"] + metrics["tn"] + metrics["fn"]
        summary.add_row(
            label,
            str(total),
            *(str(metrics[k]) for k in ("tp", "fp", "tn", "fn")),
            *(_fmt(metrics[k]) for k in _RATIOS),
        )
    console.print(summary)

    latency = data["latency_ms"]
    errors = data["errors"]
    console.print(
        f"AUPRC {_fmt(data['auprc'])}   latency ms p50 {_fmt(latency['p50'], 1)} "
        f"p95 {_fmt(latency['p95'], 1)} p99 {_fmt(latency['p99'], 1)}   "
        f"errors {errors['count']}/{data['rows_total']}"
    )
    for message, count in errors["messages"].items():
        console.print(f"  [red]{count} x[/red] {message}")

    if data["per_category"]:
        table = Table(title="Per category (rows labelled with it)", header_style="bold")
        table.add_column("code")
        table.add_column("name")
        for name in ("rows", "flagged", "recall", "same cat.", "false pos."):
            table.add_column(name, justify="right")
        for m in data["per_category"]:
            table.add_row(
                m["code"], m["name"], str(m["support"]), str(m["detected"]), _fmt(m["recall"]),
                _fmt(m["category_recall"]), str(m["false_positives"]),
            )  # fmt: skip
        console.print(table)

    confusion: dict[str, dict[str, int]] = data["confusion"]
    if confusion:
        columns = sorted({c for row in confusion.values() for c in row}, key=_code_order)
        table = Table(title="Confusion: labelled (rows) x predicted (columns)", header_style="bold")
        table.add_column("label")
        for column in columns:
            table.add_column(column, justify="right")
        for label in sorted(confusion, key=_code_order):
            row = confusion[label]
            table.add_row(label, *(str(row.get(c, "")) for c in columns))
        console.print(table)

    if data["threshold_sweep"]:
        table = Table(title="Threshold sweep (unsafe when score >= threshold)", header_style="bold")
        for name in ("threshold", "precision", "recall", "F1", "FPR", "flagged"):
            table.add_column(name, justify="right")
        for point in data["threshold_sweep"]:
            table.add_row(
                _fmt(point["threshold"], 2), _fmt(point["precision"]), _fmt(point["recall"]),
                _fmt(point["f1"]), _fmt(point["fpr"]), str(point["tp"] + point["fp"]),
            )  # fmt: skip
        console.print(table)
    for note in data.get("notes", []):
        console.print(f"[yellow]note:[/yellow] {note}")


def _code_order(code: str) -> tuple[int, int, str]:
    """S1 < S2 < S10; then "unsafe", then "safe" last."""
    if code == "safe":
        return (2, 0, code)
    if code == "unsafe":
        return (1, 0, code)
    digits = code[1:]
    return (0, int(digits) if digits.isdigit() else 0, code)
