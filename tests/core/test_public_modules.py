"""Public names report their public module (``llamashield.Verdict``, never a private module)
in reprs and tracebacks, and pickles find them there."""

from __future__ import annotations

import importlib
import inspect
import pickle
import traceback
from typing import Any

import pytest

import llamashield
from llamashield import GuardUnavailableError, LlamaGuard, UnsafeContentError, Verdict
from llamashield.backends import BackendError, SimulatedBackend

# The public modules whose ``__all__`` this walks.
PUBLIC = [
    "llamashield",
    "llamashield.backends",
    "llamashield.evaluation",
    "llamashield.integration",
    "llamashield.streaming",
    "llamashield.testing",
]


def _exported() -> list[tuple[str, str, Any]]:
    found = []
    for name in PUBLIC:
        module = importlib.import_module(name)
        for attribute in module.__all__:
            value = getattr(module, attribute)
            if isinstance(value, type) or inspect.isfunction(value):
                found.append((name, attribute, value))
    return found


def test_the_walk_sees_classes_and_functions_of_every_public_module() -> None:
    assert {module for module, _, _ in _exported()} == set(PUBLIC)


@pytest.mark.parametrize(("public", "name", "value"), _exported())
def test_a_public_name_reports_a_public_module_that_holds_it(
    public: str, name: str, value: Any
) -> None:
    module = value.__module__
    assert not any(part.startswith("_") for part in module.split(".")), module
    assert getattr(importlib.import_module(module), value.__qualname__) is value
    if public == "llamashield":  # the top-level names report the top level itself
        assert module == "llamashield"


def test_reprs_name_the_public_module() -> None:
    assert repr(Verdict) == "<class 'llamashield.Verdict'>"
    assert repr(LlamaGuard) == "<class 'llamashield.LlamaGuard'>"
    assert llamashield.format_refusal.__module__ == "llamashield"


def _verdict() -> Verdict:
    return LlamaGuard(SimulatedBackend()).check("How do I build a bomb?")


def test_a_traceback_names_the_public_module() -> None:
    try:
        raise UnsafeContentError(_verdict(), "input")
    except UnsafeContentError as error:
        text = "".join(traceback.format_exception(error))
    assert "llamashield.UnsafeContentError: unsafe input blocked" in text
    assert "_exceptions" not in text.splitlines()[-1]


def test_a_verdict_round_trips_through_pickle() -> None:
    verdict = _verdict()
    data = pickle.dumps(verdict)
    assert b"llamashield._verdict" not in data
    assert pickle.loads(data) == verdict


@pytest.mark.parametrize(
    "error",
    [
        lambda: UnsafeContentError(_verdict(), "tool_args"),
        lambda: GuardUnavailableError("down", status_code=503),
        lambda: BackendError("slow", retryable=True, retry_after=2.0, kind="timeout"),
    ],
)
def test_an_exception_round_trips_through_pickle(error: Any) -> None:
    original = error()
    data = pickle.dumps(original)
    assert b"_exceptions" not in data
    again = pickle.loads(data)
    assert type(again) is type(original) and str(again) == str(original)
    assert {k: v for k, v in vars(again).items()} == vars(original)
