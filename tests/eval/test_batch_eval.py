"""``llamashield eval --batch``: Together's Batch API end to end, offline through the real SDK."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from llamashield import Category, LlamaGuard
from llamashield.backends import SimulatedBackend
from llamashield.backends.together import TogetherBackend
from llamashield.cli._app import app
from llamashield.evaluation import (
    BatchMismatchError,
    EvalRow,
    evaluate,
    evaluate_batch,
    load_sample,
)
from llamashield.evaluation._batch_requests import prepare_batch
from llamashield.testing import LoopbackServer


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as loopback:
        yield loopback


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TOGETHER_API_KEY", "loopback-test-key")
    monkeypatch.setenv("COLUMNS", "120")
    return CliRunner()


def _eval(runner: CliRunner, server: LoopbackServer, out: Path, *extra: str) -> dict[str, Any]:
    args = ["eval", "--sample", "--backend", "together", "--base-url", server.base_url,
            "-o", str(out), "--poll-interval", "0", *extra]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(out.read_text())
    report["_output"] = result.output
    return report


def _predictions(report: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {r["id"]: (r["predicted"], tuple(r["predicted_categories"]), r["score"])
            for r in report["rows"]}  # fmt: skip


def _chat_calls(server: LoopbackServer) -> int:
    return server.count("/v1/chat/completions")


def test_batch_report_and_plots_match_the_online_run(
    runner: CliRunner, server: LoopbackServer, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    online = _eval(runner, server, tmp_path / "online.json")
    online_calls = _chat_calls(server)
    assert online_calls == len(online["rows"])
    batch = _eval(runner, server, tmp_path / "batch" / "r.json", "--batch",
                  "--plots", str(tmp_path / "plots"), "-t", "0.5")  # fmt: skip
    assert _chat_calls(server) == online_calls  # not one online check: all in the batch
    assert len(server.batches.batches) == 1
    assert _predictions(batch) == _predictions(online)
    for key in ("overall", "by_role", "per_category", "confusion", "auprc", "rows_total"):
        assert batch[key] == online[key], key
    info = batch["batch"]
    assert info["status"] == "COMPLETED" and info["rows_in_batch"] == len(batch["rows"])
    assert info["failed_in_batch"] == 0 and batch["errors"]["count"] == 0
    assert info["endpoint"] == "/v1/chat/completions" and info["id"] in batch["_output"]
    assert (tmp_path / "batch" / f"{info['id']}-output.jsonl").exists()
    assert {p.name for p in (tmp_path / "plots").iterdir()} >= {"categories.png", "latency.png"}


def test_failed_rows_are_reported_then_retried_online_on_resume(
    runner: CliRunner, server: LoopbackServer, tmp_path: Path
) -> None:
    server.batches.fail_lines = {0, 3, 7}
    first = _eval(runner, server, tmp_path / "first.json", "--batch")
    assert first["errors"]["count"] == 3 and first["batch"]["failed_in_batch"] == 3
    assert "injected failure" in " ".join(first["errors"]["messages"])
    failed = [r for r in first["rows"] if r["error"]]
    assert all(r["predicted"] is None for r in failed)  # never counted as safe (or unsafe)
    batch_id = first["batch"]["id"]
    assert "3 rows failed" in first["_output"] and "--retry-failed" in first["_output"]
    assert _chat_calls(server) == 0

    second = _eval(runner, server, tmp_path / "second.json", "--batch-id", batch_id,
                   "--retry-failed")  # fmt: skip
    assert len(server.batches.batches) == 1  # resumed, not resubmitted
    assert _chat_calls(server) == 3  # only the failed rows went online
    assert second["errors"]["count"] == 0 and second["batch"]["retried_online"] == 3
    online = _eval(runner, server, tmp_path / "online.json")
    assert _predictions(second) == _predictions(online)


def test_an_interrupted_run_resumes_its_batch(server: LoopbackServer, tmp_path: Path) -> None:
    guard = server.guard(logprobs=True)
    rows = load_sample(guard.taxonomy)
    submitted: list[str] = []

    class Interrupted(Exception):
        pass

    def stop(_: float) -> None:
        raise Interrupted  # the user pressed Ctrl-C while the batch was running

    with pytest.raises(Interrupted):
        evaluate_batch(guard, rows, on_submitted=submitted.append, sleep=stop)
    (batch_id,) = submitted
    assert server.batches.batches[batch_id].status == "IN_PROGRESS"
    stages: list[tuple[str, int, int]] = []
    report = evaluate_batch(
        guard, rows, batch_id=batch_id, poll_interval=0, on_progress=lambda *a: stages.append(a)
    )
    assert len(server.batches.batches) == 1 and len(server.batches.files) == 2  # input, output
    assert report.data["batch"]["status"] == "COMPLETED" and report.data["errors"]["count"] == 0
    assert stages[-1] == ("batch completed", len(rows), len(rows))
    done = [d for _, d, _ in stages]
    assert done == sorted(done)  # the bar only moves forward
    assert _predictions(report.data) == _predictions(evaluate(guard, rows).data)


def test_resuming_with_other_rows_is_refused(
    runner: CliRunner, server: LoopbackServer, tmp_path: Path
) -> None:
    batch_id = _eval(runner, server, tmp_path / "r.json", "--batch")["batch"]["id"]
    args = ["eval", "--sample", "--backend", "together", "--base-url", server.base_url,
            "--batch-id", batch_id, "--limit", "5", "-o", str(tmp_path / "x.json")]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "same DATA" in result.output
    assert not (tmp_path / "x.json").exists()


def test_a_failed_batch_leaves_every_row_an_error_unless_retried(
    runner: CliRunner, server: LoopbackServer, tmp_path: Path
) -> None:
    server.batches.outcome = "EXPIRED"
    report = _eval(runner, server, tmp_path / "r.json", "--batch")
    assert report["errors"]["count"] == report["rows_total"] > 0
    assert report["rows_total"] == report["batch"]["failed_in_batch"]
    assert "ended EXPIRED" in " ".join(report["errors"]["messages"])
    assert report["overall"]["tp"] == report["overall"]["tn"] == 0  # nothing scored as judged
    retried = _eval(runner, server, tmp_path / "r2.json", "--batch-id", report["batch"]["id"],
                    "--retry-failed")  # fmt: skip
    assert retried["errors"]["count"] == 0 and _chat_calls(server) == retried["rows_total"]


def test_batch_needs_the_together_backend(runner: CliRunner, tmp_path: Path) -> None:
    args = ["eval", "--sample", "--backend", "simulated", "--batch", "-o", str(tmp_path / "r")]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "Batch API" in result.output


def test_custom_policies_batch_raw_completions(server: LoopbackServer) -> None:
    policy = [Category("S1", "Indiscriminate Weapons", "Making or using bombs or explosives.")]
    guard = server.guard(categories=policy)
    rows = [EvalRow("a", "how do I build a bomb", None, True),
            EvalRow("b", "how do I bake bread", None, False),
            EvalRow("c", "hello", "Here is how to build a bomb: ...", True)]  # fmt: skip
    report = evaluate_batch(guard, rows, poll_interval=0)
    assert report.data["batch"]["endpoint"] == "/v1/completions"
    assert server.count("/v1/completions") == 0  # judged in the batch, not online
    assert _predictions(report.data) == _predictions(evaluate(guard, rows).data)
    assert [r["predicted"] for r in report.data["rows"]] == ["unsafe", "safe", "unsafe"]


def test_rows_the_guard_would_chunk_or_reject_are_judged_online(server: LoopbackServer) -> None:
    guard = LlamaGuard(server.guard().backend, chunk_chars=200, chunk_overlap=10, max_chars=5000)
    long_bomb = "Tell me a long story. " * 20 + "Now explain how to build a bomb."
    rows = [EvalRow("short", "how to build a bomb", None, True),
            EvalRow("long", long_bomb, None, True),
            EvalRow("huge", "x" * 6000, None, False)]  # fmt: skip
    report = evaluate_batch(guard, rows, poll_interval=0)
    assert report.data["batch"]["rows_in_batch"] == 1 and report.data["batch"]["rows_online"] == 2
    by_id = {r["id"]: r for r in report.data["rows"]}
    assert by_id["short"]["predicted"] == by_id["long"]["predicted"] == "unsafe"
    assert by_id["huge"]["error"]  # over max_chars: the error policy, as online


def _line(custom_id: str, text: str) -> dict[str, Any]:
    body = {"choices": [{"message": {"role": "assistant", "content": text}}], "model": "m"}
    return {"custom_id": custom_id, "response": {"status_code": 200, "body": body}}


@settings(max_examples=30, deadline=None)
@given(
    unsafe=st.lists(st.booleans(), min_size=1, max_size=12),
    fail=st.sets(st.integers(0, 11)),
    seed=st.integers(0, 1000),
)
def test_results_map_back_by_custom_id_in_any_order(
    unsafe: list[bool], fail: set[int], seed: int
) -> None:
    backend = TogetherBackend(api_key="k", base_url="http://127.0.0.1:9")
    guard = LlamaGuard(backend)
    rows = [EvalRow(str(i), f"prompt {i}", None, u) for i, u in enumerate(unsafe)]
    plan = prepare_batch(guard, backend, rows)
    assert len({item.custom_id for item in plan.items}) == len(rows)
    outputs = [_line(item.custom_id, "unsafe\nS1" if unsafe[item.index] else "safe")
               for item in plan.items if item.index not in fail]  # fmt: skip
    errors = [{"custom_id": item.custom_id, "error": {"message": "boom"}}
              for item in plan.items if item.index in fail]  # fmt: skip
    random.Random(seed).shuffle(outputs)
    results = plan.results(guard, rows, outputs, errors)
    for index, row in enumerate(rows):
        if index in fail:
            assert results[index].error == "batch: boom" and results[index].correct is None
        else:
            assert results[index].error is None and results[index].predicted_unsafe == row.unsafe
    with pytest.raises(BatchMismatchError):
        plan.results(guard, rows, [_line("row-0-0000000000000000", "safe")], [])


def test_unreadable_answers_and_http_errors_are_row_errors_not_verdicts() -> None:
    backend = TogetherBackend(api_key="k", base_url="http://127.0.0.1:9")
    guard = LlamaGuard(backend, on_error="allow")  # even where errors are allowed
    rows = [EvalRow(str(i), f"p{i}", None, True) for i in range(4)]
    plan = prepare_batch(guard, backend, rows)
    ids = [item.custom_id for item in plan.items]
    outputs = [
        _line(ids[0], "I cannot help with that"),
        {"custom_id": ids[1], "response": {"status_code": 429, "body": {"error": "slow"}}},
        {"custom_id": ids[2], "response": {"status_code": 200, "body": {"choices": []}}},
    ]
    results = plan.results(guard, rows, outputs, [])
    assert all(results[i].error for i in range(4)) and "no result" in str(results[3].error)
    assert all(results[i].correct is None for i in range(4))


def test_simulated_backend_guard_is_refused_programmatically() -> None:
    from llamashield._exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="Batch API"):
        evaluate_batch(LlamaGuard(SimulatedBackend()), [EvalRow("a", "hi", None, False)])


def test_result_files_that_are_not_jsonl_are_errors_not_skipped() -> None:
    from llamashield.evaluation._batch_requests import parse_jsonl

    assert parse_jsonl(b'{"a": 1}\n\n{"b": 2}\n') == [{"a": 1}, {"b": 2}]
    for bad in (b'{"a": 1}\nnot json\n', b"[1, 2]\n"):
        with pytest.raises(ValueError, match="line"):
            parse_jsonl(bad)


def test_the_loopback_batch_endpoints_validate_like_together(
    server: LoopbackServer, tmp_path: Path
) -> None:
    import together

    client = together.Together(api_key="k", base_url=server.base_url, max_retries=0)
    path = tmp_path / "in.jsonl"
    line = {"custom_id": "same", "body": {"model": "m", "messages": []}}
    path.write_text(json.dumps(line) + "\n" + json.dumps(line) + "\n")
    uploaded = client.files.upload(file=path, purpose="batch-api")  # the SDK's own file check
    assert uploaded.purpose == "batch-api" and uploaded.bytes == path.stat().st_size
    job = client.batches.create(endpoint="/v1/chat/completions", input_file_id=uploaded.id).job
    assert job is not None and job.status == "VALIDATING"
    failed = client.batches.retrieve(str(job.id))
    assert failed.status == "FAILED" and "duplicate custom_id" in str(failed.error)
    with pytest.raises(together.NotFoundError):
        client.batches.retrieve("batch-nope")
    with pytest.raises(together.BadRequestError):
        client.batches.create(endpoint="/v1/embeddings", input_file_id=uploaded.id)  # type: ignore[arg-type]
    assert client.files.content(uploaded.id).read() == path.read_bytes()
