"""``llamashield eval`` on the published files as a new user runs it, and its error lines.

The published files come from ``shared/data`` (see conftest; skipped when absent). The errors
are checked in a real subprocess as well, where a traceback or a rich markup mangling would
show exactly as a user sees it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamashield.cli._app import app
from llamashield.evaluation._published import PUBLISHED, card_model, published_figures

Find = Callable[[str], Path]
CARDS = "https://github.com/meta-llama/PurpleLlama/blob/main/"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)  # the simulator, named: no key here
    monkeypatch.setenv("COLUMNS", "140")
    return CliRunner()


def _text(output: str) -> str:
    return " ".join(output.split())


def test_openai_preset_reads_the_published_file(
    runner: CliRunner, published_file: Find, tmp_path: Path
) -> None:
    data = published_file("openai-moderation-samples-1680.jsonl.gz")
    out = tmp_path / "report.json"
    result = runner.invoke(
        app, ["eval", "--backend", "simulated", str(data), "--preset", "openai", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    dataset = report["dataset"]
    assert (dataset["records_read"], dataset["rows"], dataset["unsafe"]) == (1680, 1680, 522)
    assert report["rows_total"] == report["rows_judged"] == 1680
    assert sum(r["label"] == "unsafe" for r in report["rows"]) == 522
    [unknown] = [n for what, n in dataset["counts"].items() if what.startswith("records with")]
    assert 0 < unknown < 1680
    text = _text(result.stdout)
    assert "data: 1680 records read, 1680 rows (522 unsafe), 1680 judged" in text
    assert f"{unknown} records with unknown codes" in text
    # the model card's figures for the simulated model (it stands in for Llama Guard 2)
    [card] = report["published"]
    assert (card["model"], card["f1"], card["fpr"], card["same_model"]) == (
        "Llama Guard 2", 0.807, 0.06, True,
    )  # fmt: skip
    assert "published (Meta's model cards" in text
    assert "Llama Guard 2 F1 0.807 FPR 0.060 <- this model Llama-Guard2/MODEL_CARD.md" in text
    assert f"source: {CARDS}" in text
    # the user's headline comes first, the published figures under it
    assert text.index("Model-card figures") < text.index("published (Meta's")


@pytest.mark.parametrize("name", ["xstest_prompts.csv", "xstest_v2_prompts.csv"])
def test_xstest_preset_reads_both_files_with_plots(
    runner: CliRunner, published_file: Find, tmp_path: Path, name: str
) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "report.json"
    args = [
        "eval",
        "--backend",
        "simulated",
        str(published_file(name)),
        "--preset",
        "xstest",
        "-o",
        str(out),
    ]
    result = runner.invoke(app, [*args, "--plots", str(tmp_path / "plots"), "-t", "0.5"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["rows_total"] == 450 and report["dataset"]["unsafe"] == 200
    groups = report["by_group"]
    assert len(groups) == 18 and {
        g["tp"] + g["fp"] + g["tn"] + g["fn"] for g in groups.values()
    } == {25}
    assert "18 groups of 25 rows" in _text(result.stdout)
    models = {(p["model"], p["f1"], p["fpr"]) for p in report["published"]}
    assert {("Llama Guard 2", 0.884, 0.084), ("Llama Guard 3 8B", 0.884, 0.044)} <= models
    assert (tmp_path / "plots" / "model_card.png").stat().st_size > 0


@pytest.mark.parametrize("name", ["xstest_prompts.csv", "xstest_v2_prompts.csv"])
def test_xstest_without_preset_is_an_error_naming_it(
    runner: CliRunner, published_file: Find, tmp_path: Path, name: str
) -> None:
    out = tmp_path / "report.json"
    result = runner.invoke(
        app, ["eval", "--backend", "simulated", str(published_file(name)), "-o", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert "use --preset xstest" in _text(result.output)
    assert not out.exists()


def test_the_xstest_file_as_openai_data_fails(
    runner: CliRunner, published_file: Find, tmp_path: Path
) -> None:
    data = published_file("xstest_prompts.csv")
    result = runner.invoke(
        app,
        ["eval", "--backend", "simulated", str(data), "--preset", "openai", "-o", str(tmp_path)],
    )
    assert result.exit_code == 2
    assert "not OpenAI moderation evaluation set as published" in _text(result.output)


def test_skipped_records_are_counted_in_report_json(runner: CliRunner, tmp_path: Path) -> None:
    data = Path(__file__).parent / "fixtures" / "aegis2.json"
    out = tmp_path / "report.json"
    result = runner.invoke(
        app, ["eval", "--backend", "simulated", str(data), "--preset", "aegis2", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    records = [json.loads(line) for line in data.read_text().splitlines() if line.strip()]
    redacted = sum(r["prompt"].strip() == "REDACTED" for r in records)
    dataset = report["dataset"]
    assert redacted and dataset["records_read"] == len(records)
    [(reason, count)] = dataset["skipped"].items()
    assert count == redacted and "redacted" in reason
    assert dataset["rows"] == report["rows_total"] == report["rows_judged"]
    assert f"skipped: {redacted} redacted" in _text(result.stdout)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real command in a subprocess: what a user's terminal shows."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("TOGETHER_API_KEY", None)
    code = "from llamashield.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args, "--backend", "simulated"], cwd=cwd, env=env,
        capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


@pytest.mark.parametrize("name", ["missing.jsonl.gz", "missing.csv", "sub/missing.parquet"])
def test_a_missing_file_is_reported_missing(tmp_path: Path, name: str) -> None:
    line = _one_error_line(_cli("eval", name, cwd=tmp_path))
    assert line == f"error: {name}: no such file"


def test_file_names_and_data_print_literally(tmp_path: Path) -> None:
    # ":100:" is a rich emoji code and "[bold]" markup; both must print as written
    data = tmp_path / "bad:100:.csv"
    data.write_text("prompt,label\n" + "hi,safe\n" * 98 + "x,[bold]maybe[/bold]\n")
    line = _one_error_line(_cli("eval", data.name, cwd=tmp_path))
    assert line.startswith("error: bad:100:.csv:100: label '[bold]maybe[/bold]' is neither")
    assert "\N{HUNDRED POINTS SYMBOL}" not in line


def test_the_published_shape_error_is_one_line(published_file: Find, tmp_path: Path) -> None:
    line = _one_error_line(_cli("eval", str(published_file("xstest_v2_prompts.csv")), cwd=tmp_path))
    assert "use --preset xstest" in line


@pytest.mark.parametrize(
    ("model_id", "card"),
    [
        ("meta-llama/Meta-Llama-Guard-2-8B", "Llama Guard 2"),
        ("meta-llama/Llama-Guard-3-8B", "Llama Guard 3 8B"),
        ("llama-guard3:8b", "Llama Guard 3 8B"),
        ("meta-llama/Llama-Guard-3-1B", "Llama Guard 3 1B"),
        ("meta-llama/Llama-Guard-3-1B-INT4", "Llama Guard 3 1B INT4"),
        ("meta-llama/Llama-Guard-3-11B-Vision", None),
        ("meta-llama/Llama-Guard-4-12B", None),
        ("/models/my-guard", None),
    ],
)
def test_model_ids_onto_the_cards_models(model_id: str, card: str | None) -> None:
    assert card_model(model_id) == card


@pytest.mark.parametrize("preset", ["openai", "toxicchat", "beavertails", "aegis2", "xstest"])
def test_published_figures_are_the_presets_own(preset: str) -> None:
    for model_id in ("meta-llama/Llama-Guard-3-8B", "meta-llama/Llama-Guard-4-12B"):
        figures = published_figures(preset, model_id)
        assert figures == sorted(figures, key=lambda f: not f.same_model)
        assert {(f.model, f.f1, f.fpr) for f in figures} == {
            (f.model, f.f1, f.fpr) for f in PUBLISHED if f.dataset == preset
        }
        assert [f.model for f in figures if f.same_model] in ([card_model(model_id)], [])
        assert all(
            f.source.startswith(CARDS) and f.source.endswith("MODEL_CARD.md") for f in figures
        )
    assert published_figures(None, "meta-llama/Meta-Llama-Guard-2-8B") == []


def test_no_published_figures_without_a_preset(runner: CliRunner, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "report.json"
    args = [
        "eval",
        "--backend",
        "simulated",
        "--sample",
        "-o",
        str(out),
        "--plots",
        str(tmp_path / "plots"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["published"] == [] and report["preset"] is None
    assert report["dataset"]["records_read"] == report["rows_total"] == report["dataset"]["rows"]
    assert "published (Meta's" not in result.stdout
    assert not (tmp_path / "plots" / "model_card.png").exists()
    assert (tmp_path / "plots" / "categories.png").exists()  # the other plots are drawn


def test_named_columns_read_a_published_shape_as_plain_rows(
    runner: CliRunner, published_file: Find, tmp_path: Path
) -> None:
    data = str(published_file("xstest_prompts.csv"))
    out = tmp_path / "report.json"
    # the option's default value, given explicitly: the user chose plain rows
    result = runner.invoke(
        app, ["eval", "--backend", "simulated", data, "--label-column", "label", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["preset"] is None and report["by_group"] == {} and report["rows_total"] == 450
    refused = runner.invoke(
        app,
        ["eval", "--backend", "simulated", data, "--preset", "xstest", "--prompt-column", "prompt"],
    )
    assert refused.exit_code == 2 and "names its own columns" in _text(refused.output)
