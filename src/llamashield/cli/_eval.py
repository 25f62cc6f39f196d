"""``llamashield eval DATA``: judge labelled rows, print metrics, write report.json and plots.

The command reads as its steps: check the arguments, load the guard and the rows, judge the
rows (``judge_rows``: the one step another way of judging, such as a batch API, replaces),
then write the outputs. Each step is a function of its own.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from llamashield._exceptions import LlamaShieldError
from llamashield.cli._backend_options import (
    BackendName,
    BackendOption,
    BaseUrlOption,
    ModelOption,
    make_guard,
)
from llamashield.evaluation import (
    PRESETS,
    ColumnMap,
    EvalReport,
    evaluate,
    load_mapping,
    load_rows,
    load_sample,
)

if TYPE_CHECKING:
    from rich.progress import Task

    from llamashield._guard import LlamaGuard
    from llamashield._taxonomy import Taxonomy
    from llamashield.evaluation import EvalRow, RowResult

__all__ = ["eval_command", "judge_rows", "parse_thresholds"]

# The options that name columns: given on the command line (even with their default values),
# DATA is read as plain rows in those columns, and --preset refuses them.
_COLUMN_OPTIONS = ("prompt_column", "response_column", "label_column", "categories_column",
                   "id_column", "unsafe_label")  # fmt: skip


class _RateColumn(ProgressColumn):
    """Rows per second, from rich's moving estimate."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- rows/s" if speed is None else f"{speed:.1f} rows/s", style="cyan")


def parse_thresholds(values: list[str]) -> list[float]:
    """``0.5`` or an inclusive range ``start:stop:step`` (``0.1:0.9:0.1``), repeatable."""
    thresholds: list[float] = []
    for value in values:
        parts = value.split(":")
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            raise typer.BadParameter(
                f"{value!r}: give a number (0.5) or start:stop:step (0.1:0.9:0.1)"
            ) from None
        if len(numbers) == 1:
            thresholds.append(numbers[0])
        elif len(numbers) == 3 and numbers[2] > 0 and numbers[0] <= numbers[1]:
            start, stop, step = numbers
            count = round((stop - start) / step) + 1
            thresholds.extend(round(start + i * step, 10) for i in range(count))
        else:
            raise typer.BadParameter(f"{value!r}: a range is start:stop:step with step > 0")
    for threshold in thresholds:
        if not 0.0 <= threshold <= 1.0:
            raise typer.BadParameter(f"thresholds are probabilities in [0, 1], got {threshold}")
    return sorted(set(thresholds))


def _fail(console: Console, message: object) -> NoReturn:
    """One line, literally: file names and data (``bad.csv:100:``, ``[bold]``) are not markup."""
    console.print(Text.assemble(("error: ", "red"), str(message)), soft_wrap=True)
    raise typer.Exit(2)


@contextmanager
def _usage_errors(console: Console) -> Iterator[None]:
    """Bad input (a file, a column, a missing key or extra) ends the command with exit code 2."""
    try:
        yield
    # DatasetError is a ValueError; ConfigurationError (no API key...) a LlamaShieldError
    except (ValueError, KeyError, ImportError, OSError, csv.Error, LlamaShieldError) as exc:
        _fail(console, exc.args[0] if isinstance(exc, KeyError) and exc.args else exc)


@contextmanager
def _notes(console: Console) -> Iterator[None]:
    """Warnings raised while loading (skipped records...) become notes on the console."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        console.print(Text.assemble(("note: ", "yellow"), str(warning.message)), soft_wrap=True)


def _on_command_line(ctx: typer.Context, name: str) -> bool:
    """Whether the user typed option ``name`` (typer may vendor click: compare by name)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def check_arguments(
    console: Console, data: Path | None, *, sample: bool, mapping: str | None,
    preset: str | None, columns: ColumnMap | None,
) -> None:  # fmt: skip
    """Usage errors that need no file read: exit 2 before anything runs."""
    if (data is None) == (not sample):
        _fail(console, "give a DATA file or --sample (one of the two; DATA - reads standard input)")
    if sample and (mapping or preset):
        _fail(console, "--mapping and --preset apply to DATA; the sample maps itself")
    if preset is not None:
        if preset.strip().casefold() not in PRESETS:
            _fail(console, f"no preset {preset!r}; presets: {', '.join(PRESETS)}")
        if columns is not None:
            _fail(console, "--preset names its own columns; drop the --*-column/--unsafe-label")


def load_rows_for(
    data: Path | None, taxonomy: Taxonomy, *, preset: str | None, mapping: str | None,
    columns: ColumnMap | None, limit: int | None, split: str | None, subset: str | None,
) -> list[EvalRow]:  # fmt: skip
    """The rows to judge: the shipped sample, or DATA read plainly or through a preset.

    ``columns`` is None unless a column option was given: then a file in a published set's
    shape is refused with the preset's name, while named columns read it as plain rows."""
    if data is None:
        return load_sample(taxonomy, limit=limit)
    category_mapping = load_mapping(mapping) if mapping else None
    return load_rows(
        str(data), taxonomy=taxonomy, columns=columns,
        mapping=category_mapping, limit=limit, split=split, subset=subset, preset=preset,
    )  # fmt: skip


def announce(
    console: Console, guard: LlamaGuard, rows: list[EvalRow], source: str, concurrency: int
) -> None:
    console.print(Text.assemble(
        "Evaluating ", (guard.model, "bold"),
        f" ({type(guard.backend).__name__}) on {len(rows)} rows of {source}, "
        f"{concurrency} at a time",
    ))  # fmt: skip
    if type(guard.backend).__name__ == "SimulatedBackend":
        console.print(
            "[yellow]note:[/yellow] the simulated backend is keyword rules for offline demos; "
            "its numbers say nothing about Llama Guard (set TOGETHER_API_KEY or pass --backend)"
        )


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TextColumn("errors [red]{task.fields[errors]}[/red]"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )


def judge_rows(
    guard: LlamaGuard, rows: list[EvalRow], *, concurrency: int, thresholds: list[float],
    source: str, preset: str | None,
) -> EvalReport:  # fmt: skip
    """Judge every row with a live progress bar (rate, ETA, errors) and build the report."""
    errors = 0
    with _progress() as progress:
        task = progress.add_task("judging", total=len(rows), errors=0)

        def on_result(result: RowResult) -> None:
            nonlocal errors
            errors += result.error is not None
            progress.update(task, advance=1, errors=errors)

        return evaluate(
            guard, rows, concurrency=concurrency, thresholds=thresholds, source=source,
            preset=preset, on_result=on_result,
        )  # fmt: skip


def judge_rows_in_batch(
    guard: LlamaGuard, rows: list[EvalRow], *, console: Console, **options: Any
) -> EvalReport:
    """``judge_rows`` on Together's Batch API: the bar follows the batch's status."""
    from llamashield.cli._batch import run_batch

    with _progress() as progress:
        task = progress.add_task("judging", total=len(rows), errors=0)
        return run_batch(guard, rows, progress=progress, task=task, console=console, **options)


def write_outputs(console: Console, report: EvalReport, output: Path, plots: Path | None) -> None:
    """Print the tables, write report.json and, when asked, the PNG plots."""
    report.print(console)
    with _usage_errors(console):
        written = report.write_json(output)
    console.print(Text(f"report: {written}"))
    if plots is not None:
        with _usage_errors(console):
            paths = report.plot(plots)
        console.print(Text("plots: " + ", ".join(str(p) for p in paths)))


def eval_command(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Argument(
            help="Labelled rows: .jsonl/.json/.csv/.tsv, plain or .gz/.bz2/.xz/.zst, - for "
            "standard input, or .parquet or a Hugging Face data set name or folder (these "
            "need `datasets`).",
            show_default=False,
        ),
    ] = None,
    sample: Annotated[
        bool,
        typer.Option("--sample", help="Use the ~60-row synthetic sample shipped with llamashield."),
    ] = False,
    preset: Annotated[
        str | None,
        typer.Option(
            help=f"Read a public benchmark as published: {', '.join(PRESETS)} (columns, labels "
            "and a category mapping onto the guard's taxonomy).",
            show_default=False,
        ),
    ] = None,
    backend: BackendOption = BackendName.auto,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Checks in flight at once.")] = 8,
    timeout: Annotated[float, typer.Option(min=0.001, help="Seconds per check.")] = 30.0,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write report.json (a file or folder).")
    ] = Path("report.json"),
    plots: Annotated[
        Path | None, typer.Option(help="Folder for PNG plots (PR curve, categories, latency).")
    ] = None,
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            "--threshold",
            "-t",
            help="Score threshold(s) to sweep: 0.5, repeatable, or start:stop:step.",
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Evaluate the first N rows only.")
    ] = None,
    mapping: Annotated[
        str | None,
        typer.Option(
            help="Map row categories from another scheme: lg3-lg2, openai-lg2, or a JSON/YAML file."
        ),
    ] = None,
    prompt_column: Annotated[str, typer.Option(help="Column holding the user prompt.")] = "prompt",
    response_column: Annotated[
        str, typer.Option(help="Column holding a response to judge ('' for none).")
    ] = "response",
    label_column: Annotated[str, typer.Option(help="Column holding safe/unsafe.")] = "label",
    categories_column: Annotated[
        str, typer.Option(help="Column holding the categories ('' for none).")
    ] = "categories",
    id_column: Annotated[str, typer.Option(help="Column holding a row id ('' for none).")] = "id",
    unsafe_label: Annotated[
        list[str] | None,
        typer.Option(help="Label value meaning unsafe (repeatable); others are safe."),
    ] = None,
    split: Annotated[str | None, typer.Option(help="Hugging Face split (default: test).")] = None,
    subset: Annotated[str | None, typer.Option(help="Hugging Face configuration name.")] = None,
    batch: Annotated[
        bool, typer.Option("--batch", help="Judge on Together's Batch API (--backend together).")
    ] = False,
    batch_id: Annotated[
        str | None, typer.Option(help="Resume a batch submitted earlier (implies --batch).")
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Re-run rows that failed in the batch online.")
    ] = False,
    poll_interval: Annotated[
        float, typer.Option(min=0.0, help="Seconds between batch status polls.")
    ] = 30.0,
) -> None:
    """Evaluate a guard on labelled DATA (or --sample): metrics, report.json, plots."""
    console = Console(emoji=False)  # ":100:" in a file name or message stays as written
    named = any(_on_command_line(ctx, name) for name in _COLUMN_OPTIONS)
    columns = ColumnMap(
        prompt=prompt_column, response=response_column or None, label=label_column,
        categories=categories_column or None, id=id_column or None,
        unsafe_values=frozenset(unsafe_label) if unsafe_label else None,
    ) if named else None  # fmt: skip
    check_arguments(console, data, sample=sample, mapping=mapping, preset=preset, columns=columns)
    thresholds = parse_thresholds(threshold or [])
    with _usage_errors(console), _notes(console):
        # Scores give the AUPRC and the threshold sweep: the backend asks for them from the
        # start wherever it can.
        guard = make_guard(
            backend, model, base_url, scores=True, max_concurrency=concurrency, timeout=timeout
        )
        rows = load_rows_for(
            None if sample else data, guard.taxonomy, preset=preset, mapping=mapping,
            columns=columns, limit=limit, split=split, subset=subset,
        )  # fmt: skip
    source = "sample" if sample else "stdin" if str(data) == "-" else str(data)
    announce(console, guard, rows, source, concurrency)
    options: dict[str, Any] = {
        "concurrency": concurrency, "thresholds": thresholds, "source": source,
        "preset": preset.strip().casefold() if preset else None,
    }  # fmt: skip
    if batch or batch_id:  # Together's Batch API (cli/_batch.py); the same report follows
        report = judge_rows_in_batch(
            guard, rows, console=console, batch_id=batch_id, retry_failed=retry_failed,
            poll_interval=poll_interval, save_files=output.parent if output.suffix else output,
            **options,
        )  # fmt: skip
    else:
        report = judge_rows(guard, rows, **options)
    write_outputs(console, report, output, plots)
