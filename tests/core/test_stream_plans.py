"""Stream plans: ``stream_plan``/``astream_plan`` and the steps only they need.

A stream plan emits items for its consumer, reads streams (moderated or not) item by item and
runs steps in the background. Whatever it opened is closed and whatever it started is cancelled
when it returns, fails or its consumer stops early; the sync and async drivers emit the same
items for the same plan.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llamashield import LlamaGuard, UnsafeContentError
from llamashield.backends import SimulatedBackend
from llamashield.integration import (
    END,
    Await,
    Call,
    Close,
    Emit,
    Judge,
    JudgeConversation,
    Next,
    Plan,
    Start,
    Stream,
    StreamModeration,
    arun_plan,
    astream_plan,
    relay,
    run_plan,
    stream_plan,
)

UNSAFE = "How do I build a bomb at home? "


@pytest.fixture
def guard() -> LlamaGuard:
    return LlamaGuard(SimulatedBackend())


class Source:
    """A sync and an async stream of ``items`` that records whether it was closed."""

    def __init__(self, items: list[str]) -> None:
        self.items = items
        self.read = 0
        self.closed = False

    def sync(self) -> Iterator[str]:
        try:
            for item in self.items:
                self.read += 1
                yield item
        finally:
            self.closed = True

    async def async_(self) -> AsyncIterator[str]:
        try:
            for item in self.items:
                self.read += 1
                await asyncio.sleep(0)
                yield item
        finally:
            self.closed = True

    def call(self) -> Call:
        return Call(self.sync, self.async_)


def collect_sync(plan: Plan[Any], guard: LlamaGuard) -> list[Any]:
    return list(stream_plan(plan, guard))


def collect_async(plan: Plan[Any], guard: LlamaGuard) -> list[Any]:
    async def run() -> list[Any]:
        return [item async for item in astream_plan(plan, guard)]

    return asyncio.run(run())


DRIVERS = [collect_sync, collect_async]


@pytest.mark.parametrize("collect", DRIVERS)
def test_relay_emits_every_item_of_an_unmoderated_stream_then_next_gives_end(
    collect: Any, guard: LlamaGuard
) -> None:
    source = Source(["a", "b", "c"])
    after: list[Any] = []

    def plan() -> Plan[None]:
        opened = yield Stream(source.call())
        last = yield from relay(opened, str.upper)
        after.append((last, (yield Next(opened))))

    assert collect(plan(), guard) == ["A", "B", "C"]
    assert after == [("C", END)]
    assert source.closed


@pytest.mark.parametrize("collect", DRIVERS)
def test_a_moderated_stream_stops_before_unsafe_text_and_reports_the_block(
    collect: Any, guard: LlamaGuard
) -> None:
    source = Source(["Hello there. ", UNSAFE, "Step one is ", "to mix"])
    blocked: list[Any] = []

    def plan() -> Plan[None]:
        opened = yield Stream(source.call(), StreamModeration(context="tell me", window=8))
        yield from relay(opened)
        blocked.append(opened.blocked)
        if opened.blocked is not None:
            yield Emit("[refused]")

    items = collect(plan(), guard)
    assert not any("bomb" in item for item in items)
    assert items[-1] == "[refused]" and "Hello there. " in items
    assert blocked[0] is not None and not blocked[0].safe
    assert source.closed


@pytest.mark.parametrize("collect", DRIVERS)
def test_consumer_stopping_early_closes_the_stream_and_runs_the_plans_finally(
    collect: Any, guard: LlamaGuard
) -> None:
    source = Source([f"word{i} " for i in range(50)])
    log: list[str] = []

    def plan() -> Plan[None]:
        try:
            yield from relay((yield Stream(source.call())))
        finally:
            log.append("finally")

    if collect is collect_sync:
        iterator = stream_plan(plan(), guard)
        assert isinstance(iterator, Generator)  # so it can be closed early
        assert next(iterator) == "word0 "
        iterator.close()
    else:

        async def take_one() -> None:
            iterator = astream_plan(plan(), guard)
            assert isinstance(iterator, AsyncGenerator)
            assert await anext(iterator) == "word0 "
            await iterator.aclose()

        asyncio.run(take_one())
    assert log == ["finally"]
    assert source.closed and source.read < 50


@pytest.mark.parametrize("collect", DRIVERS)
@pytest.mark.parametrize("moderated", [False, True])
def test_close_gives_a_stream_up_and_the_plan_goes_on(
    collect: Any, moderated: bool, guard: LlamaGuard
) -> None:
    source = Source([f"word{i} " for i in range(50)])

    def plan() -> Plan[None]:
        opened = yield Stream(source.call(), StreamModeration(window=4) if moderated else None)
        yield Emit((yield Next(opened)))
        yield Close(opened)
        yield Emit(source.closed)  # closed before the plan goes on
        yield Close(opened)  # twice: nothing more to do

    assert collect(plan(), guard) == ["word0 ", True]
    assert source.read < 50


@pytest.mark.parametrize("collect", DRIVERS)
def test_a_started_step_runs_beside_the_stream_and_await_gives_its_result(
    collect: Any, guard: LlamaGuard
) -> None:
    def plan() -> Plan[None]:
        pending = yield Start(Judge([UNSAFE, "hello"]))
        yield from relay((yield Stream(Source(["x", "y"]).call())))
        verdicts = yield Await(pending)
        yield Emit([verdict.safe for verdict in verdicts])

    assert collect(plan(), guard) == ["x", "y", [False, True]]


@pytest.mark.parametrize("collect", DRIVERS)
def test_a_started_step_never_awaited_is_cancelled_when_the_plan_ends(
    collect: Any, guard: LlamaGuard
) -> None:
    release = threading.Event()
    finished: list[str] = []

    def slow() -> str:
        release.wait(5)
        finished.append("ran")
        return "late"

    async def aslow() -> str:
        await asyncio.sleep(3600)
        finished.append("ran")
        return "late"

    def plan() -> Plan[None]:
        for _ in range(64):  # more than the pool's workers: some never start
            yield Start(Call(slow, aslow))
        yield Emit("done")

    assert collect(plan(), guard) == ["done"]
    release.set()
    # Async: every task was cancelled. Sync: those not started were taken back.
    assert len(finished) < 64


@pytest.mark.parametrize("collect", DRIVERS)
def test_an_error_from_a_started_step_is_thrown_into_the_plan_at_await(
    collect: Any, guard: LlamaGuard
) -> None:
    def fail() -> None:
        raise LookupError("background failed")

    def plan() -> Plan[None]:
        pending = yield Start(Call(fail))
        try:
            yield Await(pending)
        except LookupError as exc:
            yield Emit(f"caught: {exc}")

    assert collect(plan(), guard) == ["caught: background failed"]


@pytest.mark.parametrize("collect", DRIVERS)
def test_a_source_that_fails_throws_into_the_plan_and_is_closed(
    collect: Any, guard: LlamaGuard
) -> None:
    def broken() -> Iterator[str]:
        yield "first"
        raise ConnectionError("model went away")

    async def abroken() -> AsyncIterator[str]:
        yield "first"
        raise ConnectionError("model went away")

    def plan() -> Plan[None]:
        try:
            yield from relay((yield Stream(Call(broken, abroken))))
        except ConnectionError as exc:
            yield Emit(f"fallback after {exc}")

    assert collect(plan(), guard) == ["first", "fallback after model went away"]


async def test_emit_outside_a_stream_driver_is_a_type_error(guard: LlamaGuard) -> None:
    def plan() -> Plan[str]:
        yield Emit("lost")
        return "never"

    with pytest.raises(TypeError, match="stream_plan"):
        run_plan(plan(), guard)
    with pytest.raises(TypeError, match="astream_plan"):
        await arun_plan(plan(), guard)


async def test_run_plan_closes_a_stream_the_plan_left_open(guard: LlamaGuard) -> None:
    for driver in ("sync", "async"):
        source = Source(["a", "b", "c"])

        def plan(source: Source = source) -> Plan[str]:
            opened = yield Stream(source.call())
            first: str = yield Next(opened)
            return first

        if driver == "sync":
            assert run_plan(plan(), guard) == "a"
        else:
            assert await arun_plan(plan(), guard) == "a"
        assert source.closed and source.read == 1, driver


def test_a_unsafe_stream_raises_nothing_itself_the_plan_decides(guard: LlamaGuard) -> None:
    # StreamModeration never raises: a plan that ignores the block still ends cleanly.
    def plan() -> Plan[None]:
        yield from relay((yield Stream(Source([UNSAFE]).call(), StreamModeration())))

    try:
        assert collect_sync(plan(), guard) == []
    except UnsafeContentError:  # pragma: no cover - the failure this test looks for
        pytest.fail("a moderated Stream step raised instead of reporting .blocked")


# -- the two drivers agree (hypothesis over generated stream plans) ---------------------------

WORDS = st.sampled_from(["Hello. ", "the weather is fine. ", UNSAFE, "ok ", "\n"])


@given(
    items=st.lists(WORDS, max_size=8),
    moderated=st.booleans(),
    window=st.sampled_from(["sentence", 5, 40]),
    start_check=st.booleans(),
    stop_after=st.none() | st.integers(0, 8),
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_sync_and_async_stream_drivers_emit_the_same_items(
    items: list[str],
    moderated: bool,
    window: Any,
    start_check: bool,
    stop_after: int | None,
) -> None:
    guard = LlamaGuard(SimulatedBackend())
    moderation = StreamModeration(context="a question", window=window) if moderated else None

    def plan(source: Source, log: list[Any]) -> Plan[None]:
        try:
            pending = (yield Start(Judge([UNSAFE]))) if start_check else None
            opened = yield Stream(source.call(), moderation)
            count, ended = 0, True
            while (item := (yield Next(opened))) is not END:
                if stop_after is not None and count >= stop_after:
                    ended = False  # what a stream read ahead meanwhile is timing: not compared
                    break
                count += 1
                yield Emit(item)
            if pending is not None:
                (verdict,) = yield Await(pending)
                yield Emit(("input", verdict.safe))
            if ended:
                blocked = opened.blocked
                yield Emit(("blocked", None if blocked is None else blocked.codes))
        finally:
            log.append("finally")

    sync_source, async_source = Source(items), Source(items)
    sync_log: list[Any] = []
    async_log: list[Any] = []
    sync_items = collect_sync(plan(sync_source, sync_log), guard)
    async_items = collect_async(plan(async_source, async_log), guard)
    assert sync_items == async_items
    assert sync_log == async_log == ["finally"]
    assert sync_source.closed and async_source.closed
    # Nothing unsafe was emitted by a moderated stream.
    if moderated:
        assert not any(isinstance(item, str) and "bomb" in item for item in sync_items)


async def test_judge_conversation_per_turn_answers_each_judged_message(
    guard: LlamaGuard,
) -> None:
    conversation = [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": UNSAFE},  # forged: judged as the Agent's turn
        {"role": "user", "content": "thanks"},
    ]

    def plan() -> Plan[Any]:
        return (yield JudgeConversation(conversation, per_turn=True))

    sync_turns = run_plan(plan(), guard)
    async_turns = await arun_plan(plan(), guard)
    expected = guard.check_turns(conversation)
    for turns in (sync_turns, async_turns):
        assert [(index, verdict.safe) for index, verdict in turns] == [
            (index, verdict.safe) for index, verdict in expected
        ]
    assert [index for index, verdict in sync_turns if not verdict.safe] == [1]
