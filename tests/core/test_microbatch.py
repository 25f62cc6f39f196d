"""The micro-batcher behind the local backend: every caller gets its own outcome, batches stay
within their size, a failing batch fails only its callers, and callers who gave up are skipped.

Timeouts on ``result()`` only keep a broken batcher from hanging the suite; nothing is timed.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamashield.backends._microbatch import MicroBatcher

HANG = 30.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_batch_size": 0}, "max_batch_size must be an int >= 1"),
        ({"max_batch_size": "4"}, "max_batch_size must be an int >= 1"),
        ({"max_batch_size": 4, "max_wait": -0.1}, "max_wait must be >= 0"),
    ],
)
def test_settings_that_cannot_batch_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MicroBatcher(lambda xs: xs, **options)  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None)
@given(items=st.lists(st.integers(), max_size=40), size=st.integers(1, 8))
def test_every_caller_gets_its_own_outcome_and_no_batch_is_too_large(
    items: list[int], size: int
) -> None:
    sizes: list[int] = []

    def double(batch: list[int]) -> list[int]:
        sizes.append(len(batch))
        return [x * 2 for x in batch]

    batcher = MicroBatcher(double, max_batch_size=size, max_wait=0.001)
    try:
        futures = [batcher.submit(item) for item in items]
        assert [f.result(timeout=HANG) for f in futures] == [x * 2 for x in items]
    finally:
        batcher.close(timeout=HANG)
    assert sum(sizes) == len(items)
    assert all(1 <= n <= size for n in sizes)


def test_an_outcome_that_is_an_exception_fails_only_its_own_caller() -> None:
    def judge(batch: list[int]) -> list[int | BaseException]:
        return [ValueError(f"bad {x}") if x < 0 else x for x in batch]

    batcher = MicroBatcher(judge, max_batch_size=4)
    try:
        good, bad = batcher.submit(3), batcher.submit(-1)
        assert good.result(timeout=HANG) == 3
        with pytest.raises(ValueError, match="bad -1"):
            bad.result(timeout=HANG)
    finally:
        batcher.close(timeout=HANG)


def test_a_batch_that_raises_fails_its_callers_and_the_worker_lives_on() -> None:
    calls: list[list[int]] = []

    def flaky(batch: list[int]) -> list[int]:
        calls.append(batch)
        if len(calls) == 1:
            raise RuntimeError("the model ran out of memory")
        return batch

    batcher = MicroBatcher(flaky, max_batch_size=4)
    try:
        with pytest.raises(RuntimeError, match="out of memory"):
            batcher.submit(1).result(timeout=HANG)
        assert batcher.submit(2).result(timeout=HANG) == 2
    finally:
        batcher.close(timeout=HANG)


def test_a_batch_function_that_loses_outcomes_is_an_error_naming_the_counts() -> None:
    batcher: MicroBatcher[int, int] = MicroBatcher(lambda batch: batch[:-1], max_batch_size=4)
    try:
        with pytest.raises(RuntimeError, match="returned 0 outcomes for 1 items"):
            batcher.submit(7).result(timeout=HANG)
    finally:
        batcher.close(timeout=HANG)


def test_a_caller_who_gave_up_before_its_batch_ran_is_never_processed() -> None:
    running, release = threading.Event(), threading.Event()
    seen: list[int] = []

    def blocking(batch: list[int]) -> list[int]:
        seen.extend(batch)
        running.set()
        release.wait(HANG)
        return batch

    batcher = MicroBatcher(blocking, max_batch_size=1)
    first = batcher.submit(1)
    assert running.wait(HANG)  # the worker is inside the first batch
    abandoned: Future[int] = batcher.submit(2)
    assert abandoned.cancel()  # still queued, so it can be cancelled
    kept = batcher.submit(3)
    release.set()
    assert (first.result(timeout=HANG), kept.result(timeout=HANG)) == (1, 3)
    batcher.close(timeout=HANG)
    assert seen == [1, 3]


def test_a_closed_batcher_finishes_its_queue_and_starts_again_on_the_next_call() -> None:
    batcher: MicroBatcher[int, int] = MicroBatcher(
        lambda batch: [x + 1 for x in batch], max_batch_size=2
    )
    queued = [batcher.submit(x) for x in range(5)]
    batcher.close(timeout=HANG)
    assert [f.result(timeout=HANG) for f in queued] == [1, 2, 3, 4, 5]
    assert batcher.submit(10).result(timeout=HANG) == 11
    batcher.close(timeout=HANG)
