"""Together's Files and Batch endpoints on the loopback server: enough for ``together``'s
``files.upload`` / ``files.retrieve`` / ``files.content`` and ``batches.create`` /
``batches.retrieve`` / ``batches.list`` / ``batches.cancel`` to run offline through the real SDK.

The upload is the SDK's three steps: ``POST /v1/files`` (multipart form: purpose, file_name,
file_type, checksum) answered ``302`` with a ``Location`` to PUT the bytes to and an
``X-Together-File-Id``; the ``PUT``; then ``POST /v1/files/{id}/preprocess`` for the
``FileResponse``. A batch goes ``VALIDATING`` -> ``IN_PROGRESS`` (its ``progress`` rising over
``steps`` polls) -> ``COMPLETED``, each line answered by the same responder as the online
endpoints; ``fail_lines`` (input line numbers) land in the error file instead, and
``outcome="FAILED"`` or ``"EXPIRED"`` ends the whole batch so.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from llamashield.testing._protocol import Response

__all__ = ["BatchStore"]

_FILE = re.compile(r"^/v1/files/([A-Za-z0-9._-]+)(/content|/preprocess)?$")
_BATCH = re.compile(r"^/v1/batches/([A-Za-z0-9._-]+)(/cancel)?$")
_UPLOAD = re.compile(r"^/upload/([A-Za-z0-9._-]+)$")
_ENDPOINTS = ("/v1/chat/completions", "/v1/completions")
_TERMINAL = ("COMPLETED", "FAILED", "EXPIRED", "CANCELLED")


@dataclass
class _File:
    id: str
    filename: str
    purpose: str
    file_type: str
    created_at: int
    content: bytes | None = None  # None until the PUT arrives

    def response(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content or b""),
            "created_at": self.created_at,
            "filename": self.filename,
            "FileType": self.file_type,  # the API's spelling (the SDK aliases it to file_type)
            "purpose": self.purpose,
            "processing_status": "COMPLETED" if self.content is not None else "PENDING",
        }


@dataclass
class _Batch:
    id: str
    input_file_id: str
    endpoint: str
    model_id: str | None
    created: datetime
    lines: list[dict[str, Any]] = field(default_factory=list)
    status: str = "VALIDATING"
    done: int = 0
    polls: int = 0
    error: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: datetime | None = None
    outputs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def job(self, size: int) -> dict[str, Any]:
        total = len(self.lines)
        return {
            "id": self.id,
            "user_id": "loopback-user",
            "input_file_id": self.input_file_id,
            "file_size_bytes": size,
            "status": self.status,
            "job_deadline": (self.created + timedelta(hours=24)).isoformat(),
            "created_at": self.created.isoformat(),
            "endpoint": self.endpoint,
            "progress": round(100.0 * self.done / total, 1) if total else 0.0,
            "model_id": self.model_id,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "error": self.error,
            "completed_at": self.completed.isoformat() if self.completed else None,
        }


class BatchStore:
    """Files and batch jobs of one loopback server (``server.batches``).

    Attributes a test may set: ``steps`` (polls from IN_PROGRESS to done), ``fail_lines``
    (0-based input lines that fail into the error file), ``outcome`` (``"COMPLETED"``,
    ``"FAILED"`` or ``"EXPIRED"``).
    """

    def __init__(self, answer: Callable[[str, dict[str, Any]], Response]) -> None:
        self._answer = answer
        self.steps = 3
        self.fail_lines: set[int] = set()
        self.outcome = "COMPLETED"
        self.files: dict[str, _File] = {}
        self.batches: dict[str, _Batch] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def _new_id(self, kind: str) -> str:
        return f"{kind}-loopback-{next(self._ids):06d}"

    # -- routing --------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, headers: dict[str, str], raw: bytes, base_url: str
    ) -> Response | None:
        """The response for a files/batches request, or ``None`` for other paths."""
        with self._lock:
            if method == "PUT" and (match := _UPLOAD.match(path)):
                return self._put(match.group(1), raw)
            if path == "/v1/files" and method == "POST":
                return self._start_upload(headers, raw, base_url)
            if path == "/v1/files" and method == "GET":
                files = [f.response() for f in self.files.values()]
                return Response(body={"object": "list", "data": files})
            if match := _FILE.match(path):
                return self._file(method, match.group(1), match.group(2))
            if path == "/v1/batches" and method == "POST":
                return self._create(raw)
            if path == "/v1/batches" and method == "GET":
                return Response(body=[self._job(b) for b in self.batches.values()])
            if match := _BATCH.match(path):
                return self._batch(method, match.group(1), bool(match.group(2)))
        return None

    # -- files ----------------------------------------------------------------------------

    def _start_upload(self, headers: dict[str, str], raw: bytes, base_url: str) -> Response:
        form = _form_fields(headers.get("content-type", ""), raw)
        purpose = form.get("purpose", "")
        if purpose not in ("fine-tune", "calibration", "eval", "batch-api"):
            return _error(400, f"invalid purpose {purpose!r}")
        file = _File(self._new_id("file"), form.get("file_name", "upload.jsonl"), purpose,
                     form.get("file_type", "jsonl"), int(time.time()))  # fmt: skip
        self.files[file.id] = file
        location = f"{base_url}/upload/{file.id}"
        return Response(302, {}, {"Location": location, "X-Together-File-Id": file.id})

    def _put(self, file_id: str, raw: bytes) -> Response:
        file = self.files.get(file_id)
        if file is None:
            return _error(404, f"no upload {file_id}")
        file.content = raw
        return Response(body={})

    def _file(self, method: str, file_id: str, action: str | None) -> Response:
        file = self.files.get(file_id)
        if file is None:
            return _error(404, f"file {file_id} not found")
        if action == "/preprocess" and method == "POST":
            return Response(body=file.response())
        if action == "/content" and method == "GET":
            return Response(raw=file.content or b"")
        if action is None and method == "GET":
            return Response(body=file.response())
        return _error(404, f"no route {method} /v1/files/{file_id}{action or ''}")

    def _store(self, name: str, lines: list[str]) -> str:
        file = _File(self._new_id("file"), name, "batch-api", "jsonl", int(time.time()))
        file.content = "".join(line + "\n" for line in lines).encode()
        self.files[file.id] = file
        return file.id

    # -- batches --------------------------------------------------------------------------

    def _create(self, raw: bytes) -> Response:
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return _error(400, "body is not JSON")
        endpoint, file_id = body.get("endpoint"), body.get("input_file_id")
        if endpoint not in _ENDPOINTS:
            return _error(400, f"endpoint must be one of {_ENDPOINTS}, got {endpoint!r}")
        file = self.files.get(str(file_id))
        if file is None or file.content is None:
            return _error(404, f"input file {file_id} not found")
        if file.purpose != "batch-api":
            return _error(400, f"input file purpose is {file.purpose!r}, not 'batch-api'")
        batch = _Batch(self._new_id("batch"), file.id, endpoint, body.get("model_id"),
                       datetime.now(UTC))  # fmt: skip
        self.batches[batch.id] = batch
        return Response(body={"job": self._job(batch), "warning": None})

    def _batch(self, method: str, batch_id: str, cancel: bool) -> Response:
        batch = self.batches.get(batch_id)
        if batch is None:
            return _error(404, f"batch {batch_id} not found")
        if cancel and method == "POST":
            if batch.status not in _TERMINAL:
                batch.status, batch.completed = "CANCELLED", datetime.now(UTC)
                self._finish(batch)
            return Response(body=self._job(batch))
        if method != "GET" or cancel:
            return _error(404, f"no route {method} /v1/batches/{batch_id}")
        self._advance(batch)
        return Response(body=self._job(batch))

    def _job(self, batch: _Batch) -> dict[str, Any]:
        file = self.files.get(batch.input_file_id)
        return batch.job(len(file.content or b"") if file else 0)

    def _advance(self, batch: _Batch) -> None:
        """One poll's worth of work: validate first, then ``1/steps`` of the lines each poll."""
        if batch.status in _TERMINAL:
            return
        if batch.status == "VALIDATING":
            problem = self._validate(batch)
            if problem is not None:
                batch.status, batch.error, batch.completed = "FAILED", problem, datetime.now(UTC)
            else:
                batch.status = "IN_PROGRESS"
            return
        if self.outcome in ("FAILED", "EXPIRED"):
            batch.status, batch.completed = self.outcome, datetime.now(UTC)
            batch.error = f"batch {self.outcome.lower()} (injected)"
            self._finish(batch)
            return
        per_poll = max(1, -(-len(batch.lines) // max(1, self.steps)))
        for index in range(batch.done, min(len(batch.lines), batch.done + per_poll)):
            self._run_line(batch, index)
        batch.done = min(len(batch.lines), batch.done + per_poll)
        if batch.done >= len(batch.lines):
            batch.status, batch.completed = "COMPLETED", datetime.now(UTC)
            self._finish(batch)

    def _validate(self, batch: _Batch) -> str | None:
        content = (self.files[batch.input_file_id].content or b"").decode("utf-8", "replace")
        seen: set[str] = set()
        for number, line in enumerate(content.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                return f"line {number}: not JSON"
            custom_id = record.get("custom_id") if isinstance(record, dict) else None
            if not isinstance(custom_id, str) or not 0 < len(custom_id) <= 64:
                return f"line {number}: custom_id must be a string of 1-64 characters"
            if custom_id in seen:
                return f"line {number}: duplicate custom_id {custom_id!r}"
            if not isinstance(record.get("body"), dict):
                return f"line {number}: body must be an object"
            seen.add(custom_id)
            batch.lines.append(record)
        return None if batch.lines else "the input file has no requests"

    def _run_line(self, batch: _Batch, index: int) -> None:
        record = batch.lines[index]
        custom_id = record["custom_id"]
        if index in self.fail_lines:
            error = {"message": "injected failure", "code": 500}
            batch.errors.append(json.dumps({"custom_id": custom_id, "error": error}))
            return
        response = self._answer(batch.endpoint, record["body"])
        if response.status != 200:
            message = (response.body or {}).get("error", {}).get("message", "request failed")
            error = {"message": message, "code": response.status}
            batch.errors.append(json.dumps({"custom_id": custom_id, "error": error}))
            return
        request_id = hashlib.sha256(f"{batch.id}/{custom_id}".encode()).hexdigest()[:24]
        result = {"status_code": 200, "request_id": request_id, "body": response.body}
        batch.outputs.append(json.dumps({"id": request_id, "custom_id": custom_id,
                                         "response": result, "error": None}))  # fmt: skip

    def _finish(self, batch: _Batch) -> None:
        # Output lines come in completion order, not input order, as Together's do: reversed
        # here, so a client that maps by position instead of custom_id is caught.
        if batch.outputs:
            batch.output_file_id = self._store(f"{batch.id}-output.jsonl", batch.outputs[::-1])
        if batch.errors:
            batch.error_file_id = self._store(f"{batch.id}-errors.jsonl", batch.errors)


def _form_fields(content_type: str, raw: bytes) -> dict[str, str]:
    """The text fields of a multipart/form-data body."""
    if not content_type.startswith("multipart/form-data"):
        return {}
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
    )
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload.decode("utf-8", "replace")
    return fields


def _error(status: int, message: str) -> Response:
    return Response(status, {"error": {"message": message, "type": "invalid_request_error"}})
