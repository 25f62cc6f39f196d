"""``llamashield eval --batch``: the evaluation on Together's Batch API, under the eval bar."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import Progress, TaskID

from llamashield._exceptions import LlamaShieldError
from llamashield._redact import redact
from llamashield.evaluation import evaluate_batch

if TYPE_CHECKING:
    from llamashield._guard import LlamaGuard
    from llamashield.evaluation import EvalReport, EvalRow

__all__ = ["run_batch"]


def _sdk_errors() -> tuple[type[Exception], ...]:
    # together is there whenever a batch can run (TogetherBackend needs it); import it lazily.
    try:
        import together
    except ImportError:
        return ()
    return (together.APIError,)


def run_batch(
    guard: LlamaGuard,
    rows: list[EvalRow],
    *,
    progress: Progress,
    task: TaskID,
    console: Console,
    batch_id: str | None,
    retry_failed: bool,
    poll_interval: float,
    save_files: Path,
    **report_options: Any,
) -> EvalReport:
    """Run ``evaluate_batch``, printing the batch id (to resume) and failures; exit 1 on error."""
    submitted = batch_id

    def on_submitted(new_id: str) -> None:
        nonlocal submitted
        submitted = new_id
        progress.console.print(f"batch [bold]{new_id}[/bold] submitted (--batch-id {new_id})")

    def on_progress(stage: str, done: int, total: int) -> None:
        progress.update(task, description=stage, completed=done, total=total)

    errors: tuple[type[Exception], ...] = (
        LlamaShieldError, ValueError, OSError, RuntimeError, *_sdk_errors(),
    )  # fmt: skip
    try:
        report = evaluate_batch(
            guard, rows, batch_id=batch_id, retry_failed=retry_failed,
            poll_interval=poll_interval, save_files=save_files, on_progress=on_progress,
            on_submitted=on_submitted, **report_options,
        )  # fmt: skip
    except errors as exc:
        console.print(f"[red]error:[/red] {redact(str(exc))}")
        if submitted:
            console.print(f"resume with: --batch-id {submitted}")
        raise typer.Exit(1) from None
    batch = report.data["batch"]
    progress.update(task, errors=report.data["errors"]["count"])
    left = batch["failed_in_batch"] - batch["retried_online"]
    if left:
        console.print(
            f"[yellow]{left} rows failed in batch {batch['id']}[/yellow] (errors in the report); "
            f"judge them online with: --batch-id {batch['id']} --retry-failed"
        )
    return report
