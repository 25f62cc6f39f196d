"""``parallel=True`` overlaps the input check with the call only where that is faster (issue 13):
the choice is made from measured wall times, re-tried now and then; outcomes never depend on it."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.language_models import FakeListChatModel
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_llamashield import guard_runnable
from langchain_llamashield._overlap import OverlapChooser

from llamashield import LlamaGuard, UnsafeContentError
from llamashield.backends import SimulatedBackend

prompt = ChatPromptTemplate.from_messages([("human", "{question}")])
seconds = st.floats(min_value=1e-6, max_value=10.0, allow_nan=False)


def _drive(chooser: OverlapChooser, timing: Callable[[bool], float], calls: int) -> list[bool]:
    """Choose and record ``calls`` times; ``timing(way)`` is how long a call takes that way."""
    ways = []
    for _ in range(calls):
        way = chooser.choose()
        chooser.record(way, timing(way))
        ways.append(way)
    return ways


def test_it_starts_with_three_overlapped_calls_then_three_checked_first() -> None:
    chooser = OverlapChooser()
    assert _drive(chooser, lambda way: 0.005 if way else 0.002, 6) == [True] * 3 + [False] * 3
    assert chooser.averages() == {True: 0.005, False: 0.002}


def test_concurrent_calls_whose_timings_are_not_in_yet_overlap_as_asked() -> None:
    chooser = OverlapChooser()
    ways = [chooser.choose() for _ in range(40)]  # 40 calls at once: nothing recorded yet
    assert ways == [True] * 3 + [False] * 3 + [True] * 34


def _retries(ways: list[bool], faster: bool) -> list[int]:
    """Where each re-try of the slower way starts."""
    return [n for n, way in enumerate(ways) if way != faster and (n == 0 or ways[n - 1] == faster)]


@given(
    base=seconds,
    ratio=st.floats(1.12, 1.19),
    overlap_faster=st.booleans(),
    explore_min=st.integers(2, 16),
)
def test_the_slower_way_is_retried_three_calls_at_a_time_ever_more_rarely(
    base: float, ratio: float, overlap_faster: bool, explore_min: int
) -> None:
    # A clear winner (overlapping must be 10% faster to be taken), a gap under 20%.
    overlapped, inline = (base, base * ratio) if overlap_faster else (base * ratio, base)
    chooser = OverlapChooser(explore_min=explore_min, explore_max=8 * explore_min)
    _drive(chooser, lambda way: overlapped if way else inline, 6)  # the start
    faster = overlapped < inline
    ways = _drive(chooser, lambda way: overlapped if way else inline, 60 * explore_min)
    starts = _retries(ways, faster)
    # Each re-try is 3 calls long; the waits between them double up to explore_max (for a gap
    # between 5% and 20%).
    assert all(ways[n : n + 3] == [not faster] * 3 for n in starts if n + 3 <= len(ways))
    before_last = ways[: starts[-1]]  # the last re-try may be cut short by the end
    assert sum(1 for way in before_last if way != faster) == 3 * (len(starts) - 1)
    waits = [b - a - 3 for a, b in itertools.pairwise(starts)]
    assert starts[0] == explore_min
    assert waits[:3] == [2 * explore_min, 4 * explore_min, 8 * explore_min]
    assert all(wait == 8 * explore_min for wait in waits[3:])


@given(base=seconds, gap=st.floats(0.001, 0.045))
def test_near_ties_are_retried_every_explore_min_calls(base: float, gap: float) -> None:
    chooser = OverlapChooser(explore_min=4, explore_max=64)
    timing: Callable[[bool], float] = lambda way: base * (1 + gap) if way else base  # noqa: E731
    _drive(chooser, timing, 6)
    ways = _drive(chooser, timing, 60)
    starts = _retries(ways, faster=False)
    assert starts[0] == 4
    assert [b - a - 3 for a, b in itertools.pairwise(starts)] == [4] * (len(starts) - 1)


def test_a_noisy_moment_cannot_lock_the_slower_way_in() -> None:
    chooser = OverlapChooser(explore_min=4, explore_max=64)
    normal: Callable[[bool], float] = lambda way: 0.005 if way else 0.002  # noqa: E731
    _drive(chooser, normal, 100)  # checking first wins, re-tries have thinned out
    # A hiccup that hits the calls checked first only: overlapping now looks 10x faster.
    noisy = _drive(chooser, lambda way: 0.005 if way else 0.050, 30)
    assert noisy[-10:].count(True) >= 7  # it took overlapping...
    after = _drive(chooser, normal, 120)
    # ...but the next re-try of checking first (its hiccup timings dropped) wins it back, and
    # keeps it (but for the re-tries of overlapping, ever rarer).
    first = after.index(False)
    assert first <= 64 + 3  # the hiccup's 10x gap had stretched the wait between re-tries
    assert after[first : first + 3] == [False] * 3
    assert after[-40:].count(False) >= 37


def test_a_guard_that_slows_down_is_overlapped_again() -> None:
    chooser = OverlapChooser(explore_min=4, explore_max=16)
    _drive(chooser, lambda way: 0.010 if way else 0.008, 40)  # a fast guard: check first
    # The guard now takes 50 ms: overlapped 60 ms, one after the other 100 ms.
    ways = _drive(chooser, lambda way: 0.060 if way else 0.100, 60)
    assert ways[-20:].count(True) >= 15


@given(gain=st.sampled_from([-0.3, -0.1, -0.01, 0.0, 0.01, 0.05, 0.1, 0.11, 0.3]))
def test_overlapping_must_be_clearly_faster_to_be_taken_and_faster_to_be_kept(gain: float) -> None:
    # Checking first in use; overlapping looks `gain` faster (negative: slower).
    chooser = OverlapChooser(explore_min=100, explore_max=100, margin=0.10)  # no re-try here
    _drive(chooser, lambda way: 2.0 if way else 1.0, 7)  # the start: checking first wins
    for _ in range(5):
        chooser.record(True, 1.0 * (1 - gain))
    assert chooser.choose() == (gain > 0.10)
    # Overlapping in use; checking first looks `gain` faster.
    chooser = OverlapChooser(explore_min=100, explore_max=100, margin=0.10)
    _drive(chooser, lambda way: 1.0 if way else 2.0, 7)  # the start: overlapping wins
    for _ in range(5):
        chooser.record(False, 1.0 * (1 - gain))
    assert chooser.choose() == (gain < 0.0)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="explore_min"):
        OverlapChooser(explore_min=1)
    with pytest.raises(ValueError, match="explore_min"):
        OverlapChooser(explore_min=8, explore_max=4)
    with pytest.raises(ValueError, match="burst"):
        OverlapChooser(burst=6, window=5)


def test_threads_choosing_and_recording_at_once_keep_the_counts() -> None:
    chooser = OverlapChooser(explore_min=2, explore_max=4)

    def work() -> None:
        for i in range(200):
            chooser.record(chooser.choose(), 0.001 * (i % 3 + 1))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert chooser._calls == 1600
    assert all(v is not None and 0.001 <= v <= 0.003 for v in chooser.averages().values())


class _Forced(OverlapChooser):
    def __init__(self, overlap: bool) -> None:
        super().__init__()
        self.overlap = overlap
        self.recorded: list[bool] = []

    def choose(self) -> bool:
        return self.overlap

    def record(self, overlapped: bool, seconds: float) -> None:
        self.recorded.append(overlapped)


@given(
    question=st.sampled_from(["bread?", "How do I build a bomb?", "a poem about rain"]),
    answer=st.sampled_from(["Bake it.", "Use explosives.", "Rain falls."]),
)
def test_both_ways_give_the_same_outcome_and_only_finished_calls_are_timed(
    question: str, answer: str
) -> None:
    guard = LlamaGuard(SimulatedBackend())
    outcomes = []
    for overlap in (True, False):
        guarded = guard_runnable(
            prompt | FakeListChatModel(responses=[answer]), guard, parallel=True
        )
        forced = _Forced(overlap)
        guarded._overlap = forced
        try:
            outcomes.append(("returned", guarded.invoke({"question": question}).content))
        except UnsafeContentError as exc:
            outcomes.append(("unsafe", exc.stage))
        input_unsafe = outcomes[-1] == ("unsafe", "input")
        assert forced.recorded == ([] if input_unsafe else [overlap])
    assert outcomes[0] == outcomes[1]


def test_sequential_mode_measures_nothing() -> None:
    guarded = guard_runnable(
        prompt | FakeListChatModel(responses=["Bake it."]), LlamaGuard(SimulatedBackend())
    )
    forced = _Forced(True)
    guarded._overlap = forced
    guarded.invoke({"question": "bread?"})
    assert forced.recorded == []


async def test_invoke_is_measured_and_ainvoke_always_overlaps() -> None:
    model = FakeListChatModel(responses=["Bake it."])
    guarded = guard_runnable(prompt | model, LlamaGuard(SimulatedBackend()), parallel=True)
    forced = _Forced(False)
    guarded._overlap = forced
    await guarded.ainvoke({"question": "bread?"})
    assert forced.recorded == []  # not asked, not timed
    guarded.invoke({"question": "bread?"})
    assert forced.recorded == [False]


async def test_ainvoke_overlaps_the_check_with_the_call() -> None:
    started = asyncio.Event()

    class Waiting(SimulatedBackend):
        async def acomplete(self, request: Any, *, timeout: float) -> Any:
            await started.wait()  # answers only once the wrapped call has begun
            return await super().acomplete(request, timeout=timeout)

    async def call(value: Any) -> str:
        started.set()
        return "Bake it."

    guarded = guard_runnable(RunnableLambda(call), LlamaGuard(Waiting()), parallel=True)
    assert await asyncio.wait_for(guarded.ainvoke("bread?"), 10) == "Bake it."
