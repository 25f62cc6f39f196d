"""Sans-I/O plans: each guarded behaviour written once, driven by a sync and an async driver.

A plan is a generator that yields steps ("judge these conversations", "call the wrapped
component") and receives their results; it decides everything else (what to judge, what an
unsafe verdict does) without doing I/O itself. ``run_plan`` performs the steps with
``guard.check_many`` and plain calls, ``arun_plan`` with ``await guard.acheck_many`` and
awaited calls: the way httpx drives its auth flows. An error raised by a step is thrown back
into the plan, so its ``try``/``finally`` blocks run as in straight-line code.

With OpenTelemetry (``llamashield[otel]``), each driven plan is one span named after the
component whose plan it is (``llamashield GuardedQueryEngine``), opened in the caller's context:
the guard's check spans and the wrapped component's own spans are its children. A ``Judge``
step's ``stage`` is recorded on its checks.

Example::

    def plan(question: str) -> Plan[str]:
        (verdict,) = yield Judge([question])
        if not verdict.safe:
            return "refused"
        return (yield Call(engine.query, engine.aquery, (question,)))

    answer = run_plan(plan("hi"), guard)            # sync
    answer = await arun_plan(plan("hi"), guard)     # async, same decisions
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from llamashield import _telemetry

if TYPE_CHECKING:
    from llamashield._guard import LlamaGuard

__all__ = ["Call", "Judge", "JudgeConversation", "Plan", "arun_plan", "run_plan"]

R = TypeVar("R")


@dataclass(frozen=True)
class Judge:
    """Judge these conversations (concurrently); the plan receives ``list[Verdict]``.

    ``stage`` (``input``, ``output``, ``tool_args``...) only labels the checks' spans and
    metrics; without it a check's role implies it (user: input, agent: output).
    """

    conversations: Sequence[Any]
    stage: str | None = None


@dataclass(frozen=True)
class JudgeConversation:
    """Judge every message of ``conversation`` that came from outside, each as the last turn
    of its own prefix (``LlamaGuard.check_conversation``); the plan receives one ``Verdict``.
    ``trusted`` holds the indexes of messages the guarded model produced in this run."""

    conversation: Any
    trusted: Collection[int] = ()


@dataclass(frozen=True)
class Call:
    """Call the wrapped component: ``sync(*args, **kwargs)`` under ``run_plan``, ``async_``
    (awaited when it returns an awaitable) under ``arun_plan``; the plan receives the result.
    """

    sync: Callable[..., Any]
    async_: Callable[..., Any] | None = None
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


Step: TypeAlias = Judge | JudgeConversation | Call
Plan: TypeAlias = Generator[Step, Any, R]


class _Stepper:
    """Advances a plan: sends it the last step's result, or throws the step's error into it."""

    def __init__(self, plan: Plan[Any]) -> None:
        self.plan = plan
        self.result: Any = None
        self.error: BaseException | None = None
        self.value: Any = None

    def next(self) -> Step | None:
        """The next step, or None once the plan returned (its value is in ``value``)."""
        try:
            if self.error is None:
                step = self.plan.send(self.result)
            else:
                step = self.plan.throw(self.error)
        except StopIteration as stop:
            self.value = stop.value
            return None
        self.result, self.error = None, None
        return step


def _perform(step: Step, guard: LlamaGuard) -> Any:
    if isinstance(step, Judge):
        if not step.conversations:
            return []
        with _telemetry.stage_scope(step.stage):
            return guard.check_many(list(step.conversations))
    if isinstance(step, JudgeConversation):
        return guard.check_conversation(step.conversation, trusted=step.trusted)
    return step.sync(*step.args, **step.kwargs)


async def _aperform(step: Step, guard: LlamaGuard) -> Any:
    if isinstance(step, Judge):
        conversations = list(step.conversations)
        if not conversations:
            return []
        with _telemetry.stage_scope(step.stage):
            return await guard.acheck_many(conversations)
    if isinstance(step, JudgeConversation):
        return await guard.acheck_conversation(step.conversation, trusted=step.trusted)
    result = (step.async_ or step.sync)(*step.args, **step.kwargs)
    return await result if inspect.isawaitable(result) else result


def run_plan(plan: Plan[R], guard: LlamaGuard) -> R:
    """Drive ``plan`` with sync I/O."""
    stepper = _Stepper(plan)
    with _ComponentSpan(plan, guard):
        while (step := stepper.next()) is not None:
            try:
                stepper.result = _perform(step, guard)
            except BaseException as exc:  # thrown into the plan: its finally blocks run
                stepper.error = exc
    return stepper.value  # type: ignore[no-any-return]


async def arun_plan(plan: Plan[R], guard: LlamaGuard) -> R:
    """Drive ``plan`` with async I/O (the guard's ``acheck_many``, the async calls)."""
    stepper = _Stepper(plan)
    with _ComponentSpan(plan, guard):
        while (step := stepper.next()) is not None:
            try:
                stepper.result = await _aperform(step, guard)
            except BaseException as exc:
                stepper.error = exc
    return stepper.value  # type: ignore[no-any-return]


class _ComponentSpan:
    """The component's span around a driven plan; nothing at all without OpenTelemetry."""

    __slots__ = ("_scope", "guard", "plan")

    def __init__(self, plan: Plan[Any], guard: LlamaGuard) -> None:
        self.plan, self.guard = plan, guard
        self._scope: Any = None

    def __enter__(self) -> None:
        if _telemetry.get() is None:
            return
        shadow = bool(getattr(self.guard, "shadow", False))
        self._scope = _telemetry.component_span(_component(self.plan), shadow=shadow)
        self._scope.__enter__()

    def __exit__(self, *exc_info: Any) -> None:
        if self._scope is not None:
            self._scope.__exit__(*exc_info)


def _component(plan: Plan[Any]) -> str:
    """The class whose method made ``plan`` (``GuardedQueryEngine``), else the function's name."""
    frame = getattr(plan, "gi_frame", None)
    owner = frame.f_locals.get("self") if frame is not None else None
    if owner is not None:
        return type(owner).__name__
    code = getattr(plan, "gi_code", None)
    return code.co_name if code is not None else "plan"
