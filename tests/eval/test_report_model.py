"""The typed report: built from row results, saved and read back, read by tables and plots."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamashield import LLAMA_GUARD_2
from llamashield.evaluation import EvalReport, EvalRow, ReportData, RowResult, build_report

EVALUATION = Path(__file__).resolve().parents[2] / "src" / "llamashield" / "evaluation"


def _result(i: int, unsafe: bool, flagged: bool, group: str | None = None,
            score: float | None = None, error: str | None = None) -> RowResult:  # fmt: skip
    row = EvalRow(str(i), f"prompt {i}", None, unsafe, ("S1",) if unsafe else (), group)
    codes = ("S1",) if flagged and not error else ()
    return RowResult(row, flagged, codes, score, latency_ms=float(i), error=error)


RESULTS = [
    _result(1, True, True, "contrast", 0.9),
    _result(2, True, False, "contrast", 0.4),
    _result(3, False, True, "homonyms", 0.7),
    _result(4, False, False, "homonyms", 0.1),
    _result(5, False, False, None, 0.2),
]


def test_headline_is_the_model_card_figures_at_the_default_decision() -> None:
    data = build_report(RESULTS, taxonomy=LLAMA_GUARD_2, measure="fpr").model
    assert (data.overall.tp, data.overall.fp, data.overall.tn, data.overall.fn) == (1, 1, 2, 1)
    assert data.headline.f1 == pytest.approx(2 / (2 + 1 + 1))
    assert data.headline.fpr == pytest.approx(1 / 3)
    assert data.headline.auprc == data.auprc == pytest.approx(0.5 * 1.0 + 0.5 * (2 / 3))
    assert data.headline.measure == "fpr"
    assert set(data.by_group) == {"contrast", "homonyms"}  # rows without a group: overall only
    assert data.by_group["homonyms"].fpr == 0.5 and data.by_group["contrast"].recall == 0.5
    assert data.rows[0].group == "contrast"


def test_auprc_is_none_when_a_judged_row_has_no_score() -> None:
    results = [*RESULTS[:-1], _result(5, False, False, None, None)]
    data = build_report(results, taxonomy=LLAMA_GUARD_2, thresholds=[0.5]).model
    assert data.auprc is None and data.headline.auprc is None and data.pr_curve == []
    assert data.notes == ["the backend gave no scores: the threshold sweep is empty"]


def test_json_round_trip_keeps_the_typed_report(tmp_path: Path) -> None:
    report = build_report(RESULTS, taxonomy=LLAMA_GUARD_2, thresholds=[0.5],
                          meta={"model": "m", "preset": "xstest"})  # fmt: skip
    path = report.write_json(tmp_path / "out" / "report.json")
    again = EvalReport.from_json(path)
    assert again.model == report.model
    assert isinstance(again.model, ReportData) and again.model.preset == "xstest"
    # the dict views users had before the typed model still answer the same
    assert again.overall == report.data["overall"] and again.rows == report.data["rows"]
    assert report.overall["f1"] == report.model.overall.f1


def test_a_report_written_before_the_headline_still_reads(tmp_path: Path) -> None:
    data = build_report(RESULTS, taxonomy=LLAMA_GUARD_2).data
    for key in ("headline", "by_group", "preset", "notes"):
        del data[key]
    for row in data["rows"]:
        del row["group"]
    old = EvalReport(data)
    assert old.model.headline.f1 == old.model.overall.f1 and old.model.headline.measure == "f1"
    assert old.model.headline.auprc == data["auprc"] and old.model.by_group == {}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.booleans(), st.sampled_from(["a", "b", None])),
        min_size=1,
        max_size=20,
    )
)
def test_groups_and_roles_partition_the_overall_counts(
    rows: list[tuple[bool, bool, str | None]],
) -> None:
    results = [_result(i, u, f, g) for i, (u, f, g) in enumerate(rows)]
    data = build_report(results, taxonomy=LLAMA_GUARD_2).model
    assert sum(m.total for m in data.by_role.values()) == data.overall.total == len(rows)
    grouped = sum(m.total for m in data.by_group.values())
    assert grouped == sum(g is not None for _, _, g in rows)
    assert sum(m.fp for m in data.by_group.values()) <= data.overall.fp


def test_tables_print_the_headline_and_groups() -> None:
    rich_console = pytest.importorskip("rich.console")
    report = build_report(RESULTS, taxonomy=LLAMA_GUARD_2, measure="fpr",
                          meta={"model": "m", "source": "xs.csv", "preset": "xstest"})  # fmt: skip
    buffer = io.StringIO()
    report.print(rich_console.Console(file=buffer, width=140, color_system=None))
    out = buffer.getvalue()
    assert "m on xs.csv (preset xstest)" in out
    assert "Model-card figures" in out and "FPR 0.333" in out and "AUPRC 0.833" in out
    assert "read for over-refusal" in out
    assert "group contrast" in out and "group homonyms" in out


def test_plots_read_the_typed_report(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    report = build_report(RESULTS, taxonomy=LLAMA_GUARD_2, thresholds=[0.3, 0.6])
    names = sorted(p.name for p in report.plot(tmp_path))
    assert names == ["categories.png", "latency.png", "pr_curve.png", "threshold_sweep.png"]


def test_tables_and_plots_import_only_the_report_model() -> None:
    """No import cycle: the views depend on the data model, never on the report builder."""
    for module in ("_tables.py", "_plots.py", "_report_model.py"):
        tree = ast.parse((EVALUATION / module).read_text())
        imported = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert "llamashield.evaluation._report" not in imported, module
        assert not any(name.startswith("llamashield.evaluation._") and name not in {
            "llamashield.evaluation._report_model"} for name in imported), module  # fmt: skip
