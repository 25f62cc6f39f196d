"""Running code with a context variable set: the one mechanism behind ``CallbackBuffer``
(its buffer is a context variable) and ``call_in``/``iterate_in`` (LangChain's ambient
config is one).

Sync code runs in a copy of the caller's context with the variable set, so nothing leaks back
to the caller. Async code sets the variable in the running task's context for as long as it
runs (the tasks it starts copy it) and resets it after, which is why an awaitable or an
iterator is made for this and consumed here, not shared.

Example::

    context_with(var_child_runnable_config, config).run(model.invoke, value)
    ambient = partial(context_with, var_child_runnable_config, config)
    for chunk in iterate_in_context(ambient, lambda: model.stream(value)): ...
    await awaited_with(var_child_runnable_config, config, model.ainvoke(value))
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterator
from contextvars import Context, ContextVar, copy_context
from typing import TypeVar, cast

__all__ = [
    "aiterate_in_context",
    "aiterate_with",
    "awaited_with",
    "context_with",
    "iterate_in_context",
]

T = TypeVar("T")
V = TypeVar("V")

_END = object()  # what ``next``/``anext`` answer once the iterator is done


def context_with(var: ContextVar[V], value: V) -> Context:
    """A copy of the current context with ``var`` set to ``value``."""
    context = copy_context()
    context.run(var.set, value)
    return context


def iterate_in_context(
    make_context: Callable[[], Context], start: Callable[[], Iterator[T]]
) -> Generator[T, None, None]:
    """Iterate ``start()``, every step (and the close) run in the context ``make_context()``
    makes when the iteration begins (not when this iterator is made)."""
    context = make_context()
    iterator = context.run(start)
    try:
        while (item := context.run(next, iterator, _END)) is not _END:
            yield cast(T, item)
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            context.run(close)


async def aiterate_in_context(
    make_context: Callable[[], Context], start: Callable[[], AsyncIterator[T]]
) -> AsyncGenerator[T, None]:
    """Iterate ``start()``, every step (and the close) a task run in the context
    ``make_context()`` makes when the iteration begins, whichever task consumes this."""
    context = make_context()
    iterator = context.run(start)

    async def step(awaitable: Awaitable[object]) -> object:
        return await awaitable

    try:
        while (
            item := await asyncio.create_task(step(anext(iterator, _END)), context=context)
        ) is not _END:
            yield cast(T, item)
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await asyncio.create_task(step(aclose()), context=context)


async def awaited_with(var: ContextVar[V], value: V, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` (made for this) with ``var`` set to ``value`` in this task."""
    token = var.set(value)
    try:
        return await awaitable
    finally:
        var.reset(token)


async def aiterate_with(
    var: ContextVar[V], value: V, start: Callable[[], AsyncIterator[T]]
) -> AsyncGenerator[T, None]:
    """Iterate ``start()`` with ``var`` set to ``value`` in the consuming task's context for
    as long as the iteration lasts: for a consumer that runs in a task of its own (a
    moderated stream's reader)."""
    token = var.set(value)
    iterator = start()
    try:
        async for item in iterator:
            yield item
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
        with contextlib.suppress(ValueError):  # finalised from another context: nothing to undo
            var.reset(token)
