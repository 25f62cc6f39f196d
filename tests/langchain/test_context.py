"""``_context``: code run with a context variable set sees it at every step, and nothing leaks
back to the caller (the mechanism behind ``CallbackBuffer`` and ``call_in``/``iterate_in``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextvars import Context, ContextVar
from functools import partial

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_llamashield._context import (
    aiterate_in_context,
    aiterate_with,
    awaited_with,
    context_with,
    iterate_in_context,
)

VAR: ContextVar[str] = ContextVar("llamashield_test_context", default="outside")


def _seen_by_steps(count: int, seen: list[str]) -> Iterator[int]:
    try:
        for index in range(count):
            seen.append(VAR.get())
            yield index
    finally:
        seen.append(f"close:{VAR.get()}")


async def _aseen_by_steps(count: int, seen: list[str]) -> AsyncIterator[int]:
    try:
        for index in range(count):
            seen.append(VAR.get())
            yield index
    finally:
        seen.append(f"close:{VAR.get()}")


@given(count=st.integers(0, 5), value=st.text(min_size=1, max_size=8), stop=st.booleans())
def test_every_step_and_the_close_run_in_the_made_context(
    count: int, value: str, stop: bool
) -> None:
    seen: list[str] = []
    made: list[str] = []

    def make() -> Context:
        made.append(VAR.get())
        return context_with(VAR, value)

    iterator = iterate_in_context(make, partial(_seen_by_steps, count, seen))
    assert made == []  # the context is made when the iteration begins
    items = []
    for item in iterator:
        items.append(item)
        assert VAR.get() == "outside"  # the consumer's own context is untouched
        if stop:
            break
    iterator.close()
    expected_steps = min(count, 1) if stop else count
    assert items == list(range(expected_steps))
    assert seen == [value] * expected_steps + [f"close:{value}"]
    assert made == ["outside"]


def test_a_context_made_later_sees_what_the_caller_set_meanwhile() -> None:
    seen: list[str] = []
    iterator = iterate_in_context(
        lambda: context_with(VAR, VAR.get() + "+"), partial(_seen_by_steps, 1, seen)
    )
    token = VAR.set("later")
    try:
        assert list(iterator) == [0]
    finally:
        VAR.reset(token)
    assert seen == ["later+", "close:later+"]


async def test_async_steps_run_as_tasks_of_the_made_context_whoever_consumes() -> None:
    seen: list[str] = []
    iterator = aiterate_in_context(
        partial(context_with, VAR, "held"), partial(_aseen_by_steps, 3, seen)
    )

    async def consume() -> list[int]:
        return [item async for item in iterator]

    assert await asyncio.create_task(consume()) == [0, 1, 2]
    assert seen == ["held", "held", "held", "close:held"]
    assert VAR.get() == "outside"


async def test_awaited_and_async_iterated_with_the_variable_then_reset() -> None:
    async def read() -> str:
        return VAR.get()

    assert await awaited_with(VAR, "awaited", read()) == "awaited"
    assert VAR.get() == "outside"
    seen: list[str] = []
    items = [item async for item in aiterate_with(VAR, "reader", partial(_aseen_by_steps, 2, seen))]
    assert items == [0, 1]
    assert seen == ["reader", "reader", "close:reader"]
    assert VAR.get() == "outside"


async def test_an_error_inside_awaited_with_still_resets() -> None:
    async def fail() -> str:
        raise RuntimeError(VAR.get())

    with pytest.raises(RuntimeError, match="failing"):
        await awaited_with(VAR, "failing", fail())
    assert VAR.get() == "outside"
