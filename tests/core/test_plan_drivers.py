"""The plan drivers every adapter stands on: ``run_plan`` and ``arun_plan``.

A step's error is thrown into the plan (its ``except`` and ``finally`` run as in straight-line
code), an error the plan does not catch leaves the driver unchanged, cancelling ``arun_plan``
cancels the plan (its ``finally`` runs, ``CancelledError`` propagates), and the two drivers take
the same decisions for the same plan.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llamashield import LlamaGuard
from llamashield.backends import SimulatedBackend
from llamashield.integration import Call, Judge, Plan, arun_plan, run_plan

UNSAFE = "how do I build a bomb"


class StepFailed(Exception):
    """What a failing step raises in these tests."""


class Interrupted(BaseException):
    """Not an ``Exception``: the drivers must throw it into the plan all the same."""


@pytest.fixture
def guard() -> LlamaGuard:
    return LlamaGuard(SimulatedBackend())


def fail(*_: Any) -> Any:
    raise StepFailed("the step failed")


# -- errors thrown into a plan ----------------------------------------------------------------


def caught_plan(log: list[str]) -> Plan[str]:
    try:
        yield Call(fail, fail)
    except StepFailed as exc:
        log.append(f"caught {exc}")
    answer = yield Call(lambda: "after", None)
    return f"recovered, then {answer}"


def uncaught_plan(log: list[str], error: Any = fail) -> Plan[str]:
    try:
        yield Call(error, error)
        log.append("never reached")
        return "never"
    finally:
        log.append("finally")


async def test_an_error_caught_by_the_plan_is_handled_there(guard: LlamaGuard) -> None:
    sync_log: list[str] = []
    async_log: list[str] = []
    assert run_plan(caught_plan(sync_log), guard) == "recovered, then after"
    assert await arun_plan(caught_plan(async_log), guard) == "recovered, then after"
    assert sync_log == async_log == ["caught the step failed"]


async def test_an_uncaught_step_error_propagates_after_the_plans_finally(
    guard: LlamaGuard,
) -> None:
    sync_log: list[str] = []
    async_log: list[str] = []
    with pytest.raises(StepFailed, match="the step failed"):
        run_plan(uncaught_plan(sync_log), guard)
    with pytest.raises(StepFailed, match="the step failed"):
        await arun_plan(uncaught_plan(async_log), guard)
    assert sync_log == async_log == ["finally"]


async def test_a_base_exception_from_a_step_is_thrown_into_the_plan_too(
    guard: LlamaGuard,
) -> None:
    def interrupt(*_: Any) -> Any:
        raise Interrupted

    for run in ("sync", "async"):
        log: list[str] = []
        with pytest.raises(Interrupted):
            if run == "sync":
                run_plan(uncaught_plan(log, interrupt), guard)
            else:
                await arun_plan(uncaught_plan(log, interrupt), guard)
        assert log == ["finally"], run


async def test_the_error_raised_is_the_steps_own_object(guard: LlamaGuard) -> None:
    error = StepFailed("this one")

    def raise_it(*_: Any) -> Any:
        raise error

    with pytest.raises(StepFailed) as sync_caught:
        run_plan(uncaught_plan([], raise_it), guard)
    with pytest.raises(StepFailed) as async_caught:
        await arun_plan(uncaught_plan([], raise_it), guard)
    assert sync_caught.value is error and async_caught.value is error


async def test_an_error_the_plan_raises_itself_propagates(guard: LlamaGuard) -> None:
    def plan() -> Plan[str]:
        (verdict,) = yield Judge([UNSAFE])
        raise RuntimeError(f"plan decided: {verdict.codes}")

    with pytest.raises(RuntimeError, match="S8"):
        run_plan(plan(), guard)
    with pytest.raises(RuntimeError, match="S8"):
        await arun_plan(plan(), guard)


async def test_an_empty_judge_step_does_not_reach_the_backend() -> None:
    backend = SimulatedBackend()
    guard = LlamaGuard(backend)

    def plan() -> Plan[Any]:
        return (yield Judge([]))

    assert run_plan(plan(), guard) == [] and await arun_plan(plan(), guard) == []
    assert backend.calls == 0


# -- cancellation -----------------------------------------------------------------------------


async def test_cancelling_arun_plan_runs_the_plans_finally_and_propagates(
    guard: LlamaGuard,
) -> None:
    entered = asyncio.Event()
    log: list[str] = []

    async def hang() -> None:
        entered.set()
        await asyncio.Event().wait()

    def plan() -> Plan[str]:
        try:
            yield Call(lambda: None, hang)
            log.append("never reached")
            return "never"
        except asyncio.CancelledError:
            log.append("cancelled")
            raise
        finally:
            log.append("finally")

    task = asyncio.create_task(arun_plan(plan(), guard))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert log == ["cancelled", "finally"]


async def test_cancelling_during_a_judge_step_runs_the_plans_finally() -> None:
    entered = asyncio.Event()

    class Hanging(SimulatedBackend):
        async def acomplete(self, request: Any, *, timeout: float) -> Any:
            entered.set()
            await asyncio.Event().wait()

    log: list[str] = []

    def plan() -> Plan[str]:
        try:
            yield Judge(["hello"])
            return "never"
        finally:
            log.append("finally")

    guard = LlamaGuard(Hanging(), timeout=3600)
    task = asyncio.create_task(arun_plan(plan(), guard))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["finally"]


# -- sync and async drivers agree (hypothesis over generated plans) ---------------------------


@dataclass(frozen=True)
class StepSpec:
    """One step of a generated plan: judge some texts, or call something that may fail."""

    judge: tuple[str, ...] | None  # texts to judge; None for a call
    value: int = 0
    fails: bool = False
    async_form: str = "none"  # the Call's async_: "none", "coroutine" or "plain"
    catch: bool = False  # the plan catches this step's error


TEXTS = st.sampled_from(["hello", "the weather in Paris", UNSAFE, "I want to kill myself"])
STEPS = st.one_of(
    st.builds(StepSpec, judge=st.lists(TEXTS, max_size=3).map(tuple)),
    st.builds(
        StepSpec,
        judge=st.none(),
        value=st.integers(-5, 5),
        fails=st.booleans(),
        async_form=st.sampled_from(["none", "coroutine", "plain"]),
        catch=st.booleans(),
    ),
)


def _call(spec: StepSpec) -> Call:
    def sync(value: int) -> int:
        if spec.fails:
            raise StepFailed(f"step {value}")
        return value * 10

    async def coroutine(value: int) -> int:
        await asyncio.sleep(0)
        return sync(value)

    async_ = {"none": None, "coroutine": coroutine, "plain": sync}[spec.async_form]
    return Call(sync, async_, (spec.value,))


def generated_plan(specs: list[StepSpec], log: list[Any]) -> Plan[list[Any]]:
    try:
        for spec in specs:
            if spec.judge is not None:
                verdicts = yield Judge(list(spec.judge))
                log.append(("judged", [(v.safe, v.codes) for v in verdicts]))
                continue
            try:
                log.append(("called", (yield _call(spec))))
            except StepFailed as exc:
                if not spec.catch:
                    raise
                log.append(("caught", str(exc)))
        return log
    finally:
        log.append("finally")


def _outcome(run: Any) -> tuple[str, Any]:
    try:
        return "returned", run()
    except StepFailed as exc:
        return "raised", str(exc)


@given(st.lists(STEPS, max_size=6))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_sync_and_async_drivers_give_the_same_results_for_the_same_plan(
    specs: list[StepSpec],
) -> None:
    guard = LlamaGuard(SimulatedBackend())
    sync_log: list[Any] = []
    async_log: list[Any] = []
    sync = _outcome(lambda: run_plan(generated_plan(specs, sync_log), guard))
    asynchronous = _outcome(lambda: asyncio.run(arun_plan(generated_plan(specs, async_log), guard)))
    assert sync == asynchronous
    assert sync_log == async_log
    assert sync_log[-1] == "finally"  # the plan's cleanup ran, whichever way it ended
    # The plan ends with the first failing step it does not catch, and only then.
    first_uncaught = next(
        (i for i, s in enumerate(specs) if s.judge is None and s.fails and not s.catch), None
    )
    assert (sync[0] == "raised") is (first_uncaught is not None)
    if first_uncaught is not None:
        assert sync[1] == f"step {specs[first_uncaught].value}"
