"""Rows to Together batch requests and batch results back to rows. Pure, no I/O.

Each row becomes one line ``{"custom_id": ..., "body": ...}`` whose body is exactly what
``TogetherBackend`` sends online (chat, or a raw completion for custom policies), so a batch and
an online run judge the same request. The custom id is the row's position and a digest of its
body: results are mapped back by id (Together returns lines in any order), and a batch resumed
with other rows or options is detected instead of mislabelling rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llamashield._exceptions import BatchMismatchError, LlamaShieldError
from llamashield.backends._answers import answer_from_completion
from llamashield.backends._base import BackendError, GuardRequest
from llamashield.evaluation._dataset import EvalRow
from llamashield.evaluation._runner import RowResult
from llamashield.evaluation._sources import json_objects

if TYPE_CHECKING:
    from llamashield._guard import LlamaGuard
    from llamashield.backends.together import TogetherBackend

__all__ = ["BatchItem", "BatchMismatchError", "BatchRequests", "parse_jsonl", "prepare_batch"]

CHAT, COMPLETIONS = "/v1/chat/completions", "/v1/completions"


@dataclass(frozen=True, slots=True)
class BatchItem:
    index: int  # the row's position in ``rows``
    custom_id: str
    request: GuardRequest
    body: dict[str, Any]

    def line(self) -> str:
        return json.dumps({"custom_id": self.custom_id, "body": self.body}, ensure_ascii=False)


@dataclass(frozen=True)
class BatchRequests:
    """What goes in the batch, and which rows are judged online instead.

    Online rows are the ones the guard would not send as one request: too long (chunked),
    media-only or over ``max_chars`` (the error policy decides), or unreadable input.
    """

    endpoint: str
    items: tuple[BatchItem, ...]
    online: tuple[int, ...]

    @property
    def chat(self) -> bool:
        return self.endpoint == CHAT

    def jsonl(self) -> str:
        return "".join(item.line() + "\n" for item in self.items)

    def results(
        self,
        guard: LlamaGuard,
        rows: Sequence[EvalRow],
        outputs: Sequence[dict[str, Any]],
        errors: Sequence[dict[str, Any]],
        *,
        missing: str = "no result in the batch output",
    ) -> dict[int, RowResult]:
        """A result per batched row: verdicts from ``outputs``, failures from ``errors`` and
        for rows in neither (``missing``). Raises ``BatchMismatchError`` on a foreign id."""
        by_id = {item.custom_id: item for item in self.items}
        results: dict[int, RowResult] = {}
        for record in [*outputs, *errors]:
            custom_id = record.get("custom_id")
            item = by_id.get(custom_id) if isinstance(custom_id, str) else None
            if item is None:
                raise BatchMismatchError(
                    f"the batch holds a request ({custom_id!r}) these rows do not make: resume "
                    "with the same DATA, --limit, --model and column options it was made from"
                )
            results[item.index] = _row_result(guard, rows[item.index], item, record, self.chat)
        for item in self.items:
            if item.index not in results:
                results[item.index] = _failed(rows[item.index], f"batch: {missing}")
        return results


def prepare_batch(
    guard: LlamaGuard, backend: TogetherBackend, rows: Sequence[EvalRow]
) -> BatchRequests:
    """One batch line per row the guard judges in a single request; the rest go online."""
    chat = not guard.taxonomy.custom
    items: list[BatchItem] = []
    online: list[int] = []
    for index, row in enumerate(rows):
        try:
            job = guard._job(row.conversation())
        except (TypeError, ValueError):
            online.append(index)  # the online runner records the error on the row
            continue
        if job.rejected is not None or job.requests != [job.request]:
            online.append(index)
            continue
        # The online request body, without the per-call timeout a batch line has no use for.
        _, body = backend._params(job.request, 1.0)
        body.pop("timeout", None)
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        items.append(BatchItem(index, f"row-{index}-{digest}", job.request, body))
    return BatchRequests(CHAT if chat else COMPLETIONS, tuple(items), tuple(online))


def parse_jsonl(data: bytes | str | Iterable[str]) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file (its bytes, text or lines); a line that is not one is
    reported, not skipped."""
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    lines = data.splitlines() if isinstance(data, str) else data
    return [record for _, record in json_objects(lines, _batch_line_error)]


def _batch_line_error(number: int, exc: json.JSONDecodeError | None) -> ValueError:
    if exc is None:
        return ValueError(f"batch file line {number} is not a JSON object")
    return ValueError(f"batch file line {number} is not JSON: {exc}")


def _failed(row: EvalRow, error: str) -> RowResult:
    # Never counted as safe: error rows are left out of the metrics and reported on their own.
    return RowResult(row, True, error=error)


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        message = error.get("message") or json.dumps(error)
        code = error.get("code") or error.get("status_code")
        return f"{message} (code {code})" if code is not None else str(message)
    return str(error)


def _row_result(
    guard: LlamaGuard, row: EvalRow, item: BatchItem, record: dict[str, Any], chat: bool
) -> RowResult:
    if record.get("error"):
        return _failed(row, f"batch: {_error_text(record['error'])}")
    response = record.get("response")
    if not isinstance(response, dict):
        return _failed(row, "batch: a result line without a response")
    status = response.get("status_code", 200)
    # OpenAI-style lines wrap the completion in "body"; accept a bare completion too.
    body = response.get("body", response)
    if status != 200:
        return _failed(row, f"batch: request failed with HTTP {status}: {_error_text(body)}"[:500])
    try:
        answer = answer_from_completion(body, guard.model, chat=chat)
        verdict = guard.policy.decide(item.request, answer, 0.0)
    except BackendError as exc:
        return _failed(row, f"batch: {exc.message}")
    except LlamaShieldError as exc:  # on_error="raise": an unreadable answer is this row's error
        return _failed(row, f"batch: {exc}")
    return RowResult.from_verdict(row, verdict)
