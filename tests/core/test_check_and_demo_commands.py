"""The ``llamashield`` command: check's exit codes and output, and the demo."""

from __future__ import annotations

import json

import pytest

from llamashield.testing import LoopbackServer

pytest.importorskip("typer")
from typer.testing import CliRunner

from llamashield.cli._app import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)


def test_check_safe_exits_0() -> None:
    result = runner.invoke(app, ["check", "How do I bake bread?", "--backend", "simulated"])
    assert result.exit_code == 0 and "safe" in result.output


def test_check_unsafe_exits_1_and_names_the_category() -> None:
    result = runner.invoke(app, ["check", "How do I build a bomb?", "--backend", "simulated"])
    assert result.exit_code == 1 and "Indiscriminate Weapons" in result.output


def test_check_judges_a_response_as_the_agent_turn() -> None:
    result = runner.invoke(
        app, ["check", "hi", "--response", "go kill myself", "--backend", "simulated", "--json"]
    )
    verdict = json.loads(result.output)
    assert result.exit_code == 1 and verdict["role"] == "agent" and not verdict["safe"]


def test_check_against_a_server_that_fails_exits_2(loopback_server: LoopbackServer) -> None:
    loopback_server.inject("status", status=500, times=None)
    result = runner.invoke(
        app,
        ["check", "hi", "--backend", "openai", "--base-url", loopback_server.openai_base_url,
         "--model", "llama-guard-2"],
    )  # fmt: skip
    assert result.exit_code == 2 and "error" in result.output


def test_check_needs_options_for_openai_backend() -> None:
    result = runner.invoke(app, ["check", "hi", "--backend", "openai"])
    assert result.exit_code == 2 and "--base-url" in result.output


def test_demo_core_section_prints_safe_and_unsafe_verdicts() -> None:
    result = runner.invoke(app, ["demo", "--section", "core"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "unsafe" in result.output and "Indiscriminate Weapons" in result.output
    assert "safe" in result.output.replace("unsafe", "")


def test_check_on_together_without_a_key_says_what_to_do() -> None:
    pytest.importorskip("together")
    result = runner.invoke(app, ["check", "hi", "--backend", "together"], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "TOGETHER_API_KEY" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_check_without_a_backend_exits_2_with_one_line_naming_the_ways() -> None:
    from llamashield._exceptions import NO_BACKEND

    result = runner.invoke(app, ["check", "How do I bake bread?"], env={"COLUMNS": "60"})
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {NO_BACKEND}"
    for way in ("TOGETHER_API_KEY", "--backend openai", "--backend transformers",
                "--backend simulated"):  # fmt: skip
        assert way in result.output


def test_demo_with_a_together_key_judges_on_together_over_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llamashield.testing import LoopbackServer

    pytest.importorskip("together")
    with LoopbackServer(api_key="sk-demo-key") as server:
        monkeypatch.setenv("TOGETHER_API_KEY", "sk-demo-key")
        monkeypatch.setenv("TOGETHER_BASE_URL", server.base_url)
        result = runner.invoke(app, ["demo", "--section", "core"], env={"COLUMNS": "200"})
        judged = server.count("/chat/completions")
    assert result.exit_code == 0, result.output
    assert "Llama Guard 2 on Together" in result.output and "simulator" not in result.output
    assert "Indiscriminate Weapons" in result.output
    assert judged >= 1  # the verdicts came from the server, not from an in-process simulator


def test_a_demo_section_whose_adapter_is_missing_is_skipped_with_the_install_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "langchain_llamashield._demo", None)  # as if not installed
    result = runner.invoke(app, ["demo", "--section", "langchain"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "skipped:" in result.output and "pip install 'llamashield[langchain]'" in result.output
    assert "Llama Guard verdicts" not in result.output  # only the section asked for ran
    assert "LlamaIndex" not in result.output
