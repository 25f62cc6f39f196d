"""Failures travel as values: a backend raises ``BackendError``, the guard keeps a frozen
``BackendFailure`` (retries, breaker, policy, telemetry read it), and only the public edges
raise (``on_error="raise"``) or record the message (``Verdict.error``)."""

from __future__ import annotations

import asyncio
import dataclasses
import pickle
import typing
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llamashield import GuardUnavailableError, LlamaGuard, VerdictParseError
from llamashield._checks import Result
from llamashield.backends import (
    BackendAnswer,
    BackendError,
    BackendFailure,
    FailureKind,
    GuardRequest,
    SimulatedBackend,
)

kinds = st.sampled_from(typing.get_args(FailureKind))
errors = st.builds(
    BackendError,
    st.text(max_size=30),
    retryable=st.booleans(),
    status_code=st.none() | st.integers(100, 599),
    retry_after=st.none() | st.floats(0, 60),
    kind=kinds,
)


@given(errors)
def test_a_failure_says_what_the_error_said(error: BackendError) -> None:
    failure = BackendFailure.of(error)
    assert (failure.message, failure.kind, failure.retryable) == (
        error.message, error.kind, error.retryable
    )  # fmt: skip
    assert (failure.status_code, failure.retry_after) == (error.status_code, error.retry_after)
    with pytest.raises(dataclasses.FrozenInstanceError):
        failure.kind = "error"  # type: ignore[misc]


@given(errors)
def test_a_backend_error_pickles_with_everything_it_carries(error: BackendError) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is BackendError and str(again) == str(error)
    assert BackendFailure.of(again) == BackendFailure.of(error)


class Failing(SimulatedBackend):
    """Raises one ``BackendError`` on every call."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    def complete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        raise self.error

    async def acomplete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
        raise self.error


def _spied(guard: LlamaGuard) -> list[Result]:
    """The list every result the guard decides is appended to."""
    seen: list[Result] = []
    decide = guard._decide

    def spy(results: list[Result]) -> Any:
        seen.extend(results)
        return decide(results)

    guard._decide = spy  # type: ignore[method-assign]
    return seen


@pytest.mark.parametrize("kind", typing.get_args(FailureKind))
def test_the_guard_keeps_values_and_raises_only_at_its_edge(kind: FailureKind) -> None:
    error = BackendError(f"{kind} happened", status_code=503, kind=kind)
    blocking = LlamaGuard(Failing(error), max_retries=0, circuit_breaker=None)
    seen = _spied(blocking)
    verdict = blocking.check("hi")
    (result,) = seen
    assert not isinstance(result.outcome, BaseException)
    assert result.outcome == BackendFailure(f"{kind} happened", kind, False, 503)
    assert not verdict.safe and verdict.error == f"{kind} happened"

    raising = LlamaGuard(Failing(error), on_error="raise", max_retries=0, circuit_breaker=None)
    expected = VerdictParseError if kind == "malformed" else GuardUnavailableError
    with pytest.raises(expected, match=f"{kind} happened"):
        raising.check("hi")


async def test_an_async_timeout_is_a_value_too() -> None:
    class Slow(SimulatedBackend):
        async def acomplete(self, request: GuardRequest, *, timeout: float) -> BackendAnswer:
            await asyncio.sleep(10)
            raise AssertionError("the guard's deadline passed first")

    guard = LlamaGuard(Slow(), timeout=0.05, circuit_breaker=None)
    seen = _spied(guard)
    verdict = await guard.acheck("hi")
    (result,) = seen
    assert isinstance(result.outcome, BackendFailure) and result.outcome.kind == "timeout"
    assert verdict.error == "guard timed out after 0.05s"
