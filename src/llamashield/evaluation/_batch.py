"""``evaluate_batch``: an evaluation on Together's Batch API instead of one call per row.

The flow: write the rows as Together batch JSONL, upload it with the SDK's files API
(``purpose="batch-api"``), create the batch, poll it until it ends, download the output and
error files, map results back to rows by custom id, and build the same ``EvalReport`` as
``evaluate``. Rows the batch could not judge are reported as errors, or re-run online with
``retry_failed=True``; a batch already submitted is picked up again with ``batch_id=``.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llamashield._exceptions import ConfigurationError
from llamashield.evaluation._batch_requests import BatchRequests, parse_jsonl, prepare_batch
from llamashield.evaluation._dataset import EvalRow
from llamashield.evaluation._evaluate import _meta, preset_of
from llamashield.evaluation._presets import get_preset
from llamashield.evaluation._report import EvalReport, build_report
from llamashield.evaluation._runner import RowResult, run_rows

if TYPE_CHECKING:
    from llamashield._guard import LlamaGuard

__all__ = ["evaluate_batch"]

TERMINAL = frozenset({"COMPLETED", "FAILED", "EXPIRED", "CANCELLED"})
Progress = Callable[[str, int, int], None]  # (what is happening, rows done, rows in this stage)


def _client(guard: LlamaGuard) -> Any:
    from llamashield.backends.together import TogetherBackend

    if not isinstance(guard.backend, TogetherBackend):
        raise ConfigurationError(
            "batch evaluation runs on Together's Batch API: use --backend together "
            f"(TogetherBackend), not {type(guard.backend).__name__}"
        )
    # The backend turns the SDK's retries off (the guard retries checks itself); managing a
    # batch is a handful of calls where the SDK's own retries are what we want.
    return guard.backend._client.with_options(max_retries=3)


def _submit(client: Any, batch: BatchRequests, model: str) -> str:
    with tempfile.TemporaryDirectory(prefix="llamashield-batch-") as folder:
        path = Path(folder, "llamashield-batch-input.jsonl")
        path.write_text(batch.jsonl(), encoding="utf-8")
        uploaded = client.files.upload(file=path, purpose="batch-api", check=False)
    created = client.batches.create(
        endpoint=batch.endpoint, input_file_id=uploaded.id, model_id=model
    )
    if created.job is None or not created.job.id:
        raise RuntimeError(f"Together created no batch job: {created}")
    return str(created.job.id)


def _wait(
    client: Any, batch_id: str, total: int, poll_interval: float, on_progress: Progress | None,
    sleep: Callable[[float], None],
) -> Any:  # fmt: skip
    while True:
        job = client.batches.retrieve(batch_id)
        done = round(total * float(job.progress or 0.0) / 100.0)
        if on_progress is not None:
            on_progress(f"batch {str(job.status or '?').lower()}", done, total)
        if job.status in TERMINAL:
            return job
        sleep(poll_interval)


def _download(client: Any, file_id: str | None, path: Path) -> list[dict[str, Any]]:
    """Stream a result file to ``path`` (a big batch's output need not fit in memory twice)
    and read its records. It holds model answers and error reasons only, no row text."""
    if not file_id:
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    with client.files.with_streaming_response.content(id=file_id) as response:
        response.stream_to_file(path)
    with path.open(encoding="utf-8") as lines:
        return parse_jsonl(lines)


def _online(
    guard: LlamaGuard, rows: Sequence[EvalRow], indices: Iterable[int], label: str,
    concurrency: int, on_progress: Progress | None,
) -> dict[int, RowResult]:  # fmt: skip
    order = sorted(indices)
    if not order:
        return {}
    done = 0

    def advance(_: RowResult) -> None:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(label, done, len(order))

    results = run_rows(guard, [rows[i] for i in order], concurrency=concurrency, on_result=advance)
    return dict(zip(order, results, strict=True))


def evaluate_batch(
    guard: LlamaGuard,
    rows: Sequence[EvalRow],
    *,
    batch_id: str | None = None,
    retry_failed: bool = False,
    poll_interval: float = 30.0,
    thresholds: Iterable[float] = (),
    source: str | None = None,
    preset: str | None = None,
    concurrency: int = 8,
    save_files: Path | None = None,
    on_progress: Progress | None = None,
    on_submitted: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> EvalReport:
    """Judge ``rows`` through Together's Batch API; the report matches ``evaluate``'s.

    Example::

        from llamashield import LlamaGuard
        from llamashield.evaluation import evaluate_batch, load_rows

        guard = LlamaGuard()                                  # TogetherBackend
        report = evaluate_batch(guard, load_rows("big.jsonl"), retry_failed=True,
                                on_submitted=lambda id: print("resume with", id))
        report.write_json("report.json")

    Args:
        batch_id: resume a batch submitted earlier (from the same rows and options) instead
            of submitting a new one.
        retry_failed: re-run rows that failed in the batch with online checks.
        poll_interval: seconds between status polls (Together suggests 30-60).
        save_files: folder to keep the downloaded output and error files in.
        on_progress: ``(stage, done, total)`` as the batch and online re-runs progress.
        on_submitted: called with the new batch's id as soon as it exists.
    """
    preset = preset_of(rows, preset)
    client = _client(guard)
    batch = prepare_batch(guard, guard.backend, rows)  # type: ignore[arg-type]
    started = time.perf_counter()
    job: Any = None
    if batch.items:
        if batch_id is None:
            batch_id = _submit(client, batch, guard.model)
            if on_submitted is not None:
                on_submitted(batch_id)
        job = _wait(client, batch_id, len(batch.items), poll_interval, on_progress, sleep)
        with tempfile.TemporaryDirectory(prefix="llamashield-batch-") as scratch:
            folder = save_files or Path(scratch)
            outputs = _download(client, job.output_file_id, folder / f"{batch_id}-output.jsonl")
            errors = _download(client, job.error_file_id, folder / f"{batch_id}-errors.jsonl")
        missing = "no result in the batch output"
        if job.status != "COMPLETED":
            missing = f"the batch ended {job.status}" + (f": {job.error}" if job.error else "")
        results = batch.results(guard, rows, outputs, errors, missing=missing)
    elif batch_id is not None:
        raise ConfigurationError("--batch-id given, but none of these rows goes in a batch")
    else:
        results = {}
    failed = sorted(i for i, r in results.items() if r.error is not None)
    results.update(_online(guard, rows, batch.online, "judging online", concurrency, on_progress))
    retried = failed if retry_failed else []
    results.update(_online(guard, rows, retried, "retrying online", concurrency, on_progress))
    report = build_report(
        [results[i] for i in range(len(rows))],
        taxonomy=guard.taxonomy,
        thresholds=thresholds,
        meta={
            **_meta(guard, source, concurrency, preset, rows),
            "batch": {
                "id": batch_id,
                "status": None if job is None else job.status,
                "endpoint": batch.endpoint,
                "rows_in_batch": len(batch.items),
                "rows_online": len(batch.online),
                "failed_in_batch": len(failed),
                "retried_online": len(retried),
                "seconds": round(time.perf_counter() - started, 1),
            },
        },
        measure=get_preset(preset).measure if preset else "f1",
        notes=["batch rows carry no per-row latency (0 ms): they ran on Together's batch queue"],
    )
    return report
