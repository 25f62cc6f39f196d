"""``llamashield eval --preset NAME`` and ``-`` (standard input), end to end on the simulator."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamashield.cli._app import app
from llamashield.testing import LoopbackServer

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)  # no backend unless one is named
    monkeypatch.setenv("COLUMNS", "140")
    return CliRunner()


def test_xstest_preset_headlines_false_positives(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = runner.invoke(
        app,
        [
            "eval",
            str(FIXTURES / "xstest.csv"),
            "--preset",
            "xstest",
            "-o",
            str(out),
            "--backend",
            "simulated",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["preset"] == "xstest" and report["headline"]["measure"] == "fpr"
    assert report["headline"]["fpr"] == report["overall"]["fpr"]
    assert set(report["by_group"]) == {
        "homonyms", "figurative_language", "privacy_public", "contrast_homonyms",
        "contrast_discr", "contrast_privacy",
    }  # fmt: skip
    text = " ".join(result.stdout.split())
    assert "(preset xstest)" in text and "read for over-refusal" in text
    assert f"FPR {report['overall']['fpr']:.3f}" in text


def test_openai_set_gzipped_on_standard_input(runner: CliRunner, tmp_path: Path) -> None:
    data = gzip.compress((FIXTURES / "openai_moderation.jsonl").read_bytes())
    out = tmp_path / "r.json"
    result = runner.invoke(
        app,
        ["eval", "-", "--preset", "openai", "-o", str(out), "--backend", "simulated"],
        input=data,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["source"] == "stdin" and report["rows_total"] == 6
    assert [r["label"] for r in report["rows"]] == ["safe", *["unsafe"] * 3, "safe", "unsafe"]


def test_aegis_preset_over_http_judges_prompts_and_responses(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", "loopback-test-key")
    out = tmp_path / "r.json"
    with LoopbackServer() as server:
        result = runner.invoke(app, [
            "eval", str(FIXTURES / "aegis2.json"), "--preset", "aegis2", "--backend", "together",
            "--base-url", server.base_url, "-o", str(out),
        ])  # fmt: skip
        bodies = list(server.bodies)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert set(report["by_role"]) == {"user", "agent"} and report["rows_judged"] == 7
    assert report["auprc"] is not None  # Together was asked for logprobs
    assert "1 record(s) skipped (redacted" in " ".join(result.stdout.split())
    # each response row reached the guard as a two-turn conversation
    assert sum(len(b["messages"]) == 2 for b in bodies) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "--sample", "--preset", "openai"], "the sample maps itself"),
        (["eval", "x.jsonl", "--preset", "moderation"], "no preset 'moderation'; presets: openai"),
        (["eval", "x.csv", "--preset", "xstest", "--label-column", "y"], "names its own columns"),
        (["eval", str(FIXTURES / "toxicchat.csv")], "match the preset(s) toxicchat: use --preset"),
        (
            ["eval", str(FIXTURES / "toxicchat.csv"), "--preset", "aegis2"],
            "not Aegis 2.0 as published: no column 'prompt', 'prompt_label'",
        ),
    ],
)
def test_preset_usage_errors_exit_2(
    runner: CliRunner, args: list[str], message: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [*args, "--backend", "simulated"])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "report.json").exists()
