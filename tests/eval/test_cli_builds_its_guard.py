"""The CLI builds the guard each command needs: ``eval`` asks the backend for scores when it is
built (AUPRC and the threshold sweep need them), ``check`` does not, and nothing is changed on
a backend after its guard exists."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llamashield import LlamaGuard
from llamashield.backends._base import Capabilities
from llamashield.cli import _check, _eval
from llamashield.cli._app import app
from llamashield.cli._backend_options import BackendName, make_backend
from llamashield.testing import LoopbackServer


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", "loopback-test-key")
    monkeypatch.setenv("COLUMNS", "120")


@pytest.mark.parametrize("scores", [True, False])
def test_together_asks_for_scores_only_when_told(scores: bool) -> None:
    pytest.importorskip("together")
    backend = make_backend(BackendName.together, None, "http://127.0.0.1:9", scores=scores)
    assert backend.capabilities.gives_scores is scores


@pytest.mark.parametrize("scores", [True, False])
def test_backends_that_always_score_do_so_either_way(scores: bool) -> None:
    backend = make_backend(BackendName.simulated, None, None, scores=scores)
    assert backend.capabilities.gives_scores is True
    served = make_backend(BackendName.openai, "meta-llama/LlamaGuard-2-8b", "http://x:9/v1",
                          scores=scores)  # fmt: skip
    assert served.capabilities.gives_scores is True


def _recording(
    module: Any, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[LlamaGuard, Capabilities]]:
    """Every guard ``module.make_guard`` builds, with its backend's capabilities then."""
    built: list[tuple[LlamaGuard, Capabilities]] = []
    make: Callable[..., LlamaGuard] = module.make_guard

    def recording(*args: Any, **kwargs: Any) -> LlamaGuard:
        guard = make(*args, **kwargs)
        built.append((guard, guard.backend.capabilities))
        return guard

    monkeypatch.setattr(module, "make_guard", recording)
    return built


def test_eval_builds_a_scoring_guard_and_leaves_it_as_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("together")
    built = _recording(_eval, monkeypatch)
    with LoopbackServer() as server:
        result = CliRunner().invoke(app, [
            "eval", "--sample", "--limit", "6", "--backend", "together",
            "--base-url", server.base_url, "-o", str(tmp_path / "r.json"),
        ])  # fmt: skip
    assert result.exit_code == 0, result.output
    ((guard, at_construction),) = built
    assert at_construction.gives_scores is True
    assert guard.backend.capabilities == at_construction  # nothing switched on later
    report = json.loads((tmp_path / "r.json").read_text())
    assert all(row["score"] is not None for row in report["rows"])


def test_check_builds_a_guard_without_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("together")
    built = _recording(_check, monkeypatch)
    with LoopbackServer() as server:
        result = CliRunner().invoke(
            app, ["check", "hello there", "--backend", "together", "--base-url", server.base_url]
        )
    assert result.exit_code == 0, result.output
    ((guard, at_construction),) = built
    assert at_construction.gives_scores is False
    assert guard.backend.capabilities == at_construction
