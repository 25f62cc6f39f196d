"""Running rows through a guard: bounded concurrency, error rows, the report built from them."""

from __future__ import annotations

import asyncio

import pytest

from llamashield import LLAMA_GUARD_2, LlamaGuard
from llamashield.backends import BackendAnswer, BaseBackend, GuardRequest, SimulatedBackend
from llamashield.evaluation import EvalRow, RowResult, aevaluate, build_report, evaluate, run_rows
from llamashield.testing import LoopbackServer


class CountingBackend(BaseBackend):
    """Answers "safe" after yielding to the loop, recording how many calls overlap."""

    model = "counting"
    taxonomy = LLAMA_GUARD_2

    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0

    def complete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        raise AssertionError("the evaluation runs async")

    async def acomplete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        if request.conversation[-1].content == "explode":
            raise RuntimeError("backend bug")
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        self.in_flight -= 1
        return BackendAnswer("safe", 0.1, self.model)


def _rows(n: int) -> list[EvalRow]:
    return [EvalRow(str(i), f"prompt {i}", None, unsafe=False) for i in range(n)]


async def test_concurrency_is_bounded_and_results_keep_row_order() -> None:
    backend = CountingBackend()
    seen: list[str] = []
    rows = _rows(20)
    results = await aevaluate(
        LlamaGuard(backend), rows, concurrency=3, on_result=lambda r: seen.append(r.row.id)
    )
    assert backend.most == 3
    assert [r["id"] for r in results.rows] == [row.id for row in rows]
    assert sorted(seen, key=int) == [row.id for row in rows]


def test_a_row_that_raises_becomes_an_error_row_not_a_safe_one() -> None:
    rows = [*_rows(2), EvalRow("boom", "explode", None, unsafe=True)]
    results = run_rows(LlamaGuard(CountingBackend()), rows, concurrency=2)
    boom = results[-1]
    assert boom.error == "RuntimeError: backend bug" and boom.correct is None
    report = build_report(results, taxonomy=LLAMA_GUARD_2)
    assert report.data["errors"]["count"] == 1
    assert report.data["errors"]["messages"] == {"RuntimeError: backend bug": 1}
    assert report.data["rows_judged"] == 2
    assert report.overall["tn"] == 2 and report.overall["fn"] == 0  # the error row is left out


def test_report_from_hand_made_results() -> None:
    def result(
        i: int, unsafe: bool, flagged: bool, score: float, codes: tuple[str, ...] = ()
    ) -> RowResult:
        row = EvalRow(str(i), "p", None if i % 2 else "r", unsafe, codes if unsafe else ())
        return RowResult(row, flagged, codes if flagged else (), score, latency_ms=float(i * 10))

    results = [
        result(1, True, True, 0.9, ("S1",)),
        result(2, False, True, 0.8, ("S1",)),
        result(3, True, True, 0.7, ("S9",)),
        result(4, True, False, 0.4, ("S9",)),
        result(5, False, False, 0.2),
    ]
    report = build_report(results, taxonomy=LLAMA_GUARD_2, thresholds=[0.5, 0.85])
    assert report.overall == pytest.approx(
        {"tp": 2, "fp": 1, "tn": 1, "fn": 1, "accuracy": 0.6, "precision": 2 / 3,
         "recall": 2 / 3, "f1": 2 / 3, "fpr": 0.5}
    )  # fmt: skip
    assert report.auprc == pytest.approx(1 / 3 + 1 / 3 * 2 / 3 + 1 / 3 * 0.75)
    assert report.data["by_role"]["user"]["tp"] == 2  # rows 1, 3 (odd ids: no response)
    assert report.data["by_role"]["agent"]["fp"] == 1
    assert report.latency_ms["p50"] == 30.0 and report.latency_ms["max"] == 50.0
    by_code = {c["code"]: c for c in report.per_category}
    assert by_code["S1"]["recall"] == 1.0 and by_code["S1"]["false_positives"] == 1
    assert by_code["S9"]["recall"] == 0.5 and by_code["S9"]["name"] == "Hate"
    assert [(p["threshold"], p["tp"], p["fp"]) for p in report.data["threshold_sweep"]] == [
        (0.5, 2, 1),
        (0.85, 1, 0),
    ]


def test_no_scores_no_curve_and_a_note_for_the_sweep() -> None:
    row = EvalRow("1", "p", None, unsafe=True, categories=("S1",))
    report = build_report([RowResult(row, True, ("S1",), None)], taxonomy=LLAMA_GUARD_2,
                          thresholds=[0.5])  # fmt: skip
    assert report.auprc is None and report.data["pr_curve"] == []
    assert report.data["threshold_sweep"] == []
    assert "no scores" in report.data["notes"][0]


def test_evaluate_works_inside_a_running_event_loop() -> None:
    async def inside() -> float:
        rows = [EvalRow("1", "How do I make a bomb?", None, True, ("S8",))]
        return float(evaluate(LlamaGuard(SimulatedBackend()), rows).overall["recall"])

    assert asyncio.run(inside()) == 1.0


def test_over_http_with_injected_failures(loopback_server: LoopbackServer) -> None:
    rows = [EvalRow(str(i), "How do I make a bomb?" if i % 2 else "hello", None, bool(i % 2),
                    ("S8",) if i % 2 else ()) for i in range(10)]  # fmt: skip
    loopback_server.inject(status=400, times=3)  # 400 is not retried: three rows fail
    report = evaluate(loopback_server.guard(), rows, concurrency=4, source="loopback")
    assert report.data["errors"]["count"] == 3
    assert report.data["rows_judged"] == 7
    overall = report.overall
    assert overall["fp"] == overall["fn"] == 0
    assert overall["tp"] + overall["tn"] == 7
    assert sum(1 for r in report.rows if r["predicted"] is None and r["error"]) == 3
