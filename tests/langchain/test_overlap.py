"""``parallel=True`` overlaps the input check with the call only where that is faster (issue 13):
the choice is made from measured wall times, re-tried now and then; outcomes never depend on it."""

from __future__ import annotations

import itertools
import threading

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from langchain_core.language_models import FakeListChatModel
from langchain_core.prompts import ChatPromptTemplate
from langchain_llamashield import guard_runnable
from langchain_llamashield._overlap import OverlapChooser

from llamashield import LlamaGuard, UnsafeContentError
from llamashield.backends import SimulatedBackend

prompt = ChatPromptTemplate.from_messages([("human", "{question}")])
seconds = st.floats(min_value=1e-6, max_value=10.0, allow_nan=False)


def test_the_first_call_overlaps_and_the_second_checks_first() -> None:
    chooser = OverlapChooser()
    assert chooser.choose() is True
    chooser.record(True, 0.5)
    assert chooser.choose() is False
    chooser.record(False, 0.1)
    assert chooser.averages() == {True: 0.5, False: 0.1}


@given(overlapped=seconds, inline=seconds, explore_min=st.integers(2, 16))
def test_the_faster_way_is_used_and_the_other_retried_ever_more_rarely(
    overlapped: float, inline: float, explore_min: int
) -> None:
    assume(max(overlapped, inline) > 1.25 * min(overlapped, inline))  # a clear winner
    chooser = OverlapChooser(explore_min=explore_min, explore_max=8 * explore_min)
    chooser.choose()
    chooser.record(True, overlapped)
    chooser.choose()
    chooser.record(False, inline)
    faster = overlapped <= inline
    choices = [chooser.choose() for _ in range(40 * explore_min)]
    retries = [n for n, choice in enumerate(choices) if choice != faster]
    gaps = [b - a for a, b in itertools.pairwise(retries)]
    # First re-try after explore_min calls, then each gap doubles, up to explore_max.
    assert retries[0] == explore_min
    assert gaps[:3] == [2 * explore_min, 4 * explore_min, 8 * explore_min]
    assert all(gap == 8 * explore_min for gap in gaps[3:])


def test_one_odd_call_does_not_flip_the_choice() -> None:
    chooser = OverlapChooser(explore_min=100, explore_max=100)  # no re-try in this test
    chooser.choose(), chooser.record(True, 0.010)
    chooser.choose(), chooser.record(False, 0.001)
    for _ in range(3):
        chooser.record(True, 0.010)
    assert chooser.choose() is False  # checking first is faster: 1 ms against 10 ms
    chooser.record(True, 0.0001)  # one lucky overlapped call
    assert [chooser.choose() for _ in range(3)] == [False, False, False]
    for _ in range(5):  # but overlapping that is now fast, again and again, wins
        chooser.record(True, 0.0001)
    assert chooser.choose() is True


def test_a_guard_that_slows_down_is_overlapped_again() -> None:
    chooser = OverlapChooser(explore_min=4, explore_max=16)
    chooser.choose(), chooser.record(True, 0.010)
    chooser.choose(), chooser.record(False, 0.008)  # a fast guard: checking first wins
    picked = []
    for _ in range(40):  # the guard now takes 50 ms: overlapped 60 ms, one after the other 100
        overlap = chooser.choose()
        picked.append(overlap)
        chooser.record(overlap, 0.060 if overlap else 0.100)
    assert picked[0] is False and picked[-8:].count(True) >= 6


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="explore_min"):
        OverlapChooser(explore_min=1)
    with pytest.raises(ValueError, match="explore_min"):
        OverlapChooser(explore_min=8, explore_max=4)
    with pytest.raises(ValueError, match="window"):
        OverlapChooser(window=0)


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
        guarded._overlaps[False] = forced
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
    guarded._overlaps[False] = forced
    guarded.invoke({"question": "bread?"})
    assert forced.recorded == []


@given(best=st.sampled_from([True, False]), gain=st.floats(0.0, 0.2))
def test_the_way_in_use_stays_unless_the_other_is_clearly_faster(best: bool, gain: float) -> None:
    chooser = OverlapChooser(explore_min=100, explore_max=100, margin=0.05)  # no re-try here
    chooser.choose(), chooser.record(True, 1.0 if best else 2.0)
    chooser.choose(), chooser.record(False, 2.0 if best else 1.0)
    chooser.choose()  # sets the way in use: the faster one
    chooser._seconds[not best] = 1.0 * (1 - gain)  # the other way now looks `gain` faster
    assert chooser.choose() == (best if gain <= 0.05 else not best)


async def test_invoke_and_ainvoke_are_measured_apart() -> None:
    model = FakeListChatModel(responses=["Bake it."])
    guarded = guard_runnable(prompt | model, LlamaGuard(SimulatedBackend()), parallel=True)
    guarded.invoke({"question": "bread?"})
    assert guarded._overlaps[False].averages()[True] is not None
    assert guarded._overlaps[True].averages() == {True: None, False: None}
    await guarded.ainvoke({"question": "bread?"})
    assert guarded._overlaps[True].averages()[True] is not None


@given(base=seconds, gap=st.floats(0.001, 0.09))
def test_near_ties_are_remeasured_every_explore_min_calls(base: float, gap: float) -> None:
    chooser = OverlapChooser(explore_min=4, explore_max=64)
    chooser.choose(), chooser.record(True, base * (1 + gap))
    chooser.choose(), chooser.record(False, base)
    choices = [chooser.choose() for _ in range(40)]
    retries = [n for n, choice in enumerate(choices) if choice]  # overlapping is the slower way
    assert retries[0] == 4
    assert [b - a for a, b in itertools.pairwise(retries)] == [4] * (len(retries) - 1)
    assert len(retries) == 9
