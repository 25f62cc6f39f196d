"""Sans-I/O plans: each guarded behaviour written once, driven by a sync and an async driver.

A plan is a generator that yields steps ("judge these conversations", "call the wrapped
component") and receives their results; it decides everything else (what to judge, what an
unsafe verdict does) without doing I/O itself. ``run_plan`` performs the steps with
``guard.check_many`` and plain calls, ``arun_plan`` with ``await guard.acheck_many`` and
awaited calls: the way httpx drives its auth flows. An error raised by a step is thrown back
into the plan, so its ``try``/``finally`` blocks run as in straight-line code.

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

if TYPE_CHECKING:
    from llamashield._guard import LlamaGuard

__all__ = ["Call", "Judge", "JudgeConversation", "Plan", "arun_plan", "run_plan"]

R = TypeVar("R")


@dataclass(frozen=True)
class Judge:
    """Judge these conversations (concurrently); the plan receives ``list[Verdict]``."""

    conversations: Sequence[Any]


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
        return guard.check_many(list(step.conversations)) if step.conversations else []
    if isinstance(step, JudgeConversation):
        return guard.check_conversation(step.conversation, trusted=step.trusted)
    return step.sync(*step.args, **step.kwargs)


async def _aperform(step: Step, guard: LlamaGuard) -> Any:
    if isinstance(step, Judge):
        conversations = list(step.conversations)
        return await guard.acheck_many(conversations) if conversations else []
    if isinstance(step, JudgeConversation):
        return await guard.acheck_conversation(step.conversation, trusted=step.trusted)
    result = (step.async_ or step.sync)(*step.args, **step.kwargs)
    return await result if inspect.isawaitable(result) else result


def run_plan(plan: Plan[R], guard: LlamaGuard) -> R:
    """Drive ``plan`` with sync I/O."""
    stepper = _Stepper(plan)
    while (step := stepper.next()) is not None:
        try:
            stepper.result = _perform(step, guard)
        except BaseException as exc:  # thrown into the plan: its finally blocks run
            stepper.error = exc
    return stepper.value  # type: ignore[no-any-return]


async def arun_plan(plan: Plan[R], guard: LlamaGuard) -> R:
    """Drive ``plan`` with async I/O (the guard's ``acheck_many``, the async calls)."""
    stepper = _Stepper(plan)
    while (step := stepper.next()) is not None:
        try:
            stepper.result = await _aperform(step, guard)
        except BaseException as exc:
            stepper.error = exc
    return stepper.value  # type: ignore[no-any-return]
