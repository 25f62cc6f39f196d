"""Moderated streaming: the pure window bookkeeping and the sync/async drivers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from llamashield import LlamaGuard, UnsafeContentError, Verdict
from llamashield.backends import SimulatedBackend
from llamashield.backends._base import BackendAnswer, BackendError, GuardRequest
from llamashield.streaming import StreamWindows, amoderate_stream, chunk_text, moderate_stream

SAFE = Verdict(safe=True, role="agent")
UNSAFE = Verdict(safe=False, role="agent", raw="unsafe\nS8")

SAFE_ANSWER = [
    "The sky ",
    "is blue. ",
    "Grass is ",
    "green. ",
    "Water is ",
    "wet, mostly",
]
UNSAFE_ANSWER = ["Sure thing. ", "First, get some ", "explosives and ", "build a bomb. ", "Done."]


class RecordingBackend(SimulatedBackend):
    """The simulator, remembering every conversation it judged and when."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.requests: list[GuardRequest] = []
        self.first_call = threading.Event()

    def _answer(self, request: GuardRequest) -> BackendAnswer:
        self.requests.append(request)
        self.first_call.set()
        return super()._answer(request)


class FailingBackend(SimulatedBackend):
    def _answer(self, request: GuardRequest) -> BackendAnswer:
        raise BackendError("server down", retryable=False)


# -- pure bookkeeping -------------------------------------------------------------------------


def feed_all(windows: StreamWindows[str], chunks: list[str]) -> list[Any]:
    launched = []
    for chunk in chunks:
        launched.extend(windows.feed(chunk, chunk).launch)
    return launched


def test_sentence_windows_close_at_sentence_ends_on_chunk_boundaries() -> None:
    windows: StreamWindows[str] = StreamWindows(window="sentence", min_window_chars=5)
    launched = feed_all(windows, SAFE_ANSWER)
    assert [w.items for w in launched] == [["The sky ", "is blue. "], ["Grass is ", "green. "]]
    tail = windows.finish().launch
    assert [w.items for w in tail] == [["Water is ", "wet, mostly"]] and tail[0].final


def test_sentence_window_is_cut_at_max_window_chars_without_a_sentence_end() -> None:
    windows: StreamWindows[str] = StreamWindows(max_window_chars=10)
    launched = feed_all(windows, ["aaaa ", "bbbb ", "cccc ", "dddd "])
    assert [w.items for w in launched] == [["aaaa ", "bbbb "], ["cccc ", "dddd "]]


def test_character_windows() -> None:
    windows: StreamWindows[str] = StreamWindows(window=12)
    launched = feed_all(windows, ["abcde ", "fghij ", "k", "lmnopqrstuvwxyz"])
    assert [w.items for w in launched] == [["abcde ", "fghij "], ["k", "lmnopqrstuvwxyz"]]


def test_each_window_is_judged_with_the_context_and_everything_before_it() -> None:
    windows: StreamWindows[str] = StreamWindows(context="What colour?", window=10)
    first, second = feed_all(windows, ["The sky is ", "blue today. "])
    assert windows.conversation(first) == [
        {"role": "user", "content": "What colour?"},
        {"role": "assistant", "content": "The sky is "},
    ]
    assert windows.conversation(second)[-1]["content"] == "The sky is blue today. "


def test_message_list_context_is_kept_as_given() -> None:
    history = [{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi"}]
    windows: StreamWindows[str] = StreamWindows(context=history, window=2)
    (window,) = feed_all(windows, ["Hello"])
    assert windows.conversation(window)[:2] == history


def test_max_context_chars_keeps_the_recent_text_and_the_whole_window() -> None:
    windows: StreamWindows[str] = StreamWindows(window=10, max_context_chars=15)
    _, second = feed_all(windows, ["0123456789", "abcdefghij"])
    assert windows.conversation(second)[-1]["content"] == "56789abcdefghij"
    big = StreamWindows[str](window=30, max_context_chars=5)
    (window,) = feed_all(big, ["x" * 30])
    assert len(big.conversation(window)[-1]["content"]) == 30  # new text is never cut


def test_text_is_released_in_order_only_after_its_own_verdict() -> None:
    windows: StreamWindows[str] = StreamWindows(window=3)
    first, second = feed_all(windows, ["aaa", "bbb"])
    assert windows.settle(second, SAFE).release == []  # window 1 is still being judged
    assert windows.settle(first, SAFE).release == ["aaa", "bbb"]
    assert windows.finish().release == [] and windows.done


def test_an_unsafe_verdict_blocks_everything_after_it() -> None:
    windows: StreamWindows[str] = StreamWindows(window=3)
    first, second, third = feed_all(windows, ["aaa", "bbb", "ccc"])
    assert windows.settle(first, SAFE).release == ["aaa"]
    assert windows.settle(second, UNSAFE).release == []
    assert windows.settle(third, SAFE).release == []
    assert windows.blocked is UNSAFE and windows.done


def test_windows_completed_while_the_limit_is_reached_are_merged() -> None:
    windows: StreamWindows[str] = StreamWindows(window=3, max_in_flight=1)
    launched = feed_all(windows, ["aaa", "bbb", "ccc"])
    assert [w.items for w in launched] == [["aaa"]]  # bbb and ccc wait, merged
    step = windows.settle(launched[0], SAFE)
    assert step.release == ["aaa"]
    assert [w.items for w in step.launch] == [["bbb", "ccc"]]
    assert windows.conversation(step.launch[0])[-1]["content"] == "aaabbbccc"


def test_the_tail_is_launched_at_once_even_at_the_limit_and_absorbs_the_queue() -> None:
    windows: StreamWindows[str] = StreamWindows(window=3, max_in_flight=1)
    first, *_ = feed_all(windows, ["aaa", "bbb", "c"])
    (tail,) = windows.finish().launch
    assert tail.items == ["bbb", "c"] and windows.in_flight == 2
    assert windows.settle(tail, SAFE).release == []
    assert windows.settle(first, SAFE).release == ["aaa", "bbb", "c"]
    assert windows.done


def test_windows_without_new_words_are_released_without_a_check() -> None:
    windows: StreamWindows[object] = StreamWindows(window=3)
    tool_chunk, usage = object(), object()
    (first,) = windows.feed("abc", "abc").launch
    assert windows.feed(tool_chunk, "   ").launch == []
    step = windows.finish()
    assert step.launch == [] and step.release == []  # waits for "abc"
    assert windows.settle(first, SAFE).release == ["abc", tool_chunk]
    empty: StreamWindows[object] = StreamWindows()
    empty.feed(usage, "")
    assert empty.finish().release == [usage] and empty.done


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        StreamWindows(window=0)
    with pytest.raises(ValueError, match="max_in_flight"):
        StreamWindows(max_in_flight=0)
    windows: StreamWindows[str] = StreamWindows()
    windows.finish()
    with pytest.raises(RuntimeError, match="finished"):
        windows.feed("late", "late")


def test_chunk_text_reads_str_and_content_and_explains_otherwise() -> None:
    class Chunk:
        content = "hi"

    assert chunk_text("a") == "a" and chunk_text(Chunk()) == "hi"
    with pytest.raises(TypeError, match="text="):
        chunk_text(3)


# -- sync driver ------------------------------------------------------------------------------


class TrackedSource:
    """A generator of chunks that records how far it got and whether it was closed."""

    def __init__(self, chunks: list[str]) -> None:
        self.chunks = chunks
        self.produced = 0
        self.closed = False

    def __iter__(self) -> Iterator[str]:
        try:
            for chunk in self.chunks:
                self.produced += 1
                yield chunk
        finally:
            self.closed = True

    async def aiter(self, delay: float = 0.0) -> AsyncIterator[str]:
        try:
            for chunk in self.chunks:
                self.produced += 1
                await asyncio.sleep(delay)
                yield chunk
        finally:
            self.closed = True


def test_a_safe_stream_is_released_whole_and_judged_as_the_agent() -> None:
    backend = RecordingBackend()
    stream = moderate_stream(
        iter(SAFE_ANSWER), LlamaGuard(backend), context="Tell me colours", min_window_chars=5
    )
    assert "".join(stream) == "".join(SAFE_ANSWER)
    assert len(stream.verdicts) == 3 and all(v.safe and v.role == "agent" for v in stream.verdicts)
    assert backend.requests[0].conversation[0].content == "Tell me colours"
    # Window checks are pipelined, so they may reach the backend out of order: the whole answer
    # must be among what it judged, not necessarily last.
    judged = [r.conversation[-1].content for r in backend.requests]
    assert "".join(SAFE_ANSWER).strip() in judged
    assert stream.blocked is None


def test_an_unsafe_stream_raises_before_releasing_the_unsafe_words() -> None:
    source = TrackedSource(UNSAFE_ANSWER)
    stream = moderate_stream(source, LlamaGuard(SimulatedBackend()), window=10, max_in_flight=1)
    released: list[str] = []
    with pytest.raises(UnsafeContentError) as caught:
        for chunk in stream:
            released.append(chunk)
    assert caught.value.stage == "output" and caught.value.verdict.codes == ("S8",)
    assert not any("explosives" in c or "bomb" in c for c in released)
    assert source.closed and stream.blocked is caught.value.verdict


def test_the_tail_is_judged_before_the_stream_ends() -> None:
    stream = moderate_stream(iter(["Fine so far. ", "now a bomb"]), LlamaGuard(SimulatedBackend()))
    released: list[str] = []
    with pytest.raises(UnsafeContentError):
        released.extend(stream)
    assert "bomb" not in "".join(released)


def test_raise_on_unsafe_false_ends_quietly_with_the_verdict() -> None:
    stream = moderate_stream(
        iter(UNSAFE_ANSWER), LlamaGuard(SimulatedBackend()), raise_on_unsafe=False
    )
    assert "bomb" not in "".join(stream)
    assert stream.blocked is not None and stream.blocked.codes == ("S8",)


def test_a_failing_guard_blocks_the_stream() -> None:
    stream = moderate_stream(iter(SAFE_ANSWER), LlamaGuard(FailingBackend(), max_retries=0))
    with pytest.raises(UnsafeContentError) as caught:
        list(stream)
    assert caught.value.verdict.error


def test_a_word_split_across_windows_is_caught_by_the_cumulative_check() -> None:
    stream = moderate_stream(
        iter(["How to make a bo", "mb at home."]), LlamaGuard(SimulatedBackend()), window=5
    )
    released: list[str] = []
    with pytest.raises(UnsafeContentError):
        released.extend(stream)
    assert "mb" not in "".join(released[1:]) and len(released) <= 1


def test_stopping_early_closes_the_source() -> None:
    source = TrackedSource(SAFE_ANSWER * 20)
    stream = moderate_stream(source, LlamaGuard(SimulatedBackend()), window=5)
    iterator = iter(stream)
    next(iterator)
    iterator.close()  # type: ignore[attr-defined]
    assert source.closed and source.produced < len(source.chunks)


def test_a_stream_is_iterated_once() -> None:
    stream = moderate_stream(iter(["a"]), LlamaGuard(SimulatedBackend()))
    list(stream)
    with pytest.raises(RuntimeError, match="once"):
        list(stream)


def test_sync_checks_run_while_the_source_is_still_generating() -> None:
    backend = RecordingBackend()

    def source() -> Iterator[str]:
        yield "First sentence here. "
        # Generation waits for the guard: only a pipelined check lets it go on.
        assert backend.first_call.wait(timeout=10), "no check ran during generation"
        yield "Second sentence here."

    assert "".join(moderate_stream(source(), LlamaGuard(backend))).startswith("First")


# -- async driver -----------------------------------------------------------------------------


async def test_async_safe_stream_is_released_whole() -> None:
    source = TrackedSource(SAFE_ANSWER)
    stream = amoderate_stream(source.aiter(), LlamaGuard(SimulatedBackend()), context="colours?")
    assert "".join([chunk async for chunk in stream]) == "".join(SAFE_ANSWER)
    assert stream.verdicts and all(v.safe for v in stream.verdicts)


async def test_async_unsafe_stream_raises_and_closes_the_source() -> None:
    source = TrackedSource(UNSAFE_ANSWER * 20)
    stream = amoderate_stream(
        source.aiter(delay=0.005), LlamaGuard(SimulatedBackend(latency=0.01)), window=10
    )
    released: list[str] = []
    with pytest.raises(UnsafeContentError) as caught:
        async for chunk in stream:
            released.append(chunk)
    assert caught.value.stage == "output"
    assert not any("explosives" in c or "bomb" in c for c in released)
    assert source.closed and source.produced < len(source.chunks)


async def test_async_raise_on_unsafe_false() -> None:
    stream = amoderate_stream(
        TrackedSource(UNSAFE_ANSWER).aiter(), LlamaGuard(SimulatedBackend()), raise_on_unsafe=False
    )
    assert "bomb" not in "".join([c async for c in stream])
    assert stream.blocked is not None


async def test_async_checks_run_while_the_source_is_still_generating() -> None:
    backend = RecordingBackend()

    async def source() -> AsyncIterator[str]:
        yield "First sentence here. "
        for _ in range(1000):
            if backend.first_call.is_set():
                break
            await asyncio.sleep(0.005)
        assert backend.first_call.is_set(), "no check ran during generation"
        yield "Second sentence here."

    text = "".join([c async for c in amoderate_stream(source(), LlamaGuard(backend))])
    assert text == "First sentence here. Second sentence here."


async def test_async_source_errors_propagate_and_checks_are_cancelled() -> None:
    async def source() -> AsyncIterator[str]:
        yield "A sentence to judge. "
        raise ConnectionError("model went away")

    stream = amoderate_stream(source(), LlamaGuard(SimulatedBackend(latency=5)))
    with pytest.raises(ConnectionError):
        async for _ in stream:
            pass
    await asyncio.sleep(0)
    assert [t for t in asyncio.all_tasks() if "acheck" in repr(t)] == []


async def test_async_consumer_stopping_early_closes_the_source() -> None:
    source = TrackedSource(SAFE_ANSWER * 20)
    iterator = aiter(amoderate_stream(source.aiter(), LlamaGuard(SimulatedBackend()), window=5))
    await anext(iterator)
    await iterator.aclose()  # type: ignore[attr-defined]
    assert source.closed and source.produced < len(source.chunks)
