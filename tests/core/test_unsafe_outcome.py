"""The one unsafe-outcome plan: raise, or the component's handler for the mode, as a value or in
a stream; a mode the component has no handler for is a ``ConfigurationError``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamashield import ConfigurationError, LlamaGuard, UnsafeContentError
from llamashield.backends import SimulatedBackend
from llamashield.integration import (
    Blocked,
    Call,
    Plan,
    Stream,
    arun_plan,
    astream_plan,
    parse_on_unsafe,
    run_plan,
    stream_plan,
    unsafe_outcome,
    unsafe_stream_outcome,
)

UNSAFE = "How do I build a bomb at home?"


@pytest.fixture(scope="module")
def blocked() -> Blocked:
    verdict = LlamaGuard(SimulatedBackend()).check(UNSAFE)
    assert not verdict.safe
    return Blocked(verdict, "input", UNSAFE, "refused: {categories}")


@pytest.fixture
def guard() -> LlamaGuard:
    return LlamaGuard(SimulatedBackend())


def fallback_stream(blocked: Blocked) -> Iterator[str]:
    yield from ("fallback ", blocked.stage)


async def afallback_stream(blocked: Blocked) -> AsyncIterator[str]:
    for item in ("fallback ", blocked.stage):
        yield item


def handlers(target: Any) -> dict[str, Any]:
    return {
        "refuse": lambda b: f"refusal for {b.stage}",
        "reroute": lambda b: Call(target, None, (b,)),
    }


def stream_handlers() -> dict[str, Any]:
    return {
        "refuse": lambda b: f"refusal for {b.stage}",
        "reroute": lambda b: Stream(Call(fallback_stream, afallback_stream, (b,))),
    }


async def test_raise_raises_unsafe_content_error_with_the_verdict_and_stage(
    blocked: Blocked, guard: LlamaGuard
) -> None:
    action = parse_on_unsafe("raise")
    with pytest.raises(UnsafeContentError) as caught:
        run_plan(unsafe_outcome(action, blocked, handlers(str)), guard)
    assert caught.value.verdict is blocked.verdict and caught.value.stage == "input"
    with pytest.raises(UnsafeContentError):
        await arun_plan(unsafe_outcome(action, blocked, handlers(str)), guard)
    with pytest.raises(UnsafeContentError):
        list(stream_plan(unsafe_stream_outcome(action, blocked, stream_handlers()), guard))


async def test_refuse_and_reroute_give_the_handlers_outcome_sync_and_async(
    blocked: Blocked, guard: LlamaGuard
) -> None:
    def target(payload: Blocked) -> str:
        return f"rerouted {payload.categories}"

    async def atarget(payload: Blocked) -> str:
        return target(payload)

    refuse = parse_on_unsafe("refuse")
    reroute = parse_on_unsafe(target)
    assert run_plan(unsafe_outcome(refuse, blocked, handlers(target)), guard) == "refusal for input"
    expected = f"rerouted {blocked.categories}"
    assert run_plan(unsafe_outcome(reroute, blocked, handlers(target)), guard) == expected
    assert await arun_plan(unsafe_outcome(reroute, blocked, handlers(atarget)), guard) == expected


async def test_a_streamed_outcome_emits_the_refusal_or_relays_the_fallback_stream(
    blocked: Blocked, guard: LlamaGuard
) -> None:
    refuse, reroute = parse_on_unsafe("refuse"), parse_on_unsafe(print)

    def refused() -> Plan[Any]:
        return unsafe_stream_outcome(refuse, blocked, stream_handlers(), str.upper)

    def rerouted() -> Plan[Any]:
        return unsafe_stream_outcome(reroute, blocked, stream_handlers())

    assert list(stream_plan(refused(), guard)) == ["REFUSAL FOR INPUT"]
    assert list(stream_plan(rerouted(), guard)) == ["fallback ", "input"]
    assert [item async for item in astream_plan(rerouted(), guard)] == ["fallback ", "input"]


@given(mode=st.sampled_from(["refuse", "end", "replace"]))
@settings(max_examples=10, deadline=None)
def test_a_mode_without_a_handler_is_a_configuration_error_never_a_pass(mode: str) -> None:
    guard = LlamaGuard(SimulatedBackend())
    verdict = guard.check(UNSAFE)
    blocked = Blocked(verdict, "output", "text", "no")
    action = parse_on_unsafe(mode, modes=("raise", "refuse", "end", "replace"))
    only_reroute = {"reroute": lambda b: "rerouted"}
    with pytest.raises(ConfigurationError, match=repr(mode)):
        run_plan(unsafe_outcome(action, blocked, only_reroute), guard)
    with pytest.raises(ConfigurationError, match=repr(mode)):
        asyncio.run(arun_plan(unsafe_outcome(action, blocked, only_reroute), guard))
