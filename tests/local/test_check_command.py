"""``llamashield check --backend transformers --model PATH`` on the tiny models built here."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("typer")
from typer.testing import CliRunner

from llamashield.cli._app import app


@pytest.mark.parametrize(("scenario", "exit_code", "shown"), [("unsafe", 1, "S1 Violent Crimes"),
                                                              ("safe", 0, "safe")])  # fmt: skip
def test_check_runs_a_local_model_folder(
    guard_folders: dict[str, Path], scenario: str, exit_code: int, shown: str
) -> None:
    result = CliRunner().invoke(
        app,
        [
            "check",
            "hello there",
            "--backend",
            "transformers",
            "--model",
            str(guard_folders[scenario]),
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == exit_code, result.output
    assert shown in result.output
