"""Sans-I/O plans: each guarded behaviour written once, driven by a sync and an async driver.

A plan is a generator that yields steps and receives their results; it decides everything else
(what to judge, what an unsafe verdict does) without doing I/O itself. The drivers perform the
steps, the way httpx drives its auth flows: ``run_plan`` and ``stream_plan`` with blocking
calls and threads, ``arun_plan`` and ``astream_plan`` with awaits and tasks. An error raised by
a step is thrown back into the plan, so its ``try``/``finally`` blocks run as in straight-line
code.

Steps (``_steps.py``): ``Judge`` and ``JudgeConversation`` (the guard), ``Call`` (the wrapped
component), ``Start``/``Await`` (a step in the background, then its result), ``Stream``/``Next``
(open a stream, moderated or not, then read it item by item), ``Close`` (give a stream up before
the plan ends) and ``Emit`` (hand an item to the
consumer: stream plans only). ``run_plan``/``arun_plan`` return the plan's value;
``stream_plan``/``astream_plan`` are iterators of what it emits. Whatever a plan opened or
started (streams, background steps) is closed or cancelled when it ends, fails or the consumer
stops iterating.

With OpenTelemetry (``llamashield[otel]``), each plan driven by ``run_plan``/``arun_plan`` is
one span named after the component whose plan it is (``llamashield GuardedQueryEngine``), opened
in the caller's context: the guard's check spans and the wrapped component's own spans are its
children. A ``Judge`` step's ``stage`` is recorded on its checks.

Example::

    def plan(question: str) -> Plan[str]:
        (verdict,) = yield Judge([question])
        if not verdict.safe:
            return "refused"
        return (yield Call(engine.query, engine.aquery, (question,)))

    answer = run_plan(plan("hi"), guard)            # sync
    answer = await arun_plan(plan("hi"), guard)     # async, same decisions

    def tokens(question: str) -> Plan[None]:
        source = yield Stream(Call(llm.stream, llm.astream, (question,)),
                              StreamModeration(context=question))
        yield from relay(source)                     # judged window by window
        if source.blocked is not None:
            yield Emit("[stopped]")

    for token in stream_plan(tokens("hi"), guard): ...
    async for token in astream_plan(tokens("hi"), guard): ...
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import os
import threading
from collections.abc import AsyncGenerator, Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from llamashield import _steps as steps
from llamashield import _telemetry
from llamashield._check_flow import Stepper as _Stepper
from llamashield._steps import END, Emit, Pending, Plan, Step, StreamSource

if TYPE_CHECKING:
    from llamashield._guard import LlamaGuard

__all__ = ["arun_plan", "astream_plan", "run_plan", "stream_plan"]

R = TypeVar("R")


def _not_emittable(step: Step) -> None:
    if isinstance(step, Emit):
        raise TypeError(
            "a plan driven by run_plan/arun_plan cannot Emit: drive it with stream_plan/"
            "astream_plan to hand items to a consumer"
        )


def _source(
    items: Any,
    step: steps.Stream,
    moderate: Callable[..., Any],
    guard: LlamaGuard,
    iterate: Callable[[Any], Any],
) -> StreamSource:
    """An opened stream, moderated window by window when the step asks (``moderate_stream`` or
    ``amoderate_stream``, the driver's)."""
    if step.moderation is None:
        return StreamSource(iterate(items))
    moderated = moderate(items, guard, **step.moderation.options())
    return StreamSource(iterate(moderated), moderated)


# -- sync ---------------------------------------------------------------------------------------

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    # One lazily made pool for every background step: a pool per call starts and joins a
    # thread each time, which costs more than a fast guard's answer.
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(thread_name_prefix="llamashield-plan")
    return _pool


def _forget_pool() -> None:
    # A forked child has none of the parent's threads: its copy of the pool would queue forever.
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


class _SyncResources:
    """What a sync plan opened or started, closed or cancelled when it ends."""

    def __init__(self, guard: LlamaGuard) -> None:
        self.guard = guard
        self.sources: list[StreamSource] = []
        self.pending: list[Pending] = []

    def perform(self, step: Step) -> Any:
        if isinstance(step, steps.Judge):
            if not step.conversations:
                return []
            with _telemetry.stage_scope(step.stage):
                return self.guard.check_many(list(step.conversations))
        if isinstance(step, steps.JudgeConversation):
            judge = self.guard.check_turns if step.per_turn else self.guard.check_conversation
            return judge(step.conversation, trusted=step.trusted)
        if isinstance(step, steps.Call):
            return step.sync(*step.args, **step.kwargs)
        if isinstance(step, steps.Stream):
            return self._open(step)
        if isinstance(step, steps.Next):
            return next(step.source.iterator, END)
        if isinstance(step, steps.Close):
            return self._close(step.source)
        if isinstance(step, steps.Start):
            inner = step.step
            run = contextvars.copy_context().run  # the caller's span is the step's parent
            pending = Pending(inner, _executor().submit(run, self.perform, inner))
            self.pending.append(pending)
            return pending
        if isinstance(step, steps.Await):
            return self._await(step.pending)
        _not_emittable(step)
        raise TypeError(f"not a plan step: {step!r}")

    def _open(self, step: steps.Stream) -> StreamSource:
        from llamashield.streaming import moderate_stream

        items = step.open.sync(*step.open.args, **step.open.kwargs)
        source = _source(items, step, moderate_stream, self.guard, iter)
        self.sources.append(source)
        return source

    def _await(self, pending: Pending) -> Any:
        future: Future[Any] = pending.handle
        self.pending.remove(pending)
        if future.cancel():  # never started (every worker busy): run it here, no waiting
            return self.perform(pending.step)
        return future.result()

    def _close(self, source: StreamSource) -> None:
        if source in self.sources:
            self.sources.remove(source)
            close = getattr(source.iterator, "close", None)
            if close is not None:
                close()  # stops the upstream generation

    def close(self) -> None:
        for pending in self.pending:
            pending.handle.cancel()  # nothing will read it
        while self.sources:  # the plan stopped early: the last opened first
            self._close(self.sources[-1])


def _driven(stepper: _Stepper, guard: LlamaGuard, *, emits: bool) -> Generator[Any, None, None]:
    """Perform a plan's steps with sync I/O; yield what it emits (only when ``emits``)."""
    resources = _SyncResources(guard)
    try:
        while (step := stepper.next()) is not None:
            if emits and isinstance(step, Emit):
                yield step.item
                continue
            try:
                stepper.result = resources.perform(step)
            except BaseException as exc:  # thrown into the plan: its finally blocks run
                stepper.error = exc
    finally:
        stepper.flow.close()  # the consumer stopped early: the plan's finally blocks run first
        resources.close()


def run_plan(plan: Plan[R], guard: LlamaGuard) -> R:
    """Drive ``plan`` with sync I/O; return its value."""
    stepper = _Stepper(plan)
    with _ComponentSpan(plan, guard):
        for _ in _driven(stepper, guard, emits=False):
            pass
    return stepper.value  # type: ignore[no-any-return]


def stream_plan(plan: Plan[Any], guard: LlamaGuard) -> Generator[Any, None, None]:
    """Drive ``plan`` with sync I/O; yield what it emits."""
    return _driven(_Stepper(plan), guard, emits=True)


# -- async --------------------------------------------------------------------------------------


class _AsyncResources:
    """What an async plan opened or started, closed or cancelled when it ends."""

    def __init__(self, guard: LlamaGuard) -> None:
        self.guard = guard
        self.sources: list[StreamSource] = []
        self.pending: list[Pending] = []

    async def perform(self, step: Step) -> Any:
        if isinstance(step, steps.Judge):
            conversations = list(step.conversations)
            if not conversations:
                return []
            with _telemetry.stage_scope(step.stage):
                return await self.guard.acheck_many(conversations)
        if isinstance(step, steps.JudgeConversation):
            ajudge = self.guard.acheck_turns if step.per_turn else self.guard.acheck_conversation
            return await ajudge(step.conversation, trusted=step.trusted)
        if isinstance(step, steps.Call):
            result = (step.async_ or step.sync)(*step.args, **step.kwargs)
            return await result if inspect.isawaitable(result) else result
        if isinstance(step, steps.Stream):
            return await self._open(step)
        if isinstance(step, steps.Next):
            return await anext(step.source.iterator, END)
        if isinstance(step, steps.Close):
            return await self._close(step.source)
        if isinstance(step, steps.Start):
            pending = Pending(step.step, asyncio.ensure_future(self.perform(step.step)))
            self.pending.append(pending)
            return pending
        if isinstance(step, steps.Await):
            self.pending.remove(step.pending)
            return await step.pending.handle
        _not_emittable(step)
        raise TypeError(f"not a plan step: {step!r}")

    async def _open(self, step: steps.Stream) -> StreamSource:
        from llamashield.streaming import amoderate_stream

        opened = (step.open.async_ or step.open.sync)(*step.open.args, **step.open.kwargs)
        items = await opened if inspect.isawaitable(opened) else opened
        source = _source(items, step, amoderate_stream, self.guard, aiter)
        self.sources.append(source)
        return source

    async def close(self) -> None:
        tasks = [pending.handle for pending in self.pending if not pending.handle.done()]
        for task in tasks:
            task.cancel()
        # return_exceptions: the tasks' own errors and cancellations are not ours to raise.
        await asyncio.gather(*tasks, return_exceptions=True)
        while self.sources:
            await self._close(self.sources[-1])

    async def _close(self, source: StreamSource) -> None:
        if source in self.sources:
            self.sources.remove(source)
            aclose = getattr(source.iterator, "aclose", None)
            if aclose is not None:
                await aclose()


async def _adriven(
    stepper: _Stepper, guard: LlamaGuard, *, emits: bool
) -> AsyncGenerator[Any, None]:
    """Perform a plan's steps with async I/O; yield what it emits (only when ``emits``)."""
    resources = _AsyncResources(guard)
    try:
        while (step := stepper.next()) is not None:
            if emits and isinstance(step, Emit):
                yield step.item
                continue
            try:
                stepper.result = await resources.perform(step)
            except BaseException as exc:
                stepper.error = exc
    finally:
        stepper.flow.close()
        await resources.close()


async def arun_plan(plan: Plan[R], guard: LlamaGuard) -> R:
    """Drive ``plan`` with async I/O (the guard's ``acheck_many``, the async calls)."""
    stepper = _Stepper(plan)
    with _ComponentSpan(plan, guard):
        async for _ in _adriven(stepper, guard, emits=False):
            pass
    return stepper.value  # type: ignore[no-any-return]


def astream_plan(plan: Plan[Any], guard: LlamaGuard) -> AsyncGenerator[Any, None]:
    """Drive ``plan`` with async I/O; yield what it emits."""
    return _adriven(_Stepper(plan), guard, emits=True)


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
