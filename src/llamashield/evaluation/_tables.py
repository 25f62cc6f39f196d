"""The evaluation report as rich tables: summary (overall, per role, per group), the model-card
figures (the user's, then the cards' own as "published"), what was read and skipped, per
category, confusion, threshold sweep. Reads the typed ``ReportData`` only.

Everything that comes from the user's data (file names, group and category names, error
messages, model ids) goes to rich as ``Text``, never as markup: ``bad.csv:100:`` must not turn
into an emoji, nor ``[bold]`` vanish."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llamashield.evaluation._report_model import Confusion, ReportData

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["print_report"]

_RATIOS = ("accuracy", "precision", "recall", "f1", "fpr")
_CARDS = "https://github.com/meta-llama/PurpleLlama/blob/main/"


def fmt(value: Any, digits: int = 3) -> str:
    """A figure as the report prints it (also ``EvalReport``'s repr): floats to ``digits``."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _import_rich() -> Any:
    try:
        import rich.console
        import rich.table
        import rich.text
    except ImportError:
        raise ImportError(
            "printing the report needs rich: pip install 'llamashield[cli]'"
        ) from None
    return rich


def _summary(data: ReportData, table_type: Any, text: Any) -> Any:
    title = f"{data.model} on {data.source}" + (f" (preset {data.preset})" if data.preset else "")
    summary = table_type(title=text(title), show_header=True, header_style="bold")
    summary.add_column("slice")
    summary.add_column("rows", justify="right")
    for name in ("TP", "FP", "TN", "FN", "acc.", "prec.", "recall", "F1", "FPR"):
        summary.add_column(name, justify="right")
    slices: list[tuple[str, Confusion]] = [("all", data.overall), *data.by_role.items()]
    slices += [(f"group {name}", metrics) for name, metrics in data.by_group.items()]
    for label, m in slices:
        summary.add_row(
            text(label), str(m.total), str(m.tp), str(m.fp), str(m.tn), str(m.fn),
            *(fmt(getattr(m, k)) for k in _RATIOS),
        )  # fmt: skip
    return summary


def _headline(data: ReportData) -> str:
    h = data.headline
    figures = {"F1": h.f1, "AUPRC": h.auprc, "FPR": h.fpr}
    key = "FPR" if h.measure == "fpr" else "F1"
    parts = [f"[bold]{name} {fmt(value)}[/bold]" if name == key else f"{name} {fmt(value)}"
             for name, value in figures.items()]  # fmt: skip
    line = "Model-card figures (default decision; AUPRC on the score): " + "   ".join(parts)
    if h.measure == "fpr":
        line += "\n  read for over-refusal: FPR is the share of safe prompts the guard flagged"
    return line


def _published(data: ReportData, text: Any) -> list[Any]:
    """The model cards' F1 / FPR on the same data set, one line each, under the user's."""
    if not data.published:
        return []
    base = _CARDS if all(f.source.startswith(_CARDS) for f in data.published) else ""
    lines = [text("published (Meta's model cards, unsafe at P(unsafe) >= 0.5), same data set:")]
    for figure in data.published:
        mark = "<- this model" if figure.same_model else ""
        line = text(f"  {figure.model:<21} F1 {fmt(figure.f1)}   FPR {fmt(figure.fpr)}  {mark:<14}")
        line.append(figure.source.removeprefix(base), "dim")
        if figure.note:
            line.append(f" ({figure.note})", "dim")
        lines.append(line)
    if base:
        lines.append(text(f"  source: {base}", "dim"))
    return lines


def _dataset(data: ReportData, text: Any) -> list[Any]:
    """What the loader read and left out, so a reader knows what the figures are over."""
    d = data.dataset
    if d is None:
        return []
    skipped = ", ".join(f"{n} {reason}" for reason, n in d.skipped.items()) or "none"
    line = f"data: {d.records_read} records read, {d.rows} rows ({d.unsafe} unsafe), "
    line += f"{data.rows_judged} judged; skipped: {skipped}"
    if d.groups:
        each = f" of {d.rows_per_group} rows" if d.rows_per_group else ""
        line += f"; {d.groups} groups{each}"
    if d.limit is not None:
        line += f" (--limit {d.limit})"
    return [text(line)] + [text(f"  {count} {what}") for what, count in d.counts.items()]


def print_report(data: ReportData, console: Console | None = None) -> None:
    """Print every section of the report that has data."""
    rich = _import_rich()
    Table, Text = rich.table.Table, rich.text.Text
    console = console or rich.console.Console()
    console.print(_summary(data, Table, Text))
    console.print(_headline(data))
    lines = _published(data, Text) + _dataset(data, Text)
    if lines:  # one print: a notebook shows one block, not a block per line
        console.print(Text("\n").join(lines))

    latency = data.latency_ms
    console.print(
        f"latency ms p50 {fmt(latency.p50, 1)} p95 {fmt(latency.p95, 1)} "
        f"p99 {fmt(latency.p99, 1)}   errors {data.errors.count}/{data.rows_total}"
    )
    for message, count in data.errors.messages.items():
        console.print(Text.assemble((f"  {count} x ", "red"), message))

    if data.per_category:
        table = Table(title="Per category (rows labelled with it)", header_style="bold")
        table.add_column("code")
        table.add_column("name")
        for name in ("rows", "flagged", "recall", "same cat.", "false pos."):
            table.add_column(name, justify="right")
        for c in data.per_category:
            table.add_row(
                Text(c.code), Text(c.name), str(c.support), str(c.detected), fmt(c.recall),
                fmt(c.category_recall), str(c.false_positives),
            )  # fmt: skip
        console.print(table)

    confusion = data.confusion
    if confusion:
        columns = sorted({c for row in confusion.values() for c in row}, key=_code_order)
        table = Table(title="Confusion: labelled (rows) x predicted (columns)", header_style="bold")
        table.add_column("label")
        for column in columns:
            table.add_column(Text(column), justify="right")
        for label in sorted(confusion, key=_code_order):
            row = confusion[label]
            table.add_row(Text(label), *(str(row.get(c, "")) for c in columns))
        console.print(table)

    if data.threshold_sweep:
        table = Table(title="Threshold sweep (unsafe when score >= threshold)", header_style="bold")
        for name in ("threshold", "precision", "recall", "F1", "FPR", "flagged"):
            table.add_column(name, justify="right")
        for point in data.threshold_sweep:
            table.add_row(
                fmt(point.threshold, 2), fmt(point.precision), fmt(point.recall),
                fmt(point.f1), fmt(point.fpr), str(point.tp + point.fp),
            )  # fmt: skip
        console.print(table)
    for note in data.notes:
        console.print(Text.assemble(("note: ", "yellow"), note))


def _code_order(code: str) -> tuple[int, int, str]:
    """S1 < S2 < S10; then "unsafe", then "safe" last."""
    if code == "safe":
        return (2, 0, code)
    if code == "unsafe":
        return (1, 0, code)
    digits = code[1:]
    return (0, int(digits) if digits.isdigit() else 0, code)
